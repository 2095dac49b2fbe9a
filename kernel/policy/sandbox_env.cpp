#include "policy/sandbox_env.hpp"

#include "policy/patterns.hpp"
#include "policy/sandbox_meter.hpp"

namespace x402::policy::detail {
namespace {

// Trusted Lua, run once per state before any merchant code, with the full library in reach.
// Everything the script will see is built here from the allow-list; what it must not see is only
// captured in these locals' upvalues, which nothing in the sandbox can read (no debug library).
constexpr char kPrelude[] = R"lua(
local native = ...
local next, type, error, setmetatable, getmetatable = next, type, error, setmetatable, getmetatable
local real_string, real_table, real_math, real_bit = string, table, math, bit

-- Read-only views: an empty proxy whose metatable forwards reads and refuses writes. The script
-- has no rawset/setmetatable/getmetatable, so the proxy cannot be opened from inside.
local views = setmetatable({}, { __mode = "k" })  -- view -> the table it shows

local function refuse() error("attempt to modify a read-only table", 2) end

local function readonly(target)
  local view = setmetatable({}, { __index = target, __newindex = refuse, __metatable = false })
  views[view] = target
  return view
end

local function pick(source, names)
  local t = {}
  for i = 1, #names do t[names[i]] = source[names[i]] end
  return t
end

local function check_table(t, fname)
  if type(t) ~= "table" then
    error("bad argument #1 to '" .. fname .. "' (table expected, got " .. type(t) .. ")", 3)
  end
end

-- next/pairs/ipairs see through views (Lua 5.1 has no __pairs) without handing out the target.
local function view_next(t, k)
  check_table(t, "next")
  return next(views[t] or t, k)
end
local function view_pairs(t)
  check_table(t, "pairs")
  return view_next, t, nil
end
local function view_ipairs(t)
  check_table(t, "ipairs")
  local target = views[t] or t
  return function(_, i)
    i = i + 1
    local v = target[i]
    if v ~= nil then return i, v end
  end, t, 0
end

-- table.insert/remove/sort write raw, so they would write into a view itself; refuse that.
local function writable(t, fname)
  check_table(t, fname)
  if views[t] then error("attempt to modify a read-only table", 3) end
end

local safe_string = pick(real_string, {
  "byte", "char", "format", "len", "lower", "reverse", "sub", "upper" })
for name, fn in next, native.string do safe_string[name] = fn end

local safe_table = {
  concat = real_table.concat,
  maxn = real_table.maxn,
  insert = function(t, ...) writable(t, "insert"); return real_table.insert(t, ...) end,
  remove = function(t, ...) writable(t, "remove"); return real_table.remove(t, ...) end,
  sort = function(t, cmp) writable(t, "sort"); return real_table.sort(t, cmp) end,
}

-- math.random/randomseed are left out: a price is a pure function of the request.
local safe_math = pick(real_math, {
  "abs", "ceil", "floor", "fmod", "max", "min", "modf", "sqrt", "exp", "log", "log10", "pow",
  "huge", "pi", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "deg", "rad", "frexp",
  "ldexp", "sinh", "cosh", "tanh" })

local safe_bit = pick(real_bit, {
  "tobit", "tohex", "bnot", "band", "bor", "bxor", "lshift", "rshift", "arshift", "rol", "ror",
  "bswap" })

local string_view = readonly(safe_string)
local env = {
  assert = assert, error = error, ipairs = view_ipairs, next = view_next, pairs = view_pairs,
  pcall = native.pcall, select = select, tonumber = tonumber, tostring = tostring, type = type,
  unpack = unpack,
  string = string_view, table = readonly(safe_table), math = readonly(safe_math),
  bit = readonly(safe_bit),
}
env._G = env

-- ("x"):find(...) goes through the string metatable: it must reach the sandboxed functions.
getmetatable("").__index = string_view

local function freeze_request(req)
  req.query = readonly(req.query)
  req.headers = readonly(req.headers)
  req.payer = readonly(req.payer)
  req.merchant_stats = readonly(req.merchant_stats)
  return readonly(req)
end

-- Nothing of the real globals stays reachable from the state (defence in depth).
local globals = _G
for name in next, globals do globals[name] = nil end

return env, freeze_request
)lua";

void open_library(lua_State* L, lua_CFunction open, const char* name) {
  lua_pushcfunction(L, open);
  lua_pushstring(L, name);
  lua_call(L, 1, 0);
}

}  // namespace

SandboxRefs build_sandbox_environment(lua_State* L) {
  open_library(L, luaopen_base, "");
  open_library(L, luaopen_string, LUA_STRLIBNAME);
  open_library(L, luaopen_table, LUA_TABLIBNAME);
  open_library(L, luaopen_math, LUA_MATHLIBNAME);
  open_library(L, luaopen_bit, LUA_BITLIBNAME);

  if (luaL_loadbuffer(L, kPrelude, sizeof kPrelude - 1, "=sandbox") != 0) lua_error(L);

  lua_newtable(L);  // the native functions handed to the prelude
  lua_pushcfunction(L, sandbox_pcall);
  lua_setfield(L, -2, "pcall");
  lua_newtable(L);
  register_pattern_functions(L);
  lua_getglobal(L, LUA_STRLIBNAME);
  lua_getfield(L, -1, "rep");
  lua_pushcclosure(L, capped_rep, 1);
  lua_setfield(L, -3, "rep");
  lua_pop(L, 1);  // the real string table
  lua_setfield(L, -2, "string");

  lua_call(L, 1, 2);
  SandboxRefs refs;
  refs.freeze_request = luaL_ref(L, LUA_REGISTRYINDEX);
  refs.env = luaL_ref(L, LUA_REGISTRYINDEX);
  return refs;
}

}  // namespace x402::policy::detail
