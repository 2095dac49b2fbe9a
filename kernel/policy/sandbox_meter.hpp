#pragma once
// The accounting behind one sandboxed lua_State: bytes allocated, instructions executed, the wall
// deadline, and why an evaluation was aborted. It is the state's allocator userdata, so every C
// function of the sandbox reaches it through lua_getallocf without any global.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <lua.hpp>

#include "policy/limits.hpp"

namespace x402::policy::detail {

// Why the sandbox stopped the running script. Aborts cannot be caught by the script's pcall.
enum class Abort { kNone, kInstructions, kDeadline, kMemory, kStringLimit };

// The count hook fires every this many VM instructions.
inline constexpr int kHookInterval = 1000;

struct SandboxMeter {
  explicit SandboxMeter(const PolicyLimits& l) : limits(l) {}

  const PolicyLimits& limits;
  size_t used_bytes = 0;
  size_t memory_cap = 0;  // 0 while the trusted runtime itself allocates (not armed)
  uint64_t instructions = 0;
  std::chrono::steady_clock::time_point deadline{};
  Abort abort = Abort::kNone;

  // Starts a budgeted run: instruction count and deadline restart, memory capped at `cap` bytes.
  void arm(size_t cap);
  void disarm() { memory_cap = 0; }
};

SandboxMeter& meter_of(lua_State* L);

// lua_Alloc that counts bytes and refuses growth beyond the armed cap.
void* counting_alloc(void* ud, void* ptr, size_t old_size, size_t new_size);

// Records `reason` and raises `message` as a Lua error.
[[noreturn]] void raise_abort(lua_State* L, Abort reason, const char* message);

// Charges `count` instructions (or pattern steps) and raises once the budget or deadline is spent.
void charge_instructions(lua_State* L, uint64_t count);

// Count hook installed while merchant code runs.
void instruction_hook(lua_State* L, lua_Debug* ar);

// pcall that lets the script catch its own errors but never a sandbox abort.
int sandbox_pcall(lua_State* L);

// string.rep(s, n [, sep]) refusing results beyond max_string_bytes; upvalue 1 is the original.
int capped_rep(lua_State* L);

}  // namespace x402::policy::detail
