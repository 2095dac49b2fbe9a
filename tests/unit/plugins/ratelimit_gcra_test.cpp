// The token bucket's arithmetic, config and local limiter, with explicit times.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gcra.hpp"
#include "local_limiter.hpp"
#include "token_bucket_config.hpp"

namespace x402::plugins::ratelimit_token_bucket {
namespace {

// 10 requests per second, bursts of 3: one request every 100 ms, the bucket 300 ms deep.
const GcraParams kTenPerSecondBurst3 = gcra_params(10, 1000, 3);
constexpr int64_t kNow = 5'000'000;

TEST(Gcra, ParamsAreIntegerMicroseconds) {
  EXPECT_EQ(kTenPerSecondBurst3.interval_us, 100'000);
  EXPECT_EQ(kTenPerSecondBurst3.tolerance_us, 300'000);
  EXPECT_EQ(kTenPerSecondBurst3.burst, 3u);
  EXPECT_EQ(gcra_params(3, 1000, 3).interval_us, 333'333);    // rounded down
  EXPECT_EQ(gcra_params(1'000'000, 1000, 5).interval_us, 1);  // one per microsecond
  EXPECT_EQ(gcra_params(1, 2'592'000'000, 2).tolerance_us, 5'184'000'000'000);
}

TEST(Gcra, FreshCellAdmitsTheWholeBurstThenRefuses) {
  int64_t tat = 0;
  for (uint64_t expected_remaining : {2u, 1u, 0u}) {
    GcraStep s = gcra_step(tat, kNow, kTenPerSecondBurst3);
    ASSERT_TRUE(s.allowed);
    EXPECT_EQ(s.remaining, expected_remaining);
    EXPECT_EQ(s.reset_us, (3 - static_cast<int64_t>(expected_remaining)) * 100'000);
    EXPECT_EQ(s.retry_after_us, 0);
    tat = s.tat_us;
  }
  EXPECT_EQ(tat, kNow + 300'000);

  GcraStep refused = gcra_step(tat, kNow, kTenPerSecondBurst3);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0u);
  EXPECT_EQ(refused.retry_after_us, 100'000);  // one interval until a token is back
  EXPECT_EQ(refused.reset_us, 300'000);        // the whole bucket is back at the TAT
  EXPECT_EQ(refused.tat_us, tat);              // a refusal costs nothing
}

TEST(Gcra, RetryAfterIsExactToTheMicrosecond) {
  int64_t tat = kNow + 300'000;  // bucket empty at kNow
  GcraStep early = gcra_step(tat, kNow + 99'999, kTenPerSecondBurst3);
  EXPECT_FALSE(early.allowed);
  EXPECT_EQ(early.retry_after_us, 1);

  GcraStep on_time = gcra_step(tat, kNow + 100'000, kTenPerSecondBurst3);
  EXPECT_TRUE(on_time.allowed);
  EXPECT_EQ(on_time.remaining, 0u);
  EXPECT_EQ(on_time.tat_us, kNow + 400'000);
}

TEST(Gcra, RefillsOneTokenPerInterval) {
  int64_t tat = kNow + 300'000;                                      // empty at kNow
  GcraStep s = gcra_step(tat, kNow + 250'000, kTenPerSecondBurst3);  // 2.5 tokens back
  ASSERT_TRUE(s.allowed);
  EXPECT_EQ(s.remaining, 1u);  // two were back, this request took one; half a token is not one
  EXPECT_EQ(s.reset_us, 150'000);
}

TEST(Gcra, TatInThePastIsAFreshCell) {
  GcraStep stale = gcra_step(kNow - 10'000'000, kNow, kTenPerSecondBurst3);
  GcraStep fresh = gcra_step(0, kNow, kTenPerSecondBurst3);
  EXPECT_TRUE(stale.allowed);
  EXPECT_EQ(stale.remaining, fresh.remaining);
  EXPECT_EQ(stale.tat_us, kNow + 100'000);
  EXPECT_EQ(stale.reset_us, fresh.reset_us);
}

TEST(Gcra, DecisionRoundsUpToMilliseconds) {
  sdk::RateLimitDecision allowed = gcra_decision(true, 4, 1'001, 0, 5);
  EXPECT_TRUE(allowed.allowed);
  EXPECT_EQ(allowed.limit, 5u);
  EXPECT_EQ(allowed.remaining, 4u);
  EXPECT_EQ(allowed.reset_ms, 2u);
  EXPECT_EQ(allowed.retry_after_ms, 0u);
  EXPECT_FALSE(allowed.degraded);

  sdk::RateLimitDecision refused = gcra_decision(false, 0, 300'000, 1, 3);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0u);
  EXPECT_EQ(refused.reset_ms, 300u);
  EXPECT_EQ(refused.retry_after_ms, 1u);  // 1 µs still means "wait", never 0

  EXPECT_EQ(gcra_decision(false, 0, 0, 0, 3).retry_after_ms, 1u);
  EXPECT_EQ(gcra_decision(false, 0, 0, 100'000'000'000'000, 3).retry_after_ms, UINT32_MAX);
}

// ---- config ----

std::string config_error(const std::string& json) {
  try {
    parse_config(json);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(RateLimitTokenBucketConfig, DefaultsBurstToRequestsAndOneNode) {
  TokenBucketConfig c = parse_config(R"({"requests": 100, "window_ms": 60000})");
  EXPECT_EQ(c.requests, 100u);
  EXPECT_EQ(c.window_ms, 60000u);
  EXPECT_EQ(c.burst, 100u);
  EXPECT_EQ(c.fallback_nodes, 1u);

  c = parse_config(R"({"requests": 5, "window_ms": 1000, "burst": 2, "fallback_nodes": 4})");
  EXPECT_EQ(c.burst, 2u);
  EXPECT_EQ(c.fallback_nodes, 4u);
  EXPECT_NO_THROW(parse_config(R"({"requests": 1000000000, "window_ms": 2592000000})"));
}

TEST(RateLimitTokenBucketConfig, ErrorsNameTheKey) {
  EXPECT_EQ(config_error(R"({"window_ms": 1000})"),
            "config.requests: required, an integer from 1 to 1000000000");
  EXPECT_EQ(config_error(R"({"requests": 10})"),
            "config.window_ms: required, an integer from 1 to 2592000000");
  EXPECT_EQ(config_error(R"({"requests": 0, "window_ms": 1000})"),
            "config.requests: must be an integer from 1 to 1000000000");
  EXPECT_EQ(config_error(R"({"requests": -3, "window_ms": 1000})"),
            "config.requests: must be an integer from 1 to 1000000000");
  EXPECT_EQ(config_error(R"({"requests": 1000000001, "window_ms": 1000})"),
            "config.requests: must be an integer from 1 to 1000000000");
  EXPECT_EQ(config_error(R"({"requests": "10", "window_ms": 1000})"),
            "config.requests: must be an integer from 1 to 1000000000");
  EXPECT_EQ(config_error(R"({"requests": 2.5, "window_ms": 1000})"),
            "config.requests: must be an integer from 1 to 1000000000");
  EXPECT_EQ(config_error(R"({"requests": 10, "window_ms": 2592000001})"),
            "config.window_ms: must be an integer from 1 to 2592000000");
  EXPECT_EQ(config_error(R"({"requests": 10, "window_ms": 1000, "burst": 0})"),
            "config.burst: must be an integer from 1 to 1000000000");
  EXPECT_EQ(config_error(R"({"requests": 10, "window_ms": 1000, "fallback_nodes": 1001})"),
            "config.fallback_nodes: must be an integer from 1 to 1000");
  EXPECT_EQ(config_error(R"({"requests": 10, "window_ms": 1000, "limit": 5})"),
            "config.limit: unknown key (expected requests, window_ms, burst, fallback_nodes)");
  EXPECT_EQ(config_error("[1]"), "config: must be a JSON object");
}

TEST(RateLimitTokenBucketConfig, RefusesMoreThanOneRequestPerMicrosecond) {
  EXPECT_NO_THROW(parse_config(R"({"requests": 1000, "window_ms": 1})"));
  std::string error = config_error(R"({"requests": 1001, "window_ms": 1})");
  EXPECT_EQ(error.rfind("config.requests: more than one request per microsecond", 0), 0u) << error;
}

TEST(RateLimitTokenBucketConfig, RefusesABucketTooDeepForExactArithmetic) {
  // One request per 30 days with bursts of a billion: a bucket 82 million years deep.
  std::string error =
      config_error(R"({"requests": 1, "window_ms": 2592000000, "burst": 1000000000})");
  EXPECT_EQ(error.rfind("config.burst: too large", 0), 0u) << error;
}

// ---- local limiter ----

TEST(RateLimitLocalLimiter, KeepsOneBucketPerCell) {
  LocalLimiter limiter(gcra_params(2, 1000, 2));
  EXPECT_TRUE(limiter.check("s|a", kNow).allowed);
  EXPECT_TRUE(limiter.check("s|a", kNow).allowed);
  EXPECT_FALSE(limiter.check("s|a", kNow).allowed);
  EXPECT_TRUE(limiter.check("s|b", kNow).allowed);            // another client
  EXPECT_TRUE(limiter.check("t|a", kNow).allowed);            // the same client on another scope
  EXPECT_TRUE(limiter.check("s|a", kNow + 500'000).allowed);  // one interval later
  EXPECT_EQ(limiter.size(), 3u);
}

TEST(RateLimitLocalLimiter, WorkersRacingForOneCellAdmitExactlyTheBurst) {
  LocalLimiter limiter(gcra_params(100, 1000, 100));
  std::atomic<int> admitted{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 8; ++w)
    workers.emplace_back([&] {
      for (int i = 0; i < 50; ++i) admitted += limiter.check("s|hot", kNow).allowed ? 1 : 0;
    });
  for (auto& t : workers) t.join();
  EXPECT_EQ(admitted.load(), 100);  // 400 tries at one instant, a burst of 100
}

TEST(RateLimitLocalLimiter, StaysBoundedWithManyClients) {
  LocalLimiter limiter(gcra_params(10, 60'000, 10));
  const size_t clients = LocalLimiter::kMaxCells + LocalLimiter::kMaxCells / 2;
  for (size_t i = 0; i < clients; ++i) limiter.check("s|" + std::to_string(i), kNow);
  EXPECT_LE(limiter.size(), LocalLimiter::kMaxCells);
  EXPECT_GE(limiter.size(), LocalLimiter::kMaxCells * 9 / 10);  // evicts one at a time, not all

  // Once every bucket has refilled, a new client clears the expired cells of its shard.
  int64_t later = kNow + 60'000'000;
  for (size_t i = 0; i < LocalLimiter::kShards * 64; ++i)
    limiter.check("late|" + std::to_string(i), later);
  EXPECT_LE(limiter.size(), LocalLimiter::kShards * 64);
}

TEST(RateLimitLocalLimiter, RegistryReusesCellsForTheSameNameAndLimits) {
  GcraParams p = gcra_params(1, 1000, 1);
  auto first = shared_local_limiter("tier-reuse", LocalRole::exact, p);
  auto again = shared_local_limiter("tier-reuse", LocalRole::exact, p);
  EXPECT_EQ(first.get(), again.get());
  EXPECT_NE(shared_local_limiter("tier-reuse", LocalRole::fallback, p).get(), first.get());
  EXPECT_NE(shared_local_limiter("other-tier", LocalRole::exact, p).get(), first.get());
  EXPECT_NE(shared_local_limiter("tier-reuse", LocalRole::exact, gcra_params(2, 1000, 2)).get(),
            first.get());

  // Nobody holds it any more: the next instance starts clean.
  first->check("s|k", kNow);
  first.reset();
  again.reset();
  auto fresh = shared_local_limiter("tier-reuse", LocalRole::exact, p);
  EXPECT_EQ(fresh->size(), 0u);
}

}  // namespace
}  // namespace x402::plugins::ratelimit_token_bucket
