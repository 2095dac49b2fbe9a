#pragma once
// The client's signed payment, decoded strictly from X-PAYMENT (v1) or PAYMENT-SIGNATURE (v2)
// (PROTOCOL.md §1 "PaymentPayload"). Only the `exact` EVM payload (EIP-3009 authorization) is
// understood; every field is type-checked so later stages can trust the struct.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "protocol/amount.hpp"

namespace x402 {

struct Authorization {
  std::string from;  // 0x + 40 hex, case as sent
  std::string to;    // 0x + 40 hex, case as sent
  Amount value;
  uint64_t valid_after = 0;   // unix seconds
  uint64_t valid_before = 0;  // unix seconds
  std::string nonce;          // 0x + 64 hex
};

struct PaymentPayload {
  int x402_version = 0;                         // 1 or 2
  std::string scheme;                           // v2: accepted.scheme; v1: top level
  std::string network;                          // as sent: v1 name or CAIP-2 (v2: accepted.network)
  std::optional<boost::json::object> accepted;  // v2: the requirement the client chose
  std::optional<boost::json::object> resource;  // v2, when sent
  std::string signature;                        // 0x hex, >= 65 bytes (longer for smart wallets)
  Authorization authorization;
  // The whole decoded JSON. Forward serialize(raw) to facilitators — not the header bytes — so they
  // judge exactly the document we checked (duplicate keys and all).
  boost::json::value raw;
};

// Header values longer than this are rejected before decoding: a real payload is well under 2 KiB.
inline constexpr std::size_t kMaxPaymentHeaderBytes = 16 * 1024;

// `from_v2_header`: true for PAYMENT-SIGNATURE (must carry x402Version 2), false for X-PAYMENT
// (must carry 1); official clients never mix them, and the answer header depends on it.
// Errors have code "invalid_payment" and `field` naming the JSON path ("accepted.network",
// "payload.authorization.validBefore", ...) or the header name for encoding-level problems.
Result<PaymentPayload> decode_payment(std::string_view header_value, bool from_v2_header);

}  // namespace x402
