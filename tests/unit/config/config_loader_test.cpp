#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.hpp"
#include "config/route_matcher.hpp"

namespace x402 {
namespace {

constexpr const char* kFullConfig = R"(# every key, with non-default values
server:
  listen: "[::1]:9402"
  workers: 4
  public_url: "https://gw.example.com"
  limits: { max_header_bytes: 8192, max_body_bytes: 2048, max_connections: 50 }
  timeouts: { header_ms: 1000, body_ms: 2000, idle_ms: 3000, shutdown_grace_ms: 0 }
storage: { backend: sqlite, path: data/gw.db }
cache: { backend: memory }
plugins:
  directories: [ ./plugins, /opt/x402/plugins ]
  load: [ ../extra/my-plugin.so ]
routing:
  strategy: latency
  config: { window: 20, sticky: true, label: "7", ratio: 0.5, nested: { list: [1, "2", x] } }
failover:
  attempt_timeout_ms: 4000
  verify_deadline_ms: 9000
  settle_timeout_ms: 25000
  retry_after_seconds: 7
  breaker: { failure_threshold: 5, open_ms: 12000 }
facilitators:
  - name: local
    plugin: facilitator-http
    attempt_timeout_ms: 3000
    config: { preset: generic, url: "http://127.0.0.1:4020" }
  - name: cdp
    plugin: facilitator-http
networks:
  - { name: devnet, chain_id: 31337 }
assets:
  - symbol: USDC
    network: base-sepolia
    address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
    decimals: 6
    eip712: { name: USDC, version: "2" }
  - symbol: USDC
    network: eip155:8453
    address: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
    decimals: 6
    eip712: { name: USD Coin, version: 2 }
  - symbol: TST
    network: devnet
    address: "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    decimals: 18
    eip712: { name: Test, version: "1" }
merchants:
  - id: acme
    upstream: "http://127.0.0.1:9000/base"
    pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
    routes:
      - path: /api/signal
        methods: [get, POST]
        price: "0.01"
        asset: USDC
        network: base-sepolia
        settle: before
        description: "Trading signal"
        mime_type: application/json
        max_timeout_seconds: 120
      - path: /api/premium
        accepts:
          - { price: "0.05", asset: USDC, network: base-sepolia }
          - { price: "$1.5", asset: USDC, network: base }
      - path: /test/{id}
        price: 0.000000000000000001
        asset: TST
      - path: /public/**
        free: true
  - id: beta-2
    upstream: "https://api.beta.example"
    pay_to: "0x0000000000000000000000000000000000000001"
    routes:
      - { path: /**, free: true }
)";

std::shared_ptr<const Config> load_ok(const std::string& yaml,
                                      const std::string& source = "/etc/x402/gateway.yaml") {
  auto result = load_config_from_string(yaml, source);
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
  return result.ok() ? result.value() : nullptr;
}

TEST(ConfigLoader, FullConfigLoadsEveryField) {
  const auto config = load_ok(kFullConfig);
  ASSERT_TRUE(config);
  EXPECT_EQ(config->source_path, "/etc/x402/gateway.yaml");

  const ServerConfig& server = config->server;
  EXPECT_EQ(server.listen_address, "::1");
  EXPECT_EQ(server.listen_port, 9402);
  EXPECT_EQ(server.workers, 4u);
  EXPECT_EQ(server.public_url, "https://gw.example.com");
  EXPECT_EQ(server.max_header_bytes, 8192u);
  EXPECT_EQ(server.max_body_bytes, 2048u);
  EXPECT_EQ(server.max_connections, 50u);
  EXPECT_EQ(server.header_timeout.count(), 1000);
  EXPECT_EQ(server.body_timeout.count(), 2000);
  EXPECT_EQ(server.idle_timeout.count(), 3000);
  EXPECT_EQ(server.shutdown_grace.count(), 0);

  EXPECT_EQ(config->storage.backend, "sqlite");
  EXPECT_EQ(config->storage.path, "/etc/x402/data/gw.db");
  EXPECT_EQ(config->cache.backend, "memory");
  EXPECT_EQ(config->plugins.directories,
            (std::vector<std::string>{"/etc/x402/plugins", "/opt/x402/plugins"}));
  EXPECT_EQ(config->plugins.load, (std::vector<std::string>{"/etc/extra/my-plugin.so"}));

  EXPECT_EQ(config->routing.strategy, "latency");
  const boost::json::object& rc = config->routing.strategy_config;
  EXPECT_EQ(rc.at("window").as_int64(), 20);
  EXPECT_EQ(rc.at("sticky").as_bool(), true);
  EXPECT_EQ(rc.at("label").as_string(), "7");    // quoted: stays a string
  EXPECT_EQ(rc.at("ratio").as_string(), "0.5");  // never a float
  const boost::json::array& list = rc.at("nested").as_object().at("list").as_array();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].as_int64(), 1);
  EXPECT_EQ(list[1].as_string(), "2");
  EXPECT_EQ(list[2].as_string(), "x");

  EXPECT_EQ(config->failover.attempt_timeout.count(), 4000);
  EXPECT_EQ(config->failover.verify_deadline.count(), 9000);
  EXPECT_EQ(config->failover.settle_timeout.count(), 25000);
  EXPECT_EQ(config->failover.retry_after.count(), 7);
  EXPECT_EQ(config->failover.breaker.failure_threshold, 5u);
  EXPECT_EQ(config->failover.breaker.open_for.count(), 12000);

  ASSERT_EQ(config->facilitators.size(), 2u);
  EXPECT_EQ(config->facilitators[0].name, "local");  // YAML order is priority order
  EXPECT_EQ(config->facilitators[0].plugin, "facilitator-http");
  EXPECT_EQ(config->facilitators[0].attempt_timeout.count(), 3000);
  EXPECT_EQ(config->facilitators[0].plugin_config.at("url").as_string(), "http://127.0.0.1:4020");
  EXPECT_EQ(config->facilitators[1].name, "cdp");
  EXPECT_EQ(config->facilitators[1].attempt_timeout.count(), 0);
  EXPECT_TRUE(config->facilitators[1].plugin_config.empty());

  ASSERT_TRUE(config->networks.resolve("devnet").ok());
  EXPECT_EQ(config->networks.resolve("devnet")->chain_id, 31337u);

  ASSERT_EQ(config->assets.size(), 3u);
  const AssetConfig& usdc = *config->assets[0];
  EXPECT_EQ(usdc.symbol, "USDC");
  EXPECT_EQ(usdc.network.chain_id, 84532u);
  EXPECT_EQ(usdc.address, "0x036CbD53842c5426634e7929541eC2318f3dCF7e");
  EXPECT_EQ(usdc.decimals, 6u);
  EXPECT_EQ(usdc.eip712_name, "USDC");
  EXPECT_EQ(usdc.eip712_version, "2");
  EXPECT_EQ(config->assets[1]->network.chain_id, 8453u);
  EXPECT_EQ(config->assets[1]->eip712_name, "USD Coin");
  EXPECT_EQ(config->assets[1]->eip712_version, "2");
  EXPECT_EQ(config->assets[2]->decimals, 18u);

  ASSERT_EQ(config->merchants.size(), 2u);
  const MerchantConfig& acme = config->merchants[0];
  EXPECT_EQ(acme.id, "acme");
  EXPECT_EQ(acme.upstream_url, "http://127.0.0.1:9000/base");
  EXPECT_EQ(acme.upstream.host, "127.0.0.1");
  EXPECT_EQ(acme.upstream.port, 9000);
  EXPECT_FALSE(acme.upstream.tls);
  EXPECT_EQ(acme.pay_to, "0x209693Bc6afc0C5328bA36FaF03C514EF312287C");
  ASSERT_EQ(acme.routes.size(), 4u);

  const RouteConfig& signal = acme.routes[0];
  EXPECT_EQ(signal.path, "/api/signal");
  ASSERT_TRUE(signal.pattern);
  EXPECT_TRUE(signal.pattern->matches("/api/signal"));
  EXPECT_EQ(signal.methods, (std::vector<std::string>{"GET", "POST"}));
  EXPECT_FALSE(signal.free);
  ASSERT_EQ(signal.accepts.size(), 1u);
  EXPECT_EQ(signal.accepts[0].asset, config->assets[0].get());
  EXPECT_EQ(signal.accepts[0].amount, Amount(10000));
  EXPECT_EQ(signal.accepts[0].price_text, "0.01");
  EXPECT_EQ(signal.settle, SettleTiming::Before);
  EXPECT_EQ(signal.description, "Trading signal");
  EXPECT_EQ(signal.mime_type, "application/json");
  EXPECT_EQ(signal.max_timeout_seconds, 120u);

  const RouteConfig& premium = acme.routes[1];
  EXPECT_TRUE(premium.methods.empty());
  EXPECT_EQ(premium.settle, SettleTiming::After);
  EXPECT_EQ(premium.max_timeout_seconds, 60u);
  ASSERT_EQ(premium.accepts.size(), 2u);
  EXPECT_EQ(premium.accepts[0].amount, Amount(50000));
  EXPECT_EQ(premium.accepts[1].asset, config->assets[1].get());
  EXPECT_EQ(premium.accepts[1].amount, Amount(1500000));

  const RouteConfig& test = acme.routes[2];  // network implied: TST exists on devnet only
  ASSERT_EQ(test.accepts.size(), 1u);
  EXPECT_EQ(test.accepts[0].asset, config->assets[2].get());
  EXPECT_EQ(test.accepts[0].amount, Amount(1));

  EXPECT_TRUE(acme.routes[3].free);
  EXPECT_TRUE(acme.routes[3].accepts.empty());

  const MerchantConfig* beta = config->find_merchant("beta-2");
  ASSERT_NE(beta, nullptr);
  EXPECT_TRUE(beta->upstream.tls);
  EXPECT_EQ(beta->upstream.port, 443);
  EXPECT_EQ(config->find_merchant("nope"), nullptr);
  EXPECT_EQ(config->find_asset("USDC", Network{"base", 8453}), config->assets[1].get());
  EXPECT_EQ(config->find_asset("TST", Network{"base", 8453}), nullptr);
}

TEST(ConfigLoader, DefaultsApplyWhenSectionsAreAbsent) {
  const auto config = load_ok(
      "merchants:\n  - { id: m, upstream: 'http://[::1]:81', pay_to: "
      "'0x0000000000000000000000000000000000000001', routes: "
      "[{path: /, free: true}] }\n",
      "/srv/gw/gateway.yaml");
  ASSERT_TRUE(config);
  const ServerConfig defaults;
  EXPECT_EQ(config->server.listen_address, defaults.listen_address);
  EXPECT_EQ(config->server.listen_port, defaults.listen_port);
  EXPECT_EQ(config->server.max_body_bytes, defaults.max_body_bytes);
  EXPECT_EQ(config->storage.path, "/srv/gw/x402d.db");
  EXPECT_EQ(config->routing.strategy, "priority");
  EXPECT_TRUE(config->facilitators.empty());  // allowed: no route is paid
  EXPECT_EQ(config->failover.attempt_timeout.count(), 5000);
}

TEST(ConfigLoader, InMemoryStorageAndAbsolutePathsAreKept) {
  auto config = load_ok("storage: { path: ':memory:' }\nplugins: { directories: [/abs/dir] }\n");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->storage.path, ":memory:");
  EXPECT_EQ(config->plugins.directories, (std::vector<std::string>{"/abs/dir"}));
}

TEST(ConfigLoader, LoadsFromFileAndResolvesAgainstItsFolder) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("x402-config-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "gw.yaml";
  std::ofstream(file) << "storage: { path: state/db.sqlite }\n";
  auto result = load_config(file.string());
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result.value()->storage.path, (dir / "state/db.sqlite").string());
  EXPECT_EQ(result.value()->source_path, file.string());

  auto missing = load_config((dir / "absent.yaml").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "invalid_config");
  EXPECT_NE(missing.error().message.find("absent.yaml"), std::string::npos);
  std::filesystem::remove_all(dir);
}

// ---- errors: each names the file, the line and the key path ----

// Loads `yaml`, expects failure at the line marked "#<" with key path `field`; returns the message.
std::string expect_error(const std::string& yaml, const std::string& field) {
  int line = 0;
  size_t pos = yaml.find("#<");
  EXPECT_NE(pos, std::string::npos) << "test bug: no #< marker";
  if (pos != std::string::npos)
    line = 1 + static_cast<int>(std::count(yaml.begin(), yaml.begin() + pos, '\n'));
  auto result = load_config_from_string(yaml, "gw.yaml");
  EXPECT_FALSE(result.ok()) << "expected an error at " << field;
  if (result.ok()) return "";
  const Error& e = result.error();
  EXPECT_EQ(e.code, "invalid_config");
  EXPECT_EQ(e.field, field) << e.message;
  const std::string prefix =
      "gw.yaml:" + std::to_string(line) + ": " + (field.empty() ? "" : field + ": ");
  EXPECT_EQ(e.message.substr(0, prefix.size()), prefix) << e.message;
  return e.message;
}

// A valid base: one asset, one facilitator; merchants come from the test (starting at line 9).
const std::string kBase = R"(facilitators:
  - { name: local, plugin: facilitator-http }
assets:
  - symbol: USDC
    network: base-sepolia
    address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
    decimals: 6
    eip712: { name: USDC, version: "2" }
)";

std::string merchant_with_route(const std::string& route_lines) {
  return kBase + R"(merchants:
  - id: acme
    upstream: "http://127.0.0.1:9000"
    pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
    routes:
)" + route_lines;
}

TEST(ConfigErrors, BaseIsValid) {
  EXPECT_TRUE(load_ok(merchant_with_route("      - { path: /a, price: '0.01' }\n")));
}

TEST(ConfigErrors, UnknownKeySuggestsClosest) {
  const std::string msg =
      expect_error("server:\n  listen: 127.0.0.1:1\n  wokers: 2 #<\n", "server.wokers");
  EXPECT_NE(msg.find("did you mean 'workers'"), std::string::npos) << msg;
}

TEST(ConfigErrors, UnknownKeyFarFromAnyListsValidKeys) {
  const std::string msg = expect_error("cache:\n  zzzzzzzzzz: 1 #<\n", "cache.zzzzzzzzzz");
  EXPECT_NE(msg.find("valid keys here: backend"), std::string::npos) << msg;
}

TEST(ConfigErrors, UnknownTopLevelKeyAndUnknownRouteKey) {
  expect_error("sever: #<\n  listen: 127.0.0.1:1\n", "sever");
  const std::string msg = expect_error(
      merchant_with_route("      - path: /a\n        price: '0.01'\n        methdos: [GET] #<\n"),
      "merchants[0].routes[0].methdos");
  EXPECT_NE(msg.find("'methods'"), std::string::npos) << msg;
}

TEST(ConfigErrors, DuplicateKey) {
  expect_error("server:\n  workers: 1\n  workers: 2 #<\n", "server.workers");
}

TEST(ConfigErrors, WrongTypes) {
  expect_error("server:\n  workers: many #<\n", "server.workers");
  expect_error("server:\n  listen: [a, b] #<\n", "server.listen");
  expect_error("server: 5 #<\n", "server");
  expect_error("plugins:\n  directories: ./plugins #<\n", "plugins.directories");
  expect_error(merchant_with_route("      - path: /a\n        free: yes #<\n"),
               "merchants[0].routes[0].free");
  expect_error("failover:\n  retry_after_seconds: 1.5 #<\n", "failover.retry_after_seconds");
}

TEST(ConfigErrors, NumbersOutOfRange) {
  expect_error("server:\n  workers: 257 #<\n", "server.workers");
  expect_error("server:\n  workers: -1 #<\n", "server.workers");
  expect_error("server:\n  timeouts:\n    idle_ms: 0 #<\n", "server.timeouts.idle_ms");
  expect_error("failover:\n  breaker: { failure_threshold: 0 } #<\n",
               "failover.breaker.failure_threshold");
}

TEST(ConfigErrors, PriceWithTooManyDecimals) {
  const std::string msg =
      expect_error(merchant_with_route("      - path: /a\n        price: '0.0000001' #<\n"),
                   "merchants[0].routes[0].price");
  EXPECT_NE(msg.find("0.0000001"), std::string::npos) << msg;
  EXPECT_NE(msg.find("6 decimals"), std::string::npos) << msg;
}

TEST(ConfigErrors, ZeroOrMalformedPrice) {
  const std::string msg =
      expect_error(merchant_with_route("      - path: /a\n        price: '0' #<\n"),
                   "merchants[0].routes[0].price");
  EXPECT_NE(msg.find("free: true"), std::string::npos) << msg;
  expect_error(merchant_with_route("      - path: /a\n        price: 'ten' #<\n"),
               "merchants[0].routes[0].price");
  expect_error(merchant_with_route("      - path: /a\n        accepts:\n          - price: "
                                   "'-1' #<\n"),
               "merchants[0].routes[0].accepts[0].price");
}

TEST(ConfigErrors, BadAddresses) {
  expect_error(kBase +
                   "merchants:\n  - id: acme\n    upstream: http://127.0.0.1:1\n"
                   "    pay_to: 0x1234 #<\n    routes: [{ path: /, free: true }]\n",
               "merchants[0].pay_to");
  expect_error(
      "assets:\n  - symbol: USDC\n    network: base\n"
      "    address: '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA0291Z' #<\n"
      "    decimals: 6\n    eip712: { name: USDC, version: '2' }\n",
      "assets[0].address");
}

TEST(ConfigErrors, UnknownAssetAndAssetMissingOnNetwork) {
  const std::string msg = expect_error(
      merchant_with_route("      - path: /a\n        price: '1'\n        asset: DAI #<\n"),
      "merchants[0].routes[0].asset");
  EXPECT_NE(msg.find("DAI"), std::string::npos);
  const std::string msg2 = expect_error(
      merchant_with_route("      - path: /a\n        price: '1'\n        network: base #<\n"),
      "merchants[0].routes[0].network");
  EXPECT_NE(msg2.find("base-sepolia"), std::string::npos) << msg2;  // says where it exists
}

TEST(ConfigErrors, UnknownNetwork) {
  expect_error("assets:\n  - symbol: USDC\n    network: basse-sepolia #<\n", "assets[0].network");
  expect_error(
      merchant_with_route("      - path: /a\n        price: '1'\n        network: mars #<\n"),
      "merchants[0].routes[0].network");
}

TEST(ConfigErrors, AmbiguousAssetOrNetworkMustBeNamed) {
  const std::string two_networks = kBase + R"(  - symbol: USDC
    network: base
    address: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
    decimals: 6
    eip712: { name: USD Coin, version: "2" }
merchants:
  - id: acme
    upstream: "http://127.0.0.1:9000"
    pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
    routes:
      - path: /a #<
        price: "1"
)";
  const std::string msg = expect_error(two_networks, "merchants[0].routes[0]");
  EXPECT_NE(msg.find("'network' is required"), std::string::npos) << msg;
}

TEST(ConfigErrors, DuplicateNames) {
  expect_error("facilitators:\n  - { name: a, plugin: p }\n  - { name: a, plugin: q } #<\n",
               "facilitators[1].name");
  expect_error(
      "merchants:\n"
      "  - { id: m, upstream: 'http://h', pay_to: '0x0000000000000000000000000000000000000001', "
      "routes: [{path: /, free: true}] }\n"
      "  - { id: m, upstream: 'http://h', pay_to: '0x0000000000000000000000000000000000000001', "
      "routes: [{path: /, free: true}] } #<\n",
      "merchants[1].id");
}

TEST(ConfigErrors, InvalidNames) {
  expect_error("facilitators:\n  - { name: Local, plugin: p } #<\n", "facilitators[0].name");
  expect_error("merchants:\n  - id: a/b #<\n", "merchants[0].id");
  expect_error("merchants:\n  - id: metrics #<\n", "merchants[0].id");
}

TEST(ConfigErrors, MissingRequiredKeys) {
  expect_error("facilitators:\n  - plugin: facilitator-http #<\n", "facilitators[0].name");
  expect_error(kBase +
                   "merchants:\n  - id: acme #<\n    upstream: http://127.0.0.1:1\n"
                   "    routes: [{ path: /, free: true }]\n",
               "merchants[0].pay_to");
  expect_error(merchant_with_route("      - path: /a #<\n"), "merchants[0].routes[0]");
  expect_error("assets:\n  - symbol: #<\n    network: base\n", "assets[0].symbol");
}

TEST(ConfigErrors, ExactlyOneWayToPay) {
  const std::string msg = expect_error(
      merchant_with_route("      - path: /a #<\n        price: '1'\n        free: true\n"),
      "merchants[0].routes[0]");
  EXPECT_NE(msg.find("exactly one"), std::string::npos) << msg;
  expect_error(
      merchant_with_route("      - path: /a\n        free: true\n        asset: USDC #<\n"),
      "merchants[0].routes[0].asset");
}

TEST(ConfigErrors, PaidRouteNeedsAFacilitator) {
  const std::string yaml = R"(assets:
  - { symbol: USDC, network: base, address: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", decimals: 6, eip712: { name: USD Coin, version: "2" } }
merchants:
  - id: acme
    upstream: "http://127.0.0.1:9000"
    pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
    routes:
      - { path: /free, free: true }
      - { path: /paid, price: "1" } #<
)";
  const std::string msg = expect_error(yaml, "facilitators");
  EXPECT_NE(msg.find("merchants[0].routes[1]"), std::string::npos) << msg;
}

TEST(ConfigErrors, BadListen) {
  expect_error("server:\n  listen: 127.0.0.1 #<\n", "server.listen");
  expect_error("server:\n  listen: 127.0.0.1:99999 #<\n", "server.listen");
  expect_error("server:\n  listen: ::1:8402 #<\n", "server.listen");
  expect_error("server:\n  listen: '[nothex]:8402' #<\n", "server.listen");
  expect_error("server:\n  listen: ':8402' #<\n", "server.listen");
}

TEST(ConfigErrors, BadUrls) {
  expect_error("server:\n  public_url: https://gw.example/ #<\n", "server.public_url");
  expect_error("server:\n  public_url: ftp://gw.example #<\n", "server.public_url");
  expect_error("merchants:\n  - id: a\n    upstream: 'ftp://x' #<\n", "merchants[0].upstream");
}

TEST(ConfigErrors, BadRoutePatternAndMethod) {
  expect_error(merchant_with_route("      - path: api #<\n        free: true\n"),
               "merchants[0].routes[0].path");
  expect_error(merchant_with_route("      - path: /a/**/b #<\n        free: true\n"),
               "merchants[0].routes[0].path");
  expect_error(merchant_with_route("      - path: /a\n        free: true\n        methods: "
                                   "[GE-T] #<\n"),
               "merchants[0].routes[0].methods[0]");
}

