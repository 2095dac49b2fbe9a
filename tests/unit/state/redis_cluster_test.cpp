// The Redis cache against a real 3-master Redis 7 cluster
// (tests/unit/state/redis_cluster_server.hpp): the key-slot rule, routing to every master,
// following MOVED and ASK while slots move, pub/sub across nodes, and that losing one master fails
// its slots closed while the others keep serving. Time bounds are generous: they catch a hang, not
// a slow machine.
#include "state/redis_cluster.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "state/cache.hpp"
#include "unit/state/cache_test_support.hpp"
#include "unit/state/redis_cluster_server.hpp"

namespace x402 {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::RedisClusterServer;

constexpr auto kRelaxedCommandTimeout = 2000ms;

using test::eventually;
using test::Mailbox;
using test::run;

// The published key-slot examples (Redis Cluster specification) and keys like ours, each checked
// against the server's own CLUSTER KEYSLOT below.
const std::vector<std::string> kSlotExamples{
    "123456789",  // the CRC16-XMODEM check value 0x31C3: slot 12739
    "foo",
    "bar",
    "{user1000}.following",
    "{user1000}.followers",
    "foo{}{bar}",     // an empty tag does not count: the whole key is hashed
    "foo{{bar}}zap",  // the tag is "{bar"
    "foo{bar}{zap}",  // only the first tag counts
    "{",
    "}{",
    "x402:{tier:acme}:minute",
    "x402:{tier:acme}:day",
    "x402:{notices}:policy",
    "x402:idem:merchant-1:key-9",
    "x402:startup-probe",
    std::string("x402:{b\0in}:\xff\r\n", 15),
    ""};

TEST(RedisClusterKeySlot, KnownValues) {
  EXPECT_EQ(redis::key_slot("123456789"), 0x31C3);
  EXPECT_EQ(redis::key_slot("{user1000}.following"), redis::key_slot("{user1000}.followers"));
  EXPECT_EQ(redis::key_slot("x402:{tier:acme}:minute"), redis::key_slot("tier:acme"));
  EXPECT_EQ(redis::key_slot("foo{}{bar}"), redis::key_slot(std::string("foo{}{bar}")));
  EXPECT_NE(redis::key_slot("foo{}{bar}"), redis::key_slot("bar"));
  EXPECT_EQ(redis::key_slot("foo{{bar}}zap"), redis::key_slot("{bar"));
  EXPECT_EQ(redis::key_slot("foo{bar}{zap}"), redis::key_slot("bar"));

  auto same = redis::common_slot({"x402:{tier:acme}:minute", "x402:{tier:acme}:day"});
  ASSERT_TRUE(same) << same.error().message;
  EXPECT_EQ(*same, redis::key_slot("tier:acme"));
  auto none = redis::common_slot({});
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, std::nullopt);
  auto crossed = redis::common_slot({"x402:{a}:1", "x402:{b}:1"});
  ASSERT_FALSE(crossed);
  EXPECT_EQ(crossed.error().code, "cache_cross_slot");
}

class RedisClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = cluster_.start();
    ASSERT_EQ(why, "") << why;
  }

  RedisOptions options() {
    RedisOptions o;
    o.port = cluster_.node(0).port();  // a seed: the other masters are discovered
    o.cluster = true;
    o.command_timeout = kRelaxedCommandTimeout;
    o.connect_timeout = kRelaxedCommandTimeout;
    o.reconnect_min = 20ms;
    o.reconnect_max = 200ms;
    return o;
  }

  // A cache that has a slot map and a connection to every master.
  std::unique_ptr<Cache> connected_cache() {
    auto cache = make_redis_cache(options());
    bool up = eventually([&] {
      for (size_t m = 0; m < RedisClusterServer::kMasters; ++m) {
        if (!run(cache->get(key_on(m, "probe"))).ok()) return false;
      }
      return true;
    });
    EXPECT_TRUE(up) << "the cache never reached all three masters";
    return cache;
  }

  // A key "x402:{<tag>}:<suffix>" whose slot master `m` owns right now.
  std::string key_on(size_t m, const std::string& suffix) {
    for (int n = 0; n < 10000; ++n) {
      const std::string tag = "t" + std::to_string(n);
      if (cluster_.owner(redis::key_slot(tag)) == static_cast<int>(m)) {
        return "x402:{" + tag + "}:" + suffix;
      }
    }
    ADD_FAILURE() << "no key found for master " << m;
    return "";
  }

  RedisClusterServer cluster_;
};

