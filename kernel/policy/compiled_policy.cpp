#include "policy/compiled_policy.hpp"

#include <luajit.h>

#include <string>
#include <string_view>

#include "policy/decision_reader.hpp"
#include "policy/errors.hpp"

namespace x402::policy {
namespace {

using detail::Abort;

constexpr size_t kMaxErrorMessageBytes = 512;
constexpr char kChunkName[] = "=policy";  // error positions read "policy:12: ..."

Error policy_error(std::string_view code, std::string message, std::string field = "") {
  return make_error(std::string(code), std::move(field), std::move(message));
}

// Kernel counters may exceed what a Lua number holds exactly; saturate instead of rounding.
lua_Number exact_number(uint64_t value) {
  constexpr uint64_t kMaxExact = 1ULL << 53;
  return static_cast<lua_Number>(value > kMaxExact ? kMaxExact : value);
}

void set_string(lua_State* L, const char* field, std::string_view value) {
  lua_pushlstring(L, value.data(), value.size());
  lua_setfield(L, -2, field);
}

void set_number(lua_State* L, const char* field, lua_Number value) {
  lua_pushnumber(L, value);
  lua_setfield(L, -2, field);
}

void push_query(lua_State* L, const PolicyRequest& request) {
  lua_createtable(L, 0, static_cast<int>(request.query.size()));
  for (const auto& [name, value] : request.query) {
    lua_pushlstring(L, name.data(), name.size());
    lua_rawget(L, -2);
    const bool seen = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (seen) continue;  // first value wins
    lua_pushlstring(L, name.data(), name.size());
    lua_pushlstring(L, value.data(), value.size());
    lua_rawset(L, -3);
  }
}

void push_headers(lua_State* L, const PolicyRequest& request) {
  lua_createtable(L, 0, static_cast<int>(request.headers.size()));
  std::string lower;
  for (const auto& [name, value] : request.headers) {
    lower.assign(name);
    for (char& c : lower) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    lua_pushlstring(L, lower.data(), lower.size());
    lua_pushvalue(L, -1);
    lua_rawget(L, -3);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_pushlstring(L, value.data(), value.size());
    } else {  // a repeated header: join as HTTP does
      lua_pushliteral(L, ", ");
      lua_pushlstring(L, value.data(), value.size());
      lua_concat(L, 3);
    }
    lua_rawset(L, -3);
  }
}

void push_request(lua_State* L, const PolicyRequest& request) {
  lua_createtable(L, 0, 12);
  set_string(L, "method", request.method);
  set_string(L, "path", request.path);
  push_query(L, request);
  lua_setfield(L, -2, "query");
  push_headers(L, request);
  lua_setfield(L, -2, "headers");
  set_number(L, "body_size", exact_number(request.body_size));
  set_string(L, "merchant", request.merchant);
  set_string(L, "route", request.route);
  const int64_t now = request.now < 0 ? 0 : request.now;
  set_number(L, "now", exact_number(static_cast<uint64_t>(now)));

  lua_createtable(L, 0, 4);
  if (request.payer.address) set_string(L, "address", *request.payer.address);
  set_number(L, "calls_this_period", exact_number(request.payer.calls_this_period));
  set_number(L, "active_passes", exact_number(request.payer.active_passes));
  set_number(L, "package_balance", exact_number(request.payer.package_balance));
  lua_setfield(L, -2, "payer");

  lua_createtable(L, 0, 2);
  set_number(L, "calls_this_period", exact_number(request.merchant_stats.calls_this_period));
  set_number(L, "calls_last_minute", exact_number(request.merchant_stats.calls_last_minute));
  lua_setfield(L, -2, "merchant_stats");
}

struct PriceCall {
  const PolicyRequest* request;
  int freeze_ref;
  int price_ref;
  detail::SandboxMeter* meter;
  size_t memory_cap;
};

struct SetupCall {
  detail::SandboxRefs refs;
};

int setup_protected(lua_State* L) {
  auto* setup = static_cast<SetupCall*>(lua_touserdata(L, 1));
  setup->refs = detail::build_sandbox_environment(L);
  return 0;
}

// Runs `nargs` arguments through the function below them with the hook and the memory cap armed.
int call_budgeted(lua_State* L, detail::SandboxMeter& meter, size_t memory_cap, int nargs,
                  int nresults) {
  meter.arm(memory_cap);
  lua_sethook(L, detail::instruction_hook, LUA_MASKCOUNT, detail::kHookInterval);
  const int status = lua_pcall(L, nargs, nresults, 0);
  lua_sethook(L, nullptr, 0, 0);
  meter.disarm();
  return status;
}

std::string error_text(lua_State* L) {
  if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
    size_t length = 0;
    const char* text = lua_tolstring(L, -1, &length);
    std::string message(text, length < kMaxErrorMessageBytes ? length : kMaxErrorMessageBytes);
    if (length > kMaxErrorMessageBytes) message += "...";
    return message;
  }
  return std::string("error object is a ") + lua_typename(L, lua_type(L, -1));
}

}  // namespace

Result<std::unique_ptr<CompiledPolicy>> CompiledPolicy::compile(PolicySpec spec) {
  if (auto valid = spec.limits.validate(); !valid) return valid.error();
  if (spec.source.size() > PolicyHardMaxima::kSourceBytes) {
    return policy_error(errc::kSourceTooLarge, "policy source is larger than " +
                                                   std::to_string(PolicyHardMaxima::kSourceBytes) +
                                                   " bytes");
  }
  // A chunk starting with ESC is precompiled bytecode, which can break the VM's memory safety.
  if (!spec.source.empty() && spec.source.front() == '\x1b') {
    return policy_error(errc::kBytecodeRefused, "precompiled bytecode is refused; upload source");
  }
  std::unique_ptr<CompiledPolicy> policy(new CompiledPolicy(std::move(spec)));
  if (auto loaded = policy->load(); !loaded) return loaded.error();
  return policy;
}

