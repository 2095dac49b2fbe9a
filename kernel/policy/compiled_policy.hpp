#pragma once
// One merchant policy version loaded into one sandboxed LuaJIT state (DESIGN.md §6). A worker
// thread owns its CompiledPolicy objects; they are not thread-safe and never shared between
// threads (a lua_State is single-threaded). Different merchants never share a state, so one
// policy can neither see nor change another's globals or libraries.
#include <cstddef>
#include <lua.hpp>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "policy/decision.hpp"
#include "policy/limits.hpp"
#include "policy/request.hpp"
#include "policy/sandbox_env.hpp"
#include "policy/sandbox_meter.hpp"

namespace x402::policy {

// An uploaded policy version as the config snapshot / store holds it.
struct PolicySpec {
  std::string merchant;  // merchant id
  std::string version;   // opaque version id from the store ("3", a hash, ...)
  std::string source;    // Lua source text defining `function price(req)`
  PolicyLimits limits;
};

class CompiledPolicy {
 public:
  // Validates the limits, builds the sandbox, loads the source as text (bytecode is refused) and
  // runs its top level under the budget; `price` must then be a global function. Error codes:
  // policy_invalid_limits, policy_source_too_large, policy_bytecode_refused,
  // policy_compile_error, policy_missing_price, and the evaluation codes below for the top level.
  static Result<std::unique_ptr<CompiledPolicy>> compile(PolicySpec spec);

  // Calls price(req) under the budget and validates the answer. Error codes:
  // policy_runtime_error (the script raised an error), policy_instruction_limit,
  // policy_time_limit, policy_memory_limit, policy_string_limit (a budget stopped it; the script
  // cannot catch these), policy_invalid_result (the answer broke the contract; the field names
  // which part). After a budget abort the state is rebuilt from source before the next call.
  Result<PriceDecision> evaluate(const PolicyRequest& request, const RouteOffer& offer);

  const PolicySpec& spec() const { return spec_; }
  // Bytes currently allocated by this state (sandbox included), for metrics and tests.
  size_t memory_in_use() const { return meter_ ? meter_->used_bytes : 0; }

  ~CompiledPolicy();
  CompiledPolicy(const CompiledPolicy&) = delete;
  CompiledPolicy& operator=(const CompiledPolicy&) = delete;

 private:
  explicit CompiledPolicy(PolicySpec spec) : spec_(std::move(spec)) {}

  Status load();  // (re)builds the state from spec_
  void close();
  Error error_from_failed_call(int status);
  static int run_price(lua_State* L);

  PolicySpec spec_;
  std::unique_ptr<detail::SandboxMeter> meter_;
  lua_State* L_ = nullptr;
  detail::SandboxRefs refs_;
  int price_ref_ = LUA_NOREF;
  size_t memory_cap_ = 0;  // absolute: sandbox baseline + limits.max_memory_bytes
  bool needs_rebuild_ = false;
};

}  // namespace x402::policy