TEST(Config, PostgresStorageAndRedisCache) {
  auto config = load_ok(
      "storage: { backend: postgres, url: 'postgresql://x402@127.0.0.1:5432/x402', pool_size: 4 }\n"
      "cache: { backend: redis, url: 'redis://:s3cret@10.0.0.7:6380/2', command_timeout_ms: 250 "
      "}\n");
  EXPECT_EQ(config->storage.backend, "postgres");
  EXPECT_EQ(config->storage.url, "postgresql://x402@127.0.0.1:5432/x402");
  EXPECT_EQ(config->storage.pool_size, 4u);
  EXPECT_EQ(config->cache.backend, "redis");
  EXPECT_EQ(config->cache.host, "10.0.0.7");
  EXPECT_EQ(config->cache.port, 6380);
  EXPECT_EQ(config->cache.password, "s3cret");
  EXPECT_EQ(config->cache.database, 2u);
  EXPECT_EQ(config->cache.command_timeout, std::chrono::milliseconds(250));

  auto defaults = load_ok("cache: { backend: redis, url: 'redis://cache.internal' }\n");
  EXPECT_EQ(defaults->cache.host, "cache.internal");
  EXPECT_EQ(defaults->cache.port, 6379);
  EXPECT_EQ(defaults->cache.database, 0u);
  EXPECT_EQ(defaults->cache.password, "");
}

