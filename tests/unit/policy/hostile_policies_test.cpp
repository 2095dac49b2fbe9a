// Hostile policies: each is stopped or refused with a specific error code, and afterwards the
// same CompiledPolicy (rebuilt from source after a budget abort) or a fresh one still prices.
// No timing asserts: budgets are checked by the error code they produce.
#include <gtest/gtest.h>

#include "policy_test_support.hpp"

namespace x402::policy {
namespace {

using testing::compile_ok;
using testing::kSimplePolicy;
using testing::sample_request;
using testing::spec_for;
using testing::usdc_offer;

// A hostile body inside price(), guarded so the policy behaves once req.query.safe is set: the
// same state must then price normally, proving it survived the attack.
std::string guarded(const std::string& attack) {
  return "function price(req) if req.query.safe then return { amount = '777' } end " + attack +
         " return { amount = 1 } end";
}

PolicyRequest safe_request() {
  auto request = sample_request();
  request.query = {{"safe", "1"}};
  return request;
}

// Budgets with the widest wall-clock deadline, so that on a loaded machine the instruction budget
// still ends a loop first (a descheduled test thread must not turn it into a time limit).
PolicyLimits roomy_deadline() {
  PolicyLimits limits;
  limits.max_wall = PolicyHardMaxima::kWall;
  return limits;
}

// Accepts any of `codes` (alternatives separated by '|').
bool code_matches(const std::string& code, const std::string& codes) {
  return ("|" + codes + "|").find("|" + code + "|") != std::string::npos;
}

void expect_stopped(const std::string& attack, const std::string& codes,
                    PolicyLimits limits = roomy_deadline()) {
  SCOPED_TRACE(attack);
  auto policy = compile_ok(guarded(attack), limits);
  ASSERT_TRUE(policy);
  auto decision = policy->evaluate(sample_request(), usdc_offer());
  ASSERT_FALSE(decision.ok()) << "attack was not stopped";
  EXPECT_PRED2(code_matches, decision.error().code, codes) << decision.error().message;

  auto after = policy->evaluate(safe_request(), usdc_offer());
  ASSERT_TRUE(after.ok()) << after.error().code << ": " << after.error().message;
  EXPECT_EQ(after->amount, "777");
  // And the attack is stopped again, not only once.
  auto again = policy->evaluate(sample_request(), usdc_offer());
  ASSERT_FALSE(again.ok());
  EXPECT_PRED2(code_matches, again.error().code, codes);
}

TEST(HostilePolicies, InfiniteWhileLoop) {
  expect_stopped("while true do end", "policy_instruction_limit");
}

TEST(HostilePolicies, TightNumericForLoop) {
  expect_stopped("local x = 0 for i = 1, 1e15 do x = x + i end", "policy_instruction_limit");
}

TEST(HostilePolicies, InfiniteTailRecursion) {
  expect_stopped("local function f(n) return f(n + 1) end f(1)", "policy_instruction_limit");
}

TEST(HostilePolicies, DeepRecursionEndsInAnError) {
  auto policy = compile_ok(guarded("local function f(n) return 1 + f(n + 1) end f(1)"));
  ASSERT_TRUE(policy);
  auto decision = policy->evaluate(sample_request(), usdc_offer());
  ASSERT_FALSE(decision.ok());
  // Stack overflow, memory or instruction budget, whichever comes first; never a crash.
  EXPECT_TRUE(decision.error().code == "policy_runtime_error" ||
              decision.error().code == "policy_memory_limit" ||
              decision.error().code == "policy_instruction_limit")
      << decision.error().code;
  EXPECT_EQ(policy->evaluate(safe_request(), usdc_offer())->amount, "777");
}

TEST(HostilePolicies, DeadlineStopsWhatTheInstructionBudgetAllows) {
  PolicyLimits limits;
  limits.max_instructions = PolicyHardMaxima::kInstructions;  // ~10M: far longer than 1 ms
  limits.max_wall = std::chrono::microseconds(1000);
  expect_stopped("while true do end", "policy_time_limit", limits);
}

TEST(HostilePolicies, LoopCannotCatchTheBudgetAbortWithPcall) {
  expect_stopped("while true do pcall(function() while true do end end) end",
                 "policy_instruction_limit");
  expect_stopped(
      "local ok, e = pcall(function() while true do end end) "
      "do return { amount = 1, description = 'caught: ' .. tostring(e) } end",
      "policy_instruction_limit");
}

TEST(HostilePolicies, TableGrowthBomb) {
  PolicyLimits limits;
  limits.max_instructions = PolicyHardMaxima::kInstructions;
  limits.max_wall = PolicyHardMaxima::kWall;
  expect_stopped("local t = {} for i = 1, 1e9 do t[i] = i end", "policy_memory_limit", limits);
}

TEST(HostilePolicies, StringConcatenationBomb) {
  expect_stopped("local s = ('x'):rep(60000) while true do s = s .. s end", "policy_memory_limit");
}

TEST(HostilePolicies, MemoryAbortCannotBeCaughtWithPcall) {
  expect_stopped(
      "pcall(function() local s = ('x'):rep(60000) while true do s = s .. s end end) "
      "while true do end",
      "policy_memory_limit");
}

TEST(HostilePolicies, GlobalsCannotAccumulateBeyondTheCapAcrossCalls) {
  // Each call keeps 100 KiB alive in a global; the cap is for the state, not per call.
  auto policy = compile_ok(
      "hoard = {} function price(req) hoard[#hoard + 1] = ('x'):rep(60000) .. #hoard "
      "return { amount = 1 } end");
  ASSERT_TRUE(policy);
  bool stopped = false;
  for (int i = 0; i < 40 && !stopped; ++i) {
    auto decision = policy->evaluate(sample_request(), usdc_offer());
    if (!decision.ok()) {
      EXPECT_EQ(decision.error().code, "policy_memory_limit");
      stopped = true;
    }
  }
  EXPECT_TRUE(stopped);
  EXPECT_LT(policy->memory_in_use(), 2 * 1024 * 1024u);
  // Rebuilt from source: the hoard is gone and the policy prices again.
  EXPECT_TRUE(policy->evaluate(sample_request(), usdc_offer()).ok());
}

TEST(HostilePolicies, StringRepBombRefusedBeforeAllocating) {
  expect_stopped("local s = ('x'):rep(1e9)", "policy_string_limit");
  expect_stopped("local s = string.rep('abc', 30000)", "policy_string_limit");
  expect_stopped("local s = string.rep('', 1e9, ('y'):rep(100))", "policy_string_limit");
}

TEST(HostilePolicies, PathologicalPatternIsStoppedByTheBudget) {
  // Backtracking explodes combinatorially inside the matcher; every step is charged to the
  // instruction budget and the matcher also checks the deadline, so either may end it first.
  const std::string budget = "policy_instruction_limit|policy_time_limit";
  expect_stopped("string.find(('a'):rep(30) .. 'b', ('a*'):rep(30) .. 'c')", budget);
  expect_stopped("local s = ('a'):rep(30) .. 'b' s:match(('a-'):rep(30) .. 'c')", budget);
  expect_stopped("string.gsub(('a'):rep(40), ('(a*)'):rep(20) .. 'x', '')", budget);
  expect_stopped("for m in string.gmatch(('a'):rep(40), ('a*'):rep(25) .. 'b') do end", budget);
}

TEST(HostilePolicies, OversizedPatternOrSubjectRefused) {
  expect_stopped("string.find(('a'):rep(5000), 'b')", "policy_string_limit");
  expect_stopped("local s = ('a'):rep(5000) s:gsub('a', 'b')", "policy_string_limit");
  expect_stopped("string.gmatch(('a'):rep(5000), 'a')", "policy_string_limit");
  expect_stopped("string.match('abc', ('a?'):rep(200))", "policy_string_limit");
}

TEST(HostilePolicies, HugeSubjectIsRefusedBeforeAnySearch) {
  // The subject is 1 MiB and the pattern would backtrack for ages, yet the call fails at once
  // with the string limit: the size check runs in C before the matcher. With the matcher running
  // first, the instruction budget would be the error instead.
  PolicyLimits limits;
  limits.max_string_bytes = PolicyHardMaxima::kStringBytes;
  limits.max_memory_bytes = 4 * 1024 * 1024;
  auto policy = compile_ok(
      "function price(req) local s = ('a'):rep(1024 * 1024) "
      "local ok, err = pcall(string.find, s, ('a*'):rep(30) .. 'c') "
      "return { amount = 1, description = tostring(err) } end",
      limits);
  ASSERT_TRUE(policy);
  auto decision = policy->evaluate(sample_request(), usdc_offer());
  ASSERT_FALSE(decision.ok());
  EXPECT_EQ(decision.error().code, "policy_string_limit");
  EXPECT_NE(decision.error().message.find("subject"), std::string::npos);
}

TEST(HostilePolicies, NormalPatternsStillWork) {
  auto policy = compile_ok(
      "function price(req) "
      "  local a, b, cap = string.find('price=250;', 'price=(%d+)') "
      "  local n = select(2, ('a,b,,c'):gsub(',', ';')) "
      "  local words = {} for w in ('one two  three'):gmatch('%a+') do words[#words+1] = w end "
      "  local bal = ('f(a(b)c)'):match('%b()') "
      "  local front = ('THE (quick) fox'):find('%f[%a]%a+%f[%A]', 5) "
      "  local plain = ('a.b'):find('.', 1, true) "
      "  local sub = ('hello world'):gsub('(%w+)', '<%1>') "
      "  return { amount = tonumber(cap), description = table.concat({a, b, n, #words, bal, "
      "           front, plain, sub}, ' ') } end");
  ASSERT_TRUE(policy);
  auto decision = policy->evaluate(sample_request(), usdc_offer());
  ASSERT_TRUE(decision.ok()) << decision.error().message;
  EXPECT_EQ(decision->amount, "250");
  EXPECT_EQ(decision->description, "1 9 3 3 (a(b)c) 6 2 <hello> <world>");
}

TEST(HostilePolicies, BytecodeSourceIsRefused) {
  auto compiled = CompiledPolicy::compile(spec_for(std::string("\x1bLJ\x02\x00garbage", 12)));
  ASSERT_FALSE(compiled.ok());
  EXPECT_EQ(compiled.error().code, "policy_bytecode_refused");
}

TEST(HostilePolicies, NoWayToLoadCodeOrDumpFunctions) {
  auto policy = compile_ok(
      "function price(req) return { amount = 1, description = table.concat({type(load), "
      "type(loadstring), type(dofile), type(loadfile), type(string.dump), type(require), "
      "type(module), type(getfenv), type(setfenv)}, ',') } end");
  ASSERT_TRUE(policy);
  EXPECT_EQ(policy->evaluate(sample_request(), usdc_offer())->description,
            "nil,nil,nil,nil,nil,nil,nil,nil,nil");
  // A method call through the string metatable finds no dump either.
  expect_stopped("local b = ('x').dump(function() end)", "policy_runtime_error");
}

TEST(HostilePolicies, DangerousLibrariesAreAbsent) {
  auto policy = compile_ok(
      "function price(req) local names = {} for _, v in ipairs({io, os, ffi, jit, debug, package, "
      "coroutine, collectgarbage, rawget, rawset, rawequal, getmetatable, setmetatable, newproxy, "
      "print, gcinfo, xpcall, math.random, math.randomseed}) do names[#names+1] = 'x' end "
      "return { amount = 1, description = tostring(#names) .. tostring(io) .. tostring(os) .. "
      "tostring(ffi) .. tostring(jit) .. tostring(debug) .. tostring(require) .. "
      "tostring(coroutine) } end");
  ASSERT_TRUE(policy);
  EXPECT_EQ(policy->evaluate(sample_request(), usdc_offer())->description,
            "0nilnilnilnilnilnilnil");
}

TEST(HostilePolicies, StringMetatableAndLibrariesCannotBeTampered) {
  expect_stopped("string.find = function() return 1 end", "policy_runtime_error");
  expect_stopped("math.floor = nil", "policy_runtime_error");
  expect_stopped("local s = '' s.x = 1", "policy_runtime_error");
  expect_stopped("getmetatable('').__index = {}", "policy_runtime_error");
  // Replacing the whole global table entry only changes this script's own globals.
  auto policy = compile_ok(
      "string = { find = function() return 'hijacked' end } "
      "function price(req) return { amount = 1, description = tostring(('abc'):find('b')) } end");
  ASSERT_TRUE(policy);
  EXPECT_EQ(policy->evaluate(sample_request(), usdc_offer())->description, "2");
  // The metatable itself is out of reach: indexing a string only finds string functions.
  auto probe = compile_ok(
      "function price(req) return { amount = 1, description = tostring(('').__index) .. "
      "tostring(('').__metatable) } end");
  ASSERT_TRUE(probe);
  EXPECT_EQ(probe->evaluate(sample_request(), usdc_offer())->description, "nilnil");
}

TEST(HostilePolicies, ErrorsFromThePolicyAreReported) {
  expect_stopped("error('no price for you')", "policy_runtime_error");
  expect_stopped("error({ code = 1 })", "policy_runtime_error");
  expect_stopped("local x = nil .. 'a'", "policy_runtime_error");
  auto policy = compile_ok(guarded("error('no price for you')"));
  ASSERT_TRUE(policy);
  auto decision = policy->evaluate(sample_request(), usdc_offer());
  ASSERT_FALSE(decision.ok());
  EXPECT_NE(decision.error().message.find("policy:1: no price for you"), std::string::npos)
      << decision.error().message;
}

TEST(HostilePolicies, CoroutinesAreUnavailable) {
  expect_stopped("coroutine.yield()", "policy_runtime_error");
  expect_stopped("local co = coroutine.create(function() end)", "policy_runtime_error");
}

TEST(HostilePolicies, HostileTopLevelIsRefusedAtCompile) {
  const std::pair<const char*, const char*> cases[] = {
      {"while true do end function price() end", "policy_instruction_limit"},
      {"local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(1000) .. i end", "policy_memory_limit"},
      {"error('boom')", "policy_runtime_error"},
      {"function price(req", "policy_compile_error"},
      {"price = 5", "policy_missing_price"},
      {"", "policy_missing_price"},
  };
  for (const auto& [source, code] : cases) {
    SCOPED_TRACE(source);
    auto compiled = CompiledPolicy::compile(spec_for(source, roomy_deadline()));
    ASSERT_FALSE(compiled.ok());
    EXPECT_EQ(compiled.error().code, code) << compiled.error().message;
  }
  EXPECT_TRUE(CompiledPolicy::compile(spec_for(kSimplePolicy)).ok());
}

TEST(HostilePolicies, OversizedSourceRefused) {
  auto compiled = CompiledPolicy::compile(
      spec_for(std::string(kSimplePolicy) + "\n--" + std::string(70 * 1024, 'x')));
  ASSERT_FALSE(compiled.ok());
  EXPECT_EQ(compiled.error().code, "policy_source_too_large");
}

}  // namespace
}  // namespace x402::policy
