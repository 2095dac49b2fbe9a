// The Redis Cache backend against a real redis-server (tests/unit/state/redis_server.hpp): the
// semantics callers rely on, and that one cache instance survives Redis dying, stalling and
// coming back. Time bounds are deliberately generous: they catch a hang, not a slow machine.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <latch>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "state/cache.hpp"
#include "unit/state/cache_test_support.hpp"
#include "unit/state/redis_server.hpp"

namespace x402 {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Long enough that a loaded machine does not trip it; the outage tests use shorter ones.
constexpr auto kRelaxedCommandTimeout = 2000ms;
// How long a test waits for something that should happen much sooner (reconnects, expiry).
// "Promptly": a call against a dead Redis must come back well within this.
constexpr auto kPrompt = 5s;

// A string literal with its embedded NULs kept.
template <size_t N>
std::string bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

using test::eventually;
using test::Mailbox;
using test::run;

class RedisCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = server_.start();
    ASSERT_EQ(why, "") << why;
  }

  RedisOptions options() const {
    RedisOptions o;
    o.port = server_.port();
    o.command_timeout = kRelaxedCommandTimeout;
    o.connect_timeout = kRelaxedCommandTimeout;
    o.reconnect_min = 20ms;
    o.reconnect_max = 200ms;
    return o;
  }

  // A cache whose command connection is up: opening does not wait for Redis, so the first calls
  // of a fresh instance may fail with cache_unavailable.
  std::unique_ptr<Cache> connected_cache(const RedisOptions& o) {
    auto cache = make_redis_cache(o);
    bool up = eventually([&] { return run(cache->get("x402:{test}:probe")).ok(); });
    EXPECT_TRUE(up) << "the cache never connected to redis on port " << o.port;
    return cache;
  }
  std::unique_ptr<Cache> connected_cache() { return connected_cache(options()); }

  test::RedisServer server_;
};

TEST_F(RedisCacheTest, SecondClaimOfAHeldKeyFails) {
  auto cache = connected_cache();
  auto first = run(cache->claim("x402:{r}:replay:a", "node-a", 60s));
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(*first);
  auto second = run(cache->claim("x402:{r}:replay:a", "node-b", 60s));
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_FALSE(*second);
  EXPECT_EQ(*run(cache->get("x402:{r}:replay:a")), "node-a");  // the loser did not overwrite
  EXPECT_TRUE(*run(cache->claim("x402:{r}:replay:b", "node-b", 60s)));

  // The TTL reached Redis in milliseconds (PX).
  const std::string pttl = server_.command({{"PTTL", "x402:{r}:replay:a"}});
  EXPECT_GT(std::stol(pttl), 0) << pttl;
  EXPECT_LE(std::stol(pttl), 60000) << pttl;
}

TEST_F(RedisCacheTest, ExpiredClaimCanBeTakenAgain) {
  auto cache = connected_cache();
  auto first = run(cache->claim("x402:{r}:replay:a", "node-a", 200ms));
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(*first);
  EXPECT_TRUE(eventually([&] {
    auto again = run(cache->claim("x402:{r}:replay:a", "node-b", 60s));
    return again && *again;
  })) << "a claim with a 200 ms TTL was still held after "
      << test::kCachePatience.count() << " ms";
  EXPECT_EQ(*run(cache->get("x402:{r}:replay:a")), "node-b");
}

TEST_F(RedisCacheTest, GetSetErase) {
  auto cache = connected_cache();
  auto missing = run(cache->get("x402:{t}:k"));
  ASSERT_TRUE(missing) << missing.error().message;
  EXPECT_EQ(*missing, std::nullopt);

  ASSERT_TRUE(run(cache->set("x402:{t}:k", "v1", 60s)));
  EXPECT_EQ(*run(cache->get("x402:{t}:k")), "v1");
  ASSERT_TRUE(run(cache->set("x402:{t}:k", "v2", 60s)));
  EXPECT_EQ(*run(cache->get("x402:{t}:k")), "v2");
  EXPECT_FALSE(*run(cache->claim("x402:{t}:k", "v3", 60s)));  // set holds the key like a claim

  ASSERT_TRUE(run(cache->erase("x402:{t}:k")));
  EXPECT_EQ(*run(cache->get("x402:{t}:k")), std::nullopt);
  EXPECT_TRUE(run(cache->erase("x402:{t}:never-set")));
  EXPECT_TRUE(*run(cache->claim("x402:{t}:k", "v3", 60s)));  // erase released it
}

