#pragma once
// Base64 for x402 header values (PROTOCOL.md §1): emit the standard padded form; accept padded,
// unpadded and URL-safe input, because clients in the wild send all three.
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace x402::base64 {

std::string encode(std::string_view bytes);

// Rejects whitespace, characters outside both alphabets, misplaced or excess '=', lengths no
// encoder produces, and non-zero unused bits (so one header value maps to one byte string).
// Errors have code "invalid_base64".
Result<std::string> decode(std::string_view text);

}  // namespace x402::base64
