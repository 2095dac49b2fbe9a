#pragma once
// EIP-712 hashing for EIP-3009 TransferWithAuthorization (PROTOCOL.md §3).
#include <string>

#include "x402/eth/bytes.hpp"
#include "x402/eth/uint256.hpp"

namespace x402::eth {

struct Eip712Domain {
  std::string name;     // the token's EIP-712 name: "USDC" on Base Sepolia, "USD Coin" on Base
  std::string version;  // "2" for USDC
  uint64_t chain_id = 0;
  Address verifying_contract{};  // the token
};

struct TransferAuthorization {
  Address from{};
  Address to{};
  U256 value;
  U256 valid_after;
  U256 valid_before;
  Hash32 nonce{};
};

Hash32 domain_separator(const Eip712Domain& domain);
// keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(TransferWithAuthorization)).
Hash32 transfer_with_authorization_digest(const Eip712Domain& domain,
                                          const TransferAuthorization& auth);

}  // namespace x402::eth
