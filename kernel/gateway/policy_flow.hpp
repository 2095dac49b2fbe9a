#pragma once
// A request on a policy-priced route (`pricing: policy`, docs/policies.md): a presented time-pass
// or package credential first; otherwise the merchant's active Lua policy prices the request on
// this worker's sandboxed runtime and the paid path charges what it answered, billed in the mode
// it chose. A policy that fails (error, budget, no active version) gets the route's declared
// fallback — a static price or 503 — never a free pass.
#include <boost/asio/awaitable.hpp>

#include "gateway/request_context.hpp"

namespace x402 {

boost::asio::awaitable<http::OutgoingResponse> handle_policy_request(RequestContext& ctx);

}  // namespace x402
