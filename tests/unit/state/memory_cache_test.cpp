#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <latch>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "state/cache.hpp"
#include "unit/state/cache_test_support.hpp"

namespace x402 {
namespace {

using namespace std::chrono_literals;

using test::run;

class MemoryCacheTest : public ::testing::Test {
 protected:
  bool claim(const std::string& key, std::chrono::milliseconds ttl = 60s) {
    auto r = run(cache_->claim(key, "owner", ttl));
    EXPECT_TRUE(r) << r.error().message;
    return r && *r;
  }
  std::optional<std::string> get(const std::string& key) {
    auto r = run(cache_->get(key));
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : std::nullopt;
  }

  std::unique_ptr<Cache> cache_ = make_memory_cache();
};

TEST_F(MemoryCacheTest, SecondClaimOfAHeldKeyFails) {
  EXPECT_TRUE(claim("replay:a"));
  EXPECT_FALSE(claim("replay:a"));
  EXPECT_TRUE(claim("replay:b"));
  EXPECT_EQ(get("replay:a"), "owner");
}

TEST_F(MemoryCacheTest, ExpiredClaimCanBeTakenAgain) {
  EXPECT_TRUE(claim("replay:a", 50ms));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(get("replay:a"), std::nullopt);
  EXPECT_TRUE(claim("replay:a", 60s));
  EXPECT_FALSE(claim("replay:a", 60s));
}

TEST_F(MemoryCacheTest, ExpiryAlsoFreesAKeyThatWasNeverRead) {
  EXPECT_TRUE(claim("replay:a", 50ms));
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(claim("replay:a", 60s));
}

TEST_F(MemoryCacheTest, GetSetErase) {
  EXPECT_EQ(get("k"), std::nullopt);
  ASSERT_TRUE(run(cache_->set("k", "v1", 60s)));
  EXPECT_EQ(get("k"), "v1");
  ASSERT_TRUE(run(cache_->set("k", "v2", 60s)));
  EXPECT_EQ(get("k"), "v2");
  ASSERT_TRUE(run(cache_->erase("k")));
  EXPECT_EQ(get("k"), std::nullopt);
  EXPECT_TRUE(run(cache_->erase("never-set")));
}

TEST_F(MemoryCacheTest, SetOverridesAndEraseReleasesAClaim) {
  ASSERT_TRUE(claim("lock"));
  ASSERT_TRUE(run(cache_->erase("lock")));
  EXPECT_TRUE(claim("lock"));
  ASSERT_TRUE(run(cache_->set("lock", "other", 60s)));
  EXPECT_EQ(get("lock"), "other");
  EXPECT_FALSE(claim("lock"));
}

TEST_F(MemoryCacheTest, NonPositiveTtlIsRejected) {
  auto claimed = run(cache_->claim("k", "v", 0ms));
  ASSERT_FALSE(claimed);
  EXPECT_EQ(claimed.error().code, "invalid_ttl");
  auto set = run(cache_->set("k", "v", -5ms));
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().code, "invalid_ttl");
  EXPECT_EQ(get("k"), std::nullopt);
}

// Enough keys to trigger the size-based sweeps: live entries must survive them, expired ones go.
TEST_F(MemoryCacheTest, SweepsKeepLiveEntries) {
  constexpr int kKeys = 40000;
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_TRUE(claim("short:" + std::to_string(i), 50ms));
  }
  std::this_thread::sleep_for(300ms);
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_TRUE(claim("long:" + std::to_string(i), 600s));
  }
  for (int i = 0; i < kKeys; i += 97) {
    EXPECT_EQ(get("long:" + std::to_string(i)), "owner") << i;
    EXPECT_EQ(get("short:" + std::to_string(i)), std::nullopt) << i;
  }
}

// Worker threads each run their own io_context (DESIGN.md §3); a claim must still be exclusive.
TEST_F(MemoryCacheTest, ConcurrentClaimsAcrossIoContextsHaveOneWinner) {
  constexpr int kThreads = 6;
  constexpr int kClaimsPerThread = 25;
  std::atomic<int> winners{0};
  std::atomic<int> errors{0};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      boost::asio::io_context io;
      for (int i = 0; i < kClaimsPerThread; ++i) {
        boost::asio::co_spawn(
            io,
            [&, t, i]() -> boost::asio::awaitable<void> {
              auto r = co_await cache_->claim("replay:shared", std::to_string(t * 100 + i), 60s);
              if (!r) {
                ++errors;
              } else if (*r) {
                ++winners;
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
}

TEST_F(MemoryCacheTest, EvalIsUnsupportedSoCallersUseTheirLocalFallback) {
  auto r = run(cache_->eval("return 1", {"k"}, {}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "cache_scripts_unsupported");
}

TEST_F(MemoryCacheTest, PublishReachesEverySubscriberOfTheChannelOnly) {
  std::vector<std::string> first, second, other;
  cache_->subscribe("changes", [&](const std::string& m) { first.push_back(m); });
  cache_->subscribe("changes", [&](const std::string& m) { second.push_back(m); });
  cache_->subscribe("other", [&](const std::string& m) { other.push_back(m); });

  const std::string notice("policy v7\0\r\n", 12);
  ASSERT_TRUE(run(cache_->publish("changes", notice)));
  ASSERT_TRUE(run(cache_->publish("changes", "second")));
  ASSERT_TRUE(run(cache_->publish("nobody-listens", "x")));

  // Delivery is inline, so it is complete once publish completed; no "*resync*" is ever due.
  EXPECT_EQ(first, (std::vector<std::string>{notice, "second"}));
  EXPECT_EQ(second, first);
  EXPECT_TRUE(other.empty());
}

TEST_F(MemoryCacheTest, AThrowingSubscriberDoesNotStopTheOthers) {
  std::vector<std::string> received;
  cache_->subscribe("changes",
                    [](const std::string&) { throw std::runtime_error("listener bug"); });
  cache_->subscribe("changes", [&](const std::string& m) { received.push_back(m); });
  ASSERT_TRUE(run(cache_->publish("changes", "hello")));
  EXPECT_EQ(received, std::vector<std::string>{"hello"});
}

// A handler may subscribe (or publish) from inside a delivery without deadlocking.
TEST_F(MemoryCacheTest, AHandlerMaySubscribeDuringDelivery) {
  std::vector<std::string> late;
  cache_->subscribe("changes", [&](const std::string&) {
    cache_->subscribe("changes", [&](const std::string& m) { late.push_back(m); });
  });
  ASSERT_TRUE(run(cache_->publish("changes", "one")));
  EXPECT_TRUE(late.empty());  // it joined after this notice was handed out
  ASSERT_TRUE(run(cache_->publish("changes", "two")));
  EXPECT_EQ(late, std::vector<std::string>{"two"});
}

}  // namespace
}  // namespace x402
