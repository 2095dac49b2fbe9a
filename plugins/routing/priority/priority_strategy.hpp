#pragma once
// routing-priority: try facilitators in YAML order, best bets first.
//  1. Leave out candidates whose /supported is known and does not cover the payment.
//  2. Known-supporting before not-yet-known (an unfetched /supported is still worth a try).
//  3. Healthy (breaker closed) only; if every remaining candidate is unhealthy, keep them all so
//     the payment still has a chance (a breaker may be stale).
// Within each group: ascending priority (YAML position).
#include <x402/plugin.hpp>

namespace x402::plugins::routing_priority {

class PriorityStrategy final : public sdk::RoutingStrategy {
 public:
  PriorityStrategy() = default;
  // Throws std::invalid_argument when the config has keys (this strategy takes none).
  explicit PriorityStrategy(const sdk::InstanceContext& context);

  std::vector<uint32_t> order(const sdk::PaymentKind& kind,
                              std::span<const sdk::RoutingCandidate> candidates) override;
};

extern const char* const kConfigSchemaJson;

}  // namespace x402::plugins::routing_priority
