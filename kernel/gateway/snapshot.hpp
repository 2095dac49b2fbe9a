#pragma once
// One applied configuration: the validated Config plus everything derived from it once, when it
// is applied, so the request path only reads (DESIGN.md §2: "the chain for a route is assembled
// once"). Immutable and shared: in-flight requests keep the snapshot they started with.
#include <boost/json/object.hpp>
#include <memory>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "gateway/facilitator_chain.hpp"
#include "gateway/offer_cache.hpp"
#include "gateway/rate_limiter.hpp"
#include "policy/request.hpp"
#include "protocol/requirements.hpp"

namespace x402 {

// What a paid route offers, precomputed. v2 requirement objects are final; v1 ones need the
// request's resource URL, filled in per request.
struct RoutePlan {
  std::vector<Requirement> requirements;
  std::vector<boost::json::object> offered_v2;
  std::shared_ptr<OfferCache> unpaid_offers = std::make_shared<OfferCache>();  // by resource URL
};

struct Snapshot {
  uint64_t generation = 0;
  std::shared_ptr<const Config> config;
  // Paid routes; for a policy-priced route, its fallback plan (absent when the fallback is 503).
  std::unordered_map<const RouteConfig*, RoutePlan> plans;
  // Policy-priced routes: the assets and networks a policy may choose from.
  std::unordered_map<const RouteConfig*, policy::RouteOffer> policy_offers;
  std::shared_ptr<FacilitatorChain> chain;
  // The rate-limit tiers by name; every route's rate_limit names one of them (checked at load).
  std::unordered_map<std::string, std::shared_ptr<RateLimiter>> rate_limiters;
  std::vector<std::shared_ptr<const void>> owned;  // plugin instances and libraries kept alive

  RateLimiter* rate_limiter_for(const RouteConfig& route) const {
    if (route.rate_limit.empty()) return nullptr;
    auto it = rate_limiters.find(route.rate_limit);
    return it == rate_limiters.end() ? nullptr : it->second.get();
  }

  const RoutePlan* plan_for(const RouteConfig& route) const {
    auto it = plans.find(&route);
    return it == plans.end() ? nullptr : &it->second;
  }
};

// The route's price options as x402 requirements, in the order written in the config (for a
// policy-priced route: its fallback's).
RoutePlan plan_route(const MerchantConfig& merchant, const RouteConfig& route);

// One price option of a route as an x402 requirement.
Requirement requirement_for(const MerchantConfig& merchant, const RouteConfig& route,
                            const PriceOption& option);

// What a policy on `route` may name: the accepted assets' symbols and their networks (v1 name and
// CAIP-2 both).
policy::RouteOffer policy_offer_for(const RouteConfig& route);

}  // namespace x402
