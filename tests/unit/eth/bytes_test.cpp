#include "x402/eth/bytes.hpp"

#include <gtest/gtest.h>

#include "golden.hpp"

namespace x402::eth {
namespace {

TEST(Hex, RoundTripsWithAndWithoutPrefix) {
  const Bytes data = {0x00, 0x01, 0xab, 0xff};
  EXPECT_EQ(to_hex(data), "0x0001abff");
  EXPECT_EQ(to_hex(data, false), "0001abff");
  EXPECT_EQ(from_hex("0x0001abff"), data);
  EXPECT_EQ(from_hex("0X0001ABFF"), data);
  EXPECT_EQ(from_hex("0001AbFf"), data);
  EXPECT_EQ(from_hex("0x"), Bytes{});
}

TEST(Hex, RejectsOddLengthAndNonHex) {
  EXPECT_FALSE(from_hex("0x123"));
  EXPECT_FALSE(from_hex("0xzz"));
  EXPECT_FALSE(from_hex("0x12 4"));
  EXPECT_FALSE(from_hex("x12"));
}

TEST(Hex, ParseHash32NeedsExactly32Bytes) {
  const std::string h64(64, 'a');
  ASSERT_TRUE(parse_hash32("0x" + h64));
  EXPECT_EQ((*parse_hash32(h64))[31], 0xaa);
  EXPECT_FALSE(parse_hash32("0x" + h64.substr(2)));
  EXPECT_FALSE(parse_hash32("0x" + h64 + "aa"));
}

TEST(Address, ParsesAnyCaseButNeedsPrefixAndLength) {
  auto a = parse_address("0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED");
  ASSERT_TRUE(a);
  EXPECT_EQ(parse_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"), a);
  // A wrong checksum is still an address: payloads arrive in any case.
  EXPECT_EQ(parse_address("0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed"), a);
  EXPECT_FALSE(parse_address("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"));
  EXPECT_FALSE(parse_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea"));
  EXPECT_FALSE(parse_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed00"));
  EXPECT_FALSE(parse_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg"));
}

// The test vectors of EIP-55 itself.
constexpr const char* kEip55Vectors[] = {
    "0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77", "0x27b1fdb04752bbc536007a920d24acb045561c26",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
};

TEST(Eip55, ReproducesTheEipVectors) {
  for (const char* vector : kEip55Vectors) {
    auto a = parse_address(vector);
    ASSERT_TRUE(a) << vector;
    EXPECT_EQ(checksum_address(*a), vector);
    EXPECT_TRUE(is_valid_checksum(vector)) << vector;
  }
}

TEST(Eip55, MatchesViemGetAddress) {
  for (const auto& c : test::golden().at("checksums").as_array()) {
    EXPECT_EQ(checksum_address(test::address(c.at("lower"))), test::str(c.at("checksummed")));
  }
}

TEST(Eip55, ValidatesCase) {
  EXPECT_TRUE(is_valid_checksum("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"));
  EXPECT_TRUE(is_valid_checksum("0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED"));
  // One letter flipped from the checksummed form.
  EXPECT_FALSE(is_valid_checksum("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"));
  EXPECT_FALSE(is_valid_checksum("0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"));
  EXPECT_FALSE(is_valid_checksum("not an address"));
}

}  // namespace
}  // namespace x402::eth
