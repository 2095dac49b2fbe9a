#pragma once
// Idempotent requests (draft-ietf-httpapi-idempotency-key-header; docs/idempotency.md), shared by
// the admin API's Idempotency-Key and the x402 payment-identifier extension on paid routes.
//
// One (scope, key) runs its request once. A retry with the same fingerprint gets the stored
// response with `Idempotent-Replayed: true`; one with another fingerprint gets 422; one while the
// first still runs gets 409 with Retry-After. The database row is the truth (Store
// idempotency_*); a cache lock "x402:idem:<scope>:<key>" in front of it turns most concurrent
// duplicates away without a database write. Either store unreachable → 503: fail closed, nothing
// runs.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "gateway/request_context.hpp"

namespace x402 {

// How long a request may hold its key in flight. A row older than this that is still in flight
// belongs to a node that died mid-request and is taken over (see Store::idempotency_begin).
constexpr std::chrono::minutes kIdempotencyLease{5};

// The Idempotency-Key header value: an RFC 8941 sf-string ("..." with \" and \\ escapes) or,
// leniently, a bare token of visible ASCII. 1–255 characters of printable ASCII. Errors name the
// field "Idempotency-Key".
Result<std::string> parse_idempotency_key(std::string_view header_value);

// Lower-case hex SHA-256 over the parts, each length-prefixed so that no two different part
// lists hash alike.
std::string request_fingerprint(std::initializer_list<std::string_view> parts);

struct IdempotentRequest {
  std::string scope;  // the tenant: keys of two scopes never meet
  std::string key;
  std::string fingerprint;
  std::string field;  // how the key reached us, for messages: "Idempotency-Key", ...
};

// Whether a response is kept for replays (true) or the key released so the client may retry
// with it (false: nothing was charged or changed, e.g. a transient 503).
using KeepResponse = std::function<bool(const http::OutgoingResponse&)>;
using Handler = std::function<boost::asio::awaitable<http::OutgoingResponse>()>;

// Runs `handler` under the key, or answers for it (replay, 409, 422, 503) without running it.
boost::asio::awaitable<http::OutgoingResponse> run_idempotent(GatewayServices& services,
                                                              const Config& config,
                                                              IdempotentRequest request,
                                                              Handler handler, KeepResponse keep);

}  // namespace x402
