#pragma once
// Builds the allow-list environment of a fresh sandboxed lua_State (see docs/policies.md for the
// list and the reasons).
#include <lua.hpp>

namespace x402::policy::detail {

struct SandboxRefs {
  int env = LUA_NOREF;             // the merchant script's globals
  int freeze_request = LUA_NOREF;  // function(raw_req) → read-only view of it
};

// Opens the libraries the sandbox needs, builds the environment, points the string metatable at
// the sandboxed string table and empties the state's real globals. Must run in protected mode
// (it may raise on allocation failure); returns the registry references.
SandboxRefs build_sandbox_environment(lua_State* L);

}  // namespace x402::policy::detail
