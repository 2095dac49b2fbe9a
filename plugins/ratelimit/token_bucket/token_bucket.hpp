#pragma once
// ratelimit-token-bucket: a GCRA token bucket per (scope, key), global across gateway nodes.
//  - With a shared Redis cache every check is one atomic script (kGcraScript) on Redis' clock.
//  - On a single node (the in-memory cache has no script engine) the process's own limiter is the
//    whole truth: exact, not degraded.
//  - While Redis is unreachable each node decides with a local limiter allowing
//    requests / fallback_nodes and reports `degraded`; for a second after a failure it does not
//    even ask, so a dead Redis adds no latency per request.
#include <memory>
#include <x402/plugin.hpp>

namespace x402::plugins::ratelimit_token_bucket {

class TokenBucketTier final : public sdk::RateLimitTier {
 public:
  // Throws std::invalid_argument naming the key when the config is wrong.
  explicit TokenBucketTier(const sdk::InstanceContext& context);

  void admit(std::string_view key, std::string_view scope,
             std::function<void(const sdk::RateLimitDecision&)> done) override;

  // How long after a shared-cache failure decisions stay local without asking it again.
  static constexpr uint64_t kHoldOffMs = 1000;

 private:
  struct Core;  // shared with cache_eval callbacks still in flight
  std::shared_ptr<Core> core_;
};

}  // namespace x402::plugins::ratelimit_token_bucket
