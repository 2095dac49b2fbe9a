#include "gateway/snapshot.hpp"

#include <algorithm>

namespace x402 {

Requirement requirement_for(const MerchantConfig& merchant, const RouteConfig& route,
                            const PriceOption& option) {
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
  return r;
}

RoutePlan plan_route(const MerchantConfig& merchant, const RouteConfig& route) {
  RoutePlan plan;
  const auto& options =
      route.policy_priced && route.policy_fallback ? *route.policy_fallback : route.accepts;
  for (const auto& option : options) {
    Requirement r = requirement_for(merchant, route, option);
    plan.offered_v2.push_back(to_v2_json(r));
    plan.requirements.push_back(std::move(r));
  }
  return plan;
}

policy::RouteOffer policy_offer_for(const RouteConfig& route) {
  policy::RouteOffer offer;
  const auto add = [](std::vector<std::string>& list, std::string value) {
    if (std::find(list.begin(), list.end(), value) == list.end()) list.push_back(std::move(value));
  };
  for (const auto& option : route.accepts) {
    add(offer.assets, option.asset->symbol);
    add(offer.networks, option.asset->network.v1_name());
    add(offer.networks, option.asset->network.caip2());
  }
  return offer;
}

}  // namespace x402
