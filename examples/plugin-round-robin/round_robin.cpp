// routing-round-robin: spreads payments over the facilitators that are known to support them and
// are healthy, by rotating which one goes first. The others follow as fallbacks, in YAML order.
#include <algorithm>
#include <atomic>
#include <x402/plugin.hpp>

namespace {

class RoundRobin final : public x402::sdk::RoutingStrategy {
 public:
  explicit RoundRobin(const x402::sdk::InstanceContext& /*context*/) {}

  std::vector<uint32_t> order(const x402::sdk::PaymentKind& /*kind*/,
                              std::span<const x402::sdk::RoutingCandidate> candidates) override {
    std::vector<uint32_t> rotated, fallback;
    for (uint32_t i = 0; i < candidates.size(); ++i) {
      const auto& c = candidates[i];
      if (c.supported_known && !c.supports) continue;  // cannot take this payment
      (c.supported_known && c.healthy ? rotated : fallback).push_back(i);
    }
    auto by_priority = [&](uint32_t a, uint32_t b) {
      return candidates[a].priority < candidates[b].priority;
    };
    std::sort(rotated.begin(), rotated.end(), by_priority);
    std::stable_sort(fallback.begin(), fallback.end(), [&](uint32_t a, uint32_t b) {
      // healthy fallbacks (support unknown) before unhealthy ones
      return candidates[a].healthy != candidates[b].healthy ? candidates[a].healthy
                                                            : by_priority(a, b);
    });
    if (!rotated.empty()) {
      // Called from many worker threads at once: the counter is the only shared state.
      size_t start = next_.fetch_add(1, std::memory_order_relaxed) % rotated.size();
      std::rotate(rotated.begin(), rotated.begin() + static_cast<std::ptrdiff_t>(start),
                  rotated.end());
    }
    rotated.insert(rotated.end(), fallback.begin(), fallback.end());
    return rotated;
  }

 private:
  std::atomic<size_t> next_{0};
};

}  // namespace

X402_PLUGIN("routing-round-robin", "1.0.0",
            "Rotates the first facilitator among those that support the payment and are healthy",
            R"({"type": "object", "additionalProperties": false})", void, RoundRobin, void, void)