TEST_F(RedisCacheTest, NonPositiveTtlIsRejectedBeforeReachingRedis) {
  auto cache = connected_cache();
  auto claimed = run(cache->claim("x402:{t}:k", "v", 0ms));
  ASSERT_FALSE(claimed);
  EXPECT_EQ(claimed.error().code, "invalid_ttl");
  auto set = run(cache->set("x402:{t}:k", "v", -5ms));
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().code, "invalid_ttl");
  EXPECT_EQ(*run(cache->get("x402:{t}:k")), std::nullopt);
}

TEST_F(RedisCacheTest, KeysAndValuesAreBinarySafe) {
  auto cache = connected_cache();
  const std::string key = bytes("x402:{b}:k\0\r\nSET x y\r\n");
  const std::string value = bytes("\0\r\n$5\r\nhello\r\n\xff\0tail");
  ASSERT_EQ(value[0], '\0');
  ASSERT_TRUE(run(cache->set(key, value, 60s)));
  auto got = run(cache->get(key));
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, value);
  // The \r\n inside the key did not smuggle a second command in.
  EXPECT_EQ(*run(cache->get("x")), std::nullopt);
  EXPECT_EQ(*run(cache->get(std::string("x402:{b}:k"))), std::nullopt);
}

// Worker threads each run their own io_context, against two cache instances ("nodes"): every
// call hops to a cache thread and back, and exactly one claim in the whole cluster wins.
TEST_F(RedisCacheTest, ConcurrentClaimsFromManyThreadsAndNodesHaveOneWinner) {
  auto node_a = connected_cache();
  auto node_b = connected_cache();
  constexpr int kThreads = 6;
  constexpr int kClaimsPerThread = 40;
  std::atomic<int> winners{0};
  std::atomic<int> losers{0};
  std::atomic<int> errors{0};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Cache& cache = t % 2 == 0 ? *node_a : *node_b;
      boost::asio::io_context io;
      for (int i = 0; i < kClaimsPerThread; ++i) {
        boost::asio::co_spawn(
            io,
            [&, t, i]() -> boost::asio::awaitable<void> {
              auto r =
                  co_await cache.claim("x402:{r}:replay:shared", std::to_string(t * 100 + i), 60s);
              if (!r) {
                ++errors;
              } else if (*r) {
                ++winners;
              } else {
                ++losers;
              }
            },
            boost::asio::detached);
      }
      start.arrive_and_wait();
      io.run();
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(winners.load(), 1);
  EXPECT_EQ(losers.load(), kThreads * kClaimsPerThread - 1);
}

TEST_F(RedisCacheTest, EvalFlattensIntegersStringsArraysAndNil) {
  auto cache = connected_cache();

  auto integer = run(cache->eval("return 41 + tonumber(ARGV[1])", {}, {"1"}));
  ASSERT_TRUE(integer) << integer.error().message;
  EXPECT_EQ(integer->value, "42");
  EXPECT_TRUE(integer->elements.empty());

  const std::string binary = bytes("a\0b\r\n");
  auto echoed = run(cache->eval("return ARGV[1]", {}, {binary}));
  ASSERT_TRUE(echoed) << echoed.error().message;
  EXPECT_EQ(echoed->value, binary);

  auto array = run(cache->eval("return {7, 'two', false, ARGV[1]}", {}, {"four"}));
  ASSERT_TRUE(array) << array.error().message;
  EXPECT_EQ(array->value, std::nullopt);
  std::vector<std::optional<std::string>> expected{"7", "two", std::nullopt, "four"};
  EXPECT_EQ(array->elements, expected);

  auto nil = run(cache->eval("return redis.call('GET', KEYS[1])", {"x402:{s}:absent"}, {}));
  ASSERT_TRUE(nil) << nil.error().message;
  EXPECT_EQ(nil->value, std::nullopt);
  EXPECT_TRUE(nil->elements.empty());

  // Keys reach the script as KEYS, and what it writes is visible to get().
  auto wrote =
      run(cache->eval("redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])",
                      {"x402:{s}:a", "x402:{s}:n"}, {"written"}));
  ASSERT_TRUE(wrote) << wrote.error().message;
  EXPECT_EQ(wrote->value, "1");
  EXPECT_EQ(*run(cache->get("x402:{s}:a")), "written");
}

