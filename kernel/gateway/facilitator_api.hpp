#pragma once
// x402d as a facilitator: the standard facilitator HTTP API (PROTOCOL.md §2) answered by the
// facilitator instance that the config's facilitator_api section names, so other x402 servers
// can use this gateway (typically its self-hosted facilitator) as their facilitator.
//
//   POST /verify, POST /settle  body {x402Version, paymentPayload, paymentRequirements}
//                               → 200 with the normalized verdict, valid or not (as the reference
//                                 facilitator answers); 202 for a settlement broadcast but not
//                                 yet confirmed (errorReason "settlement_pending")
//   GET /supported              → 200 with the instance's /supported body
//   malformed input → 400 {"error", "field"}; unknown path 404; wrong method 405;
//   the facilitator without a verdict → 502 (no usable answer), 503 (never reached; Retry-After
//   when known), 504 (no answer in time).
#include <boost/asio/awaitable.hpp>
#include <memory>

#include "gateway/snapshot.hpp"
#include "http/server.hpp"

namespace x402 {

// Serves one request from `snapshot` (which may lack the section after a reload removed it).
// Never throws; every outcome is a response.
boost::asio::awaitable<http::OutgoingResponse> serve_facilitator_api(
    const http::IncomingRequest& request, std::shared_ptr<const Snapshot> snapshot);

}  // namespace x402
