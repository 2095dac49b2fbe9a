#include "x402/eth/rlp.hpp"

#include <gtest/gtest.h>

namespace x402::eth {
namespace {

Bytes str(std::string_view s) {
  return Bytes(s.begin(), s.end());
}
std::string hex(const Bytes& b) {
  return to_hex(b, false);
}

TEST(Rlp, ClassicStringVectors) {
  EXPECT_EQ(hex(rlp::encode_bytes(str("dog"))), "83646f67");
  EXPECT_EQ(hex(rlp::encode_bytes(str(""))), "80");
  EXPECT_EQ(hex(rlp::encode_bytes(Bytes{0x00})), "00");
  EXPECT_EQ(hex(rlp::encode_bytes(Bytes{0x7f})), "7f");
  EXPECT_EQ(hex(rlp::encode_bytes(Bytes{0x80})), "8180");
}

TEST(Rlp, ClassicListVectors) {
  EXPECT_EQ(hex(rlp::encode_list({rlp::encode_bytes(str("cat")), rlp::encode_bytes(str("dog"))})),
            "c88363617483646f67");
  EXPECT_EQ(hex(rlp::encode_list({})), "c0");
  // The set-theoretical representation of three: [ [], [[]], [ [], [[]] ] ].
  const Bytes empty = rlp::encode_list({});
  const Bytes one = rlp::encode_list({empty});
  EXPECT_EQ(hex(rlp::encode_list({empty, one, rlp::encode_list({empty, one})})),
            "c7c0c1c0c3c0c1c0");
}

TEST(Rlp, Integers) {
  EXPECT_EQ(hex(rlp::encode_uint(uint64_t{0})), "80");
  EXPECT_EQ(hex(rlp::encode_uint(uint64_t{15})), "0f");
  EXPECT_EQ(hex(rlp::encode_uint(uint64_t{127})), "7f");
  EXPECT_EQ(hex(rlp::encode_uint(uint64_t{128})), "8180");
  EXPECT_EQ(hex(rlp::encode_uint(uint64_t{1024})), "820400");
  EXPECT_EQ(hex(rlp::encode_uint(U256{})), "80");
  EXPECT_EQ(hex(rlp::encode_uint(U256::from_u64(1024))), "820400");
  const U256 big =
      *U256::from_hex("0x0100000000000000000000000000000000000000000000000000000000000000");
  EXPECT_EQ(hex(rlp::encode_uint(big)), "a0" + hex(Bytes(big.be.begin(), big.be.end())));
}

TEST(Rlp, LongStringUsesLengthOfLength) {
  const std::string text = "Lorem ipsum dolor sit amet, consectetur adipisicing elit";  // 56 bytes
  ASSERT_EQ(text.size(), 56u);
  EXPECT_EQ(hex(rlp::encode_bytes(str(text))), "b838" + hex(str(text)));
  const Bytes b55(55, 0xaa);
  EXPECT_EQ(rlp::encode_bytes(b55)[0], 0x80 + 55);
  const Bytes b1024(1024, 0x01);
  const Bytes encoded = rlp::encode_bytes(b1024);
  EXPECT_EQ(hex(Bytes(encoded.begin(), encoded.begin() + 3)), "b90400");
  EXPECT_EQ(encoded.size(), 1027u);
}

TEST(Rlp, LongListUsesLengthOfLength) {
  // 5 strings of 11 bytes (12 encoded) = 60-byte payload -> 0xf8 0x3c.
  std::vector<Bytes> items(5, rlp::encode_bytes(Bytes(11, 0x61)));
  const Bytes encoded = rlp::encode_list(items);
  EXPECT_EQ(hex(Bytes(encoded.begin(), encoded.begin() + 2)), "f83c");
  EXPECT_EQ(encoded.size(), 62u);
}

}  // namespace
}  // namespace x402::eth
