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
#include "protocol/requirements.hpp"

namespace x402 {

// What a paid route offers, precomputed. v2 requirement objects are final; v1 ones need the
// request's resource URL, filled in per request.
struct RoutePlan {
  std::vector<Requirement> requirements;
  std::vector<boost::json::object> offered_v2;
};

struct Snapshot {
  uint64_t generation = 0;
  std::shared_ptr<const Config> config;
  std::unordered_map<const RouteConfig*, RoutePlan> plans;  // paid routes only
  std::shared_ptr<FacilitatorChain> chain;
  std::vector<std::shared_ptr<const void>> owned;  // plugin instances and libraries kept alive

  const RoutePlan* plan_for(const RouteConfig& route) const {
    auto it = plans.find(&route);
    return it == plans.end() ? nullptr : &it->second;
  }
};

// The route's price options as x402 requirements, in the order written in the config.
RoutePlan plan_route(const MerchantConfig& merchant, const RouteConfig& route);

}  // namespace x402
