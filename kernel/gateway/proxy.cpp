#include "gateway/proxy.hpp"

#include <array>

#include "gateway/responses.hpp"
#include "http/worker_context.hpp"

namespace x402 {

namespace bhttp = boost::beast::http;

namespace {

// RFC 9110 §7.6.1 hop-by-hop fields, plus the ones proxies conventionally drop.
constexpr std::array<bhttp::field, 8> kHopByHop = {
    bhttp::field::connection,          bhttp::field::keep_alive, bhttp::field::proxy_authenticate,
    bhttp::field::proxy_authorization, bhttp::field::te,         bhttp::field::trailer,
    bhttp::field::transfer_encoding,   bhttp::field::upgrade};

template <class Message>
void strip_hop_by_hop(Message& m) {
  // Fields named in Connection are hop-by-hop too.
  for (auto name : bhttp::token_list{m[bhttp::field::connection]}) {
    m.erase(std::string(name));
  }
  for (auto f : kHopByHop) m.erase(f);
  m.erase("Proxy-Connection");
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
  const std::string original_host(request[bhttp::field::host]);
  for (auto& field : request) out.insert(field.name_string(), field.value());
  strip_hop_by_hop(out);
  // The payer's signed authorization is for us, not for the merchant's application.
  out.erase("PAYMENT-SIGNATURE");
  out.erase("X-PAYMENT");
  out.erase(bhttp::field::host);
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
  strip_hop_by_hop(res);
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
