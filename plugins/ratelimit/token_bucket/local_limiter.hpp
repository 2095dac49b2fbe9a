#pragma once
// The GCRA in this process: the whole truth on a single node (the in-memory cache has no script
// engine) and the stand-in while the shared Redis is unreachable. Thread-safe (admit runs on
// several workers at once) and bounded in memory whatever the number of clients.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "gcra.hpp"

namespace x402::plugins::ratelimit_token_bucket {

class LocalLimiter {
 public:
  static constexpr size_t kShards = 16;
  static constexpr size_t kMaxCells = 100'000;

  explicit LocalLimiter(const GcraParams& params) : params_(params) {}

  const GcraParams& params() const { return params_; }

  // One check of `cell` at `now_us` (any monotonic clock, the same for every call).
  GcraStep check(std::string_view cell, int64_t now_us);

  size_t size() const;

 private:
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, int64_t> tat_us;
    // No cell's TAT is below this (TATs only grow), so before it nothing can be expired and a
    // full shard skips the sweep: a flood of new clients costs O(1) each, not a scan each.
    int64_t earliest_tat_us = 0;
  };
  static constexpr size_t kMaxCellsPerShard = kMaxCells / kShards;

  GcraParams params_;
  std::array<Shard, kShards> shards_;
};

enum class LocalRole { exact, fallback };

// x402d builds a new plugin instance on every config reload while the .so stays loaded: instances
// with the same name, role and limits share one LocalLimiter, so a reload does not hand every
// client a fresh bucket. The limiter lives as long as some instance holds it.
std::shared_ptr<LocalLimiter> shared_local_limiter(std::string_view instance_name, LocalRole role,
                                                   const GcraParams& params);

}  // namespace x402::plugins::ratelimit_token_bucket