TEST(Config, ConnectionUrlsFromTheEnvironment) {
  ::setenv("X402_TEST_DATABASE_URL", "postgresql://app:pw@db:5432/books", 1);
  ::setenv("X402_TEST_REDIS_URL", "redis://:pw@cache:6379", 1);
  auto config = load_ok(
      "storage: { backend: postgres, url: env:X402_TEST_DATABASE_URL }\n"
      "cache: { backend: redis, url: env:X402_TEST_REDIS_URL }\n");
  EXPECT_EQ(config->storage.url, "postgresql://app:pw@db:5432/books");
  EXPECT_EQ(config->cache.host, "cache");
  EXPECT_EQ(config->cache.password, "pw");
  ::unsetenv("X402_TEST_DATABASE_URL");
  expect_error("storage:\n  backend: postgres\n  url: env:X402_TEST_DATABASE_URL #<\n",
               "storage.url");
}

TEST(ConfigErrors, StorageAndCacheBackends) {
  expect_error("storage:\n  backend: mysql #<\n", "storage.backend");
  expect_error("cache:\n  backend: memcached #<\n", "cache.backend");
  expect_error("storage:\n  backend: postgres\n  url: 'mysql://db/x' #<\n", "storage.url");
  expect_error("storage:\n  backend: postgres\n  url: 'postgresql://db/x'\n  pool_size: 0 #<\n",
               "storage.pool_size");
  expect_error("storage:\n  backend: sqlite\n  url: 'postgresql://db/x' #<\n", "storage.url");
  expect_error("storage:\n  backend: postgres\n  url: 'postgresql://db/x'\n  path: a.db #<\n",
               "storage.path");
  expect_error("cache:\n  backend: redis\n  url: 'http://cache:6379' #<\n", "cache.url");
  expect_error("cache:\n  backend: redis\n  url: 'redis://cache:6379/16' #<\n", "cache.url");
  expect_error("cache:\n  backend: redis\n  url: 'redis://cache:6379/x' #<\n", "cache.url");
  expect_error("cache:\n  backend: memory\n  url: 'redis://cache' #<\n", "cache.url");
}

