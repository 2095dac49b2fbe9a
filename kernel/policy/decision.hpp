#pragma once
// What a policy answered, after validation: an exact amount and a billing mode.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace x402::policy {

enum class BillingMode { kPerRequest, kTimePass, kPackage, kFree };

std::string_view to_string(BillingMode mode);

// What a time pass covers once paid.
enum class PassScope { kRoute, kMerchant };

std::string_view to_string(PassScope scope);

struct PriceDecision {
  std::string amount;  // atomic units, canonical decimal (no leading zeros); "0" for kFree
  std::optional<std::string> asset;    // one of RouteOffer::assets; unset → route default
  std::optional<std::string> network;  // one of RouteOffer::networks; unset → route default
  BillingMode mode = BillingMode::kPerRequest;
  uint64_t duration_seconds = 0;        // kTimePass only, 1..max_pass_seconds
  PassScope scope = PassScope::kRoute;  // kTimePass only
  uint64_t calls = 0;                   // kPackage only, 1..max_package_calls
  std::optional<std::string> description;

  friend bool operator==(const PriceDecision&, const PriceDecision&) = default;
};

}  // namespace x402::policy
