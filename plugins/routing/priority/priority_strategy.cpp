#include "priority_strategy.hpp"

#include <algorithm>
#include <stdexcept>
#include <tuple>

namespace x402::plugins::routing_priority {

const char* const kConfigSchemaJson = R"({"type": "object", "additionalProperties": false})";

PriorityStrategy::PriorityStrategy(const sdk::InstanceContext& context) {
  std::string_view config = context.config_json;
  auto blank = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; };
  while (!config.empty() && blank(config.front())) config.remove_prefix(1);
  while (!config.empty() && blank(config.back())) config.remove_suffix(1);
  if (!config.empty() && config != "{}" && config != "null")
    throw std::invalid_argument("config: routing-priority takes no options");
}

std::vector<uint32_t> PriorityStrategy::order(const sdk::PaymentKind& /*kind*/,
                                              std::span<const sdk::RoutingCandidate> candidates) {
  std::vector<uint32_t> eligible;
  for (uint32_t i = 0; i < candidates.size(); ++i) {
    const auto& c = candidates[i];
    if (c.supports || !c.supported_known) eligible.push_back(i);
  }
  bool any_healthy = std::any_of(eligible.begin(), eligible.end(),
                                 [&](uint32_t i) { return candidates[i].healthy; });
  if (any_healthy) std::erase_if(eligible, [&](uint32_t i) { return !candidates[i].healthy; });

  auto rank = [&](uint32_t i) {
    const auto& c = candidates[i];
    bool known_supporting = c.supported_known && c.supports;
    return std::make_tuple(known_supporting ? 0 : 1, c.priority, i);
  };
  std::sort(eligible.begin(), eligible.end(),
            [&](uint32_t a, uint32_t b) { return rank(a) < rank(b); });
  return eligible;
}

}  // namespace x402::plugins::routing_priority