TEST(ConfigErrors, UnsupportedSettle) {
  expect_error(merchant_with_route("      - path: /a\n        price: '1'\n        settle: "
                                   "later #<\n"),
               "merchants[0].routes[0].settle");
}

TEST(ConfigErrors, YamlSyntaxErrorHasLine) {
  const auto result = load_config_from_string("server:\n  listen: [a,\n  workers: 2\n", "gw.yaml");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, "invalid_config");
  EXPECT_EQ(result.error().message.rfind("gw.yaml:", 0), 0u) << result.error().message;
  EXPECT_NE(result.error().message.find("YAML syntax error"), std::string::npos);

  const auto indent = load_config_from_string("storage: x\n  path: y\n", "gw.yaml");
  ASSERT_FALSE(indent.ok());
  EXPECT_EQ(indent.error().message.rfind("gw.yaml:2:", 0), 0u) << indent.error().message;
}

TEST(ConfigErrors, EmptyOrNonMappingDocument) {
  expect_error("#< nothing here\n", "");
  expect_error("- a #<\n- b\n", "");
}

TEST(ConfigErrors, ConflictingNetworkDefinition) {
  expect_error("networks:\n  - { name: base, chain_id: 1 } #<\n", "networks[0].name");
}

// ---- settle_mode (plugin ABI 1.1 settle options) ----

