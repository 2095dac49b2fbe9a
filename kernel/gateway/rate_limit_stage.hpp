#pragma once
// The pipeline's rate-limit stage (DESIGN.md §2): after the route match, before pricing, the
// route's tier decides whether this client may go on. Refused: 429 with Retry-After. Admitted:
// the rest of the pipeline runs and its response, 402 or the upstream's, tells the client its
// quota in the RateLimit-Policy / RateLimit fields (draft-ietf-httpapi-ratelimit-headers).
#include <boost/asio/awaitable.hpp>

#include "gateway/idempotency.hpp"
#include "gateway/request_context.hpp"

namespace x402 {

// Runs `handler` (everything after the route match) behind ctx.route's tier, if it has one.
boost::asio::awaitable<http::OutgoingResponse> with_rate_limit(RequestContext& ctx,
                                                               Handler handler);

}  // namespace x402
