#pragma once
// The 402 a paid route answers one request with: the route's requirements offered for the URL the
// client asked for, the extensions the route declares (payment-identifier), and the metric that
// counts offers per merchant.
#include <span>
#include <string>
#include <string_view>

#include "gateway/request_context.hpp"
#include "protocol/requirements.hpp"

namespace x402 {

// What a request without any payment header is told.
inline constexpr std::string_view kNoPaymentError =
    "payment required: send PAYMENT-SIGNATURE (x402 v2) or X-PAYMENT (x402 v1)";

// The URL the client asked for, as the resource it pays for (based on server.public_url when set).
std::string resource_url(const RequestContext& ctx);

// A 402 offering `requirements` for ctx.route, `error` saying why (a refused payment, say).
http::OutgoingResponse offer_response(const RequestContext& ctx, std::string_view error,
                                      std::span<const Requirement> requirements);

// The 402 for a request that carries no payment, on a fixed-price route: kNoPaymentError and the
// plan's requirements, rendered once per resource URL (gateway/offer_cache.hpp).
http::OutgoingResponse unpaid_offer_response(const RequestContext& ctx, const RoutePlan& plan);

}  // namespace x402
