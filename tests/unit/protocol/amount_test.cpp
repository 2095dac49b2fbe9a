#include "protocol/amount.hpp"

#include <gtest/gtest.h>

#include <string>

namespace x402 {
namespace {

const std::string kMaxUint256 =
    "115792089237316195423570985008687907853269984665640564039457584007913129639935";

TEST(AmountParseAtomic, LeadingZerosAreDecimalNotOctal) {
  auto a = Amount::parse_atomic("0010000");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(*a, Amount(10000));
  EXPECT_EQ(a->to_string(), "10000");
}

TEST(AmountParseAtomic, AcceptsZeroAndTheLargestUint256) {
  EXPECT_EQ(Amount::parse_atomic("0")->to_string(), "0");
  EXPECT_TRUE(Amount::parse_atomic("0")->is_zero());
  auto max = Amount::parse_atomic(kMaxUint256);
  ASSERT_TRUE(max.ok()) << max.error().message;
  EXPECT_EQ(max->to_string(), kMaxUint256);
  // 78 digits with leading zeros are still within the length limit.
  EXPECT_EQ(Amount::parse_atomic(std::string(77, '0') + "7")->to_string(), "7");
}

TEST(AmountParseAtomic, RejectsEverythingButPlainDigits) {
  for (std::string bad : std::initializer_list<std::string>{"", "+1", "-1", "1e6", "1.0", " 1",
                                                            "1 ", "0x10", "1_000", "1,000",
                                                            "\xd9\xa1",  // ARABIC-INDIC DIGIT ONE
                                                            std::string("1\0", 2)}) {
    auto r = Amount::parse_atomic(bad, "payload.authorization.value");
    ASSERT_FALSE(r.ok()) << "accepted \"" << bad << "\"";
    EXPECT_EQ(r.error().code, "invalid_amount");
    EXPECT_EQ(r.error().field, "payload.authorization.value");
  }
}

TEST(AmountParseAtomic, RejectsOverlongAndOverflowingValues) {
  EXPECT_FALSE(Amount::parse_atomic(std::string(79, '1')).ok());
  EXPECT_FALSE(Amount::parse_atomic(std::string(79, '0')).ok());  // length, not value, is capped
  // 2^256 exactly, and the largest 78-digit number.
  auto two_256 = Amount::parse_atomic(
      "115792089237316195423570985008687907853269984665640564039457584007913129639936");
  ASSERT_FALSE(two_256.ok());
  EXPECT_EQ(two_256.error().code, "invalid_amount");
  EXPECT_FALSE(Amount::parse_atomic(std::string(78, '9')).ok());
}

TEST(AmountParseHuman, ConvertsExactlyWithTheAssetDecimals) {
  EXPECT_EQ(*Amount::parse_human("0.01", 6), Amount(10000));
  EXPECT_EQ(*Amount::parse_human("1", 6), Amount(1000000));
  EXPECT_EQ(*Amount::parse_human("$0.01", 6), Amount(10000));
  EXPECT_EQ(*Amount::parse_human("0.000001", 6), Amount(1));
  EXPECT_EQ(*Amount::parse_human("12.5", 6), Amount(12500000));
  EXPECT_EQ(*Amount::parse_human("007", 0), Amount(7));
  EXPECT_EQ(Amount::parse_human("1.5", 18)->to_string(), "1500000000000000000");
}

TEST(AmountParseHuman, MoreDecimalsThanTheAssetIsAnErrorNotARounding) {
  auto r = Amount::parse_human("0.0000001", 6, "routes.signal.price");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_price");
  EXPECT_EQ(r.error().field, "routes.signal.price");
  EXPECT_NE(r.error().message.find("more than 6 decimal places"), std::string::npos)
      << r.error().message;
}

TEST(AmountParseHuman, RejectsMalformedPrices) {
  for (const char* bad : {"", "$", ".5", "5.", "1,000", "-1", "+1", "1e-2", "0x10", " 1", "1 ",
                          "1.2.3", "$$1", "1$", "USD 1"}) {
    auto r = Amount::parse_human(bad, 6);
    ASSERT_FALSE(r.ok()) << "accepted \"" << bad << "\"";
    EXPECT_EQ(r.error().code, "invalid_price");
    EXPECT_EQ(r.error().field, "price");
  }
}

TEST(AmountParseHuman, RejectsValuesBeyondUint256) {
  EXPECT_FALSE(Amount::parse_human("1" + std::string(72, '0'), 6).ok());
  EXPECT_TRUE(Amount::parse_human("1" + std::string(70, '0'), 6).ok());
}

TEST(AmountToHuman, UsesOnlyTheNeededFractionDigits) {
  EXPECT_EQ(Amount(10000).to_human(6), "0.01");
  EXPECT_EQ(Amount(1000000).to_human(6), "1");
  EXPECT_EQ(Amount(1).to_human(6), "0.000001");
  EXPECT_EQ(Amount(12500000).to_human(6), "12.5");
  EXPECT_EQ(Amount(0).to_human(6), "0");
  EXPECT_EQ(Amount(42).to_human(0), "42");
}

TEST(AmountToHuman, RoundTripsThroughParseHuman) {
  for (const char* price : {"0.01", "1", "123.456789", "0.000001", "1000000"}) {
    auto a = Amount::parse_human(price, 6);
    ASSERT_TRUE(a.ok()) << price;
    EXPECT_EQ(a->to_human(6), price);
  }
}

TEST(Amount, OrdersByValue) {
  EXPECT_LT(Amount(9999), Amount(10000));
  EXPECT_GT(*Amount::parse_atomic(kMaxUint256), Amount(UINT64_MAX));
  EXPECT_EQ(*Amount::parse_atomic("18446744073709551616"),
            *Amount::parse_human("18446744073709.551616", 6));
}

}  // namespace
}  // namespace x402
