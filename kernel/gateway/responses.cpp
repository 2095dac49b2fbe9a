#include "gateway/responses.hpp"

#include <boost/json/serialize.hpp>
#include <random>

namespace x402 {

namespace bhttp = boost::beast::http;

http::OutgoingResponse json_response(unsigned status, boost::json::object body) {
  http::OutgoingResponse res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  res.set(bhttp::field::cache_control, "no-store");
  res.body() = boost::json::serialize(body);
  res.prepare_payload();
  return res;
}

http::OutgoingResponse error_response(unsigned status, const Error& error) {
  boost::json::object body{{"error", error.message}, {"code", error.code}};
  if (!error.field.empty()) body["field"] = error.field;
  return json_response(status, std::move(body));
}

void add_cors_expose(http::OutgoingResponse& response) {
  response.set(bhttp::field::access_control_expose_headers,
               "PAYMENT-REQUIRED, PAYMENT-RESPONSE, X-PAYMENT-RESPONSE, X-402-Credential, "
               "RateLimit, RateLimit-Policy, Retry-After");
}

RenderedOffer render_payment_required(std::string_view error, const ResourceInfo& resource,
                                      std::span<const Requirement> requirements,
                                      const boost::json::object& extensions) {
  auto built = build_payment_required(error, resource, requirements, extensions);
  return RenderedOffer{boost::json::serialize(built.v1_body), std::move(built.v2_header)};
}

http::OutgoingResponse payment_required(const RenderedOffer& offer) {
  http::OutgoingResponse res{bhttp::status::payment_required, 11};
  res.set(bhttp::field::content_type, "application/json");
  res.set(bhttp::field::cache_control, "no-store");
  res.set("PAYMENT-REQUIRED", offer.payment_required_header);
  add_cors_expose(res);
  res.body() = offer.body;
  res.prepare_payload();
  return res;
}

std::string random_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  uint64_t a = rng(), b = rng();
  for (int i = 0; i < 16; ++i) {
    id[i] = kHex[(a >> (i * 4)) & 0xf];
    id[16 + i] = kHex[(b >> (i * 4)) & 0xf];
  }
  return id;
}

}  // namespace x402
