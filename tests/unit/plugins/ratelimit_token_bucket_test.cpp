// ratelimit-token-bucket driven through FakeHost: the shared path's script call and reply, the
// single-node path, and the degraded fallback while the shared cache is unreachable.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fake_host.hpp"
#include "gcra_script.hpp"
#include "token_bucket.hpp"

namespace x402::plugins::ratelimit_token_bucket {
namespace {

using test::CannedEval;
using test::FakeHost;

// 10 per second in bursts of 3 (interval 100 ms, bucket 300 ms deep); while Redis is down each of
// 3 nodes allows one request per 300 ms.
constexpr const char* kConfig =
    R"({"requests": 10, "window_ms": 1000, "burst": 3, "fallback_nodes": 3})";

class RateLimitTokenBucketTest : public ::testing::Test {
 protected:
  // Each test gets its own instance name so the process-wide local limiters never leak between
  // tests.
  std::unique_ptr<TokenBucketTier> make(const char* config = kConfig) {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    return std::make_unique<TokenBucketTier>(
        sdk::InstanceContext{sdk::Host(host.api(), name), name, config});
  }

  static sdk::RateLimitDecision admit(TokenBucketTier& tier, std::string_view key = "0xabc",
                                      std::string_view scope = "route-1") {
    std::optional<sdk::RateLimitDecision> decision;
    tier.admit(key, scope, [&](const sdk::RateLimitDecision& d) { decision = d; });
    EXPECT_TRUE(decision.has_value()) << "admit did not decide synchronously with FakeHost";
    return decision.value_or(sdk::RateLimitDecision{});
  }

  size_t logs_containing(std::string_view text) const {
    size_t n = 0;
    for (const auto& line : host.logs) n += line.find(text) != std::string::npos ? 1 : 0;
    return n;
  }

