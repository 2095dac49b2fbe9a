// The config keys of merchant pricing policies: pricing/policy_fallback on routes, the merchant's
// policy bounds, credentials and the admin API, each error naming file, line and key.
#include <gtest/gtest.h>

#include <cstdlib>

#include "config/config.hpp"

namespace x402 {
namespace {

std::string yaml(const std::string& route_extra, const std::string& top_extra = "",
                 const std::string& merchant_extra = "") {
  return "facilitators:\n  - { name: f, plugin: facilitator-http }\n"
         "assets:\n  - { symbol: USDC, network: base-sepolia, "
         "address: \"0x036CbD53842c5426634e7929541eC2318f3dCF7e\", decimals: 6, "
         "eip712: { name: USDC, version: \"2\" } }\n" +
         top_extra +
         "merchants:\n  - id: acme\n    upstream: \"http://127.0.0.1:9000\"\n"
         "    pay_to: \"0x209693Bc6afc0C5328bA36FaF03C514EF312287C\"\n" +
         merchant_extra + "    routes:\n      - path: /api/**\n        price: \"0.01\"\n" +
         route_extra;
}

const std::string kCredentials = "credentials: { secret: \"env:X402_UNIT_SECRET\" }\n";

class PolicyConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("X402_UNIT_SECRET", "0123456789abcdef0123456789abcdef", 1);
    ::setenv("X402_UNIT_ADMIN", "admin-key-0123456789", 1);
  }
  static std::string error_of(const std::string& text) {
    auto loaded = load_config_from_string(text, "g.yaml");
    return loaded.ok() ? "" : loaded.error().message;
  }
};

TEST_F(PolicyConfigTest, PolicyRouteWithEachFallback) {
  const std::string base = "        pricing: policy\n        policy_fallback: ";
  auto statik = load_config_from_string(yaml(base + "static\n", kCredentials), "g.yaml");
  ASSERT_TRUE(statik.ok()) << statik.error().message;
  const auto& route = statik.value()->merchants[0].routes[0];
  EXPECT_TRUE(route.policy_priced);
  ASSERT_TRUE(route.policy_fallback.has_value());
  EXPECT_EQ(route.policy_fallback->at(0).amount, Amount(10000));

  auto priced = load_config_from_string(yaml(base + "\"0.05\"\n", kCredentials), "g.yaml");
  ASSERT_TRUE(priced.ok()) << priced.error().message;
  EXPECT_EQ(priced.value()->merchants[0].routes[0].policy_fallback->at(0).amount, Amount(50000));

  auto closed = load_config_from_string(yaml(base + "503\n", kCredentials), "g.yaml");
  ASSERT_TRUE(closed.ok()) << closed.error().message;
  EXPECT_FALSE(closed.value()->merchants[0].routes[0].policy_fallback.has_value());
}

TEST_F(PolicyConfigTest, MistakesAreNamed) {
  EXPECT_NE(error_of(yaml("        pricing: policy\n", kCredentials))
                .find("'policy_fallback' is required"),
            std::string::npos);
  EXPECT_NE(error_of(yaml("        pricing: policy\n        policy_fallback: free\n", kCredentials))
                .find("policy_fallback"),
            std::string::npos);
  EXPECT_NE(error_of(yaml("        policy_fallback: static\n", kCredentials))
                .find("only a route with 'pricing: policy'"),
            std::string::npos);
  EXPECT_NE(error_of(yaml("        pricing: lua\n", kCredentials)).find("routes[0].pricing"),
            std::string::npos);
  // A policy route needs the credential secret.
  EXPECT_NE(error_of(yaml("        pricing: policy\n        policy_fallback: 503\n"))
                .find("credentials.secret is required"),
            std::string::npos);
  ::unsetenv("X402_UNIT_SECRET");
  EXPECT_NE(error_of(yaml("", kCredentials)).find("X402_UNIT_SECRET is not set"),
            std::string::npos);
  ::setenv("X402_UNIT_SECRET", "short", 1);
  EXPECT_NE(error_of(yaml("", kCredentials)).find("at least 32 bytes"), std::string::npos);
}

TEST_F(PolicyConfigTest, MerchantPolicyBounds) {
  auto loaded = load_config_from_string(
      yaml("", "", "    policy: { max_wall_ms: 3, max_amount: \"5000\", period: day }\n"),
      "g.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const auto& policy = loaded.value()->merchants[0].policy;
  EXPECT_EQ(policy.max_wall_ms, 3u);
  EXPECT_EQ(policy.max_amount, "5000");
  EXPECT_EQ(policy.period, UsagePeriod::Day);
  EXPECT_NE(error_of(yaml("", "", "    policy: { max_wall_ms: 500 }\n")).find("max_wall_ms"),
            std::string::npos);
  EXPECT_NE(error_of(yaml("", "", "    policy: { period: week }\n")).find("policy.period"),
            std::string::npos);
}

TEST_F(PolicyConfigTest, AdminKeysAreHashedAndScoped) {
  const std::string admin =
      "admin:\n  listen: \"127.0.0.1:0\"\n  api_keys:\n"
      "    - { key: \"env:X402_UNIT_ADMIN\", role: admin }\n"
      "    - { key: \"sha256:" +
      std::string(64, 'a') + "\", role: merchant, merchant: acme }\n";
  auto loaded = load_config_from_string(yaml("", admin), "g.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const auto& keys = loaded.value()->admin->api_keys;
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].sha256_hex.size(), 64u);
  EXPECT_EQ(keys[0].sha256_hex.find("admin-key"), std::string::npos);  // never the key itself
  EXPECT_EQ(keys[1].role, AdminRole::Merchant);
  EXPECT_EQ(keys[1].merchant, "acme");
  const std::string unknown =
      "admin:\n  listen: \"127.0.0.1:0\"\n  api_keys:\n"
      "    - { key: \"env:X402_UNIT_ADMIN\", role: merchant, merchant: nobody }\n";
  EXPECT_NE(error_of(yaml("", unknown)).find("unknown merchant 'nobody'"), std::string::npos);
}

}  // namespace
}  // namespace x402