TEST_F(RedisClusterTest, KeySlotsMatchTheServer) {
  std::vector<std::string> keys = kSlotExamples;
  for (int i = 0; i < 200; ++i) keys.push_back("x402:{payer:" + std::to_string(i * 7919) + "}:n");
  for (const auto& key : keys) {
    const std::string server = cluster_.node(0).command({{"CLUSTER", "KEYSLOT", key}});
    EXPECT_EQ(std::to_string(redis::key_slot(key)), server) << "key '" << key << "'";
  }
}

TEST_F(RedisClusterTest, CommandsReachTheMasterOwningEachKey) {
  auto cache = connected_cache();
  const std::string script = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
  for (size_t m = 0; m < RedisClusterServer::kMasters; ++m) {
    SCOPED_TRACE("master " + std::to_string(m));
    const std::string claim_key = key_on(m, "replay");
    auto first = run(cache->claim(claim_key, "node-a", 60s));
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_TRUE(*first);
    auto second = run(cache->claim(claim_key, "node-b", 60s));
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_FALSE(*second);
    // The key lives on the master that owns its slot, with its TTL.
    EXPECT_EQ(cluster_.node(m).command({{"GET", claim_key}}), "node-a");
    const std::string pttl = cluster_.node(m).command({{"PTTL", claim_key}});
    EXPECT_GT(std::stol(pttl), 0) << pttl;

    const std::string k = key_on(m, "k");
    ASSERT_TRUE(run(cache->set(k, "v1", 60s)));
    EXPECT_EQ(*run(cache->get(k)), "v1");
    ASSERT_TRUE(run(cache->erase(k)));
    EXPECT_EQ(*run(cache->get(k)), std::nullopt);
    EXPECT_EQ(cluster_.node(m).command({{"EXISTS", k}}), "0");

    // Two keys with one hash tag: one script on one master. Each master loads the script the
    // first time it is asked to run it.
    const std::string counter = key_on(m, "counter");
    const std::string tag = counter.substr(0, counter.find('}') + 1);
    auto wrote = run(cache->eval(
        "redis.call('SET', KEYS[2], ARGV[1]); return redis.call('INCRBY', KEYS[1], ARGV[1])",
        {counter, tag + ":copy"}, {"5"}));
    ASSERT_TRUE(wrote) << wrote.error().message;
    EXPECT_EQ(wrote->value, "5");
    EXPECT_EQ(cluster_.node(m).command({{"GET", tag + ":copy"}}), "5");
    auto counted = run(cache->eval(script, {counter}, {"2"}));
    ASSERT_TRUE(counted) << counted.error().message;
    EXPECT_EQ(counted->value, "7");
    const std::string stats = cluster_.node(m).command({{"INFO", "commandstats"}});
    EXPECT_NE(stats.find("cmdstat_evalsha:calls="), std::string::npos) << stats;
    EXPECT_EQ(stats.find("cmdstat_eval:"), std::string::npos) << stats;
  }
  // Keyless commands go to any master.
  auto keyless = run(cache->eval("return 41 + tonumber(ARGV[1])", {}, {"1"}));
  ASSERT_TRUE(keyless) << keyless.error().message;
  EXPECT_EQ(keyless->value, "42");

  // Keys of one script on different masters are refused before anything is sent.
  auto crossed = run(cache->eval(script, {key_on(0, "a"), key_on(1, "a")}, {"1"}));
  ASSERT_FALSE(crossed);
  EXPECT_EQ(crossed.error().code, "cache_cross_slot");
  EXPECT_EQ(cluster_.node(0).command({{"EXISTS", key_on(0, "a")}}), "0");
}

TEST_F(RedisClusterTest, ScriptsFlushedOnOneMasterAreLoadedAgainThere) {
  auto cache = connected_cache();
  const std::string script = "return redis.call('INCR', KEYS[1])";
  const std::string key = key_on(1, "counter");
  ASSERT_EQ(run(cache->eval(script, {key}, {}))->value, "1");
  ASSERT_EQ(cluster_.node(1).command({{"SCRIPT", "FLUSH"}}), "OK");
  auto after = run(cache->eval(script, {key}, {}));
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(after->value, "2");  // it ran exactly once more
}

