// The rate-limit stage through a real x402d with the shipped ratelimit-token-bucket tier: 429 with
// Retry-After once a client's burst is spent, the RateLimit fields on every answer of a limited
// route (402s included), clients told apart by address or by a header, cells kept across a config
// reload; and with a real Redis: one quota across two gateway nodes, a local limiter (and a metric
// saying so) while Redis is dead, the shared quota again once it is back, without a restart.
#include <gtest/gtest.h>

#include <thread>

#include "support/fake_facilitator.hpp"
#include "support/gateway_harness.hpp"
#include "unit/state/redis_server.hpp"

namespace x402::testing {
namespace {

// The routes and tiers under test, added to the harness' standard config. A window of an hour
// makes refill during a test negligible (one request back every 20 minutes for "three").
std::string limited_yaml(const ConfigOptions& options, const std::string& cache_yaml = "") {
  std::string y = gateway_yaml(options);
  y += "      - path: /limited/**\n        free: true\n        rate_limit: three\n";
  y += "      - path: /keyed/**\n        free: true\n        rate_limit: by-key\n";
  y += "      - path: /paid-limited\n        price: \"0.01\"\n        rate_limit: three\n";
  y += "      - path: /behind-lb/**\n        free: true\n        rate_limit: behind-lb\n";
  y += "rate_limits:\n";
  y += "  - name: three\n    config: { requests: 3, window_ms: 3600000 }\n";
  y += "  - name: by-key\n    key: \"header:X-Api-Key\"\n"
       "    config: { requests: 2, window_ms: 3600000 }\n";
  y += "  - name: behind-lb\n    key: forwarded_for\n"
       "    config: { requests: 1, window_ms: 3600000 }\n";
  y += cache_yaml;
  return y;
}

std::string field(const http::Response& response, std::string_view name) {
  return std::string(response[name]);
}

// The value of one series in the gateway's /metrics, or -1 when it is not there.
long long scraped(uint16_t port, const std::string& series) {
  const auto res = get(port, "/metrics");
  const std::string& body = res.body();
  const std::string prefix = series + " ";
  for (size_t at = 0; at < body.size();) {
    const size_t end = std::min(body.find('\n', at), body.size());
    const std::string_view line(body.data() + at, end - at);
    if (line.starts_with(prefix)) return std::stoll(std::string(line.substr(prefix.size())));
    at = end + 1;
  }
  return -1;
}

class RateLimitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options.facilitators = {{"primary", facilitator.url()}};
    options.upstream_port = upstream.port();
    gateway = std::make_unique<GatewayHarness>(limited_yaml(options));
  }

  FakeFacilitator facilitator;
  FakeUpstream upstream;
  ConfigOptions options;
  std::unique_ptr<GatewayHarness> gateway;
};

TEST_F(RateLimitTest, AClientSpendsItsBurstThenGets429WithRetryAfter) {
  for (int remaining : {2, 1, 0}) {
    auto res = gateway->get("/acme/limited/data");
    ASSERT_EQ(res.result_int(), 200u) << res.body();
    EXPECT_EQ(field(res, "RateLimit-Policy"), "\"three\";q=3");
    EXPECT_TRUE(
        field(res, "RateLimit").starts_with("\"three\";r=" + std::to_string(remaining) + ";t="))
        << field(res, "RateLimit");
  }
  auto refused = gateway->get("/acme/limited/data");
  ASSERT_EQ(refused.result_int(), 429u) << refused.body();
  auto body = parse_object(refused.body());
  EXPECT_EQ(body.at("code").as_string(), "rate_limited");
  EXPECT_EQ(body.at("tier").as_string(), "three");
  // The next request is admitted once one interval (3600 s / 3) has passed since the burst.
  const long retry_after = std::stol(field(refused, "Retry-After"));
  EXPECT_GT(retry_after, 1100);
  EXPECT_LE(retry_after, 1200);
  EXPECT_TRUE(field(refused, "RateLimit").starts_with("\"three\";r=0;t="))
      << field(refused, "RateLimit");
  EXPECT_EQ(upstream.hits(), 3) << "a refused request never reaches the merchant";

  auto& metrics = gateway->gateway().metrics();
  EXPECT_EQ(metrics.counter("x402_ratelimit_decisions_total", "tier=three,result=allowed"), 3u);
  EXPECT_EQ(metrics.counter("x402_ratelimit_decisions_total", "tier=three,result=limited"), 1u);
  EXPECT_EQ(metrics.counter("x402_ratelimit_degraded_decisions_total", "tier=three"), 0u)
      << "the in-memory cache of one node is the whole truth: nothing is degraded";
  EXPECT_EQ(scraped(gateway->port(), "x402_ratelimit_degraded{tier=\"three\"}"), 0);
}

