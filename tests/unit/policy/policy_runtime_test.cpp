// The per-worker cache: one state per merchant, replaced when the version changes.
#include "policy/policy_runtime.hpp"

#include <gtest/gtest.h>

#include "policy_test_support.hpp"

namespace x402::policy {
namespace {

using testing::sample_request;
using testing::spec_for;
using testing::usdc_offer;

TEST(PolicyRuntime, ANewVersionReplacesTheState) {
  PolicyRuntime runtime;
  auto v1 = spec_for("n = 0 function price(req) n = n + 1 return { amount = n } end");
  EXPECT_EQ(runtime.price(v1, sample_request(), usdc_offer())->amount, "1");
  EXPECT_EQ(runtime.price(v1, sample_request(), usdc_offer())->amount, "2");  // same state
  auto v2 = v1;
  v2.version = "2";
  v2.source = "function price(req) return { amount = '42' } end";
  EXPECT_EQ(runtime.price(v2, sample_request(), usdc_offer())->amount, "42");
  EXPECT_EQ(runtime.size(), 1u);
}

TEST(PolicyRuntime, ACompileErrorIsReportedAndNotCached) {
  PolicyRuntime runtime;
  auto broken = spec_for("function price(req");
  auto result = runtime.price(broken, sample_request(), usdc_offer());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, "policy_compile_error");
  EXPECT_EQ(runtime.size(), 0u);
}

TEST(PolicyRuntime, BoundsTheNumberOfStates) {
  PolicyRuntime runtime(2);
  for (const char* merchant : {"a", "b", "c", "d"}) {
    auto spec = spec_for(testing::kSimplePolicy, {}, merchant);
    EXPECT_TRUE(runtime.price(spec, sample_request(), usdc_offer()).ok());
    EXPECT_LE(runtime.size(), 2u);
  }
  runtime.forget("d");
  EXPECT_LE(runtime.size(), 1u);
}

TEST(PolicyRuntime, InvalidLimitsAreRefused) {
  PolicyLimits limits;
  limits.max_instructions = PolicyHardMaxima::kInstructions + 1;
  auto result = PolicyRuntime().price(spec_for(testing::kSimplePolicy, limits), sample_request(),
                                      usdc_offer());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, "policy_invalid_limits");
  EXPECT_EQ(result.error().field, "max_instructions");
}

}  // namespace
}  // namespace x402::policy
