#include "local_limiter.hpp"

#include <algorithm>
#include <functional>

namespace x402::plugins::ratelimit_token_bucket {

GcraStep LocalLimiter::check(std::string_view cell, int64_t now_us) {
  Shard& shard = shards_[std::hash<std::string_view>{}(cell) % kShards];
  std::lock_guard lock(shard.mutex);
  auto& cells = shard.tat_us;
  auto it = cells.find(std::string(cell));
  if (it == cells.end()) {
    // A fresh cell admits; only an admitted request needs one stored.
    GcraStep step = gcra_step(0, now_us, params_);
    if (!step.allowed) return step;
    if (cells.size() >= kMaxCellsPerShard) {
      if (now_us >= shard.earliest_tat_us) {
        // An expired cell (TAT in the past) is the same as no cell: forgetting it changes nothing.
        std::erase_if(cells, [now_us](const auto& kv) { return kv.second <= now_us; });
        shard.earliest_tat_us = step.tat_us;
        for (const auto& kv : cells)
          shard.earliest_tat_us = std::min(shard.earliest_tat_us, kv.second);
      }
      // Still full of live clients: forget one, which at worst gives it a fresh burst.
      if (cells.size() >= kMaxCellsPerShard) cells.erase(cells.begin());
    }
    if (cells.empty() || step.tat_us < shard.earliest_tat_us) shard.earliest_tat_us = step.tat_us;
    cells.emplace(std::string(cell), step.tat_us);
    return step;
  }
  GcraStep step = gcra_step(it->second, now_us, params_);
  if (step.allowed) it->second = step.tat_us;
  return step;
}

size_t LocalLimiter::size() const {
  size_t n = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    n += shard.tat_us.size();
  }
  return n;
}

std::shared_ptr<LocalLimiter> shared_local_limiter(std::string_view instance_name, LocalRole role,
                                                   const GcraParams& params) {
  static std::mutex mutex;
  static std::unordered_map<std::string, std::weak_ptr<LocalLimiter>> registry;

  std::string key = std::string(instance_name) + '\n' +
                    (role == LocalRole::exact ? "exact" : "fallback") + '\n' +
                    std::to_string(params.interval_us) + '\n' +
                    std::to_string(params.tolerance_us) + '\n' + std::to_string(params.burst);
  std::lock_guard lock(mutex);
  std::erase_if(registry, [](const auto& kv) { return kv.second.expired(); });
  if (auto existing = registry[key].lock()) return existing;
  auto limiter = std::make_shared<LocalLimiter>(params);
  registry[key] = limiter;
  return limiter;
}

}  // namespace x402::plugins::ratelimit_token_bucket
