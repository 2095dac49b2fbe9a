#pragma once
// Fixed-size byte types and hex conversion shared by the Ethereum primitives.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace x402::eth {

using Bytes = std::vector<uint8_t>;
using Hash32 = std::array<uint8_t, 32>;
using Address = std::array<uint8_t, 20>;

// Lower-case hex, "0x"-prefixed unless `prefix` is false.
std::string to_hex(std::span<const uint8_t> bytes, bool prefix = true);

// Accepts an optional 0x/0X prefix and either case; nullopt on odd length or a non-hex digit.
std::optional<Bytes> from_hex(std::string_view text);

// Exactly `N` bytes of hex (with optional prefix), else nullopt.
std::optional<Hash32> parse_hash32(std::string_view text);

// "0x" + 40 hex digits in any case. Mixed case is accepted without checking the EIP-55 checksum
// (payment payloads arrive in any case); use is_valid_checksum() where a checksum must hold.
std::optional<Address> parse_address(std::string_view text);

// EIP-55 mixed-case checksum form, e.g. "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".
std::string checksum_address(const Address& address);
// True when `text` is all lower, all upper, or a correct EIP-55 checksum.
bool is_valid_checksum(std::string_view text);

}  // namespace x402::eth
