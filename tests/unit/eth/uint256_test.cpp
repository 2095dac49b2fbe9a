#include "x402/eth/uint256.hpp"

#include <gtest/gtest.h>

namespace x402::eth {
namespace {

const std::string kMax =
    "115792089237316195423570985008687907853269984665640564039457584007913129639935";
const std::string kTwoTo256 =
    "115792089237316195423570985008687907853269984665640564039457584007913129639936";

U256 dec(std::string_view s) {
  auto v = U256::from_decimal(s);
  EXPECT_TRUE(v) << s;
  return v.value_or(U256{});
}

TEST(U256Decimal, AcceptsTheFullRange) {
  EXPECT_EQ(dec("0"), U256{});
  EXPECT_EQ(dec("18446744073709551615"), U256::from_u64(UINT64_MAX));
  const U256 max = dec(kMax);
  for (uint8_t b : max.be) EXPECT_EQ(b, 0xff);
  EXPECT_EQ(max.to_decimal(), kMax);
}

TEST(U256Decimal, RejectsTwoTo256AndBeyond) {
  EXPECT_FALSE(U256::from_decimal(kTwoTo256));
  EXPECT_FALSE(U256::from_decimal(kMax + "0"));  // 79 digits
  EXPECT_FALSE(U256::from_decimal(
      "999999999999999999999999999999999999999999999999999999999999999999999999999999"));
}

TEST(U256Decimal, LeadingZerosAreDecimalNotOctal) {
  EXPECT_EQ(dec("0010000"), U256::from_u64(10000));
  EXPECT_EQ(dec("010"), U256::from_u64(10));
  // 78 digits of padding is still within the length bound; 79 is not.
  EXPECT_EQ(dec(std::string(77, '0') + "7"), U256::from_u64(7));
  EXPECT_FALSE(U256::from_decimal(std::string(78, '0') + "7"));
}

TEST(U256Decimal, RejectsAnythingButDigits) {
  for (const char* bad : {"", "+1", "-1", " 1", "1 ", "1e3", "1E3", "0x10", "1.0", "1,000", "١"}) {
    EXPECT_FALSE(U256::from_decimal(bad)) << bad;
  }
}

TEST(U256Decimal, ToDecimalRoundTrips) {
  for (const char* s :
       {"0", "1", "9", "10", "10000000000000000000", "9999999999999999999", "18446744073709551616",
        "340282366920938463463374607431768211456",
        "1000000000000000000000000000000000000000000000000000000000000000000000000"}) {
    EXPECT_EQ(dec(s).to_decimal(), s);
  }
}

TEST(U256Hex, ParsesQuantities) {
  EXPECT_EQ(U256::from_hex("0x0"), U256{});
  EXPECT_EQ(U256::from_hex("0x1a"), U256::from_u64(26));
  EXPECT_EQ(U256::from_hex("0X1A"), U256::from_u64(26));
  EXPECT_EQ(U256::from_hex("0x00ff"), U256::from_u64(255));
  EXPECT_EQ(U256::from_hex("0xabc"), U256::from_u64(0xabc));  // odd digit count
  EXPECT_EQ(U256::from_hex("0x" + std::string(64, 'f')), dec(kMax));
  EXPECT_FALSE(U256::from_hex("0x1" + std::string(64, '0')));
  EXPECT_FALSE(U256::from_hex("0x"));
  EXPECT_FALSE(U256::from_hex("1a"));
  EXPECT_FALSE(U256::from_hex("0xg"));
  EXPECT_FALSE(U256::from_hex("0x-1"));
}

TEST(U256Hex, ToQuantityHasNoLeadingZeros) {
  EXPECT_EQ(U256{}.to_hex_quantity(), "0x0");
  EXPECT_EQ(U256::from_u64(26).to_hex_quantity(), "0x1a");
  EXPECT_EQ(U256::from_u64(0x100).to_hex_quantity(), "0x100");
  EXPECT_EQ(dec(kMax).to_hex_quantity(), "0x" + std::string(64, 'f'));
}

TEST(U256, FromBeRightAligns) {
  const Bytes two = {0x01, 0x02};
  EXPECT_EQ(U256::from_be(two), U256::from_u64(0x0102));
  EXPECT_EQ(U256::from_be(Bytes{}), U256{});
}

TEST(U256, ToU64) {
  EXPECT_EQ(U256::from_u64(UINT64_MAX).to_u64(), UINT64_MAX);
  EXPECT_FALSE(dec("18446744073709551616").to_u64());
  EXPECT_TRUE(U256{}.is_zero());
  EXPECT_FALSE(U256::from_u64(1).is_zero());
}

TEST(U256Arithmetic, AddCarriesAcrossLimbsAndDetectsOverflow) {
  EXPECT_EQ(U256::from_u64(UINT64_MAX).add(U256::from_u64(1))->to_decimal(),
            "18446744073709551616");
  EXPECT_EQ(dec("1000").add(dec("234")), dec("1234"));
  EXPECT_FALSE(dec(kMax).add(U256::from_u64(1)));
  EXPECT_EQ(dec(kMax).add(U256{}), dec(kMax));
}

TEST(U256Arithmetic, SubBorrowsAcrossLimbsAndDetectsUnderflow) {
  EXPECT_EQ(dec("18446744073709551616").sub(U256::from_u64(1)), U256::from_u64(UINT64_MAX));
  EXPECT_EQ(dec(kTwoTo256.substr(0, 40)).sub(dec(kTwoTo256.substr(0, 40))), U256{});
  EXPECT_EQ(dec(kMax).sub(dec(kMax)), U256{});
  EXPECT_FALSE(U256::from_u64(1).sub(U256::from_u64(2)));
  EXPECT_FALSE(U256{}.sub(dec(kMax)));
}

TEST(U256Arithmetic, MulU64DetectsOverflow) {
  EXPECT_EQ(U256::from_u64(UINT64_MAX).mul_u64(UINT64_MAX)->to_decimal(),
            "340282366920938463426481119284349108225");
  EXPECT_EQ(dec("1000000").mul_u64(0), U256{});
  EXPECT_FALSE(dec(kMax).mul_u64(2));
  // 2^255 * 2 is exactly 2^256.
  EXPECT_FALSE(dec("57896044618658097711785492504343953926634992332820282019728792003956564819968")
                   .mul_u64(2));
  EXPECT_TRUE(dec("57896044618658097711785492504343953926634992332820282019728792003956564819967")
                  .mul_u64(2));
}

TEST(U256, ComparesNumerically) {
  EXPECT_LT(U256::from_u64(255), U256::from_u64(256));
  EXPECT_LT(U256::from_u64(UINT64_MAX), dec("18446744073709551616"));
  EXPECT_GT(dec(kMax), dec("1"));
  EXPECT_EQ(dec("0010000"), dec("10000"));
}

}  // namespace
}  // namespace x402::eth
