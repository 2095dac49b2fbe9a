#pragma once
// Cheap local checks of a payment against the requirement it matched, run before any facilitator
// call so obviously wrong payments cost no network round trip (PROTOCOL.md §3 "Verify checks",
// minus the signature and on-chain parts).
#include <cstdint>

#include "common/result.hpp"
#include "protocol/payload.hpp"
#include "protocol/requirements.hpp"

namespace x402 {

// The reference facilitators refuse authorizations expiring within this many seconds.
inline constexpr uint64_t kMinValiditySeconds = 6;

// Codes: "scheme_mismatch", "network_mismatch", "payto_mismatch", "amount_mismatch" (v2 needs
// value == amount, v1 value >= amount), "asset_mismatch" (v2), "not_yet_valid" (validAfter > now),
// "expired" (validBefore < now + 6). `field` names the payload path.
Status check_payment(const PaymentPayload& payment, const Requirement& requirement,
                     uint64_t now_unix_seconds);

}  // namespace x402
