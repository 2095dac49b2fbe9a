#pragma once
// One configured facilitator inside a config snapshot: a plugin instance behind the C ABI, seen
// from the kernel as awaitable calls with a hard per-call deadline.
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "plugin_host/instance.hpp"
#include "x402/plugin_abi.h"

namespace x402 {

// What one call to a facilitator produced, in the kernel's terms.
struct FacilitatorAnswer {
  x402_facilitator_outcome outcome = X402_FAC_UNAVAILABLE;
  int http_status = 0;
  boost::json::value body;  // parsed verdict JSON for ANSWERED / PENDING, null otherwise
  std::string error;        // why there is no verdict
  uint32_t retry_after_ms = 0;
  bool timed_out = false;  // the kernel's own deadline fired before the plugin answered
};

// One (x402Version, scheme, network) the facilitator says it handles, from GET /supported.
struct SupportedKind {
  int x402_version = 0;
  std::string scheme;
  std::string network;  // as the facilitator wrote it: a v1 name or CAIP-2
};

// How a settle should run (plugin ABI 1.1 x402_settle_options), from the route's settle_mode.
struct SettleCallOptions {
  x402_settle_wait wait = X402_SETTLE_CONFIRMED;
  std::string payment_id;  // the gateway's payment id, for the facilitator's records and events
};

class Facilitator : public std::enable_shared_from_this<Facilitator> {
 public:
  // The instance is destroyed with this object, which in-flight calls keep alive, so a plugin
  // never sees destroy() while one of its callbacks is outstanding.
  Facilitator(std::unique_ptr<plugin_host::FacilitatorInstance> instance, uint32_t priority,
              std::chrono::milliseconds attempt_timeout);
  Facilitator(const Facilitator&) = delete;
  Facilitator& operator=(const Facilitator&) = delete;

  const std::string& name() const { return instance_->name(); }
  uint32_t priority() const { return priority_; }
  std::chrono::milliseconds attempt_timeout() const { return attempt_timeout_; }

  boost::asio::awaitable<FacilitatorAnswer> verify(std::string request_json,
                                                   std::chrono::milliseconds timeout);
  // Uses the plugin's settle_with_options when its vtable has one (ABI >= 1.1), else settle():
  // a 1.0 plugin cannot honour `options.wait` and always answers as it always did.
  // No default argument: GCC 12 destroys a coroutine's defaulted by-value argument twice.
  boost::asio::awaitable<FacilitatorAnswer> settle(std::string request_json,
                                                   std::chrono::milliseconds timeout,
                                                   SettleCallOptions options);
  boost::asio::awaitable<FacilitatorAnswer> supported(std::chrono::milliseconds timeout);
  // Active health probe; falls back to /supported when the plugin has no health().
  boost::asio::awaitable<FacilitatorAnswer> probe(std::chrono::milliseconds timeout);

  // The kinds from the last successful /supported, or nullptr while unknown.
  std::shared_ptr<const std::vector<SupportedKind>> supported_kinds() const {
    return supported_kinds_.load();
  }
  void set_supported_kinds(std::vector<SupportedKind> kinds) {
    supported_kinds_.store(std::make_shared<const std::vector<SupportedKind>>(std::move(kinds)));
  }

 private:
  // Starts one plugin call; the plugin reads its arguments during the call only.
  using StartFn = std::function<void(x402_facilitator_callback, void* user)>;
  boost::asio::awaitable<FacilitatorAnswer> call(StartFn start, std::chrono::milliseconds timeout);

  std::unique_ptr<plugin_host::FacilitatorInstance> instance_;
  uint32_t priority_;
  std::chrono::milliseconds attempt_timeout_;
  std::atomic<std::shared_ptr<const std::vector<SupportedKind>>> supported_kinds_;
};

// Parses a /supported body into kinds; entries it cannot read are skipped.
std::vector<SupportedKind> parse_supported_kinds(const boost::json::value& body);

}  // namespace x402
