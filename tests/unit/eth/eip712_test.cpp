#include "x402/eth/eip712.hpp"

#include <gtest/gtest.h>

#include "golden.hpp"
#include "x402/eth/keccak.hpp"

namespace x402::eth {
namespace {

TEST(Eip712, TypeHashesMatchProtocol) {
  EXPECT_EQ(
      to_hex(keccak256(std::string_view(
          "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"))),
      "0x8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f");
  EXPECT_EQ(to_hex(keccak256(std::string_view(
                "TransferWithAuthorization(address from,address to,uint256 value,uint256 "
                "validAfter,uint256 validBefore,bytes32 nonce)"))),
            "0x7c7c6cdb67a18743f49ec6fa9b35f50d52ed05cbed4cc592e13b44501c1a2267");
}

struct Payload {
  Eip712Domain domain;
  TransferAuthorization auth;
};

Payload payload(const boost::json::value& p) {
  const auto& d = p.at("domain");
  const auto& m = p.at("message");
  Payload out;
  out.domain.name = test::str(d.at("name"));
  out.domain.version = test::str(d.at("version"));
  out.domain.chain_id = static_cast<uint64_t>(d.at("chainId").as_int64());
  out.domain.verifying_contract = test::address(d.at("verifyingContract"));
  out.auth.from = test::address(m.at("from"));
  out.auth.to = test::address(m.at("to"));
  out.auth.value = test::decimal(m.at("value"));
  out.auth.valid_after = test::decimal(m.at("validAfter"));
  out.auth.valid_before = test::decimal(m.at("validBefore"));
  out.auth.nonce = test::hash(m.at("nonce"));
  return out;
}

TEST(Eip712, DomainSeparatorAndDigestMatchViem) {
  const auto& cases = test::golden().at("eip712").as_array();
  ASSERT_EQ(cases.size(), 2u);  // "USDC"/84532 and "USD Coin"/8453
  for (const auto& c : cases) {
    const Payload p = payload(c);
    EXPECT_EQ(to_hex(domain_separator(p.domain)), test::str(c.at("domain_separator")))
        << p.domain.name;
    EXPECT_EQ(to_hex(transfer_with_authorization_digest(p.domain, p.auth)),
              test::str(c.at("digest")))
        << p.domain.name;
  }
}

TEST(Eip712, EveryFieldChangesTheDigest) {
  const Payload base = payload(test::golden().at("eip712").as_array().at(0));
  const Hash32 original = transfer_with_authorization_digest(base.domain, base.auth);
  std::vector<Payload> variants(9, base);
  // std::string(...) rather than a literal: GCC 12 at -O3 reports a false -Wrestrict otherwise.
  variants[0].domain.name = std::string("USD Coin");  // the wrong-name hazard of PROTOCOL.md §3
  variants[1].domain.version = std::string("1");
  variants[2].domain.chain_id = 8453;
  variants[3].domain.verifying_contract[19] ^= 1;
  variants[4].auth.from[0] ^= 1;
  variants[5].auth.to[0] ^= 1;
  variants[6].auth.value = *base.auth.value.add(U256::from_u64(1));
  variants[7].auth.valid_before = *base.auth.valid_before.add(U256::from_u64(1));
  variants[8].auth.nonce[31] ^= 1;
  for (size_t i = 0; i < variants.size(); ++i) {
    EXPECT_NE(transfer_with_authorization_digest(variants[i].domain, variants[i].auth), original)
        << "variant " << i;
  }
}

}  // namespace
}  // namespace x402::eth