  FakeHost host;
};

TEST_F(RateLimitTokenBucketTest, SendsTheScriptWithTheCellAndTheRate) {
  auto tier = make();
  host.eval_answers.push_back(CannedEval::values({"1", "2", "100000", "0"}));
  admit(*tier, "0xabc", "route-1");
  ASSERT_EQ(host.evals.size(), 1u);
  EXPECT_EQ(host.evals[0].script, kGcraScript);
  EXPECT_EQ(host.evals[0].keys, std::vector<std::string>{"route-1|0xabc"});
  EXPECT_EQ(host.evals[0].args, (std::vector<std::string>{"100000", "300000"}));
}

TEST_F(RateLimitTokenBucketTest, TheScriptReplyIsTheDecision) {
  auto tier = make();
  host.eval_answers.push_back(CannedEval::values({"1", "2", "100000", "0"}));
  host.eval_answers.push_back(CannedEval::values({"0", "0", "299500", "99001"}));

  sdk::RateLimitDecision allowed = admit(*tier);
  EXPECT_TRUE(allowed.allowed);
  EXPECT_EQ(allowed.limit, 3u);
  EXPECT_EQ(allowed.remaining, 2u);
  EXPECT_EQ(allowed.reset_ms, 100u);
  EXPECT_EQ(allowed.retry_after_ms, 0u);
  EXPECT_FALSE(allowed.degraded);

  sdk::RateLimitDecision refused = admit(*tier);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.limit, 3u);
  EXPECT_EQ(refused.remaining, 0u);
  EXPECT_EQ(refused.reset_ms, 300u);
  EXPECT_EQ(refused.retry_after_ms, 100u);
  EXPECT_FALSE(refused.degraded);
  EXPECT_EQ(host.evals.size(), 2u);
}

TEST_F(RateLimitTokenBucketTest, WithoutScriptsThisNodeDecidesExactlyAndIsNotDegraded) {
  auto tier = make();
  host.eval_answers.push_back(CannedEval::failure("cache_scripts_unsupported: in-memory cache"));
  for (uint64_t remaining : {2u, 1u, 0u}) {
    sdk::RateLimitDecision d = admit(*tier);
    EXPECT_TRUE(d.allowed);
    EXPECT_FALSE(d.degraded);
    EXPECT_EQ(d.limit, 3u);  // the exact quota, not a node's share
    EXPECT_EQ(d.remaining, remaining);
  }
  sdk::RateLimitDecision refused = admit(*tier);
  EXPECT_FALSE(refused.allowed);
  EXPECT_FALSE(refused.degraded);
  EXPECT_EQ(refused.retry_after_ms, 100u);
  EXPECT_EQ(host.evals.size(), 1u);  // asked once, then remembered

  host.monotonic_ms += 100;  // one interval later one token is back
  EXPECT_TRUE(admit(*tier).allowed);
  EXPECT_EQ(host.evals.size(), 1u);
}

TEST_F(RateLimitTokenBucketTest, AHostWithoutCacheEvalDecidesLocally) {
  host.drop_cache_eval();
  auto tier = make();
  for (int i = 0; i < 3; ++i) {
    sdk::RateLimitDecision d = admit(*tier);
    EXPECT_TRUE(d.allowed);
    EXPECT_FALSE(d.degraded);
  }
  EXPECT_FALSE(admit(*tier).allowed);
  EXPECT_TRUE(host.evals.empty());
}

TEST_F(RateLimitTokenBucketTest, AnUnreachableCacheDegradesToANodesShare) {
  auto tier = make();
  host.eval_answers.push_back(CannedEval::failure("cache_unavailable: connection refused"));

  sdk::RateLimitDecision first = admit(*tier);
  EXPECT_TRUE(first.allowed);
  EXPECT_TRUE(first.degraded);
  EXPECT_EQ(first.limit, 1u);  // burst 3 over 3 nodes
  EXPECT_EQ(first.remaining, 0u);
  EXPECT_EQ(first.reset_ms, 300u);  // this node's interval: 100 ms * 3 nodes

  sdk::RateLimitDecision second = admit(*tier);
  EXPECT_FALSE(second.allowed);
  EXPECT_TRUE(second.degraded);
  EXPECT_EQ(second.retry_after_ms, 300u);

  EXPECT_EQ(logs_containing("shared cache unreachable (cache_unavailable: connection refused): "
                            "deciding with a local limiter (3 requests per 1000 ms per node)"),
            1u);
}

TEST_F(RateLimitTokenBucketTest, HoldsOffForOneSecondAfterAFailureThenAsksAgain) {
  auto tier = make(R"({"requests": 1000, "window_ms": 1000})");
  // The queue is empty: FakeHost answers "cache_unavailable: no scripted answer".
  EXPECT_TRUE(admit(*tier).degraded);
  ASSERT_EQ(host.evals.size(), 1u);

  host.monotonic_ms += 999;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(admit(*tier, "client-" + std::to_string(i)).degraded);
  EXPECT_EQ(host.evals.size(), 1u);  // a dead Redis costs no round trip during the hold-off

  host.monotonic_ms += 1;
  EXPECT_TRUE(admit(*tier).degraded);  // asked again, still down
  EXPECT_EQ(host.evals.size(), 2u);
  EXPECT_EQ(logs_containing("shared cache unreachable"), 1u);  // one warning per outage

  host.monotonic_ms += 1000;
  host.eval_answers.push_back(CannedEval::values({"1", "999", "1000", "0"}));
  sdk::RateLimitDecision back = admit(*tier);
  EXPECT_FALSE(back.degraded);
  EXPECT_EQ(back.remaining, 999u);
  EXPECT_EQ(host.evals.size(), 3u);
  EXPECT_EQ(logs_containing("shared cache answering again; decisions are global again"), 1u);

  host.eval_answers.push_back(CannedEval::values({"1", "998", "2000", "0"}));
  EXPECT_FALSE(admit(*tier).degraded);  // no hold-off once it answered
  EXPECT_EQ(host.evals.size(), 4u);
  EXPECT_EQ(logs_containing("answering again"), 1u);
}

TEST_F(RateLimitTokenBucketTest, AMalformedReplyIsAFailure) {
  auto tier = make(R"({"requests": 1000, "window_ms": 1000})");
  const std::vector<std::vector<std::optional<std::string>>> malformed = {
      {"1", "2", "3"},            // too short
      {"1", "2", "3", "4", "5"},  // too long
      {"1", std::nullopt, "3", "4"},
      {"2", "2", "3", "4"},  // allowed is 0 or 1
      {"1", "-2", "3", "4"},
      {"1", "2.5", "3", "4"},
      {"1", " 2", "3", "4"},
      {"1", "", "3", "4"},
      {"1", "99999999999999999999", "3", "4"},
  };
  size_t asked = 0;
  for (const auto& reply : malformed) {
    host.eval_answers.push_back(CannedEval::values(reply));
    sdk::RateLimitDecision d = admit(*tier);
    EXPECT_TRUE(d.degraded) << "reply number " << asked;
    EXPECT_TRUE(d.allowed);  // the local fallback decided
    EXPECT_EQ(host.evals.size(), ++asked);
    host.monotonic_ms += TokenBucketTier::kHoldOffMs;
  }
  EXPECT_EQ(logs_containing("malformed script reply [\"1\", \"2\", \"3\"]"), 1u);
}

TEST_F(RateLimitTokenBucketTest, FallbackCellsAreSeparateFromTheSharedOnes) {
  auto tier = make();
  host.eval_answers.push_back(CannedEval::failure("cache_unavailable: timeout"));
  EXPECT_TRUE(admit(*tier, "a").allowed);
  EXPECT_FALSE(admit(*tier, "a").allowed);            // a's share on this node is spent
  EXPECT_TRUE(admit(*tier, "b").allowed);             // b has its own
  EXPECT_TRUE(admit(*tier, "a", "route-2").allowed);  // and so has a on another scope
}

TEST_F(RateLimitTokenBucketTest, AReloadedInstanceKeepsTheLocalCells) {
  host.eval_answers.push_back(CannedEval::failure("cache_scripts_unsupported"));
  host.eval_answers.push_back(CannedEval::failure("cache_scripts_unsupported"));
  host.eval_answers.push_back(CannedEval::failure("cache_scripts_unsupported"));
  auto old_instance = make();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(admit(*old_instance).allowed);

  // x402d builds the new instance while the old one still serves, then drops the old one.
  auto reloaded = make();
  old_instance.reset();
  EXPECT_FALSE(admit(*reloaded).allowed);  // the burst spent before the reload stays spent

  auto other_limits = make(R"({"requests": 10, "window_ms": 1000, "burst": 4})");
  EXPECT_TRUE(admit(*other_limits).allowed);  // new limits, new buckets
}

// ---- through the C boundary, as x402d calls it ----

using Adapter = sdk::detail::RateLimitAdapter<TokenBucketTier>;

struct CDecision {
  int calls = 0;
  x402_ratelimit_decision last{};
};

void record(void* user, const x402_ratelimit_decision* d) {
  auto* out = static_cast<CDecision*>(user);
  ++out->calls;
  out->last = *d;
}

TEST_F(RateLimitTokenBucketTest, WorksThroughTheCVtable) {
  const x402_ratelimit_vtable& vt = Adapter::vtable;
  std::string config = kConfig;
  char error[256] = {};
  x402_error_buf buf{error, sizeof error};
  void* instance = vt.create(host.api(), sdk::str("c-tier"), sdk::str(config), &buf);
  ASSERT_NE(instance, nullptr) << error;

  host.eval_answers.push_back(CannedEval::values({"0", "0", "250000", "50000"}));
  CDecision out;
  vt.admit(instance, sdk::str("0xabc"), sdk::str("route-1"), &record, &out);
  EXPECT_EQ(out.calls, 1);
  EXPECT_EQ(out.last.allowed, 0);
  EXPECT_EQ(out.last.limit, 3u);
  EXPECT_EQ(out.last.reset_ms, 250u);
  EXPECT_EQ(out.last.retry_after_ms, 50u);
  EXPECT_EQ(out.last.degraded, 0);
  ASSERT_EQ(host.evals.size(), 1u);
  EXPECT_EQ(host.evals[0].keys[0], "route-1|0xabc");

  vt.admit(instance, sdk::str("0xabc"), sdk::str("route-1"), &record, &out);  // queue empty
  EXPECT_EQ(out.calls, 2);
  EXPECT_EQ(out.last.allowed, 1);
  EXPECT_EQ(out.last.degraded, 1);
  vt.release(instance, sdk::str("0xabc"), sdk::str("route-1"));  // not a concurrency tier: no-op
  vt.destroy(instance);
}

TEST_F(RateLimitTokenBucketTest, CreateRefusesABadConfigNamingTheKey) {
  const x402_ratelimit_vtable& vt = Adapter::vtable;
  std::string config = R"({"requests": 10})";
  char error[256] = {};
  x402_error_buf buf{error, sizeof error};
  EXPECT_EQ(vt.create(host.api(), sdk::str("bad"), sdk::str(config), &buf), nullptr);
  EXPECT_STREQ(error, "config.window_ms: required, an integer from 1 to 2592000000");
}

}  // namespace
}  // namespace x402::plugins::ratelimit_token_bucket
