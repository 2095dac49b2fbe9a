#pragma once
// The merchant policies this node serves (DESIGN.md §6): the active version of every merchant,
// read from the store and swapped in atomically when an activation changes (a cheap poll of one
// change stamp, so activations made on another node sharing the database arrive too), plus one
// PolicyRuntime per worker thread, because a lua_State belongs to one thread.
#include <atomic>
#include <boost/json/object.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"
#include "gateway/policy_breaker.hpp"
#include "policy/policy_runtime.hpp"
#include "state/store.hpp"

namespace x402 {

// The cache pub/sub channel an activation or rollback is announced on (message: the merchant id),
// so other nodes reload at once instead of at their next poll. The poll stays: a notice can be
// lost while Redis is away.
inline constexpr std::string_view kPolicyChangeChannel = "x402:{notices}:policy";

struct ActivePolicy {
  int64_t version = 0;  // the store's version number, as usage records and logs show it
  // spec.version is "<version>:<load>" so that a config change of the merchant's limits also
  // makes every worker rebuild its state (PolicyRuntime rebuilds when spec.version changes).
  policy::PolicySpec spec;
  // Whether the source mentions req.payer / req.merchant_stats: only then does the gateway pay
  // for the store queries that fill them (docs/policies.md, "What the gateway fills in").
  bool reads_payer = false;
  bool reads_merchant_stats = false;
};

// The merchant's effective limits: the runtime defaults, lowered or raised by the operator's
// `policy:` block, then lowered (never raised) by what the upload asked for. Errors name the
// upload's field (policy_invalid_limits).
Result<policy::PolicyLimits> effective_limits(const MerchantPolicyConfig& operator_limits,
                                              const boost::json::object& requested);

class PolicyService {
 public:
  // One runtime per worker index 0..runtimes-1 (workers plus the control thread).
  explicit PolicyService(size_t runtimes);

  std::shared_ptr<const ActivePolicy> active(std::string_view merchant) const;

  // The calling worker's runtime. Threads that are not workers (tests, benchmarks) get a
  // thread-local one.
  policy::PolicyRuntime& runtime();

  // Suspends policies that keep exhausting their budget (shared by all workers).
  PolicyBreaker& breaker() { return breaker_; }

  // Reloads the active set when the store's change stamp moved (or always, with `force`: the
  // config changed). Blocking: run it on the store pool.
  Status refresh(Store& store, const Config& config, bool force);

 private:
  using ActiveMap = std::unordered_map<std::string, std::shared_ptr<const ActivePolicy>>;

  std::atomic<std::shared_ptr<const ActiveMap>> active_;
  std::vector<std::unique_ptr<policy::PolicyRuntime>> runtimes_;
  std::atomic<int64_t> stamp_{-1};
  std::atomic<uint64_t> loads_{0};
  PolicyBreaker breaker_;
};

}  // namespace x402
