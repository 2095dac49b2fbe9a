#pragma once
// Fast shared state behind one interface (DESIGN.md §7): in-memory on one node, Redis across
// nodes. Asynchronous so that a networked backend never blocks a worker. The database's UNIQUE
// key stays the truth for replay; the cache is the fast path in front of it.
//
// Keys start with "x402:". Keys one script touches together must share a Redis Cluster hash tag
// (the part in braces, e.g. "x402:{tier:acme}:minute" and "x402:{tier:acme}:day") so that they
// live on one shard; a key used alone needs no tag and spreads across the cluster.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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

  // Runs `script` atomically against `keys` with `args` (Redis: EVALSHA, loading the script and
  // retrying once on NOSCRIPT). The reply is flattened: integers and bulk strings as text, nil as
  // nullopt, arrays one level deep. Backends without a script engine return error
  // "cache_scripts_unsupported" (callers keep a local fallback, e.g. a node-local rate limiter).
  struct ScriptReply {
    std::optional<std::string> value;                  // a scalar reply
    std::vector<std::optional<std::string>> elements;  // an array reply
  };
  virtual boost::asio::awaitable<Result<ScriptReply>> eval(const std::string& script,
                                                           std::vector<std::string> keys,
                                                           std::vector<std::string> args) = 0;

  // Change notices between nodes. publish reaches every node subscribed to `channel` (itself
  // included). on_message runs on a cache-owned thread (memory: the publisher's), so it must only
  // hand work off, and it must outlive the cache (there is no unsubscribe). Whenever the
  // subscription is (re-)established, on_message gets the message "*resync*": notices may have
  // been missed, the listener reloads everything.
  virtual boost::asio::awaitable<Status> publish(std::string channel, std::string message) = 0;
  virtual void subscribe(std::string channel,
                         std::function<void(const std::string&)> on_message) = 0;
};

// Thread-safe, sharded, expiring entries lazily and on a periodic sweep. publish delivers to this
// process's subscribers; eval is unsupported.
std::unique_ptr<Cache> make_memory_cache();

struct RedisOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string password;   // AUTH when non-empty
  unsigned database = 0;  // must be 0 with cluster
  // host:port is a seed of a Redis Cluster: the masters are discovered from it (CLUSTER SLOTS) and
  // each command goes to the master that owns its key's slot (state/redis_cluster.hpp).
  bool cluster = false;
  // One command's deadline; past it the call returns error cache_unavailable (replay protection
  // then fails closed) rather than letting a request hang on a dead Redis.
  std::chrono::milliseconds command_timeout{500};
  std::chrono::milliseconds connect_timeout{1000};
  // Reconnect backoff: doubles from min to max while Redis is unreachable.
  std::chrono::milliseconds reconnect_min{50};
  std::chrono::milliseconds reconnect_max{2000};
};

// A Redis backend on its own I/O thread (hiredis parses, Asio does the I/O; nothing blocks the
// caller's executor). Opening does not wait for Redis: commands fail with cache_unavailable until
// the connection is up, and it reconnects with backoff after any loss.
std::unique_ptr<Cache> make_redis_cache(const RedisOptions& options);

}  // namespace x402
