#include "policy/policy_runtime.hpp"

namespace x402::policy {

Result<PriceDecision> PolicyRuntime::price(const PolicySpec& spec, const PolicyRequest& request,
                                           const RouteOffer& offer) {
  auto found = states_.find(spec.merchant);
  if (found == states_.end() || found->second->spec().version != spec.version) {
    if (found != states_.end()) states_.erase(found);
    auto compiled = CompiledPolicy::compile(spec);
    if (!compiled) return compiled.error();
    if (states_.size() >= max_states_ && !states_.empty()) states_.erase(states_.begin());
    found = states_.emplace(spec.merchant, std::move(*compiled)).first;
  }
  return found->second->evaluate(request, offer);
}

void PolicyRuntime::forget(std::string_view merchant) {
  states_.erase(std::string(merchant));
}

}  // namespace x402::policy