TEST_F(RateLimitTest, RoutesWithoutATierCarryNoRateLimitFields) {
  for (int i = 0; i < 5; ++i) {
    auto res = gateway->get("/acme/public/data");
    ASSERT_EQ(res.result_int(), 200u);
    EXPECT_EQ(field(res, "RateLimit"), "");
  }
}

TEST_F(RateLimitTest, TheQuotaCoversEveryRouteOfTheTierAtOneMerchantAnd402sCount) {
  auto offer = gateway->get("/acme/paid-limited");
  ASSERT_EQ(offer.result_int(), 402u) << offer.body();
  EXPECT_TRUE(field(offer, "RateLimit").starts_with("\"three\";r=2;")) << field(offer, "RateLimit");
  EXPECT_NE(field(offer, "Access-Control-Expose-Headers").find("RateLimit"), std::string::npos);
  EXPECT_EQ(gateway->get("/acme/limited/a").result_int(), 200u);
  EXPECT_EQ(gateway->get("/acme/limited/b").result_int(), 200u);
  EXPECT_EQ(gateway->get("/acme/paid-limited").result_int(), 429u);
}

TEST_F(RateLimitTest, AHeaderKeyTellsClientsApartAndItsAbsenceFallsBackToTheAddress) {
  const Headers alice{{"X-Api-Key", "alice"}};
  const Headers bob{{"X-Api-Key", "bob"}};
  EXPECT_EQ(gateway->get("/acme/keyed/x", alice).result_int(), 200u);
  EXPECT_EQ(gateway->get("/acme/keyed/x", alice).result_int(), 200u);
  EXPECT_EQ(gateway->get("/acme/keyed/x", alice).result_int(), 429u);
  EXPECT_EQ(gateway->get("/acme/keyed/x", bob).result_int(), 200u);
  // Without the header the client is its address, a quota of its own.
  EXPECT_EQ(gateway->get("/acme/keyed/x").result_int(), 200u);
  EXPECT_EQ(gateway->get("/acme/keyed/x").result_int(), 200u);
  EXPECT_EQ(gateway->get("/acme/keyed/x").result_int(), 429u);
  // A key of any length is fine; long ones are cut and hashed, so they stay apart.
  const std::string long_key(4000, 'k');
  EXPECT_EQ(gateway->get("/acme/keyed/x", {{"X-Api-Key", long_key}}).result_int(), 200u);
  EXPECT_EQ(gateway->get("/acme/keyed/x", {{"X-Api-Key", long_key + "2"}}).result_int(), 200u);
}

TEST_F(RateLimitTest, BehindALoadBalancerTheClientIsTheAddressItAppended) {
  // The balancer appends the address it saw; whatever a client wrote before that is ignored.
  EXPECT_EQ(
      gateway->get("/acme/behind-lb/x", {{"X-Forwarded-For", "6.6.6.6, 203.0.113.7"}}).result_int(),
      200u);
  EXPECT_EQ(
      gateway->get("/acme/behind-lb/x", {{"X-Forwarded-For", "1.2.3.4,203.0.113.7"}}).result_int(),
      429u);
  EXPECT_EQ(gateway->get("/acme/behind-lb/x", {{"X-Forwarded-For", "203.0.113.8"}}).result_int(),
            200u);
  // Without the header (a request that did not come through the balancer): the connection.
  EXPECT_EQ(gateway->get("/acme/behind-lb/x").result_int(), 200u);
  EXPECT_EQ(gateway->get("/acme/behind-lb/x").result_int(), 429u);
}

