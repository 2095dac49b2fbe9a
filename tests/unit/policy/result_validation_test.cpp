// A policy's answer is untrusted input: everything outside the contract is refused with a message
// that names the field.
#include <gtest/gtest.h>

#include "policy_test_support.hpp"

namespace x402::policy {
namespace {

using testing::compile_ok;
using testing::sample_request;
using testing::usdc_offer;

Result<PriceDecision> answer(const std::string& result_expr, PolicyLimits limits = {}) {
  auto policy = compile_ok("function price(req) return " + result_expr + " end", limits);
  if (!policy) return make_error("test", "", "compile failed");
  return policy->evaluate(sample_request(), usdc_offer());
}

void expect_invalid(const std::string& result_expr, const std::string& field,
                    const std::string& message_part, PolicyLimits limits = {}) {
  SCOPED_TRACE(result_expr);
  auto decision = answer(result_expr, limits);
  ASSERT_FALSE(decision.ok());
  EXPECT_EQ(decision.error().code, "policy_invalid_result");
  EXPECT_EQ(decision.error().field, field);
  EXPECT_NE(decision.error().message.find(message_part), std::string::npos)
      << decision.error().message;
}

TEST(ResultValidation, AmountsBecomeCanonicalIntegerText) {
  EXPECT_EQ(answer("{ amount = 10000 }")->amount, "10000");
  EXPECT_EQ(answer("{ amount = '0010000' }")->amount, "10000");  // decimal, never octal
  EXPECT_EQ(answer("{ amount = 1e3 }")->amount, "1000");
  EXPECT_EQ(answer("{ amount = 2^53 }", PolicyLimits{.max_amount = "9007199254740992"})->amount,
            "9007199254740992");
  PolicyLimits huge;
  huge.max_amount = std::string(70, '9');
  EXPECT_EQ(answer("{ amount = '123456789012345678901234567890' }", huge)->amount,
            "123456789012345678901234567890");
}

TEST(ResultValidation, RefusesNonIntegerAmounts) {
  expect_invalid("{ amount = 0/0 }", "amount", "NaN");
  expect_invalid("{ amount = math.huge }", "amount", "infinity");
  expect_invalid("{ amount = -1 }", "amount", "negative");
  expect_invalid("{ amount = 0.5 }", "amount", "fraction");
  expect_invalid("{ amount = 10000.000001 }", "amount", "fraction");
  expect_invalid("{ amount = 2^53 + 2 }", "amount", "2^53",
                 PolicyLimits{.max_amount = std::string(70, '9')});
  expect_invalid("{ amount = '-5' }", "amount", "digits");
  expect_invalid("{ amount = '1.5' }", "amount", "digits");
  expect_invalid("{ amount = '1e6' }", "amount", "digits");
  expect_invalid("{ amount = ' 100' }", "amount", "digits");
  expect_invalid("{ amount = '' }", "amount", "digits");
  expect_invalid("{ amount = 'ten' }", "amount", "digits");
  expect_invalid("{ amount = {} }", "amount", "integer string or number");
  expect_invalid("{ amount = true }", "amount", "integer string or number");
  expect_invalid("{ amount = 10ULL }", "amount", "cdata");  // LuaJIT 64-bit literal
  expect_invalid("{ amount = 0 }", "amount", "free");
  expect_invalid("{ }", "amount", "required");
}

TEST(ResultValidation, EnforcesTheMerchantMaximum) {
  PolicyLimits limits;
  limits.max_amount = "50000";
  EXPECT_TRUE(answer("{ amount = '50000' }", limits).ok());
  expect_invalid("{ amount = '50001' }", "amount", "exceeds", limits);
  expect_invalid("{ amount = 1e15 }", "amount", "exceeds", limits);
  expect_invalid("{ amount = '" + std::string(79, '1') + "' }", "amount", "digits", limits);
}

TEST(ResultValidation, RefusesWrongShapes) {
  for (const char* expr : {"nil", "'10000'", "10000", "function() end"}) {
    SCOPED_TRACE(expr);
    auto decision = answer(expr);
    ASSERT_FALSE(decision.ok());
    EXPECT_EQ(decision.error().code, "policy_invalid_result");
    EXPECT_NE(decision.error().message.find("must return a table"), std::string::npos);
  }
  expect_invalid("{ amount = 1, ammount = 5 }", "ammount", "unknown field");
  expect_invalid("{ amount = 1, [1] = 5 }", "", "field names");
  expect_invalid("{ amount = 1, mode = 'subscription' }", "mode", "must be one of");
  expect_invalid("{ amount = 1, mode = 3 }", "mode", "must be one of");
}

TEST(ResultValidation, AssetAndNetworkMustBeOfferedByTheRoute) {
  auto ok = answer(
      "{ amount = 1, network = 'base-sepolia', "
      "asset = '0x036CbD53842c5426634e7929541eC2318f3dCF7e' }");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->network, "base-sepolia");
  EXPECT_EQ(ok->asset, "0x036CbD53842c5426634e7929541eC2318f3dCF7e");
  expect_invalid("{ amount = 1, network = 'base' }", "network", "not accepted");
  expect_invalid("{ amount = 1, asset = '0xdead' }", "asset", "not accepted");
  expect_invalid("{ amount = 1, asset = 5 }", "asset", "must be a string");
}

TEST(ResultValidation, TimePassNeedsABoundedDuration) {
  auto pass = answer("{ amount = 1, mode = 'time_pass', duration_seconds = 60, scope = 'route' }");
  ASSERT_TRUE(pass.ok()) << pass.error().message;
  EXPECT_EQ(pass->duration_seconds, 60u);
  expect_invalid("{ amount = 1, mode = 'time_pass' }", "duration_seconds", "integer");
  expect_invalid("{ amount = 1, mode = 'time_pass', duration_seconds = 0 }", "duration_seconds",
                 "between 1 and");
  expect_invalid("{ amount = 1, mode = 'time_pass', duration_seconds = 1.5 }", "duration_seconds",
                 "whole number");
  expect_invalid("{ amount = 1, mode = 'time_pass', duration_seconds = 31 * 86400 }",
                 "duration_seconds", "between 1 and 2592000");
  expect_invalid("{ amount = 1, mode = 'time_pass', duration_seconds = 60, scope = 'world' }",
                 "scope", "\"route\" or \"merchant\"");
  expect_invalid("{ amount = 1, duration_seconds = 60 }", "duration_seconds", "only valid");
  expect_invalid("{ amount = 1, scope = 'route' }", "scope", "only valid");
  expect_invalid("{ mode = 'free', duration_seconds = 60 }", "duration_seconds", "only valid");
  expect_invalid("{ mode = 'free', scope = 'merchant' }", "scope", "only valid");
}

TEST(ResultValidation, PackageLastsAYearUnlessItSaysOtherwise) {
  auto plain = answer("{ amount = '5', mode = 'package', calls = 10 }");
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  EXPECT_EQ(plain->duration_seconds, 365u * 24 * 3600);
  EXPECT_EQ(plain->scope, PassScope::kRoute);

  auto custom = answer(
      "{ amount = '5', mode = 'package', calls = 10, duration_seconds = 7 * 86400, "
      "scope = 'merchant' }");
  ASSERT_TRUE(custom.ok()) << custom.error().message;
  EXPECT_EQ(custom->duration_seconds, 7u * 86400);
  EXPECT_EQ(custom->scope, PassScope::kMerchant);
  EXPECT_EQ(answer("{ amount = '5', mode = 'package', calls = 1, scope = 'route' }")->scope,
            PassScope::kRoute);

  // A merchant that lowered max_package_seconds gets that as the default, never more.
  PolicyLimits short_lived;
  short_lived.max_package_seconds = 3600;
  EXPECT_EQ(answer("{ amount = '5', mode = 'package', calls = 10 }", short_lived)->duration_seconds,
            3600u);
  expect_invalid("{ amount = 1, mode = 'package', calls = 1, duration_seconds = 3601 }",
                 "duration_seconds", "between 1 and 3600", short_lived);
}

TEST(ResultValidation, PackageDurationAndScopeAreBounded) {
  expect_invalid("{ amount = 1, mode = 'package', calls = 1, duration_seconds = 0 }",
                 "duration_seconds", "between 1 and 31536000");
  expect_invalid("{ amount = 1, mode = 'package', calls = 1, duration_seconds = 366 * 86400 }",
                 "duration_seconds", "between 1 and 31536000");
  expect_invalid("{ amount = 1, mode = 'package', calls = 1, duration_seconds = 2.5 }",
                 "duration_seconds", "whole number");
  expect_invalid("{ amount = 1, mode = 'package', calls = 1, duration_seconds = '60' }",
                 "duration_seconds", "integer");
  expect_invalid("{ amount = 1, mode = 'package', calls = 1, scope = 'global' }", "scope",
                 "\"route\" or \"merchant\"");
  expect_invalid("{ amount = 1, mode = 'package', calls = 1, scope = true }", "scope",
                 "\"route\" or \"merchant\"");
}

TEST(ResultValidation, PackageNeedsABoundedCallCount) {
  auto package = answer("{ amount = '5', mode = 'package', calls = 10 }");
  ASSERT_TRUE(package.ok()) << package.error().message;
  EXPECT_EQ(package->calls, 10u);
  expect_invalid("{ amount = 1, mode = 'package' }", "calls", "integer");
  expect_invalid("{ amount = 1, mode = 'package', calls = -3 }", "calls", "between 1 and");
  expect_invalid("{ amount = 1, mode = 'package', calls = 100001 }", "calls", "between 1 and");
  expect_invalid("{ amount = 1, mode = 'package', calls = '10' }", "calls", "integer");
  expect_invalid("{ amount = 1, calls = 10 }", "calls", "only valid");
}

TEST(ResultValidation, FreeCarriesNoAmount) {
  EXPECT_EQ(answer("{ mode = 'free' }")->amount, "0");
  EXPECT_EQ(answer("{ mode = 'free', amount = '000' }")->amount, "0");
  expect_invalid("{ mode = 'free', amount = 5 }", "amount", "must not carry");
}

TEST(ResultValidation, DescriptionIsBoundedText) {
  EXPECT_EQ(answer("{ amount = 1, description = 'Caf\\195\\169 \\226\\130\\172' }")->description,
            "Café €");
  expect_invalid("{ amount = 1, description = ('x'):rep(257) }", "description", "longer than 256");
  expect_invalid("{ amount = 1, description = 'a\\nb' }", "description", "control characters");
  expect_invalid("{ amount = 1, description = '\\255\\254' }", "description", "UTF-8");
  expect_invalid("{ amount = 1, description = 'x\\226\\130' }", "description", "UTF-8");
  expect_invalid("{ amount = 1, description = 42 }", "description", "must be a string");
}

}  // namespace
}  // namespace x402::policy
