#include "policy/sandbox_meter.hpp"

#include <cstdlib>
#include <string>

namespace x402::policy::detail {

void SandboxMeter::arm(size_t cap) {
  memory_cap = cap;
  instructions = 0;
  abort = Abort::kNone;
  deadline = std::chrono::steady_clock::now() + limits.max_wall;
}

SandboxMeter& meter_of(lua_State* L) {
  void* ud = nullptr;
  lua_getallocf(L, &ud);
  return *static_cast<SandboxMeter*>(ud);
}

void* counting_alloc(void* ud, void* ptr, size_t old_size, size_t new_size) {
  auto& meter = *static_cast<SandboxMeter*>(ud);
  const size_t previous = ptr != nullptr ? old_size : 0;
  if (new_size == 0) {
    std::free(ptr);
    meter.used_bytes -= previous;
    return nullptr;
  }
  // Shrinking must never fail (Lua relies on it); only growth is checked against the cap.
  if (new_size > previous && meter.memory_cap != 0 &&
      meter.used_bytes - previous + new_size > meter.memory_cap) {
    if (meter.abort == Abort::kNone) meter.abort = Abort::kMemory;
    return nullptr;  // LuaJIT raises "not enough memory"
  }
  void* grown = std::realloc(ptr, new_size);
  if (grown != nullptr) meter.used_bytes = meter.used_bytes - previous + new_size;
  return grown;
}

void raise_abort(lua_State* L, Abort reason, const char* message) {
  auto& meter = meter_of(L);
  if (meter.abort == Abort::kNone) meter.abort = reason;
  lua_pushstring(L, message);
  lua_error(L);
  __builtin_unreachable();
}

void charge_instructions(lua_State* L, uint64_t count) {
  auto& meter = meter_of(L);
  if (meter.abort != Abort::kNone) raise_abort(L, meter.abort, "policy aborted");
  meter.instructions += count;
  if (meter.instructions > meter.limits.max_instructions) {
    raise_abort(L, Abort::kInstructions, "instruction budget exceeded");
  }
  if (std::chrono::steady_clock::now() > meter.deadline) {
    raise_abort(L, Abort::kDeadline, "wall-clock deadline exceeded");
  }
}

void instruction_hook(lua_State* L, lua_Debug* /*ar*/) {
  charge_instructions(L, kHookInterval);
}

int sandbox_pcall(lua_State* L) {
  luaL_checkany(L, 1);
  const int status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  if (meter_of(L).abort != Abort::kNone) return lua_error(L);  // re-raise the abort unchanged
  lua_pushboolean(L, status == 0);
  lua_insert(L, 1);
  return lua_gettop(L);
}

int capped_rep(lua_State* L) {
  size_t length = 0;
  size_t separator_length = 0;
  luaL_checklstring(L, 1, &length);
  const lua_Number count = luaL_checknumber(L, 2);
  luaL_optlstring(L, 3, "", &separator_length);
  if (count >= 1) {
    // A size bound, not money: doubles cannot overflow here and err only far above the cap.
    const double total =
        static_cast<double>(length) * count + static_cast<double>(separator_length) * (count - 1);
    if (total > static_cast<double>(meter_of(L).limits.max_string_bytes)) {
      raise_abort(L, Abort::kStringLimit, "string.rep result exceeds the string size limit");
    }
  }
  lua_settop(L, 3);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, 3, 1);
  return 1;
}

}  // namespace x402::policy::detail
