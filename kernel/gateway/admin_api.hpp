#pragma once
// The admin API (DESIGN.md §9) on its own listener: merchant pricing policies — upload (compile,
// sandbox, dry run), validate, list, show, activate, roll back (docs/policies.md, "Managing
// policies"). Authenticated with `Authorization: Bearer <key>` against config `admin.api_keys`:
// an admin key reaches every merchant, a merchant key only its own.
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>

#include "gateway/request_context.hpp"

namespace x402 {

// `refresh_policies` makes an activation live on this node at once (other nodes poll).
boost::asio::awaitable<http::OutgoingResponse> serve_admin_api(
    http::IncomingRequest& request, std::shared_ptr<const Snapshot> snapshot,
    GatewayServices& services, std::function<Status()> refresh_policies);

}  // namespace x402
