// The single-node Cache backend. Every operation finishes without waiting on I/O, so the
// coroutines complete immediately; they are coroutines only so callers are written once for the
// networked (Redis) backend too.
//
// publish runs the channel's handlers inline, on the publishing thread, before it completes. That
// thread is the memory cache's "cache-owned thread" of cache.hpp: handlers only hand work off, so
// this costs the publisher next to nothing and keeps the backend free of threads of its own. A
// subscription here can never miss a notice, so handlers never receive "*resync*".
#include <algorithm>
#include <array>
#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "state/cache.hpp"

namespace x402 {
namespace {

using Clock = std::chrono::steady_clock;

// Sharding keeps unrelated keys from contending on one mutex across worker threads.
constexpr size_t kShardCount = 16;
// A shard sweeps expired entries when it grows past this many entries (and then past twice what
// survived the sweep): expired keys that are never read again cannot pile up, and the cost of a
// sweep stays amortised O(1) per insert without a background thread.
constexpr size_t kMinSweepThreshold = 1024;

struct Entry {
  std::string value;
  Clock::time_point expires_at;
};

class Shard {
 public:
  bool claim(std::string&& key, std::string&& value, Clock::time_point expires_at) {
    std::lock_guard lock(mutex_);
    Clock::time_point now = Clock::now();
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      if (it->second.expires_at > now) return false;
      it->second = Entry{std::move(value), expires_at};  // an expired holder no longer counts
      return true;
    }
    insert_locked(std::move(key), Entry{std::move(value), expires_at}, now);
    return true;
  }

  std::optional<std::string> get(const std::string& key) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    if (it->second.expires_at <= Clock::now()) {
      entries_.erase(it);
      return std::nullopt;
    }
    return it->second.value;
  }

  void set(std::string&& key, std::string&& value, Clock::time_point expires_at) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      it->second = Entry{std::move(value), expires_at};
      return;
    }
    insert_locked(std::move(key), Entry{std::move(value), expires_at}, Clock::now());
  }

  void erase(const std::string& key) {
    std::lock_guard lock(mutex_);
    entries_.erase(key);
  }

 private:
  void insert_locked(std::string&& key, Entry&& entry, Clock::time_point now) {
    if (entries_.size() >= sweep_at_) {
      std::erase_if(entries_, [now](const auto& kv) { return kv.second.expires_at <= now; });
      sweep_at_ = std::max(kMinSweepThreshold, 2 * entries_.size());
    }
    entries_.emplace(std::move(key), std::move(entry));
  }

  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  size_t sweep_at_ = kMinSweepThreshold;
};

// Redis rejects a non-positive expiry; so does this backend, so the two behave alike and a
// forgotten TTL never creates a claim that lives forever.
std::optional<Error> check_ttl(std::chrono::milliseconds ttl) {
  if (ttl.count() > 0) return std::nullopt;
  return make_error("invalid_ttl", "ttl",
                    "cache TTL must be positive, got " + std::to_string(ttl.count()) + " ms");
}

Error cache_error(const std::exception& e) {
  return make_error("cache_error", "", std::string("memory cache: ") + e.what());
}

class MemoryCache final : public Cache {
 public:
  boost::asio::awaitable<Result<bool>> claim(std::string key, std::string value,
                                             std::chrono::milliseconds ttl) override {
    co_return claim_now(std::move(key), std::move(value), ttl);
  }

  boost::asio::awaitable<Result<std::optional<std::string>>> get(std::string key) override {
    co_return get_now(key);
  }

  boost::asio::awaitable<Status> set(std::string key, std::string value,
                                     std::chrono::milliseconds ttl) override {
    co_return set_now(std::move(key), std::move(value), ttl);
  }

  boost::asio::awaitable<Status> erase(std::string key) override { co_return erase_now(key); }

  boost::asio::awaitable<Result<ScriptReply>> eval(const std::string&, std::vector<std::string>,
                                                   std::vector<std::string>) override {
    co_return make_error("cache_scripts_unsupported", "",
                         "the memory cache has no script engine; use the local fallback");
  }

  boost::asio::awaitable<Status> publish(std::string channel, std::string message) override {
    co_return publish_now(channel, message);
  }

  void subscribe(std::string channel, std::function<void(const std::string&)> on_message) override {
    auto handler = std::make_shared<const Handler>(std::move(on_message));
    std::lock_guard lock(subscribers_mutex_);
    subscribers_[std::move(channel)].push_back(std::move(handler));
  }

 private:
  // The *_now functions hold the real work so that no exception (bad_alloc, a failing mutex) can
  // escape the coroutine: each is caught and returned as an Error.
  Result<bool> claim_now(std::string&& key, std::string&& value, std::chrono::milliseconds ttl) {
    if (auto bad = check_ttl(ttl)) return *bad;
    try {
      Shard& shard = shard_for(key);
      return shard.claim(std::move(key), std::move(value), Clock::now() + ttl);
    } catch (const std::exception& e) {
      return cache_error(e);
    }
  }

  Result<std::optional<std::string>> get_now(const std::string& key) {
    try {
      return shard_for(key).get(key);
    } catch (const std::exception& e) {
      return cache_error(e);
    }
  }

  Status set_now(std::string&& key, std::string&& value, std::chrono::milliseconds ttl) {
    if (auto bad = check_ttl(ttl)) return *bad;
    try {
      Shard& shard = shard_for(key);
      shard.set(std::move(key), std::move(value), Clock::now() + ttl);
      return Ok{};
    } catch (const std::exception& e) {
      return cache_error(e);
    }
  }

  Status erase_now(const std::string& key) {
    try {
      shard_for(key).erase(key);
      return Ok{};
    } catch (const std::exception& e) {
      return cache_error(e);
    }
  }

  Status publish_now(const std::string& channel, const std::string& message) {
    try {
      // Handlers run outside the lock, so one that subscribes or publishes cannot deadlock.
      std::vector<std::shared_ptr<const Handler>> handlers;
      {
        std::lock_guard lock(subscribers_mutex_);
        auto it = subscribers_.find(channel);
        if (it != subscribers_.end()) handlers = it->second;
      }
      for (const auto& handler : handlers) {
        try {
          (*handler)(message);
        } catch (...) {
          // A listener's failure must not cost the other listeners their notice.
        }
      }
      return Ok{};
    } catch (const std::exception& e) {
      return cache_error(e);
    }
  }

  Shard& shard_for(const std::string& key) {
    return shards_[std::hash<std::string>{}(key) % kShardCount];
  }

  std::array<Shard, kShardCount> shards_;

  using Handler = std::function<void(const std::string&)>;
  std::mutex subscribers_mutex_;
  std::map<std::string, std::vector<std::shared_ptr<const Handler>>> subscribers_;
};

}  // namespace

std::unique_ptr<Cache> make_memory_cache() {
  return std::make_unique<MemoryCache>();
}

}  // namespace x402
