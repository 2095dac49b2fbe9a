#pragma once
// Validates the value a policy returned. It is untrusted input: every field is type-checked and
// bounded, unknown fields are refused (a typo such as `ammount` must not silently mean free), and
// amounts become canonical decimal text without float formatting.
#include <lua.hpp>

#include "common/result.hpp"
#include "policy/decision.hpp"
#include "policy/limits.hpp"
#include "policy/request.hpp"

namespace x402::policy::detail {

// Reads the value at `index` with raw accesses only, so no script code runs.
// Errors have code "policy_invalid_result" and name the offending field.
Result<PriceDecision> read_decision(lua_State* L, int index, const PolicyLimits& limits,
                                    const RouteOffer& offer);

}  // namespace x402::policy::detail