TEST_F(RateLimitTest, AConfigReloadKeepsWhatClientsHaveSpent) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(gateway->get("/acme/limited/x").result_int(), 200u);
  const auto generation = gateway->gateway().snapshot()->generation;
  std::string edited = limited_yaml(options);
  edited.replace(edited.find("Trading signal"), 14, "Trading signals");
  gateway->write_config(edited);
  for (int i = 0; i < 100 && gateway->gateway().snapshot()->generation == generation; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_GT(gateway->gateway().snapshot()->generation, generation) << "the edit was not applied";
  EXPECT_EQ(gateway->get("/acme/limited/x").result_int(), 429u);
}

// A tier that counts requests in flight (the sdk-probe fixture's "one-at-a-time" key) gets its slot
// back once the answer is done, and never for a request it refused.
TEST(RateLimitReleaseTest, AnAdmittedRequestGivesItsSlotBackWhenAnsweredARefusedOneNever) {
  FakeFacilitator facilitator;
  DelayedUpstream upstream;
  ConfigOptions options;
  options.facilitators = {{"primary", facilitator.url()}};
  options.upstream_port = upstream.port();
  std::string y = gateway_yaml(options);
  const size_t plugins_line = y.find("plugins:");
  y.replace(plugins_line, y.find('\n', plugins_line) - plugins_line,
            std::string("plugins: { directories: [ \"") + X402_PLUGIN_DIR + "\" ], load: [ \"" +
                X402_BINARY_DIR + "/test-plugins/sdk-probe.so\" ] }");
  y += "      - path: /held/**\n        free: true\n        rate_limit: probe\n";
  y += "rate_limits:\n  - name: probe\n    plugin: sdk-probe\n    key: \"header:X-Probe\"\n";
  GatewayHarness gateway(y);
  const Headers probe{{"X-Probe", "one-at-a-time"}};

  std::optional<http::Response> first;
  std::thread held([&] { first = gateway.get("/acme/held/x", probe); });
  ASSERT_TRUE(upstream.wait_for_arrivals(1, std::chrono::seconds(10)));
  EXPECT_EQ(gateway.get("/acme/held/x", probe).result_int(), 429u) << "one request in flight";
  upstream.release();
  held.join();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->result_int(), 200u);
  EXPECT_EQ(gateway.get("/acme/held/x", probe).result_int(), 200u)
      << "the first request's slot came back, and the refused one gave back nothing";
}

