#pragma once
// What a policy answered, after validation: an exact amount and a billing mode.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace x402::policy {

enum class BillingMode { kPerRequest, kTimePass, kPackage, kFree };

std::string_view to_string(BillingMode mode);

// What a time pass or package covers once paid.
enum class PassScope { kRoute, kMerchant };

// How long a package lasts when the policy does not say (capped by max_package_seconds).
inline constexpr uint64_t kDefaultPackageSeconds = 365ULL * 24 * 3600;

std::string_view to_string(PassScope scope);

struct PriceDecision {
  std::string amount;  // atomic units, canonical decimal (no leading zeros); "0" for kFree
  std::optional<std::string> asset;    // one of RouteOffer::assets; unset → route default
  std::optional<std::string> network;  // one of RouteOffer::networks; unset → route default
  BillingMode mode = BillingMode::kPerRequest;
  // kTimePass: 1..max_pass_seconds (required). kPackage: 1..max_package_seconds, default
  // kDefaultPackageSeconds (or max_package_seconds when lower). 0 otherwise.
  uint64_t duration_seconds = 0;
  PassScope scope = PassScope::kRoute;  // kTimePass and kPackage
  uint64_t calls = 0;                   // kPackage only, 1..max_package_calls
  std::optional<std::string> description;

  friend bool operator==(const PriceDecision&, const PriceDecision&) = default;
};

}  // namespace x402::policy