// Redis forgets scripts (restart, SCRIPT FLUSH); the next EVALSHA gets NOSCRIPT and the cache
// must load the script again by itself.
TEST_F(RedisCacheTest, EvalRecoversFromNoscript) {
  auto cache = connected_cache();
  const std::string script = "return redis.call('INCR', KEYS[1])";
  auto first = run(cache->eval(script, {"x402:{s}:counter"}, {}));
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->value, "1");

  ASSERT_EQ(server_.command({{"SCRIPT", "FLUSH"}}), "OK");
  auto after_flush = run(cache->eval(script, {"x402:{s}:counter"}, {}));
  ASSERT_TRUE(after_flush) << after_flush.error().message;
  EXPECT_EQ(after_flush->value, "2");  // it ran exactly once more

  // The scripts ran by SHA (EVALSHA), never by sending their text with EVAL.
  const std::string stats = server_.command({{"INFO", "commandstats"}});
  EXPECT_NE(stats.find("cmdstat_evalsha:calls="), std::string::npos) << stats;
  EXPECT_EQ(stats.find("cmdstat_eval:"), std::string::npos) << stats;
}

TEST_F(RedisCacheTest, ErrorRepliesBecomeCacheErrors) {
  auto cache = connected_cache();

  auto raised = run(cache->eval("return redis.error_reply('quota table corrupt')", {}, {}));
  ASSERT_FALSE(raised);
  EXPECT_EQ(raised.error().code, "cache_error");
  EXPECT_NE(raised.error().message.find("quota table corrupt"), std::string::npos)
      << raised.error().message;

  auto syntax = run(cache->eval("return (", {}, {}));
  ASSERT_FALSE(syntax);
  EXPECT_EQ(syntax.error().code, "cache_error");

  auto nested = run(cache->eval("return {1, {2, 3}}", {}, {}));
  ASSERT_FALSE(nested);
  EXPECT_EQ(nested.error().code, "cache_error");

  ASSERT_EQ(server_.command({{"LPUSH", "x402:{t}:list", "x"}}), "1");
  auto wrong_type = run(cache->get("x402:{t}:list"));
  ASSERT_FALSE(wrong_type);
  EXPECT_EQ(wrong_type.error().code, "cache_error");
  EXPECT_NE(wrong_type.error().message.find("WRONGTYPE"), std::string::npos)
      << wrong_type.error().message;

  // An error reply is an answer, not a broken connection: the next call is served as usual.
  EXPECT_TRUE(run(cache->set("x402:{t}:after", "ok", 60s)));
}

TEST_F(RedisCacheTest, PublishReachesSubscribersOnEveryNode) {
  // Mailboxes first: handlers must outlive the caches that call them (there is no unsubscribe).
  Mailbox on_a, on_b, other_channel, late;
  auto node_a = connected_cache();
  auto node_b = connected_cache();
  node_a->subscribe("x402:{cfg}:changes", on_a.handler());
  node_b->subscribe("x402:{cfg}:changes", on_b.handler());
  node_b->subscribe("x402:{cfg}:other", other_channel.handler());
  // "*resync*" says the subscription is live; nothing published from then on can be missed.
  ASSERT_EQ(on_a.next(), "*resync*");
  ASSERT_EQ(on_b.next(), "*resync*");
  ASSERT_EQ(other_channel.next(), "*resync*");

  const std::string notice = bytes("policy m1 v7\0\r\n");
  auto published = run(node_a->publish("x402:{cfg}:changes", notice));
  ASSERT_TRUE(published) << published.error().message;
  EXPECT_EQ(on_b.next(), notice);  // the other node
  EXPECT_EQ(on_a.next(), notice);  // and the publisher itself
  EXPECT_EQ(other_channel.next(300ms), std::nullopt);

  // A second handler on a live channel joins without a resync and gets the next notice.
  node_b->subscribe("x402:{cfg}:changes", late.handler());
  EXPECT_TRUE(eventually([&] {
    (void)run(node_a->publish("x402:{cfg}:changes", "second"));
    auto m = late.next(200ms);
    return m == "second";
  }));
}

TEST_F(RedisCacheTest, UnreachableRedisFailsFastAndIsPickedUpWhenItStarts) {
  test::RedisServer later;  // a free port with nothing listening yet
  RedisOptions o = options();
  o.port = later.port();
  auto cache = make_redis_cache(o);
  for (int i = 0; i < 3; ++i) {
    const auto started = Clock::now();
    auto r = run(cache->claim("x402:{r}:replay:x", "v", 60s));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "cache_unavailable");
    EXPECT_LT(Clock::now() - started, kPrompt);
  }
  std::string why = later.start();
  ASSERT_EQ(why, "") << why;
  EXPECT_TRUE(eventually([&] {
    auto r = run(cache->claim("x402:{r}:replay:x", "v", 60s));
    return r && *r;
  })) << "the same cache instance never connected once redis was up";
}

