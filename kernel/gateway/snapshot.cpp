#include "gateway/snapshot.hpp"

namespace x402 {

RoutePlan plan_route(const MerchantConfig& merchant, const RouteConfig& route) {
  RoutePlan plan;
  for (const auto& option : route.accepts) {
    Requirement r;
    r.scheme = "exact";
    r.network = option.asset->network;
    r.amount = option.amount;
    r.asset = option.asset->address;
    r.pay_to = merchant.pay_to;
    r.max_timeout_seconds = route.max_timeout_seconds;
    r.extra_name = option.asset->eip712_name;
    r.extra_version = option.asset->eip712_version;
    r.description = route.description;
    r.mime_type = route.mime_type;
    plan.offered_v2.push_back(to_v2_json(r));
    plan.requirements.push_back(std::move(r));
  }
  return plan;
}

}  // namespace x402
