#include "x402/eth/keccak.hpp"

#include <gtest/gtest.h>

#include "golden.hpp"

namespace x402::eth {
namespace {

TEST(Keccak256, PublishedVectors) {
  EXPECT_EQ(to_hex(keccak256(std::string_view(""))),
            "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
  EXPECT_EQ(to_hex(keccak256(std::string_view("abc"))),
            "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
}

TEST(Keccak256, IsNotSha3_256) {
  // SHA3-256("") differs only by padding; getting it means the 0x06 domain byte slipped in.
  EXPECT_NE(to_hex(keccak256(std::string_view(""))),
            "0xa7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a");
}

TEST(Keccak256, MatchesViemAroundTheRateBoundary) {
  const auto& cases = test::golden().at("keccak").as_array();
  ASSERT_GE(cases.size(), 10u);
  for (const auto& c : cases) {
    const Bytes input = test::hex_bytes(c.at("input_hex"));
    EXPECT_EQ(to_hex(keccak256(input)), test::str(c.at("hash"))) << "length " << input.size();
  }
}

TEST(Keccak256, MatchesViemOnAMillionBytes) {
  for (const auto& c : test::golden().at("keccak_repeat").as_array()) {
    const std::string input(static_cast<size_t>(c.at("count").as_int64()),
                            test::str(c.at("repeat"))[0]);
    EXPECT_EQ(to_hex(keccak256(input)), test::str(c.at("hash")));
  }
}

TEST(Keccak256, StringAndByteOverloadsAgree) {
  const std::string text = "transfer(address,uint256)";
  const Bytes bytes(text.begin(), text.end());
  EXPECT_EQ(keccak256(text), keccak256(bytes));
}

}  // namespace
}  // namespace x402::eth
