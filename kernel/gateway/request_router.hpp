#pragma once
// The front of the pipeline: built-in endpoints, merchant and route matching, then the free
// (plain reverse proxy) or paid path.
#include <boost/asio/awaitable.hpp>

#include "gateway/request_context.hpp"

namespace x402 {

boost::asio::awaitable<http::OutgoingResponse> route_request(RequestContext& ctx);

}  // namespace x402
