#pragma once
// The policies of one worker thread: a CompiledPolicy per merchant, built on first use from the
// PolicySpec in the current config snapshot and rebuilt when the spec's version changes. Owned by
// the worker (e.g. next to its io_context); not thread-safe by design — each worker has its own.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/result.hpp"
#include "policy/compiled_policy.hpp"

namespace x402::policy {

class PolicyRuntime {
 public:
  // At most `max_states` merchants keep a live state on this worker; beyond that one is dropped
  // (and rebuilt on its next request).
  explicit PolicyRuntime(size_t max_states = 1024) : max_states_(max_states) {}

  // Prices `request` with `spec` (same merchant + version → same state, so a new source or new
  // limits must come with a new version). Errors are those of
  // CompiledPolicy::compile and CompiledPolicy::evaluate; a spec that fails to compile is not
  // cached. The gateway should answer a policy error as a server-side pricing failure (fail
  // closed), never as a free request.
  Result<PriceDecision> price(const PolicySpec& spec, const PolicyRequest& request,
                              const RouteOffer& offer);

  // Drops the merchant's state (e.g. when its policy is removed).
  void forget(std::string_view merchant);
  size_t size() const { return states_.size(); }

 private:
  size_t max_states_;
  std::unordered_map<std::string, std::unique_ptr<CompiledPolicy>> states_;  // by merchant id
};

}  // namespace x402::policy
