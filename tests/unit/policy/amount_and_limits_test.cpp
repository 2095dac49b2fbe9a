// Exact integer text without float formatting, and the bounds on merchant-configured limits.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "policy/amount_text.hpp"
#include "policy/limits.hpp"

namespace x402::policy {
namespace {

TEST(AmountText, ExactIntegersOnly) {
  EXPECT_EQ(exact_integer_text(0.0), "0");
  EXPECT_EQ(exact_integer_text(-0.0), "0");
  EXPECT_EQ(exact_integer_text(10000.0), "10000");
  EXPECT_EQ(exact_integer_text(9007199254740992.0), "9007199254740992");
  EXPECT_EQ(exact_integer_text(1e15), "1000000000000000");  // no "1e+15"
  EXPECT_FALSE(exact_integer_text(9007199254740994.0));
  EXPECT_FALSE(exact_integer_text(0.1));
  EXPECT_FALSE(exact_integer_text(-1.0));
  EXPECT_FALSE(exact_integer_text(std::numeric_limits<double>::quiet_NaN()));
  EXPECT_FALSE(exact_integer_text(std::numeric_limits<double>::infinity()));
}

TEST(AmountText, CanonicalDigits) {
  EXPECT_EQ(canonical_digits("0010000"), "10000");
  EXPECT_EQ(canonical_digits("000"), "0");
  EXPECT_EQ(canonical_digits(kMaxUint256), std::string(kMaxUint256));
  EXPECT_FALSE(canonical_digits(""));
  EXPECT_FALSE(canonical_digits("+1"));
  EXPECT_FALSE(canonical_digits("1_000"));
  EXPECT_FALSE(canonical_digits(std::string(79, '1')));
  EXPECT_TRUE(canonical_less("99", "100"));
  EXPECT_TRUE(canonical_less("100", "101"));
  EXPECT_FALSE(canonical_less("101", "101"));
}

TEST(PolicyLimits, DefaultsAreValid) {
  EXPECT_TRUE(PolicyLimits{}.validate().ok());
}

TEST(PolicyLimits, RefusesValuesBeyondTheHardMaxima) {
  const auto refused_field = [](PolicyLimits limits) {
    auto status = limits.validate();
    EXPECT_FALSE(status.ok());
    if (status.ok()) return std::string();
    EXPECT_EQ(status.error().code, "policy_invalid_limits");
    return status.error().field;
  };
  PolicyLimits l;
  l.max_memory_bytes = PolicyHardMaxima::kMemoryBytes + 1;
  EXPECT_EQ(refused_field(l), "max_memory_bytes");
  l = {};
  l.max_wall = std::chrono::seconds(1);
  EXPECT_EQ(refused_field(l), "max_wall_us");
  l = {};
  l.max_wall = std::chrono::microseconds(-5);
  EXPECT_EQ(refused_field(l), "max_wall_us");
  l = {};
  l.max_instructions = 0;
  EXPECT_EQ(refused_field(l), "max_instructions");
  l = {};
  l.max_pattern_subject_bytes = 0;
  EXPECT_EQ(refused_field(l), "max_pattern_subject_bytes");
  l = {};
  l.max_package_seconds = PolicyHardMaxima::kPackageSeconds + 1;
  EXPECT_EQ(refused_field(l), "max_package_seconds");
  l = {};
  l.max_package_seconds = 0;
  EXPECT_EQ(refused_field(l), "max_package_seconds");
  l = {};
  l.max_amount = "1.5";
  EXPECT_EQ(refused_field(l), "max_amount");
  l = {};
  l.max_amount = "115792089237316195423570985008687907853269984665640564039457584007913129639936";
  EXPECT_EQ(refused_field(l), "max_amount");  // 2^256
}

}  // namespace
}  // namespace x402::policy