TEST(ConfigLoader, SettleModeDefaultsToConfirmedAndReadsBroadcast) {
  const auto config = load_ok(merchant_with_route(
      "      - { path: /a, price: '0.01' }\n"
      "      - { path: /b, price: '0.01', settle_mode: broadcast }\n"
      "      - { path: /c, price: '0.01', settle_mode: confirmed, settle: before }\n"));
  ASSERT_TRUE(config);
  const auto& routes = config->merchants[0].routes;
  EXPECT_EQ(routes[0].settle_mode, SettleMode::Confirmed);
  EXPECT_EQ(routes[1].settle_mode, SettleMode::Broadcast);
  EXPECT_EQ(routes[2].settle_mode, SettleMode::Confirmed);
  EXPECT_EQ(routes[2].settle, SettleTiming::Before);
}

TEST(ConfigErrors, SettleModeIsStrict) {
  const std::string msg = expect_error(
      merchant_with_route("      - path: /a\n        price: '1'\n        settle_mode: fast #<\n"),
      "merchants[0].routes[0].settle_mode");
  EXPECT_NE(msg.find("'confirmed'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'broadcast'"), std::string::npos) << msg;
  expect_error(merchant_with_route(
                   "      - path: /a\n        price: '1'\n        settle_mode: [broadcast] #<\n"),
               "merchants[0].routes[0].settle_mode");
  expect_error(merchant_with_route(
                   "      - path: /a\n        free: true\n        settle_mode: broadcast #<\n"),
               "merchants[0].routes[0].settle_mode");
  expect_error(merchant_with_route(
                   "      - path: /a\n        price: '1'\n        settle_modes: broadcast #<\n"),
               "merchants[0].routes[0].settle_modes");
}

