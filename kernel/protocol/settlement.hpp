#pragma once
// The settlement result the client gets back in PAYMENT-RESPONSE (v2) or X-PAYMENT-RESPONSE (v1)
// (PROTOCOL.md §1 "SettlementResponse"); same JSON in both versions.
#include <boost/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "protocol/amount.hpp"

namespace x402 {

struct SettlementResponse {
  bool success = false;
  std::string transaction;  // tx hash; empty when nothing was sent
  std::string network;      // in the payment's own spelling (v1 name or CAIP-2)
  std::string payer;
  std::string error_reason, error_message;
  std::optional<Amount> amount;  // only when the settled amount differs from the authorized one
};

// {success, transaction, network, payer?, errorReason?, errorMessage?, amount?}: transaction and
// network are required by both reference types (so always present); the rest are omitted when
// empty.
boost::json::object settlement_to_json(const SettlementResponse& s);
std::string encode_settlement_header(const SettlementResponse& s);

// For tests and the client SDK. Unknown members are ignored, as clients do.
// Errors have code "invalid_settlement_response".
Result<SettlementResponse> decode_settlement_header(std::string_view header_value);

}  // namespace x402
