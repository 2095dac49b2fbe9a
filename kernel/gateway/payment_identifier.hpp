#pragma once
// The x402 `payment-identifier` extension on paid routes (docs/idempotency.md): the 402 declares
// it (extensions["payment-identifier"] = {info:{required}, schema}); a client that echoes it with
// info.id in its PaymentPayload gets idempotency for that id, scoped to the merchant. A retry of
// the same payment with the same id replays the first answer (Idempotent-Replayed: true) without
// calling the upstream or a facilitator again; the same id with another payment is 422; a retry
// while the first still runs is 409. Without an id the request is handled exactly as before.
#include <boost/asio/awaitable.hpp>
#include <string>

#include "common/result.hpp"
#include "gateway/idempotency.hpp"
#include "gateway/request_context.hpp"

namespace x402 {

// The extension's id rules: 16–128 characters of [A-Za-z0-9_-].
bool is_valid_payment_id(std::string_view id);

// The `extensions` a route's 402 declares for its payment_identifier setting: none when off,
// else {"payment-identifier": {info: {required}, schema}}.
const boost::json::object& payment_identifier_declaration(PaymentIdentifierMode mode);

// Runs `handler` (the paid or policy-priced path of ctx.route) under the route's
// payment_identifier setting.
boost::asio::awaitable<http::OutgoingResponse> with_payment_identifier(RequestContext& ctx,
                                                                       Handler handler);

}  // namespace x402
