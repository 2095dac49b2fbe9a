// rate_limits: tiers, how routes and merchants name them, and the mistakes the loader must name.
#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"

namespace x402 {
namespace {

Result<std::shared_ptr<const Config>> load(const std::string& yaml) {
  return load_config_from_string(yaml, "gw.yaml");
}

// One merchant with free routes (no facilitator needed), `merchant_extra` under the merchant and
// `routes` as written.
std::string with(const std::string& tiers, const std::string& merchant_extra,
                 const std::string& routes) {
  return tiers +
         "merchants:\n"
         "  - id: acme\n"
         "    upstream: 'http://127.0.0.1:9000'\n"
         "    pay_to: '0x209693Bc6afc0C5328bA36FaF03C514EF312287C'\n" +
         merchant_extra + "    routes:\n" + routes;
}

const std::string kTiers =
    "rate_limits:\n"
    "  - name: standard\n"
    "    config: { requests: 100, window_ms: 60000 }\n"
    "  - name: partners\n"
    "    plugin: ratelimit-custom\n"
    "    key: 'header:X-Api-Key'\n"
    "    timeout_ms: 250\n";

TEST(RateLimitConfig, TiersAreReadWithTheirDefaults) {
  auto config = load(with(kTiers, "", "      - { path: /a, free: true }\n"));
  ASSERT_TRUE(config) << config.error().message;
  const auto& tiers = (*config)->rate_limits;
  ASSERT_EQ(tiers.size(), 2u);
  EXPECT_EQ(tiers[0].name, "standard");
  EXPECT_EQ(tiers[0].plugin, "ratelimit-token-bucket");
  EXPECT_EQ(tiers[0].key.source, RateLimitKey::Source::ClientIp) << "the address by default";
  EXPECT_EQ(tiers[0].timeout.count(), 1000);
  EXPECT_EQ(tiers[0].plugin_config.at("requests").as_int64(), 100);
  EXPECT_EQ(tiers[1].plugin, "ratelimit-custom");
  EXPECT_EQ(tiers[1].key.source, RateLimitKey::Source::Header);
  EXPECT_EQ(tiers[1].key.header, "X-Api-Key");
  EXPECT_EQ(tiers[1].timeout.count(), 250);
}

TEST(RateLimitConfig, ForwardedForCountsProxiesFromTheRight) {
  auto config =
      load(with("rate_limits:\n"
                "  - { name: lb, key: forwarded_for }\n"
                "  - { name: two, key: 'forwarded_for:2' }\n",
                "", "      - { path: /a, free: true }\n"));
  ASSERT_TRUE(config) << config.error().message;
  const auto& tiers = (*config)->rate_limits;
  EXPECT_EQ(tiers[0].key.source, RateLimitKey::Source::ForwardedFor);
  EXPECT_EQ(tiers[0].key.hops, 1u);
  EXPECT_EQ(tiers[1].key.source, RateLimitKey::Source::ForwardedFor);
  EXPECT_EQ(tiers[1].key.hops, 2u);
}

TEST(RateLimitConfig, TheMerchantsTierCoversRoutesThatNameNoneOfTheirOwn) {
  auto config = load(with(kTiers, "    rate_limit: standard\n",
                          "      - { path: /a, free: true }\n"
                          "      - { path: /b, free: true, rate_limit: partners }\n"
                          "      - { path: /c, free: true, rate_limit: none }\n"));
  ASSERT_TRUE(config) << config.error().message;
  const auto& routes = (*config)->merchants[0].routes;
  EXPECT_EQ(routes[0].rate_limit, "standard");
  EXPECT_EQ(routes[1].rate_limit, "partners");
  EXPECT_EQ(routes[2].rate_limit, "") << "'none' opts a route out";
}

TEST(RateLimitConfig, WithoutATierNothingIsLimited) {
  auto config = load(with("", "", "      - { path: /a, free: true }\n"));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ((*config)->merchants[0].routes[0].rate_limit, "");
}

TEST(RateLimitConfig, AnUnknownTierIsNamedWithTheTiersThereAre) {
  auto route = load(with(kTiers, "", "      - { path: /a, free: true, rate_limit: gold }\n"));
  ASSERT_FALSE(route);
  EXPECT_EQ(route.error().field, "merchants[0].routes[0].rate_limit") << route.error().message;
  EXPECT_NE(route.error().message.find("standard, partners"), std::string::npos)
      << route.error().message;

  auto merchant = load(with("", "    rate_limit: gold\n", "      - { path: /a, free: true }\n"));
  ASSERT_FALSE(merchant);
  EXPECT_EQ(merchant.error().field, "merchants[0].rate_limit") << merchant.error().message;
  EXPECT_NE(merchant.error().message.find("none defined"), std::string::npos)
      << merchant.error().message;
}

TEST(RateLimitConfig, BadTiersNameTheField) {
  const std::string route = "      - { path: /a, free: true }\n";
  const auto field_of = [&](const std::string& tiers) {
    auto r = load(with(tiers, "", route));
    return r ? std::string("(loaded)") : r.error().field;
  };
  EXPECT_EQ(field_of("rate_limits:\n  - { name: Standard }\n"), "rate_limits[0].name");
  EXPECT_EQ(field_of("rate_limits:\n  - { name: none }\n"), "rate_limits[0].name");
  EXPECT_EQ(field_of("rate_limits:\n  - { name: a }\n  - { name: a }\n"), "rate_limits[1].name");
  EXPECT_EQ(field_of("rate_limits:\n  - { name: a, key: address }\n"), "rate_limits[0].key");
  EXPECT_EQ(field_of("rate_limits:\n  - { name: a, key: 'header:' }\n"), "rate_limits[0].key");
  EXPECT_EQ(field_of("rate_limits:\n  - { name: a, key: 'header:X Api' }\n"), "rate_limits[0].key");
  for (const char* key : {"forwarded_for:0", "forwarded_for:", "forwarded_for:x",
                          "forwarded_for:1000", "forwarded_for2"}) {
    EXPECT_EQ(field_of("rate_limits:\n  - { name: a, key: '" + std::string(key) + "' }\n"),
              "rate_limits[0].key")
        << key;
  }
  EXPECT_EQ(field_of("rate_limits:\n  - { name: a, plugin: ./x.so }\n"), "rate_limits[0].plugin");
  EXPECT_EQ(field_of("rate_limits:\n  - { name: a, timeout_ms: 0 }\n"),
            "rate_limits[0].timeout_ms");
  EXPECT_EQ(field_of("rate_limits:\n  - { name: a, per: 1m }\n"), "rate_limits[0].per");
}

}  // namespace
}  // namespace x402
