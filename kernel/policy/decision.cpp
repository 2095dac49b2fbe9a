#include "policy/decision.hpp"

namespace x402::policy {

std::string_view to_string(BillingMode mode) {
  switch (mode) {
    case BillingMode::kPerRequest:
      return "per_request";
    case BillingMode::kTimePass:
      return "time_pass";
    case BillingMode::kPackage:
      return "package";
    case BillingMode::kFree:
      return "free";
  }
  return "per_request";
}

std::string_view to_string(PassScope scope) {
  return scope == PassScope::kMerchant ? "merchant" : "route";
}

}  // namespace x402::policy
