// routing-priority: known supporters first, then unknown, healthy only unless none is healthy.
#include <gtest/gtest.h>

#include "priority_strategy.hpp"

namespace x402::plugins::routing_priority {
namespace {

sdk::RoutingCandidate candidate(uint32_t priority, bool supports, bool known, bool healthy) {
  return {"", priority, supports, healthy, known, 0};
}

std::vector<uint32_t> order(std::vector<sdk::RoutingCandidate> c) {
  PriorityStrategy strategy;
  return strategy.order({2, "exact", "eip155:84532"}, c);
}

TEST(RoutingPriority, KeepsYamlOrderAmongSupportingHealthyOnes) {
  EXPECT_EQ(order({candidate(0, true, true, true), candidate(1, true, true, true),
                   candidate(2, true, true, true)}),
            (std::vector<uint32_t>{0, 1, 2}));
}

TEST(RoutingPriority, SortsByPriorityNotByArrayPosition) {
  EXPECT_EQ(order({candidate(2, true, true, true), candidate(0, true, true, true),
                   candidate(1, true, true, true)}),
            (std::vector<uint32_t>{1, 2, 0}));
}

TEST(RoutingPriority, DropsKnownNonSupportersAndTriesUnknownAfterKnown) {
  EXPECT_EQ(order({candidate(0, false, false, true),  // unknown support
                   candidate(1, false, true, true),   // known not to support: left out
                   candidate(2, true, true, true)}),  // known supporter: first
            (std::vector<uint32_t>{2, 0}));
}

TEST(RoutingPriority, OmitsUnhealthyWhileAHealthyOneRemains) {
  EXPECT_EQ(order({candidate(0, true, true, false), candidate(1, true, true, true),
                   candidate(2, false, false, true)}),
            (std::vector<uint32_t>{1, 2}));
}

TEST(RoutingPriority, KeepsEveryoneInOrderWhenAllAreUnhealthy) {
  EXPECT_EQ(order({candidate(0, false, false, false), candidate(1, true, true, false),
                   candidate(2, false, true, false)}),
            (std::vector<uint32_t>{1, 0}));
}

TEST(RoutingPriority, EmptyInputGivesEmptyOrder) {
  EXPECT_TRUE(order({}).empty());
}

TEST(RoutingPriority, RefusesOptions) {
  sdk::InstanceContext ok{{}, "r", "{}"};
  EXPECT_NO_THROW(PriorityStrategy{ok});
  sdk::InstanceContext bad{{}, "r", R"({"weights":[1]})"};
  EXPECT_THROW(PriorityStrategy{bad}, std::invalid_argument);
}

}  // namespace
}  // namespace x402::plugins::routing_priority
