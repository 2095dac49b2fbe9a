#include "protocol/settlement.hpp"

#include <exception>

#include "protocol/base64.hpp"

namespace x402 {
namespace {

namespace json = boost::json;

Error invalid(std::string field, std::string message) {
  return make_error("invalid_settlement_response", std::move(field), std::move(message));
}

// Reads an optional string member into `out`; absent or null leaves it empty.
Status optional_string(const json::object& o, std::string_view key, std::string& out) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return Ok{};
  if (!v->is_string()) return invalid(std::string(key), std::string(key) + " must be a string");
  out = std::string(v->get_string());
  return Ok{};
}

Result<SettlementResponse> decode_checked(std::string_view header_value) {
  auto bytes = base64::decode(header_value);
  if (!bytes) return invalid("", "settlement header must be base64: " + bytes.error().message);
  boost::system::error_code ec;
  json::value doc = json::parse(*bytes, ec);
  if (ec || !doc.is_object()) return invalid("", "settlement header must hold a JSON object");
  const json::object& o = doc.get_object();

  SettlementResponse out;
  const json::value* success = o.if_contains("success");
  if (success == nullptr || !success->is_bool()) {
    return invalid("success", "success must be a boolean");
  }
  out.success = success->get_bool();
  for (auto [key, field] :
       {std::pair{"transaction", &out.transaction}, std::pair{"network", &out.network},
        std::pair{"payer", &out.payer}, std::pair{"errorReason", &out.error_reason},
        std::pair{"errorMessage", &out.error_message}}) {
    if (auto s = optional_string(o, key, *field); !s) return s.error();
  }
  std::string amount;
  if (auto s = optional_string(o, "amount", amount); !s) return s.error();
  if (!amount.empty()) {
    auto parsed = Amount::parse_atomic(amount, "amount");
    if (!parsed) return invalid("amount", parsed.error().message);
    out.amount = *parsed;
  }
  return out;
}

}  // namespace

json::object settlement_to_json(const SettlementResponse& s) {
  json::object o{{"success", s.success}, {"transaction", s.transaction}, {"network", s.network}};
  if (!s.payer.empty()) o["payer"] = s.payer;
  if (!s.error_reason.empty()) o["errorReason"] = s.error_reason;
  if (!s.error_message.empty()) o["errorMessage"] = s.error_message;
  if (s.amount) o["amount"] = s.amount->to_string();
  return o;
}

std::string encode_settlement_header(const SettlementResponse& s) {
  return base64::encode(json::serialize(settlement_to_json(s)));
}

Result<SettlementResponse> decode_settlement_header(std::string_view header_value) {
  try {
    return decode_checked(header_value);
  } catch (const std::exception& e) {
    return invalid("", std::string("settlement header could not be decoded: ") + e.what());
  }
}

}  // namespace x402