CompiledPolicy::~CompiledPolicy() {
  close();
}

void CompiledPolicy::close() {
  if (L_ != nullptr) lua_close(L_);
  L_ = nullptr;
  meter_.reset();
}

Status CompiledPolicy::load() {
  close();
  needs_rebuild_ = false;
  meter_ = std::make_unique<detail::SandboxMeter>(spec_.limits);
  L_ = lua_newstate(detail::counting_alloc, meter_.get());
  if (L_ == nullptr) {
    return policy_error(errc::kInternal, "could not create a Lua state with a counting allocator");
  }
  // Interpreter only: compiled traces do not run the count hook, so the budget would not hold.
  luaJIT_setmode(L_, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);

  SetupCall setup;
  if (lua_cpcall(L_, setup_protected, &setup) != 0) {
    std::string message = error_text(L_);
    close();
    return policy_error(errc::kInternal, "sandbox setup failed: " + message);
  }
  refs_ = setup.refs;
  lua_gc(L_, LUA_GCCOLLECT, 0);
  // The merchant's code (its compiled chunk included) gets max_memory_bytes beyond this point.
  memory_cap_ = meter_->used_bytes + spec_.limits.max_memory_bytes;

  const int loaded =
      luaL_loadbufferx(L_, spec_.source.data(), spec_.source.size(), kChunkName, "t");
  if (loaded != 0) {
    std::string message = error_text(L_);
    close();
    const bool wrong_mode = message.find("wrong mode") != std::string::npos;
    return policy_error(wrong_mode ? errc::kBytecodeRefused : errc::kCompileError,
                        std::move(message));
  }
  lua_rawgeti(L_, LUA_REGISTRYINDEX, refs_.env);
  lua_setfenv(L_, -2);
  if (const int status = call_budgeted(L_, *meter_, memory_cap_, 0, 0); status != 0) {
    Error error = error_from_failed_call(status);
    close();
    return error;
  }

  lua_rawgeti(L_, LUA_REGISTRYINDEX, refs_.env);
  lua_getfield(L_, -1, "price");
  if (lua_type(L_, -1) != LUA_TFUNCTION) {
    close();
    return policy_error(errc::kMissingPrice, "the policy must define a global function price(req)",
                        "price");
  }
  price_ref_ = luaL_ref(L_, LUA_REGISTRYINDEX);
  lua_settop(L_, 0);
  return Ok{};
}

Error CompiledPolicy::error_from_failed_call(int status) {
  const auto& limits = spec_.limits;
  switch (meter_->abort) {
    case Abort::kInstructions:
      return policy_error(errc::kInstructionLimit, "policy exceeded its budget of " +
                                                       std::to_string(limits.max_instructions) +
                                                       " instructions");
    case Abort::kDeadline:
      return policy_error(errc::kTimeLimit, "policy exceeded its wall-clock budget of " +
                                                std::to_string(limits.max_wall.count()) + " us");
    case Abort::kMemory:
      return policy_error(errc::kMemoryLimit, "policy exceeded its memory budget of " +
                                                  std::to_string(limits.max_memory_bytes) +
                                                  " bytes");
    case Abort::kStringLimit:
      return policy_error(errc::kStringLimit, error_text(L_));
    case Abort::kNone:
      break;
  }
  if (status == LUA_ERRMEM) return policy_error(errc::kMemoryLimit, "policy ran out of memory");
  return policy_error(errc::kRuntimeError, error_text(L_));
}

int CompiledPolicy::run_price(lua_State* L) {
  auto* call = static_cast<PriceCall*>(lua_touserdata(L, 1));
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, call->price_ref);
  lua_rawgeti(L, LUA_REGISTRYINDEX, call->freeze_ref);
  push_request(L, *call->request);
  lua_call(L, 1, 1);  // the read-only view of the request
  // Only the merchant's own code runs under the budget, but everything it allocates is capped.
  call->meter->arm(call->memory_cap);
  lua_sethook(L, detail::instruction_hook, LUA_MASKCOUNT, detail::kHookInterval);
  lua_call(L, 1, 1);
  return 1;
}

Result<PriceDecision> CompiledPolicy::evaluate(const PolicyRequest& request,
                                               const RouteOffer& offer) {
  if (needs_rebuild_ || L_ == nullptr) {
    if (auto loaded = load(); !loaded) return loaded.error();
  }
  lua_settop(L_, 0);
  PriceCall call{&request, refs_.freeze_request, price_ref_, meter_.get(), memory_cap_};
  meter_->abort = Abort::kNone;
  lua_pushcfunction(L_, &CompiledPolicy::run_price);
  lua_pushlightuserdata(L_, &call);
  const int status = lua_pcall(L_, 1, 1, 0);
  lua_sethook(L_, nullptr, 0, 0);
  meter_->disarm();

  Result<PriceDecision> decision = status == 0
                                       ? detail::read_decision(L_, -1, spec_.limits, offer)
                                       : Result<PriceDecision>(error_from_failed_call(status));
  if (status != 0 && meter_->abort != Abort::kNone) needs_rebuild_ = true;
  lua_settop(L_, 0);
  // Per-call garbage (the request view) is small; collect fully only when the state is heavy,
  // since LuaJIT does not collect before failing an allocation.
  if (meter_->used_bytes > memory_cap_ - spec_.limits.max_memory_bytes / 2) {
    lua_gc(L_, LUA_GCCOLLECT, 0);
  }
  return decision;
}

}  // namespace x402::policy
