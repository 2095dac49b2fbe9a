#include "gateway/facilitator_api.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <optional>

#include "gateway/responses.hpp"

namespace x402 {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
namespace json = boost::json;

namespace {

http::OutgoingResponse bad_request(std::string_view field, std::string message) {
  return json_response(400, {{"error", std::move(message)}, {"field", field}});
}

http::OutgoingResponse method_not_allowed(std::string_view allow) {
  auto res = json_response(405, {{"error", "method not allowed; use " + std::string(allow)}});
  res.set(bhttp::field::allow, allow);
  return res;
}

// The body of POST /verify and /settle, checked field by field so a caller learns which one is
// wrong; nullopt with `error` filled when it is not acceptable.
std::optional<json::object> read_payment_body(std::string_view body,
                                              std::optional<http::OutgoingResponse>& error) {
  json::error_code ec;
  json::value parsed = json::parse(body, ec);
  if (ec) {
    error = bad_request("body", "the body is not JSON: " + ec.message());
    return std::nullopt;
  }
  auto* object = parsed.if_object();
  if (!object) {
    error = bad_request("body", "the body must be a JSON object");
    return std::nullopt;
  }
  const json::value* version = object->if_contains("x402Version");
  if (!version) {
    error = bad_request("x402Version", "x402Version is required");
    return std::nullopt;
  }
  const bool version_ok = (version->is_int64() && version->get_int64() >= 1) ||
                          (version->is_uint64() && version->get_uint64() >= 1);
  if (!version_ok) {
    error = bad_request("x402Version", "x402Version must be a positive integer, e.g. 2");
    return std::nullopt;
  }
  for (std::string_view key : {"paymentPayload", "paymentRequirements"}) {
    const json::value* part = object->if_contains(key);
    if (!part) {
      error = bad_request(key, std::string(key) + " is required");
      return std::nullopt;
    }
    if (!part->is_object()) {
      error = bad_request(key, std::string(key) + " must be a JSON object");
      return std::nullopt;
    }
  }
  return std::move(*object);
}

// A facilitator call that produced no verdict, in HTTP terms a gateway error.
http::OutgoingResponse no_verdict(const FacilitatorAnswer& answer, const std::string& name) {
  json::object body{{"error", answer.error.empty() ? "no verdict" : answer.error},
                    {"facilitator", name}};
  if (answer.timed_out) {
    body["error"] = "the facilitator did not answer in time: " + answer.error;
    return json_response(504, std::move(body));
  }
  // Never reached, or told to come back later: the caller may retry as is.
  if (answer.outcome == X402_FAC_NOT_SENT || answer.retry_after_ms > 0) {
    auto res = json_response(503, std::move(body));
    if (answer.retry_after_ms > 0) {
      res.set(bhttp::field::retry_after, std::to_string((answer.retry_after_ms + 999) / 1000));
    }
    return res;
  }
  return json_response(502, std::move(body));
}

http::OutgoingResponse to_response(const FacilitatorAnswer& answer, const std::string& name) {
  if (answer.outcome == X402_FAC_ANSWERED && answer.body.is_object()) {
    return json_response(200, answer.body.get_object());
  }
  if (answer.outcome == X402_FAC_PENDING && answer.body.is_object()) {
    // Broadcast, not confirmed: the verdict HTTP facilitator clients treat as non-terminal.
    json::object body = answer.body.get_object();
    body["success"] = false;
    body["errorReason"] = "settlement_pending";
    return json_response(202, std::move(body));
  }
  if (answer.outcome == X402_FAC_ANSWERED || answer.outcome == X402_FAC_PENDING) {
    FacilitatorAnswer broken = answer;
    broken.outcome = X402_FAC_UNAVAILABLE;
    broken.error = "the facilitator's verdict is not a JSON object";
    return no_verdict(broken, name);
  }
  return no_verdict(answer, name);
}

std::shared_ptr<Facilitator> find_facilitator(const Snapshot& snapshot, const std::string& name) {
  for (const auto& member : snapshot.chain->members()) {
    if (member.facilitator->name() == name) return member.facilitator;
  }
  return nullptr;
}

}  // namespace

asio::awaitable<http::OutgoingResponse> serve_facilitator_api(
    const http::IncomingRequest& request, std::shared_ptr<const Snapshot> snapshot) {
  const std::string_view target = request.target();
  const std::string_view path = target.substr(0, target.find('?'));
  const bool payment_call = path == "/verify" || path == "/settle";
  if (!payment_call && path != "/supported") {
    co_return json_response(404, {{"error",
                                   "no such endpoint; this facilitator API serves "
                                   "POST /verify, POST /settle and GET /supported"}});
  }
  if (payment_call && request.method() != bhttp::verb::post) co_return method_not_allowed("POST");
  if (!payment_call && request.method() != bhttp::verb::get) co_return method_not_allowed("GET");

  if (!snapshot || !snapshot->config->facilitator_api) {
    co_return json_response(503, {{"error",
                                   "the facilitator API is no longer configured; restart x402d "
                                   "to close this listener"}});
  }
  const std::string& name = snapshot->config->facilitator_api->facilitator;
  // Held for the whole call, so a reload cannot destroy the instance under it.
  auto instance = find_facilitator(*snapshot, name);
  if (!instance) {
    co_return json_response(503, {{"error", "facilitator '" + name + "' is not configured"}});
  }

  if (path == "/supported") {
    co_return to_response(co_await instance->supported(instance->attempt_timeout()), name);
  }

  std::optional<http::OutgoingResponse> invalid;
  auto body = read_payment_body(request.body(), invalid);
  if (!body) co_return std::move(*invalid);
  // The body goes on as received: the plugin reads exactly what the caller signed and chose.
  std::string request_json(request.body());
  if (path == "/verify") {
    co_return to_response(
        co_await instance->verify(std::move(request_json), instance->attempt_timeout()), name);
  }
  SettleCallOptions options;
  options.wait = X402_SETTLE_CONFIRMED;  // a remote caller answers its client only when settled
  co_return to_response(
      co_await instance->settle(std::move(request_json), snapshot->config->failover.settle_timeout,
                                std::move(options)),
      name);
}

}  // namespace x402
