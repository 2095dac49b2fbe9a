#pragma once
// string.find / match / gmatch / gsub for the sandbox. LuaJIT's own matcher backtracks without
// bound inside C, where no hook fires: string.find(("a"):rep(30), ("a*"):rep(30) .. "b") runs for
// ages. These replacements (a port of Lua 5.2's lstrlib.c matcher, MIT licence) refuse subjects and
// patterns over the configured sizes before searching, and charge every matching step to the
// instruction budget, so a pathological pattern ends as an instruction-limit or deadline abort.
#include <lua.hpp>

namespace x402::policy::detail {

// Sets find, match, gmatch and gsub in the table at the top of the stack.
void register_pattern_functions(lua_State* L);

}  // namespace x402::policy::detail
