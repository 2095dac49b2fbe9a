#pragma once
// Ethereum hex strings as they appear in x402 payloads. Addresses arrive in any case (EIP-55
// checksummed or not), so every comparison goes through lowercase_hex.
#include <string>
#include <string_view>

namespace x402 {

std::string lowercase_hex(std::string_view text);       // ASCII lower-casing; other bytes unchanged
bool is_hex_digits(std::string_view text);              // non-empty, [0-9a-fA-F] only
bool is_address(std::string_view text);                 // "0x" + 40 hex digits
bool is_hex32(std::string_view text);                   // "0x" + 64 hex digits (nonce, tx hash)
bool same_hex(std::string_view a, std::string_view b);  // equal ignoring ASCII case

}  // namespace x402
