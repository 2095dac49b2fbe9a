#pragma once
// Turning a policy's amount into canonical decimal text without ever formatting a float
// (PROTOCOL.md §4: no floating point on the money path, Lua included).
#include <optional>
#include <string>
#include <string_view>

namespace x402::policy {

// 2^53: beyond it a Lua number no longer holds every integer exactly.
inline constexpr double kMaxExactLuaInteger = 9007199254740992.0;

// The decimal text of `value` if it is a finite, non-negative integer no larger than 2^53;
// nullopt otherwise (NaN, ±inf, fractions, negatives, too large).
std::optional<std::string> exact_integer_text(double value);

// `text` with leading zeros removed if it is 1..78 ASCII digits; nullopt otherwise.
std::optional<std::string> canonical_digits(std::string_view text);

// Compares two canonical digit strings as numbers.
bool canonical_less(std::string_view a, std::string_view b);

// 2^256 - 1, the largest on-chain amount.
inline constexpr std::string_view kMaxUint256 =
    "115792089237316195423570985008687907853269984665640564039457584007913129639935";

}  // namespace x402::policy
