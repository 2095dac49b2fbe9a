// The exported entry point of routing-priority.so.
#include <x402/plugin.hpp>

#include "priority_strategy.hpp"

X402_PLUGIN("routing-priority", "1.0.0",
            "YAML order is the priority: supporting and healthy facilitators first",
            x402::plugins::routing_priority::kConfigSchemaJson, void,
            x402::plugins::routing_priority::PriorityStrategy, void, void)
