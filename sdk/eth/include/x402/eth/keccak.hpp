#pragma once
// Keccak-256 as Ethereum uses it (the original Keccak padding 0x01, not SHA3-256's 0x06).
// OpenSSL 3.0 has no Keccak-256, so this is ours, checked against published vectors.
#include <span>
#include <string_view>

#include "x402/eth/bytes.hpp"

namespace x402::eth {

Hash32 keccak256(std::span<const uint8_t> data);
Hash32 keccak256(std::string_view data);

}  // namespace x402::eth
