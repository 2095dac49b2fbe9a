#include "x402/eth/transaction.hpp"

#include "x402/eth/keccak.hpp"
#include "x402/eth/rlp.hpp"

namespace x402::eth {
namespace {

constexpr uint8_t kEip1559Type = 0x02;

// The nine EIP-1559 payload fields, in order; the signature fields are appended after them.
std::vector<Bytes> payload_fields(const Eip1559Transaction& tx) {
  return {rlp::encode_uint(tx.chain_id),
          rlp::encode_uint(tx.nonce),
          rlp::encode_uint(tx.max_priority_fee_per_gas),
          rlp::encode_uint(tx.max_fee_per_gas),
          rlp::encode_uint(tx.gas_limit),
          rlp::encode_bytes(tx.to),
          rlp::encode_uint(tx.value),
          rlp::encode_bytes(tx.data),
          rlp::encode_list({})};  // access list
}

Bytes typed(const Bytes& rlp_payload) {
  Bytes out;
  out.reserve(1 + rlp_payload.size());
  out.push_back(kEip1559Type);
  out.insert(out.end(), rlp_payload.begin(), rlp_payload.end());
  return out;
}

}  // namespace

SignedTransaction sign_transaction(const Eip1559Transaction& tx, const PrivateKey& key) {
  std::vector<Bytes> fields = payload_fields(tx);
  const Hash32 signing_hash = keccak256(typed(rlp::encode_list(fields)));
  const Signature sig = key.sign(signing_hash);
  // r and s are integers in RLP, so their leading zero bytes are dropped.
  fields.push_back(rlp::encode_uint(static_cast<uint64_t>(sig.recovery_id())));
  fields.push_back(rlp::encode_uint(U256{sig.r}));
  fields.push_back(rlp::encode_uint(U256{sig.s}));
  SignedTransaction out;
  out.raw = typed(rlp::encode_list(fields));
  out.hash = keccak256(out.raw);
  return out;
}

}  // namespace x402::eth
