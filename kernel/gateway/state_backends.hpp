#pragma once
// Opens the durable store and the fast cache the config names (DESIGN.md §7): SQLite and the
// in-memory cache for one node, PostgreSQL and Redis for many.
#include <chrono>
#include <memory>

#include "common/result.hpp"
#include "config/config.hpp"
#include "state/cache.hpp"
#include "state/store.hpp"

namespace x402 {

Result<std::unique_ptr<Store>> open_store(const StorageConfig& storage);
std::unique_ptr<Cache> make_cache(const CacheConfig& cache);

// A networked cache connects in the background. At start, wait up to `patience` for it to answer
// so the first paid requests do not meet a cache that is still connecting. False when it did not
// answer in time (paid requests then fail closed until it does).
bool wait_for_cache(Cache& cache, std::chrono::milliseconds patience);

}  // namespace x402
