#include "x402/eth/transaction.hpp"

#include <gtest/gtest.h>

#include "golden.hpp"
#include "x402/eth/keccak.hpp"

namespace x402::eth {
namespace {

Eip1559Transaction from_golden(const boost::json::value& t) {
  Eip1559Transaction tx;
  tx.chain_id = static_cast<uint64_t>(t.at("chain_id").as_int64());
  tx.nonce = static_cast<uint64_t>(t.at("nonce").as_int64());
  tx.max_priority_fee_per_gas = test::decimal(t.at("max_priority_fee_per_gas"));
  tx.max_fee_per_gas = test::decimal(t.at("max_fee_per_gas"));
  tx.gas_limit = static_cast<uint64_t>(t.at("gas_limit").as_int64());
  tx.to = test::address(t.at("to"));
  tx.value = test::decimal(t.at("value"));
  tx.data = test::hex_bytes(t.at("data"));
  return tx;
}

PrivateKey golden_key() {
  auto key = PrivateKey::from_hex(test::str(test::golden().at("private_key")));
  EXPECT_TRUE(key);
  return key.value_or(PrivateKey{});
}

TEST(Eip1559, SignedRawTransactionMatchesViemByteForByte) {
  const auto& cases = test::golden().at("transactions").as_array();
  ASSERT_EQ(cases.size(), 3u);
  for (const auto& t : cases) {
    const SignedTransaction signed_tx = sign_transaction(from_golden(t), golden_key());
    EXPECT_EQ(to_hex(signed_tx.raw), test::str(t.at("raw"))) << "nonce " << t.at("nonce");
    EXPECT_EQ(to_hex(signed_tx.hash), test::str(t.at("hash")));
    EXPECT_EQ(signed_tx.hash, keccak256(signed_tx.raw));
    EXPECT_EQ(signed_tx.raw.front(), 0x02);
  }
}

TEST(Eip1559, SignatureCoversTheViemSigningHash) {
  // Independent of our RLP: recover the signer from (viem's signing hash, our r/s/yParity).
  const PrivateKey key = golden_key();
  int checked = 0;
  for (const auto& t : test::golden().at("transactions").as_array()) {
    const Bytes raw = sign_transaction(from_golden(t), key).raw;
    const Hash32 signing_hash = test::hash(t.at("signing_hash"));
    // Tail of raw is yParity (0x80 for 0, 0x01 for 1), 0xa0 ‖ r, 0xa0 ‖ s when r and s have no
    // leading zero byte (true for the golden transactions, and checked below).
    ASSERT_GT(raw.size(), 67u);
    if (raw[raw.size() - 33] != 0xa0 || raw[raw.size() - 66] != 0xa0) continue;
    Bytes sig(raw.end() - 65, raw.end() - 33);
    sig.insert(sig.end(), raw.end() - 32, raw.end());
    const uint8_t y_parity = raw[raw.size() - 67];
    ASSERT_TRUE(y_parity == 0x80 || y_parity == 0x01);
    sig.push_back(y_parity == 0x01 ? 28 : 27);
    const Recovered r = recover_address(signing_hash, sig);
    ASSERT_TRUE(r.address) << to_string(r.error);
    EXPECT_EQ(*r.address, key.address());
    ++checked;
  }
  EXPECT_GE(checked, 2);
}

TEST(Eip1559, ChangingAFieldChangesTheTransaction) {
  const auto& t = test::golden().at("transactions").as_array().at(0);
  const PrivateKey key = golden_key();
  const SignedTransaction original = sign_transaction(from_golden(t), key);
  Eip1559Transaction changed = from_golden(t);
  changed.nonce += 1;
  EXPECT_NE(sign_transaction(changed, key).hash, original.hash);
  changed = from_golden(t);
  changed.chain_id = 8453;
  EXPECT_NE(sign_transaction(changed, key).hash, original.hash);
}

}  // namespace
}  // namespace x402::eth
