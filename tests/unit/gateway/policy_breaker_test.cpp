#include "gateway/policy_breaker.hpp"

#include <gtest/gtest.h>

namespace x402 {
namespace {

using namespace std::chrono_literals;
using Clock = PolicyBreaker::Clock;

TEST(PolicyBreaker, OpensAfterConsecutiveBudgetFailuresOnly) {
  PolicyBreaker breaker(3, 10s);
  const auto t0 = Clock::time_point{} + 1h;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(breaker.allow("acme", "1", t0));
    breaker.record("acme", "1", true, t0);
  }
  // A success in between resets the count: failures must be consecutive.
  ASSERT_TRUE(breaker.allow("acme", "1", t0));
  breaker.record("acme", "1", false, t0);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(breaker.allow("acme", "1", t0));
    breaker.record("acme", "1", true, t0);
  }
  EXPECT_TRUE(breaker.allow("acme", "1", t0));
  breaker.record("acme", "1", true, t0);  // third in a row
  EXPECT_FALSE(breaker.allow("acme", "1", t0 + 1s));
  EXPECT_FALSE(breaker.allow("acme", "1", t0 + 9s));
}

TEST(PolicyBreaker, SuspendsOnlyThatMerchantAndVersion) {
  PolicyBreaker breaker(1, 10s);
  const auto t0 = Clock::time_point{} + 1h;
  breaker.record("acme", "1", true, t0);
  EXPECT_FALSE(breaker.allow("acme", "1", t0));
  EXPECT_TRUE(breaker.allow("beta", "1", t0));
  EXPECT_TRUE(breaker.allow("acme", "2", t0)) << "a new version starts with a closed breaker";
}

TEST(PolicyBreaker, LetsOneProbeThroughAfterTheCooldown) {
  PolicyBreaker breaker(1, 10s);
  const auto t0 = Clock::time_point{} + 1h;
  breaker.record("acme", "1", true, t0);
  const auto later = t0 + 11s;
  ASSERT_TRUE(breaker.allow("acme", "1", later));
  EXPECT_FALSE(breaker.allow("acme", "1", later)) << "one probe at a time";
  breaker.record("acme", "1", true, later);  // the probe failed: open again
  EXPECT_FALSE(breaker.allow("acme", "1", later + 5s));
  ASSERT_TRUE(breaker.allow("acme", "1", later + 11s));
  breaker.record("acme", "1", false, later + 11s);  // the probe passed: closed
  EXPECT_TRUE(breaker.allow("acme", "1", later + 11s));
  EXPECT_TRUE(breaker.allow("acme", "1", later + 11s));
}

TEST(PolicyBreaker, CountsOnlyBudgetErrors) {
  EXPECT_TRUE(PolicyBreaker::is_budget_error("policy_instruction_limit"));
  EXPECT_TRUE(PolicyBreaker::is_budget_error("policy_time_limit"));
  EXPECT_TRUE(PolicyBreaker::is_budget_error("policy_memory_limit"));
  EXPECT_TRUE(PolicyBreaker::is_budget_error("policy_string_limit"));
  EXPECT_FALSE(PolicyBreaker::is_budget_error("policy_invalid_result"));
  EXPECT_FALSE(PolicyBreaker::is_budget_error("policy_runtime_error"));
}

}  // namespace
}  // namespace x402
