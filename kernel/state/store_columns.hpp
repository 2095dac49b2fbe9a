#pragma once
// The column lists of the store's tables, in the order both backends read them back: one list,
// so the SQLite and PostgreSQL stores cannot drift apart on what a row holds.
namespace x402::store_columns {

inline constexpr const char* kPaymentColumns =
    "id, chain_id, asset, payer, nonce, request_id, merchant_id, route, x402_version, network, "
    "pay_to, amount, status, facilitator, tx_hash, error_reason, payload_json, requirements_json, "
    "created_ms, updated_ms";

inline constexpr const char* kUsageColumns =
    "id, payment_id, request_id, merchant_id, route, payer, amount, asset, network, billing_mode, "
    "upstream_status, created_ms, policy_version";

inline constexpr const char* kPolicyColumns =
    "merchant_id, version, source, limits_json, created_ms";

inline constexpr const char* kCredentialColumns =
    "id, merchant_id, payer, scope, mode, expires_ms, calls_total, calls_remaining, payment_id, "
    "created_ms";

inline constexpr const char* kJobColumns = "id, lane, state, data, created_ms, updated_ms";

inline constexpr const char* kEventColumns = "id, seq, type, json, source, created_ms";

inline constexpr const char* kIdempotencyColumns =
    "scope, idempotency_key, fingerprint, owner, state, response_status, response_headers, "
    "response_body, created_ms, expires_ms";

}  // namespace x402::store_columns