// Two gateway nodes on one real Redis.
class RateLimitRedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string started = redis.start();
    ASSERT_EQ(started, "") << started;
    options.facilitators = {{"primary", facilitator.url()}};
    options.upstream_port = upstream.port();
    const std::string cache =
        "cache: { backend: redis, url: \"redis://127.0.0.1:" + std::to_string(redis.port()) +
        "\" }\n";
    node_a = std::make_unique<GatewayHarness>(limited_yaml(options, cache));
    node_b = std::make_unique<GatewayHarness>(limited_yaml(options, cache));
  }

  // Sends requests with fresh keys until `done` holds, for up to 15 s.
  template <class Done>
  bool eventually(Done done) {
    for (int i = 0; i < 150; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  test::RedisServer redis;
  FakeFacilitator facilitator;
  FakeUpstream upstream;
  ConfigOptions options;
  std::unique_ptr<GatewayHarness> node_a, node_b;
};

TEST_F(RateLimitRedisTest, OneQuotaAcrossNodes) {
  EXPECT_EQ(node_a->get("/acme/limited/x").result_int(), 200u);
  EXPECT_EQ(node_b->get("/acme/limited/x").result_int(), 200u);
  auto third = node_a->get("/acme/limited/x");
  EXPECT_EQ(third.result_int(), 200u);
  EXPECT_TRUE(field(third, "RateLimit").starts_with("\"three\";r=0;")) << field(third, "RateLimit");
  EXPECT_EQ(node_b->get("/acme/limited/x").result_int(), 429u);
  EXPECT_EQ(node_a->get("/acme/limited/x").result_int(), 429u);
  // The client's cell is one Redis key in the tier's namespace: its theoretical arrival time in
  // microseconds (Redis' clock), expiring once the burst has refilled.
  const std::string cell = "x402:plugin:ratelimit:three:acme|ip:127.0.0.1";
  const std::string tat = redis.command({{"GET", cell}});
  EXPECT_FALSE(tat.empty());
  EXPECT_EQ(tat.find_first_not_of("0123456789"), std::string::npos) << tat;
  const long long ttl_ms = std::stoll(redis.command({{"PTTL", cell}}));
  EXPECT_GT(ttl_ms, 3000000);
  EXPECT_LE(ttl_ms, 3600000);
  EXPECT_EQ(
      node_a->gateway().metrics().counter("x402_ratelimit_degraded_decisions_total", "tier=three"),
      0u);
}

TEST_F(RateLimitRedisTest, ALocalLimiterDecidesWhileRedisIsDeadAndAMetricSaysSo) {
  const Headers carol{{"X-Api-Key", "carol"}};
  EXPECT_EQ(node_a->get("/acme/keyed/x", carol).result_int(), 200u);
  EXPECT_EQ(scraped(node_a->port(), "x402_ratelimit_degraded{tier=\"by-key\"}"), 0);

  redis.kill();
  // Still limited, now by the node's own memory: a fresh client gets its burst of 2, then 429.
  const Headers dave{{"X-Api-Key", "dave"}};
  auto first = node_a->get("/acme/keyed/x", dave);
  EXPECT_EQ(first.result_int(), 200u) << first.body();
  EXPECT_EQ(node_a->get("/acme/keyed/x", dave).result_int(), 200u);
  auto refused = node_a->get("/acme/keyed/x", dave);
  EXPECT_EQ(refused.result_int(), 429u) << refused.body();
  EXPECT_EQ(scraped(node_a->port(), "x402_ratelimit_degraded{tier=\"by-key\"}"), 1);
  EXPECT_GE(
      node_a->gateway().metrics().counter("x402_ratelimit_degraded_decisions_total", "tier=by-key"),
      3u);

  ASSERT_EQ(redis.start(), "");
  // Back without a restart: decisions come from Redis again and the gauge drops to 0.
  int client = 0;
  ASSERT_TRUE(eventually([&] {
    bool shared = true;
    for (auto* node : {node_a.get(), node_b.get()}) {
      node->get("/acme/keyed/x", {{"X-Api-Key", "probe-" + std::to_string(client++)}});
      shared = shared && scraped(node->port(), "x402_ratelimit_degraded{tier=\"by-key\"}") == 0;
    }
    return shared;
  })) << "the tier never went back to its shared state";
  const auto degraded_before =
      node_a->gateway().metrics().counter("x402_ratelimit_degraded_decisions_total", "tier=by-key");
  const Headers erin{{"X-Api-Key", "erin"}};
  EXPECT_EQ(node_a->get("/acme/keyed/x", erin).result_int(), 200u);
  EXPECT_EQ(node_b->get("/acme/keyed/x", erin).result_int(), 200u);
  EXPECT_EQ(node_a->get("/acme/keyed/x", erin).result_int(), 429u)
      << "the two nodes share one quota again";
  EXPECT_EQ(
      node_a->gateway().metrics().counter("x402_ratelimit_degraded_decisions_total", "tier=by-key"),
      degraded_before);
}

}  // namespace
}  // namespace x402::testing
