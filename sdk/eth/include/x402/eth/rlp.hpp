#pragma once
// Recursive Length Prefix encoding (the Ethereum yellow paper, appendix B), enough for signing
// transactions.
#include <span>
#include <vector>

#include "x402/eth/bytes.hpp"
#include "x402/eth/uint256.hpp"

namespace x402::eth::rlp {

Bytes encode_bytes(std::span<const uint8_t> data);
Bytes encode_uint(const U256& value);  // minimal big-endian, zero is the empty string
Bytes encode_uint(uint64_t value);
// Wraps already-encoded items in a list header.
Bytes encode_list(const std::vector<Bytes>& encoded_items);

}  // namespace x402::eth::rlp
