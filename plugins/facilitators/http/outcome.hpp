#pragma once
// Turns one HTTP exchange with a facilitator into an x402_facilitator_result. Facilitators
// disagree on status codes (PROTOCOL.md §2), so the body decides: a verdict is a verdict whatever
// the status; the status only matters when there is no verdict.
#include <cstdint>
#include <optional>
#include <string_view>
#include <x402/plugin.hpp>

namespace x402::plugins::facilitator_http {

enum class Endpoint { supported, verify, settle, health };

// `request_json` is the verify/settle request we sent (fills a missing `network` in settle
// answers, which x402-rs sometimes leaves empty); `timeout_ms` is only used in messages.
// A 429 is classified as UNAVAILABLE here; retrying it is the caller's job.
sdk::FacilitatorResult classify_response(Endpoint endpoint, const sdk::HttpResponse& response,
                                         std::string_view request_json, uint32_t timeout_ms,
                                         uint64_t now_unix_ms);

// Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3), in milliseconds from now.
std::optional<uint64_t> parse_retry_after(std::string_view value, uint64_t now_unix_ms);

}  // namespace x402::plugins::facilitator_http
