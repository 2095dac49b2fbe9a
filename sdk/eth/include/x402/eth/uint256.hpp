#pragma once
// An unsigned 256-bit integer as Ethereum stores it: 32 big-endian bytes. Parsing is strict
// (PROTOCOL.md §4): decimal digits only, no sign, no exponent, leading zeros are decimal, at most
// 78 digits and below 2^256. No floating point.
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "x402/eth/bytes.hpp"

namespace x402::eth {

struct U256 {
  Hash32 be{};  // big-endian

  static U256 from_u64(uint64_t v);
  static std::optional<U256> from_decimal(std::string_view text);
  // "0x..." quantity as JSON-RPC returns it (no leading-zero rule), up to 64 hex digits.
  static std::optional<U256> from_hex(std::string_view text);
  static U256 from_be(std::span<const uint8_t> bytes);  // up to 32 bytes, right-aligned

  std::string to_decimal() const;
  std::string to_hex_quantity() const;  // JSON-RPC quantity: "0x0", "0x1a", no leading zeros
  bool is_zero() const;
  std::optional<uint64_t> to_u64() const;  // nullopt when it does not fit

  // Arithmetic the relayer needs (fees, balances). Overflow / underflow give nullopt.
  std::optional<U256> add(const U256& other) const;
  std::optional<U256> sub(const U256& other) const;
  std::optional<U256> mul_u64(uint64_t factor) const;

  auto operator<=>(const U256& other) const = default;
};

}  // namespace x402::eth
