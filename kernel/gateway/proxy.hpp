#pragma once
// Forwarding a request to a merchant's upstream: header hygiene (hop-by-hop headers removed,
// payment headers stripped so the upstream never sees the payer's signature, X-Forwarded-* added)
// and the pooled client of the current worker.
#include <boost/asio/awaitable.hpp>
#include <string_view>

#include "config/config.hpp"
#include "http/client.hpp"
#include "http/server.hpp"

namespace x402 {

// Sends `request` to the merchant's upstream at base_path + `path_below_merchant` (which carries
// the query string), within the merchant's upstream timeouts. The request is consumed.
boost::asio::awaitable<http::Outcome> forward_to_upstream(const MerchantConfig& merchant,
                                                          http::IncomingRequest& request,
                                                          std::string_view path_below_merchant,
                                                          const http::PeerInfo& peer,
                                                          const std::string& request_id);

// Turns the upstream's answer into ours: hop-by-hop headers dropped, Content-Length recomputed
// (except for HEAD, whose Content-Length describes the body a GET would get).
http::OutgoingResponse relay_response(http::Response&& upstream, bool head_request);

// 502 / 504 with a JSON body saying which upstream failed and how.
http::OutgoingResponse upstream_failure_response(const MerchantConfig& merchant,
                                                 const http::TransportError& error);

}  // namespace x402
