// Upload-time validation: compile errors are the error; sample outcomes are all reported.
#include "policy/validation.hpp"

#include <gtest/gtest.h>

#include "policy_test_support.hpp"

namespace x402::policy {
namespace {

using testing::sample_request;
using testing::spec_for;
using testing::usdc_offer;

TEST(PolicyValidation, ReportsEverySampleInOrder) {
  // Fails only on POST requests, which one built-in sample and one merchant sample are.
  auto spec = spec_for(
      "function price(req) if req.method == 'POST' then error('no POST pricing') end "
      "return { amount = '100' } end");
  auto post = sample_request();
  post.method = "POST";
  const std::vector<SampleRequest> merchant_samples = {{"mine_get", sample_request()},
                                                       {"mine_post", post}};
  auto report = validate_policy(spec, usdc_offer(), merchant_samples);
  ASSERT_TRUE(report.ok()) << report.error().message;
  const size_t builtin_count = builtin_samples("acme", "/*").size();
  ASSERT_EQ(report->outcomes.size(), builtin_count + 2);
  EXPECT_FALSE(report->accepted());
  EXPECT_EQ(report->failures(), 2u);
  for (size_t i = 0; i < report->outcomes.size(); ++i) {
    const auto& outcome = report->outcomes[i];
    EXPECT_EQ(outcome.builtin, i < builtin_count);
    const bool is_post = outcome.name == "post_large_body" || outcome.name == "mine_post";
    EXPECT_EQ(outcome.result.ok(), !is_post) << outcome.name;
    if (!outcome.result.ok()) {
      EXPECT_EQ(outcome.result.error().code, "policy_runtime_error");
      EXPECT_NE(outcome.result.error().message.find("no POST pricing"), std::string::npos);
    }
  }
  EXPECT_EQ(report->outcomes[builtin_count].name, "mine_get");
}

TEST(PolicyValidation, AWellBehavedPolicyIsAccepted) {
  auto report = validate_policy(spec_for(testing::kSimplePolicy), usdc_offer(), {});
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->accepted());
  EXPECT_EQ(report->failures(), 0u);
}

TEST(PolicyValidation, CompileErrorsAreTheError) {
  auto report = validate_policy(spec_for("function price("), usdc_offer(), {});
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().code, "policy_compile_error");
  EXPECT_NE(report.error().message.find("policy:1:"), std::string::npos) << report.error().message;
}

TEST(PolicyValidation, DryRunCatchesBudgetAndContractViolations) {
  // Loops only for requests with a body; answers a float for requests with a query.
  auto spec = spec_for(
      "function price(req) if req.body_size > 0 then while true do end end "
      "if next(req.query) then return { amount = 0.5 } end return { amount = 1 } end");
  auto report = validate_policy(spec, usdc_offer(), {});
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->accepted());
  bool saw_budget = false;
  bool saw_contract = false;
  for (const auto& outcome : report->outcomes) {
    if (outcome.result.ok()) continue;
    saw_budget |= outcome.result.error().code == "policy_instruction_limit";
    saw_contract |= outcome.result.error().code == "policy_invalid_result";
  }
  EXPECT_TRUE(saw_budget);
  EXPECT_TRUE(saw_contract);
}

}  // namespace
}  // namespace x402::policy
