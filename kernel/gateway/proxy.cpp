#include "gateway/proxy.hpp"

#include <algorithm>
#include <array>
#include <boost/beast/core/string.hpp>
#include <vector>

#include "gateway/responses.hpp"
#include "http/worker_context.hpp"

namespace x402 {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

namespace {

// RFC 9110 §7.6.1 hop-by-hop fields, plus the ones proxies conventionally drop, plus the ones the
// message's Connection fields name (every Connection line: RFC 9110 §5.3 makes them one list).
// Decided per field in one pass over the message: looking each name up and erasing it costs a
// tree search per name on every proxied request. The names are copied, because the pass erases
// the Connection fields they come from.
class HopByHop {
 public:
  template <class Message>
  explicit HopByHop(const Message& message) {
    auto [first, last] = message.equal_range(bhttp::field::connection);
    for (; first != last; ++first) {
      for (auto name : bhttp::token_list{first->value()}) named_.emplace_back(name);
    }
  }

  template <class Field>
  bool operator()(const Field& field) const {
    if (std::find(kFields.begin(), kFields.end(), field.name()) != kFields.end()) return true;
    const std::string_view name = field.name_string();
    if (beast::iequals(name, "Proxy-Connection")) return true;
    return std::any_of(named_.begin(), named_.end(),
                       [&](const std::string& n) { return beast::iequals(n, name); });
  }

 private:
  static constexpr std::array<bhttp::field, 8> kFields = {
      bhttp::field::connection,          bhttp::field::keep_alive, bhttp::field::proxy_authenticate,
      bhttp::field::proxy_authorization, bhttp::field::te,         bhttp::field::trailer,
      bhttp::field::transfer_encoding,   bhttp::field::upgrade};
  std::vector<std::string> named_;
};

// Request fields replaced by our own (Host, X-Forwarded-For/Proto, X-Request-Id) or meant for us
// alone: the payer's signed authorization is not for the merchant's application.
bool replaced_or_ours(std::string_view name) {
  constexpr std::array<std::string_view, 6> kNames = {
      "Host",        "PAYMENT-SIGNATURE", "X-PAYMENT", "X-Forwarded-For", "X-Forwarded-Proto",
      "X-Request-Id"};
  return std::any_of(kNames.begin(), kNames.end(),
                     [&](std::string_view n) { return beast::iequals(n, name); });
}

}  // namespace

boost::asio::awaitable<http::Outcome> forward_to_upstream(const MerchantConfig& merchant,
                                                          http::IncomingRequest& request,
                                                          std::string_view path_below_merchant,
                                                          const http::PeerInfo& peer,
                                                          const std::string& request_id) {
  http::Request out{request.method(),
                    std::string(merchant.upstream.base_path) + std::string(path_below_merchant),
                    11};
  if (request.method() == bhttp::verb::unknown) out.method_string(request.method_string());
  const std::string_view original_host = request[bhttp::field::host];
  const HopByHop hop_by_hop(request);
  for (const auto& field : request) {
    if (hop_by_hop(field) || replaced_or_ours(field.name_string())) continue;
    out.insert(field.name(), field.name_string(), field.value());
  }
  out.set(bhttp::field::host, merchant.upstream.host_header());
  std::string forwarded_for(request["X-Forwarded-For"]);
  forwarded_for =
      forwarded_for.empty() ? peer.remote_address : forwarded_for + ", " + peer.remote_address;
  out.set("X-Forwarded-For", forwarded_for);
  out.set("X-Forwarded-Proto", peer.tls ? "https" : "http");
  if (!original_host.empty()) out.set("X-Forwarded-Host", original_host);
  out.set("X-Request-Id", request_id);
  out.body() = std::move(request.body());
  out.keep_alive(true);

  auto* worker = http::current_worker();
  co_return co_await worker->client->send(
      merchant.upstream, std::move(out),
      http::Timeouts{merchant.upstream_connect_timeout, merchant.upstream_timeout});
}

http::OutgoingResponse relay_response(http::Response&& upstream, bool head_request) {
  http::OutgoingResponse res = std::move(upstream);
  const HopByHop hop_by_hop(res);
  for (auto it = res.begin(); it != res.end();)
    it = hop_by_hop(*it) ? res.erase(it) : std::next(it);
  if (!head_request) res.prepare_payload();
  return res;
}

http::OutgoingResponse upstream_failure_response(const MerchantConfig& merchant,
                                                 const http::TransportError& error) {
  boost::json::object body{{"error", "upstream unavailable: " + error.message},
                           {"code", error.timed_out ? "upstream_timeout" : "upstream_unavailable"},
                           {"upstream", merchant.upstream_url}};
  return json_response(error.timed_out ? 504 : 502, std::move(body));
}

}  // namespace x402
