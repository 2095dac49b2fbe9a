#include "x402/eth/abi.hpp"

#include <gtest/gtest.h>

#include "golden.hpp"

namespace x402::eth {
namespace {

std::string sel(std::string_view signature) {
  return to_hex(selector(signature), false);
}

TEST(AbiSelector, KnownSelectors) {
  EXPECT_EQ(sel("balanceOf(address)"), "70a08231");
  EXPECT_EQ(sel("transfer(address,uint256)"), "a9059cbb");
  EXPECT_EQ(sel("authorizationState(address,bytes32)"), "e94a0102");
  EXPECT_EQ(sel("transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,"
                "bytes32,bytes32)"),
            "e3ee160e");
}

TEST(AbiSelector, MatchesViem) {
  for (const auto& c : test::golden().at("selectors").as_array()) {
    EXPECT_EQ("0x" + sel(test::str(c.at("signature"))), test::str(c.at("selector")));
  }
}

// The golden TransferWithAuthorization (Base Sepolia payload) as encoder input.
AbiEncoder authorization_head(std::string_view signature) {
  const auto& p = test::golden().at("eip712").as_array().at(0).as_object();
  const auto& m = p.at("message").as_object();
  AbiEncoder enc(signature);
  enc.address(test::address(m.at("from")))
      .address(test::address(m.at("to")))
      .uint256(test::decimal(m.at("value")))
      .uint256(test::decimal(m.at("validAfter")))
      .uint64(*test::decimal(m.at("validBefore")).to_u64())
      .bytes32(test::hash(m.at("nonce")));
  return enc;
}

TEST(AbiEncoder, StaticArgumentsMatchViem) {
  const Bytes sig = test::hex_bytes(test::golden().at("eip712").as_array().at(0).at("signature"));
  ASSERT_EQ(sig.size(), 65u);
  Hash32 r{}, s{};
  std::copy(sig.begin(), sig.begin() + 32, r.begin());
  std::copy(sig.begin() + 32, sig.begin() + 64, s.begin());
  AbiEncoder enc = authorization_head(
      "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,"
      "bytes32)");
  enc.uint8(sig[64]).bytes32(r).bytes32(s);
  EXPECT_EQ(to_hex(enc.encode()),
            test::str(test::golden().at("calldata").at("transfer_with_authorization_vrs")));
}

TEST(AbiEncoder, DynamicBytesMatchViem) {
  const std::string signature =
      "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)";
  const Bytes sig = test::hex_bytes(test::golden().at("eip712").as_array().at(0).at("signature"));
  EXPECT_EQ(to_hex(authorization_head(signature).bytes(sig).encode()),
            test::str(test::golden().at("calldata").at("transfer_with_authorization_bytes")));
  const Bytes short_bytes = {0x01, 0x02, 0x03};
  EXPECT_EQ(to_hex(authorization_head(signature).bytes(short_bytes).encode()),
            test::str(test::golden().at("calldata").at("transfer_with_authorization_short_bytes")));
}

TEST(AbiEncoder, LayoutOfMixedArguments) {
  const Bytes data = {0xde, 0xad};
  const Bytes out = AbiEncoder("f(bytes,bool)").bytes(data).boolean(true).encode();
  // selector + 2 head words + length word + 1 padded data word
  ASSERT_EQ(out.size(), 4u + 4 * 32);
  EXPECT_EQ(abi_word(std::span(out).subspan(4), 0), U256::from_u64(64));  // offset past the head
  EXPECT_EQ(abi_bool(std::span(out).subspan(4), 1), true);
  EXPECT_EQ(abi_word(std::span(out).subspan(4), 2), U256::from_u64(2));
  EXPECT_EQ(out[4 + 96], 0xde);
  EXPECT_EQ(out[4 + 97], 0xad);
  EXPECT_EQ(out.back(), 0x00);
  // Empty bytes: just the length word.
  EXPECT_EQ(AbiEncoder("g(bytes)").bytes(Bytes{}).encode().size(), 4u + 2 * 32);
}

TEST(AbiDecode, WordsAndBools) {
  Bytes data(64, 0);
  data[31] = 1;
  data[63] = 2;
  EXPECT_EQ(abi_word(data, 0), U256::from_u64(1));
  EXPECT_EQ(abi_word(data, 1), U256::from_u64(2));
  EXPECT_FALSE(abi_word(data, 2));
  EXPECT_FALSE(abi_word(Bytes(31, 0), 0));
  EXPECT_EQ(abi_bool(data, 0), true);
  EXPECT_EQ(abi_bool(Bytes(32, 0), 0), false);
  EXPECT_FALSE(abi_bool(data, 1));  // 2 is not a Solidity bool
  EXPECT_FALSE(abi_bool(Bytes{}, 0));
}

TEST(AbiDecode, RevertReasonMatchesViemEncoding) {
  const auto& revert = test::golden().at("revert");
  EXPECT_EQ(decode_revert_reason(test::hex_bytes(revert.at("data"))),
            test::str(revert.at("reason")));
}

TEST(AbiDecode, RevertReasonRejectsMalformedPayloads) {
  const Bytes good = test::hex_bytes(test::golden().at("revert").at("data"));
  ASSERT_GT(good.size(), 4u + 64);
  EXPECT_FALSE(decode_revert_reason(Bytes{}));
  EXPECT_FALSE(decode_revert_reason(Bytes(good.begin(), good.begin() + 4)));
  // Panic(uint256) is not Error(string).
  Bytes panic = good;
  panic[0] = 0x4e, panic[1] = 0x48, panic[2] = 0x7b, panic[3] = 0x71;
  EXPECT_FALSE(decode_revert_reason(panic));
  // Truncated string data.
  EXPECT_FALSE(decode_revert_reason(Bytes(good.begin(), good.end() - 32)));
  // Offset pointing beyond the data.
  Bytes bad_offset = good;
  bad_offset[4 + 31] = 0xff;
  EXPECT_FALSE(decode_revert_reason(bad_offset));
  // Length of 2^64 - 1 must not wrap into a small read.
  Bytes huge_length = good;
  for (int i = 0; i < 8; ++i) huge_length[4 + 32 + 24 + i] = 0xff;
  EXPECT_FALSE(decode_revert_reason(huge_length));
  // Length word larger than 64 bits.
  Bytes wide_length = good;
  wide_length[4 + 32] = 0x01;
  EXPECT_FALSE(decode_revert_reason(wide_length));
}

}  // namespace
}  // namespace x402::eth