// An operator reshards: the slot and its keys move to another master for good. The cache follows
// the MOVED reply, and then knows the new owner without being redirected again.
TEST_F(RedisClusterTest, FollowsMovedWhenASlotChangesMaster) {
  auto cache = connected_cache();
  const std::string key = key_on(0, "moving");
  const uint16_t slot = redis::key_slot(key);
  ASSERT_TRUE(run(cache->set(key, "before", 60s)));
  ASSERT_TRUE(*run(cache->claim(key_on(1, "stays"), "v", 60s)));

  std::string why = cluster_.move_slot(slot, 2);
  ASSERT_EQ(why, "") << why;
  ASSERT_EQ(cluster_.owner(slot), 2);
  ASSERT_EQ(cluster_.node(2).command({{"GET", key}}), "before");  // the key moved with it

  auto got = run(cache->get(key));
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, "before");
  ASSERT_TRUE(run(cache->set(key, "after", 60s)));
  EXPECT_EQ(cluster_.node(2).command({{"GET", key}}), "after");
  EXPECT_EQ(cluster_.node(0).command({{"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)}}), "0");

  // The slot map was refreshed: later commands go straight to the new owner.
  EXPECT_TRUE(eventually([&] {
    (void)cluster_.node(0).command({{"CONFIG", "RESETSTAT"}});
    for (int i = 0; i < 5; ++i) {
      if (!run(cache->get(key))) return false;
    }
    return cluster_.node(0).command({{"INFO", "commandstats"}}).find("cmdstat_get") ==
           std::string::npos;
  })) << "the cache kept asking the old owner";
  // The other masters' keys were never disturbed.
  EXPECT_FALSE(*run(cache->claim(key_on(1, "stays"), "v", 60s)));
}

// A slot halfway through a migration: keys already moved are served by the importing master
// behind ASKING, keys not yet moved by the old one, and the map does not change.
TEST_F(RedisClusterTest, FollowsAskDuringAMigration) {
  auto cache = connected_cache();
  const std::string moved = key_on(0, "moved");
  const std::string tag = moved.substr(0, moved.find('}') + 1);
  const std::string stayed = tag + ":stayed";
  const std::string fresh = tag + ":fresh";
  const uint16_t slot = redis::key_slot(moved);
  ASSERT_TRUE(run(cache->set(moved, "m", 60s)));
  ASSERT_TRUE(run(cache->set(stayed, "s", 60s)));

  std::string why = cluster_.begin_migration(slot, 1);
  ASSERT_EQ(why, "") << why;
  why = cluster_.migrate_key(moved, 0, 1);
  ASSERT_EQ(why, "") << why;
  ASSERT_EQ(cluster_.node(1).command({{"ASKING"}, {"GET", moved}}), "m");

  auto got = run(cache->get(moved));
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, "m");
  EXPECT_EQ(*run(cache->get(stayed)), "s");
  // A key that exists nowhere yet is created on the importing master.
  auto claimed = run(cache->claim(fresh, "new", 60s));
  ASSERT_TRUE(claimed) << claimed.error().message;
  EXPECT_TRUE(*claimed);
  EXPECT_EQ(cluster_.node(1).command({{"ASKING"}, {"GET", fresh}}), "new");
  // A script over a migrated key runs on the importing master, which loads it first.
  auto counted = run(cache->eval("return redis.call('APPEND', KEYS[1], ARGV[1])", {moved}, {"+"}));
  ASSERT_TRUE(counted) << counted.error().message;
  EXPECT_EQ(counted->value, "2");
  EXPECT_EQ(cluster_.owner(slot), 0);  // still the old owner's slot

  why = cluster_.migrate_key(stayed, 0, 1);
  ASSERT_EQ(why, "") << why;
  EXPECT_EQ(*run(cache->get(stayed)), "s");  // now behind ASK too
  why = cluster_.finish_migration(slot, 1);
  ASSERT_EQ(why, "") << why;
  EXPECT_EQ(*run(cache->get(moved)), "m+");
}

TEST_F(RedisClusterTest, PublishReachesSubscribersWhicheverNodeCarriesIt) {
  Mailbox on_a, on_b;
  auto node_a = connected_cache();
  auto node_b = connected_cache();
  node_a->subscribe("x402:{notices}:policy", on_a.handler());
  node_b->subscribe("x402:{notices}:policy", on_b.handler());
  ASSERT_EQ(on_a.next(), "*resync*");
  ASSERT_EQ(on_b.next(), "*resync*");

  ASSERT_TRUE(run(node_a->publish("x402:{notices}:policy", "from a")));
  EXPECT_EQ(on_a.next(), "from a");
  EXPECT_EQ(on_b.next(), "from a");
  // Whichever master a notice is published on, every subscriber hears it.
  for (size_t m = 0; m < RedisClusterServer::kMasters; ++m) {
    const std::string notice = "via master " + std::to_string(m);
    ASSERT_NE(cluster_.node(m).command({{"PUBLISH", "x402:{notices}:policy", notice}}),
              "(no connection)");
    EXPECT_EQ(on_a.next(), notice);
    EXPECT_EQ(on_b.next(), notice);
  }
}

// The master carrying the subscription dies: the subscriber moves to another master, says
// "*resync*" (notices may have been missed) and hears new notices again.
TEST_F(RedisClusterTest, SubscriberMovesToAnotherMasterWhenItsMasterDies) {
  Mailbox mailbox;
  auto cache = connected_cache();
  cache->subscribe("x402:{notices}:policy", mailbox.handler());
  ASSERT_EQ(mailbox.next(), "*resync*");
  int carrier = -1;
  ASSERT_TRUE(eventually([&] {
    for (size_t m = 0; m < RedisClusterServer::kMasters; ++m) {
      // PUBSUB NUMSUB counts the subscribers of this node only.
      if (cluster_.node(m).command({{"PUBSUB", "NUMSUB", "x402:{notices}:policy"}}) ==
          "x402:{notices}:policy,1") {
        carrier = static_cast<int>(m);
      }
    }
    return carrier >= 0;
  }));

  cluster_.node(carrier).kill();
  EXPECT_EQ(mailbox.next(), "*resync*");
  const size_t other = (carrier + 1) % RedisClusterServer::kMasters;
  EXPECT_TRUE(eventually([&] {
    (void)cluster_.node(other).command({{"PUBLISH", "x402:{notices}:policy", "still here"}});
    return mailbox.next(200ms) == "still here";
  })) << "the subscriber never came back on another master";
}

// One master dies: its slots fail closed (cache_unavailable, never a success), the other
// masters' slots keep working, and once it is back the same cache instance serves it again.
TEST_F(RedisClusterTest, AKilledMasterFailsItsSlotsClosedAndRecovers) {
  auto cache = connected_cache();
  ASSERT_TRUE(*run(cache->claim(key_on(1, "before"), "v", 60s)));

  cluster_.node(1).kill();
  for (int i = 0; i < 5; ++i) {
    const std::string suffix = std::to_string(i);
    auto dead = run(cache->claim(key_on(1, "during" + suffix), "v", 60s));
    ASSERT_FALSE(dead) << "a claim on a dead master succeeded";
    EXPECT_EQ(dead.error().code, "cache_unavailable") << dead.error().message;
    auto dead_get = run(cache->get(key_on(1, "before")));
    ASSERT_FALSE(dead_get);
    EXPECT_EQ(dead_get.error().code, "cache_unavailable");

    for (size_t m : {size_t{0}, size_t{2}}) {
      auto alive = run(cache->claim(key_on(m, "during" + suffix), "v", 60s));
      ASSERT_TRUE(alive) << "master " << m << ": " << alive.error().message;
      EXPECT_TRUE(*alive);
    }
  }

  std::string why = cluster_.node(1).start();
  ASSERT_EQ(why, "") << why;
  why = cluster_.wait_ok(1);
  ASSERT_EQ(why, "") << why;
  EXPECT_TRUE(eventually([&] {
    auto r = run(cache->claim(key_on(1, "after"), "v", 60s));
    return r && *r;
  })) << "the cache never served the restarted master's slots again";
  EXPECT_EQ(cluster_.node(1).command({{"GET", key_on(1, "after")}}), "v");
}

TEST(RedisClusterUnreachable, FailsFastWhenNoSeedAnswers) {
  test::RedisServer nothing;  // a free port with nothing listening
  RedisOptions o;
  o.port = nothing.port();
  o.cluster = true;
  o.command_timeout = kRelaxedCommandTimeout;
  o.connect_timeout = kRelaxedCommandTimeout;
  auto cache = make_redis_cache(o);
  EXPECT_TRUE(eventually([&] {
    auto r = run(cache->claim("x402:{r}:replay:x", "v", 60s));
    return !r && r.error().code == "cache_unavailable" &&
           r.error().message.find("cannot connect") != std::string::npos;
  })) << "no clear cache_unavailable against an unreachable seed";
}

// A standalone Redis configured as a cluster: a clear error, never a success.
TEST(RedisClusterMisconfigured, StandaloneRedisIsRefusedAsACluster) {
  test::RedisServer standalone;
  std::string why = standalone.start();
  ASSERT_EQ(why, "") << why;
  RedisOptions o;
  o.port = standalone.port();
  o.cluster = true;
  o.command_timeout = kRelaxedCommandTimeout;
  auto cache = make_redis_cache(o);
  EXPECT_TRUE(eventually(
      [&] {
        auto r = run(cache->set("x402:{t}:k", "v", 60s));
        return !r && r.error().code == "cache_unavailable" &&
               r.error().message.find("cluster support disabled") != std::string::npos;
      },
      10s))
      << "no clear error naming the missing cluster support";
  EXPECT_EQ(standalone.command({{"EXISTS", "x402:{t}:k"}}), "0");
}

}  // namespace
}  // namespace x402