// ---- facilitator_api (x402d as a facilitator) ----

TEST(ConfigLoader, FacilitatorApiIsAbsentByDefault) {
  const auto config = load_ok(kBase);
  ASSERT_TRUE(config);
  EXPECT_FALSE(config->facilitator_api.has_value());
}

TEST(ConfigLoader, FacilitatorApiReadsListenAndFacilitator) {
  const auto config = load_ok(kBase +
                              "facilitator_api:\n  listen: \"0.0.0.0:4020\"\n"
                              "  facilitator: local\n");
  ASSERT_TRUE(config);
  ASSERT_TRUE(config->facilitator_api.has_value());
  EXPECT_EQ(config->facilitator_api->listen_address, "0.0.0.0");
  EXPECT_EQ(config->facilitator_api->listen_port, 4020);
  EXPECT_EQ(config->facilitator_api->facilitator, "local");

  const auto v6 = load_ok(kBase + "facilitator_api: { listen: \"[::1]:0\", facilitator: local }\n");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->facilitator_api->listen_address, "::1");
  EXPECT_EQ(v6->facilitator_api->listen_port, 0);
}

TEST(ConfigErrors, FacilitatorApiMustNameAConfiguredFacilitator) {
  // The section comes before facilitators: in the file; it is still checked against them.
  const std::string msg = expect_error(
      "facilitator_api:\n  listen: \"127.0.0.1:4020\"\n  facilitator: selfhosted #<\n" + kBase,
      "facilitator_api.facilitator");
  EXPECT_NE(msg.find("unknown facilitator 'selfhosted'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("local"), std::string::npos) << msg;
}

TEST(ConfigErrors, FacilitatorApiKeysAreChecked) {
  expect_error(kBase + "facilitator_api:\n  listen: \"127.0.0.1\" #<\n  facilitator: local\n",
               "facilitator_api.listen");
  expect_error(kBase + "facilitator_api:\n  listen: \"::1:4020\" #<\n  facilitator: local\n",
               "facilitator_api.listen");
  // A missing key is reported at the section's first line.
  expect_error(kBase + "facilitator_api:\n  facilitator: local #<\n", "facilitator_api.listen");
  expect_error(kBase + "facilitator_api:\n  listen: \"127.0.0.1:4020\" #<\n",
               "facilitator_api.facilitator");
  expect_error(kBase +
                   "facilitator_api:\n  listen: \"127.0.0.1:4020\"\n  facilitator: local\n"
                   "  port: 1 #<\n",
               "facilitator_api.port");
  expect_error(kBase + "facilitator_api: local #<\n", "facilitator_api");
}

TEST(ConfigErrors, FacilitatorApiNeedsItsOwnListener) {
  expect_error("server: { listen: \"127.0.0.1:8402\" }\n" + kBase +
                   "facilitator_api:\n  listen: \"127.0.0.1:8402\" #<\n  facilitator: local\n",
               "facilitator_api.listen");
}

}  // namespace
}  // namespace x402
