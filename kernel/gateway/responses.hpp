#pragma once
// Every response the gateway itself writes (as opposed to proxying) is built here, so status
// codes, JSON error bodies and the x402 headers stay consistent across the pipeline.
#include <boost/json/object.hpp>
#include <span>
#include <string_view>

#include "common/result.hpp"
#include "gateway/offer_cache.hpp"
#include "http/server.hpp"
#include "protocol/requirements.hpp"

namespace x402 {

// {"error": message, "code": code, "field": field?, ...extra}
http::OutgoingResponse json_response(unsigned status, boost::json::object body);
http::OutgoingResponse error_response(unsigned status, const Error& error);

// The dual-stack 402's content (PROTOCOL.md §1): the v1 JSON body and the v2 PaymentRequired,
// which alone carries `extensions` (an empty object declares none).
RenderedOffer render_payment_required(std::string_view error, const ResourceInfo& resource,
                                      std::span<const Requirement> requirements,
                                      const boost::json::object& extensions);

// The 402 itself: v2 PAYMENT-REQUIRED header plus the v1 JSON body, Cache-Control: no-store and
// the CORS expose list, so every official client understands it.
http::OutgoingResponse payment_required(const RenderedOffer& offer);

// Headers every x402 response carries for browsers.
void add_cors_expose(http::OutgoingResponse& response);

// Unique enough ids for requests and payments: 128 random bits as hex.
std::string random_id();

}  // namespace x402
