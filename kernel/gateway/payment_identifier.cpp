#include "gateway/payment_identifier.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <optional>
#include <vector>

#include "gateway/responses.hpp"
#include "protocol/base64.hpp"

namespace x402 {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::string_view kExtension = "payment-identifier";
constexpr std::string_view kIdField = "extensions.payment-identifier.info.id";

// Key order must not change the fingerprint: two encodings of one payment are one request.
void canonical(const json::value& v, std::string& out) {
  if (const auto* o = v.if_object()) {
    std::vector<const json::key_value_pair*> members;
    for (const auto& member : *o) members.push_back(&member);
    std::sort(members.begin(), members.end(),
              [](const auto* a, const auto* b) { return a->key() < b->key(); });
    out += '{';
    for (size_t i = 0; i < members.size(); ++i) {
      if (i) out += ',';
      out += json::serialize(json::string(members[i]->key()));
      out += ':';
      canonical(members[i]->value(), out);
    }
    out += '}';
  } else if (const auto* a = v.if_array()) {
    out += '[';
    for (size_t i = 0; i < a->size(); ++i) {
      if (i) out += ',';
      canonical((*a)[i], out);
    }
    out += ']';
  } else {
    out += json::serialize(v);
  }
}

json::object declaration(bool required) {
  return {{"info", {{"required", required}}},
          {"schema",
           {{"$schema", "https://json-schema.org/draft/2020-12/schema"},
            {"type", "object"},
            {"properties",
             {{"required", {{"type", "boolean"}}},
              {"id",
               {{"type", "string"},
                {"minLength", 16},
                {"maxLength", 128},
                {"pattern", "^[a-zA-Z0-9_-]+$"}}}}},
            {"required", json::array{"required"}}}}};
}

struct Extracted {
  json::value payload;            // the decoded PaymentPayload
  std::optional<std::string> id;  // info.id, validated
};

// nullopt when the header cannot be decoded at all: the paid path answers that with its own 400.
// An error when the extension is there but malformed.
std::optional<Result<Extracted>> extract(std::string_view header) {
  auto decoded = base64::decode(header);
  if (!decoded) return std::nullopt;
  json::error_code ec;
  Extracted out;
  out.payload = json::parse(*decoded, ec);
  if (ec || !out.payload.is_object()) return std::nullopt;
  const auto* extensions = out.payload.get_object().if_contains("extensions");
  if (!extensions || extensions->is_null()) return Result<Extracted>(std::move(out));
  if (!extensions->is_object()) {
    return Result<Extracted>(
        make_error("invalid_payment_identifier", "extensions", "extensions must be an object"));
  }
  const auto* extension = extensions->get_object().if_contains(kExtension);
  if (!extension) return Result<Extracted>(std::move(out));
  const auto* info = extension->is_object() ? extension->get_object().if_contains("info") : nullptr;
  if (!info || !info->is_object()) {
    return Result<Extracted>(make_error("invalid_payment_identifier",
                                        "extensions.payment-identifier.info",
                                        "extensions.payment-identifier must be an object with "
                                        "an info object, as declared in the 402"));
  }
  const auto* id = info->get_object().if_contains("id");
  if (!id) return Result<Extracted>(std::move(out));
  if (!id->is_string() || !is_valid_payment_id(id->get_string())) {
    return Result<Extracted>(make_error(
        "invalid_payment_identifier", std::string(kIdField),
        std::string(kIdField) + " must be 16-128 characters of letters, digits, '_' and '-' (e.g. "
                                "pay_7d5d747be160e280504c099d984bcfe0)"));
  }
  out.id = std::string(id->get_string());
  return Result<Extracted>(std::move(out));
}

// Kept for replay: a response that carries a settlement, i.e. the payment was taken and the
// resource served. Anything else (a refusal, a failed upstream with nothing charged, a settlement
// still unknown) releases the id so the client's retry is handled afresh.
bool settled(const http::OutgoingResponse& res) {
  return res.find("PAYMENT-RESPONSE") != res.end() || res.find("X-PAYMENT-RESPONSE") != res.end();
}

}  // namespace

const boost::json::object& payment_identifier_declaration(PaymentIdentifierMode mode) {
  static const json::object none;
  static const json::object optional{{kExtension, declaration(false)}};
  static const json::object required{{kExtension, declaration(true)}};
  switch (mode) {
    case PaymentIdentifierMode::Off:
      return none;
    case PaymentIdentifierMode::Optional:
      return optional;
    case PaymentIdentifierMode::Required:
      return required;
  }
  return none;
}

bool is_valid_payment_id(std::string_view id) {
  return id.size() >= 16 && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
         });
}

asio::awaitable<http::OutgoingResponse> with_payment_identifier(RequestContext& ctx,
                                                                Handler handler) {
  const PaymentIdentifierMode mode = ctx.route->payment_identifier;
  if (mode == PaymentIdentifierMode::Off) co_return co_await handler();
  const bool required = mode == PaymentIdentifierMode::Required;

  // Only v2 payloads carry extensions; a v1 X-PAYMENT has no id.
  const std::string_view header = ctx.request["PAYMENT-SIGNATURE"];
  const bool paying = !header.empty() || !ctx.request["X-PAYMENT"].empty();
  std::optional<Result<Extracted>> extracted;
  if (!header.empty()) extracted = extract(header);
  if (extracted && !*extracted) {
    ctx.log["payment_error"] = extracted->error().code;
    co_return error_response(400, extracted->error());
  }
  if (!extracted || !(*extracted)->id) {
    const bool undecodable = !header.empty() && !extracted;  // the paid path's 400 names why
    if (required && paying && !undecodable) {
      ctx.log["payment_error"] = "payment_identifier_required";
      co_return error_response(
          400, make_error("payment_identifier_required", std::string(kIdField),
                          "this route requires the payment-identifier extension: send "
                          "extensions[\"payment-identifier\"].info.id in an x402 v2 payment "
                          "payload (PAYMENT-SIGNATURE)"));
    }
    co_return co_await handler();
  }

  std::string body;
  canonical((*extracted)->payload, body);
  const std::string& id = *(*extracted)->id;
  ctx.log["payment_identifier"] = id;
  IdempotentRequest request{
      "merchant:" + ctx.merchant->id, id,
      request_fingerprint({ctx.request.method_string(), ctx.request.target(), body}),
      std::string(kIdField)};
  auto res = co_await run_idempotent(ctx.services, *ctx.snapshot->config, std::move(request),
                                     std::move(handler), settled);
  if (res.find("Idempotent-Replayed") != res.end()) ctx.log["idempotent_replay"] = true;
  co_return res;
}

}  // namespace x402
