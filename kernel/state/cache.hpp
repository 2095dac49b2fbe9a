#pragma once
// Fast shared state behind one interface (DESIGN.md §7): in-memory on one node now, Redis across
// nodes later. Asynchronous so that a networked backend never blocks a worker. The database's
// UNIQUE key stays the truth for replay; the cache is the fast path in front of it.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "common/result.hpp"

namespace x402 {

class Cache {
 public:
  virtual ~Cache() = default;

  // SET key value NX with a TTL: true when this caller now holds the key, false when it was held.
  // An error means the cache could not answer (callers fail closed for replay protection).
  virtual boost::asio::awaitable<Result<bool>> claim(std::string key, std::string value,
                                                     std::chrono::milliseconds ttl) = 0;
  virtual boost::asio::awaitable<Result<std::optional<std::string>>> get(std::string key) = 0;
  virtual boost::asio::awaitable<Status> set(std::string key, std::string value,
                                             std::chrono::milliseconds ttl) = 0;
  virtual boost::asio::awaitable<Status> erase(std::string key) = 0;
};

// Thread-safe, sharded, expiring entries lazily and on a periodic sweep.
std::unique_ptr<Cache> make_memory_cache();

}  // namespace x402
