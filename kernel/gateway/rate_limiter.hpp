#pragma once
// One configured rate-limit tier inside a config snapshot: its plugin instance behind the C ABI,
// seen from the kernel as an awaitable decision with a deadline, plus the metrics that say when
// the tier is deciding without its shared state (DESIGN.md §7: rate limiting degrades to a local
// limiter and a metric says so).
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "config/config.hpp"
#include "http/server.hpp"
#include "observability/metrics.hpp"
#include "plugin_host/instance.hpp"

namespace x402 {

struct RateLimitVerdict {
  bool allowed = true;
  uint64_t limit = 0;
  uint64_t remaining = 0;
  uint64_t reset_ms = 0;
  uint32_t retry_after_ms = 0;
  // The tier's shared state was unreachable and a local limiter decided, or the tier gave no
  // decision in time (timed_out) and the request was let through.
  bool degraded = false;
  bool timed_out = false;
};

class RateLimiter : public std::enable_shared_from_this<RateLimiter> {
 public:
  // The instance is destroyed with this object, which in-flight calls keep alive.
  RateLimiter(std::unique_ptr<plugin_host::RateLimitInstance> instance,
              const RateLimitTierConfig& config, Metrics& metrics);
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  const std::string& tier() const { return tier_; }

  // Who this request counts against (the tier's `key:`); the peer address when the request
  // lacks what the key names.
  std::string client_key(const http::IncomingRequest& request, const http::PeerInfo& peer) const;

  // Asks the tier about one request of `key` to `scope` (the merchant). Records the decision in
  // the metrics. Never fails: no decision within the tier's timeout admits, counted degraded.
  boost::asio::awaitable<RateLimitVerdict> admit(std::string key, std::string scope);

  // Gives back what admit took, for tiers that count requests in flight.
  void release(const std::string& key, const std::string& scope);

 private:
  void record(const RateLimitVerdict& verdict);

  std::unique_ptr<plugin_host::RateLimitInstance> instance_;
  std::string tier_;
  RateLimitKey key_;
  std::chrono::milliseconds timeout_;
  Metrics& metrics_;
  std::string labels_;  // tier=…, and with result=… (built once: this runs per request)
  std::string allowed_labels_;
  std::string limited_labels_;
  std::atomic<bool> degraded_{false};  // the last decision's; transitions are logged
};

}  // namespace x402
