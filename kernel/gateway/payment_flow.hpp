#pragma once
// The paid path of the pipeline (DESIGN.md §2), from "no payment? → 402" to the settlement
// header: decode, match, local checks, replay claim, verify with failover, settle before or
// after the upstream, respond, record.
#include <boost/asio/awaitable.hpp>

#include "gateway/request_context.hpp"

namespace x402 {

boost::asio::awaitable<http::OutgoingResponse> handle_paid_request(RequestContext& ctx,
                                                                   const RoutePlan& plan);

}  // namespace x402
