#pragma once
// What a policy sees (the `req` argument) and what the route allows it to answer. Plain structs the
// gateway fills per request; the runtime turns them into read-only Lua tables.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace x402::policy {

// Summaries of the payer's history with this merchant, computed by the kernel.
struct PayerSummary {
  std::optional<std::string> address;  // nil in Lua when the request carries no payment yet
  uint64_t calls_this_period = 0;
  uint64_t active_passes = 0;
  uint64_t package_balance = 0;  // prepaid calls left
};

struct MerchantStats {
  uint64_t calls_this_period = 0;
  uint64_t calls_last_minute = 0;
};

struct PolicyRequest {
  std::string method;
  std::string path;
  // Decoded query parameters; for a repeated name the first value wins.
  std::vector<std::pair<std::string, std::string>> query;
  // Header names are lower-cased by the runtime; repeated headers are joined with ", ".
  std::vector<std::pair<std::string, std::string>> headers;
  uint64_t body_size = 0;
  std::string merchant;  // merchant id
  std::string route;     // the matched route pattern
  int64_t now = 0;       // unix seconds
  PayerSummary payer;
  MerchantStats merchant_stats;
};

// The assets and networks the route accepts. A policy that names an asset or network must pick
// one of these; an empty list means the policy may not name one (the route's default applies).
struct RouteOffer {
  std::vector<std::string> assets;
  std::vector<std::string> networks;
};

}  // namespace x402::policy
