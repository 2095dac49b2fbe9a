#pragma once
// Which offered requirement a payment answers (PROTOCOL.md §1 "chosen requirement").
#include <boost/json.hpp>
#include <cstddef>
#include <span>

#include "common/result.hpp"
#include "protocol/network.hpp"
#include "protocol/payload.hpp"
#include "protocol/requirements.hpp"

namespace x402 {

// v2: the client echoes the chosen requirement as `accepted`. Like @x402/core's
// paymentRequirementsMatchAccepted, every member but `extra` must be deep-equal (key order and
// whitespace never matter; 60 and 60.0 are one number), and `accepted.extra` must contain every
// member of the offered `extra` (clients may add fields there). `offered_v2` holds to_v2_json()
// of each offered requirement. Error code "no_matching_requirement", field "accepted".
Result<std::size_t> match_v2(const PaymentPayload& payment,
                             std::span<const boost::json::object> offered_v2);

// v1: by (scheme, network), where the payment's network may be a v1 name or CAIP-2.
// Error code "no_matching_requirement", field "network".
Result<std::size_t> match_v1(const PaymentPayload& payment, std::span<const Requirement> offered,
                             const NetworkTable& networks);

}  // namespace x402
