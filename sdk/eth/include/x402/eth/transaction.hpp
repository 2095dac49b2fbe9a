#pragma once
// EIP-1559 (type 2) transactions: build, sign, and the hash the chain will know them by.
#include "x402/eth/bytes.hpp"
#include "x402/eth/secp256k1.hpp"
#include "x402/eth/uint256.hpp"

namespace x402::eth {

struct Eip1559Transaction {
  uint64_t chain_id = 0;
  uint64_t nonce = 0;
  U256 max_priority_fee_per_gas;
  U256 max_fee_per_gas;
  uint64_t gas_limit = 0;
  Address to{};
  U256 value;
  Bytes data;
  // access list: always empty here
};

struct SignedTransaction {
  Bytes raw;    // 0x02 ‖ rlp([...fields, yParity, r, s]) for eth_sendRawTransaction
  Hash32 hash;  // keccak256(raw)
};

SignedTransaction sign_transaction(const Eip1559Transaction& tx, const PrivateKey& key);

}  // namespace x402::eth