// The outage cycle of one node: Redis dies (calls fail promptly, replay protection can fail
// closed), comes back empty on the same port, and the same cache instance serves again; its
// subscribers hear "*resync*" (notices were missed) and then new notices.
TEST_F(RedisCacheTest, KilledRedisFailsFastThenTheSameInstanceRecovers) {
  Mailbox mailbox;  // outlives the cache that delivers to it
  auto cache = connected_cache();
  cache->subscribe("x402:{cfg}:changes", mailbox.handler());
  ASSERT_EQ(mailbox.next(), "*resync*");
  ASSERT_TRUE(*run(cache->claim("x402:{r}:replay:before", "v", 60s)));

  server_.kill();
  for (int i = 0; i < 5; ++i) {
    const auto started = Clock::now();
    auto r = run(cache->claim("x402:{r}:replay:during", "v", 60s));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "cache_unavailable") << r.error().message;
    EXPECT_LT(Clock::now() - started, kPrompt);
    auto p = run(cache->publish("x402:{cfg}:changes", "lost"));
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().code, "cache_unavailable");
  }

  std::string why = server_.start();
  ASSERT_EQ(why, "") << why;
  EXPECT_TRUE(eventually([&] {
    auto r = run(cache->claim("x402:{r}:replay:after", "v", 60s));
    return r && *r;
  })) << "the cache never served again after redis restarted";
  EXPECT_EQ(mailbox.next(), "*resync*");
  auto p = run(cache->publish("x402:{cfg}:changes", "after restart"));
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(mailbox.next(), "after restart");
}

// A stalled Redis (SIGSTOP keeps its sockets open but it answers nothing): the call fails with
// cache_unavailable at its deadline instead of hanging, and service resumes after SIGCONT.
TEST_F(RedisCacheTest, StalledRedisHitsTheCommandTimeoutThenRecovers) {
  RedisOptions o = options();
  o.command_timeout = 300ms;
  o.connect_timeout = 300ms;
  Mailbox mailbox;
  auto cache = connected_cache(o);
  cache->subscribe("x402:{cfg}:changes", mailbox.handler());
  ASSERT_EQ(mailbox.next(), "*resync*");

  server_.pause();
  for (int i = 0; i < 3; ++i) {
    const auto started = Clock::now();
    auto r = run(cache->get("x402:{t}:k"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "cache_unavailable") << r.error().message;
    EXPECT_LT(Clock::now() - started, kPrompt);
  }

  // The subscriber connection sends nothing by itself; its watchdog (a PING every
  // command_timeout, replaced after two of silence) must notice the stall too. Stay paused for
  // many times that so the watchdog surely ran.
  std::this_thread::sleep_for(3s);

  server_.resume();
  EXPECT_TRUE(eventually([&] { return run(cache->set("x402:{t}:k", "back", 60s)).ok(); }))
      << "the cache never recovered after redis resumed";
  EXPECT_EQ(*run(cache->get("x402:{t}:k")), "back");
  EXPECT_EQ(mailbox.next(), "*resync*") << "the stalled subscriber was not replaced";
  ASSERT_TRUE(run(cache->publish("x402:{cfg}:changes", "after stall")));
  EXPECT_EQ(mailbox.next(), "after stall");
}

TEST(RedisCacheAuthTest, AuthenticatesAndSelectsTheConfiguredDatabase) {
  test::RedisServer server({"--requirepass", "s3cret"});
  std::string why = server.start();
  ASSERT_EQ(why, "") << why;

  RedisOptions o;
  o.port = server.port();
  o.password = "s3cret";
  o.database = 3;
  o.command_timeout = kRelaxedCommandTimeout;
  auto cache = make_redis_cache(o);
  ASSERT_TRUE(eventually([&] { return run(cache->set("x402:{t}:k", "in db 3", 60s)).ok(); }));
  EXPECT_EQ(server.command({{"AUTH", "s3cret"}, {"SELECT", "3"}, {"GET", "x402:{t}:k"}}),
            "in db 3");
  EXPECT_EQ(server.command({{"AUTH", "s3cret"}, {"GET", "x402:{t}:k"}}), "(nil)");

  o.password = "wrong";
  auto refused = make_redis_cache(o);
  // The first attempts may fail before the handshake was even tried; the AUTH refusal shows up
  // in the message once it was.
  EXPECT_TRUE(eventually(
      [&] {
        auto r = run(refused->get("x402:{t}:k"));
        return !r && r.error().code == "cache_unavailable" &&
               r.error().message.find("AUTH") != std::string::npos;
      },
      10s));
}

}  // namespace
}  // namespace x402
