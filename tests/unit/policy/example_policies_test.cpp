// The example policies in policies/ (one per billing mode) price as their comments promise.
#include <gtest/gtest.h>

#include "policy/validation.hpp"
#include "policy_test_support.hpp"

namespace x402::policy {
namespace {

using testing::compile_ok;
using testing::read_example;
using testing::sample_request;
using testing::usdc_offer;

PriceDecision price_ok(CompiledPolicy& policy, const PolicyRequest& request) {
  auto decision = policy.evaluate(request, usdc_offer());
  EXPECT_TRUE(decision.ok()) << (decision.ok() ? "" : decision.error().message);
  return decision.ok() ? *decision : PriceDecision{};
}

TEST(ExamplePolicies, StaticPricePerRequest) {
  auto policy = compile_ok(read_example("per_request_static.lua"));
  ASSERT_TRUE(policy);
  const auto decision = price_ok(*policy, sample_request());
  EXPECT_EQ(decision.amount, "10000");
  EXPECT_EQ(decision.mode, BillingMode::kPerRequest);
  EXPECT_EQ(decision.description, "One API call");
  EXPECT_FALSE(decision.asset.has_value());
}

TEST(ExamplePolicies, DynamicPriceByBodySize) {
  auto policy = compile_ok(read_example("dynamic_pricing.lua"));
  ASSERT_TRUE(policy);
  auto request = sample_request();
  request.method = "POST";
  request.path = "/v1/completions";
  request.body_size = 3 * 1024 + 1;  // 4 started KiB
  EXPECT_EQ(price_ok(*policy, request).amount, "1400");
  request.body_size = 0;
  EXPECT_EQ(price_ok(*policy, request).amount, "1000");
}

TEST(ExamplePolicies, DynamicPriceByQueryAndPath) {
  auto policy = compile_ok(read_example("dynamic_pricing.lua"));
  ASSERT_TRUE(policy);
  auto request = sample_request();
  request.path = "/search";
  request.query = {{"limit", "25"}};
  EXPECT_EQ(price_ok(*policy, request).amount, "50000");
  request.query = {{"limit", "100000"}};  // clamped to 100 results
  EXPECT_EQ(price_ok(*policy, request).amount, "200000");
  request.query = {};
  EXPECT_EQ(price_ok(*policy, request).amount, "20000");
  request.path = "/other";
  EXPECT_EQ(price_ok(*policy, request).amount, "5000");
}

TEST(ExamplePolicies, VolumeTiersFollowPayerHistory) {
  auto policy = compile_ok(read_example("volume_tiers.lua"));
  ASSERT_TRUE(policy);
  auto request = sample_request();
  request.payer.address = "0x857b06519E91e3A54538791bDbb0E22373e36b66";
  request.payer.calls_this_period = 999;
  EXPECT_EQ(price_ok(*policy, request).amount, "10000");
  request.payer.calls_this_period = 1000;
  EXPECT_EQ(price_ok(*policy, request).amount, "8000");
  request.payer.calls_this_period = 250000;
  EXPECT_EQ(price_ok(*policy, request).amount, "5000");
}

TEST(ExamplePolicies, TimePass) {
  auto policy = compile_ok(read_example("time_pass.lua"));
  ASSERT_TRUE(policy);
  auto request = sample_request();
  auto hour = price_ok(*policy, request);
  EXPECT_EQ(hour.mode, BillingMode::kTimePass);
  EXPECT_EQ(hour.amount, "50000");
  EXPECT_EQ(hour.duration_seconds, 3600u);
  EXPECT_EQ(hour.scope, PassScope::kRoute);
  request.query = {{"pass", "day"}};
  auto day = price_ok(*policy, request);
  EXPECT_EQ(day.duration_seconds, 86400u);
  EXPECT_EQ(day.scope, PassScope::kMerchant);
  EXPECT_EQ(day.amount, "500000");
}

TEST(ExamplePolicies, PrepaidPackageReadsHeaders) {
  auto policy = compile_ok(read_example("prepaid_package.lua"));
  ASSERT_TRUE(policy);
  auto request = sample_request();
  auto small = price_ok(*policy, request);
  EXPECT_EQ(small.mode, BillingMode::kPackage);
  EXPECT_EQ(small.calls, 100u);
  // Header names arrive lower-cased whatever their case on the wire.
  request.headers.emplace_back("X-Package", "large");
  auto large = price_ok(*policy, request);
  EXPECT_EQ(large.calls, 1000u);
  EXPECT_EQ(large.amount, "4000000");
  EXPECT_EQ(large.duration_seconds, kDefaultPackageSeconds);
  EXPECT_EQ(large.scope, PassScope::kRoute);
  request.headers.back().second = "trial";
  auto trial = price_ok(*policy, request);
  EXPECT_EQ(trial.calls, 20u);
  EXPECT_EQ(trial.duration_seconds, 7u * 24 * 3600);
  EXPECT_EQ(trial.scope, PassScope::kMerchant);
}

TEST(ExamplePolicies, FreeTier) {
  auto policy = compile_ok(read_example("free_tier.lua"));
  ASSERT_TRUE(policy);
  auto request = sample_request();
  request.path = "/health";
  auto health = price_ok(*policy, request);
  EXPECT_EQ(health.mode, BillingMode::kFree);
  EXPECT_EQ(health.amount, "0");
  request.path = "/data";
  EXPECT_EQ(price_ok(*policy, request).amount, "2000");  // unknown payer pays
  request.payer.address = "0xabc";
  request.payer.calls_this_period = 99;
  EXPECT_EQ(price_ok(*policy, request).mode, BillingMode::kFree);
  request.payer.calls_this_period = 100;
  EXPECT_EQ(price_ok(*policy, request).amount, "2000");
}

TEST(ExamplePolicies, EveryExamplePassesTheBuiltInDryRun) {
  for (const char* name : {"per_request_static.lua", "dynamic_pricing.lua", "volume_tiers.lua",
                           "time_pass.lua", "prepaid_package.lua", "free_tier.lua"}) {
    SCOPED_TRACE(name);
    auto report = validate_policy(testing::spec_for(read_example(name)), usdc_offer(), {});
    ASSERT_TRUE(report.ok()) << report.error().message;
    EXPECT_TRUE(report->accepted());
    EXPECT_EQ(report->outcomes.size(), builtin_samples("acme", "/*").size());
  }
}

}  // namespace
}  // namespace x402::policy
