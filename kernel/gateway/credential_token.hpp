#pragma once
// The access credential a time pass or prepaid package buys (DESIGN.md §6): a compact, signed,
// expiring token bound to payer, merchant and scope,
//   base64url(JSON claims) "." base64url(HMAC-SHA256(secret, first part)).
// The signature makes it unforgeable without the gateway's secret; the claims are readable by the
// client (they hold nothing secret). A package's balance lives in the store, not in the token.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace x402 {

struct CredentialClaims {
  int v = 1;
  std::string id;        // credentials.id in the store
  std::string merchant;  // m
  std::string payer;     // p, lower-case address
  std::string scope;     // s: the route pattern it was bought on, or "*" (the whole merchant)
  std::string mode;      // "time_pass" | "package"
  int64_t exp = 0;       // unix seconds
  std::string pv;        // the policy version that sold it (for usage records)

  friend bool operator==(const CredentialClaims&, const CredentialClaims&) = default;
};

std::string sign_credential(const CredentialClaims& claims, std::string_view secret);

// Checks the shape, then the signature (constant time), then the expiry against `now_seconds`.
// Error codes: credential_malformed, credential_forged, credential_expired.
Result<CredentialClaims> verify_credential(std::string_view token, std::string_view secret,
                                           int64_t now_seconds);

// Whether the claims cover a request for `merchant` on the route with pattern `route`.
bool credential_covers(const CredentialClaims& claims, std::string_view merchant,
                       std::string_view route);

}  // namespace x402
