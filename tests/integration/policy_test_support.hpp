#pragma once
// Shared by the policy integration tests: a gateway config with policy-priced routes for two
// merchants, the admin API and the credential secret, and helpers to install policies.
#include <cstdlib>
#include <string>

#include "support/fake_facilitator.hpp"
#include "support/gateway_harness.hpp"

namespace x402::testing {

inline constexpr const char* kCredentialSecret = "test-credential-secret-0123456789abcdef";
inline constexpr const char* kAdminKey = "admin-key-0123456789abcdef";
inline constexpr const char* kAcmeKey = "acme-key-0123456789abcdef";

inline void set_policy_test_env() {
  ::setenv("X402_TEST_CREDENTIAL_SECRET", kCredentialSecret, 1);
  ::setenv("X402_TEST_ADMIN_KEY", kAdminKey, 1);
  ::setenv("X402_TEST_ACME_KEY", kAcmeKey, 1);
}

// acme: /api/** (fallback static 0.01), /strict/** (fallback 503), /fixed/** (fallback 0.05),
// /other/** (fallback static); beta: /api/** (fallback static 0.01).
// `beta_fallback` lets a test make beta's failures visible (503).
inline std::string policy_gateway_yaml(const std::string& facilitator_url, uint16_t upstream_port,
                                       const std::string& beta_fallback = "static",
                                       unsigned workers = 2) {
  set_policy_test_env();
  std::string y;
  y += "server:\n  listen: \"127.0.0.1:0\"\n  workers: " + std::to_string(workers) + "\n";
  y += "storage: { backend: sqlite, path: ./x402d.db }\n";
  y += std::string("plugins: { directories: [ \"") + X402_PLUGIN_DIR + "\" ] }\n";
  y +=
      "failover: { attempt_timeout_ms: 2000, verify_deadline_ms: 4000, settle_timeout_ms: 4000 }\n";
  y += "facilitators:\n  - name: primary\n    plugin: facilitator-http\n    config: { preset: "
       "generic, url: \"" +
       facilitator_url + "\", max_429_retries: 0 }\n";
  y += "assets:\n  - symbol: USDC\n    network: base-sepolia\n    address: \"" +
       std::string(kUsdc) + "\"\n    decimals: 6\n    eip712: { name: USDC, version: \"2\" }\n";
  y += "credentials: { secret: \"env:X402_TEST_CREDENTIAL_SECRET\" }\n";
  y += "admin:\n  listen: \"127.0.0.1:0\"\n  api_keys:\n"
       "    - { key: \"env:X402_TEST_ADMIN_KEY\", role: admin }\n"
       "    - { key: \"env:X402_TEST_ACME_KEY\", role: merchant, merchant: acme }\n";
  const std::string upstream = "\"http://127.0.0.1:" + std::to_string(upstream_port) + "\"";
  y += "merchants:\n";
  y += "  - id: acme\n    upstream: " + upstream + "\n    pay_to: \"" + kPayTo + "\"\n";
  y += "    routes:\n";
  y += "      - { path: /api/**, price: \"0.01\", pricing: policy, policy_fallback: static, "
       "description: Metered API }\n";
  y += "      - { path: /strict/**, price: \"0.01\", pricing: policy, policy_fallback: 503 }\n";
  y += "      - { path: /fixed/**, price: \"0.01\", pricing: policy, policy_fallback: \"0.05\" }\n";
  y += "      - { path: /other/**, price: \"0.01\", pricing: policy, policy_fallback: static }\n";
  y += "  - id: beta\n    upstream: " + upstream + "\n    pay_to: \"" + kPayTo + "\"\n";
  y += "    routes:\n";
  y += "      - { path: /api/**, price: \"0.01\", pricing: policy, policy_fallback: " +
       beta_fallback + " }\n";
  return y;
}

// Stores `source` as the merchant's next version, activates it and loads it on this node.
inline int64_t install_policy(GatewayHarness& gateway, const std::string& merchant,
                              const std::string& source) {
  auto added = gateway.store().add_policy(merchant, source, "{}");
  EXPECT_TRUE(added.ok()) << (added.ok() ? "" : added.error().message);
  if (!added.ok()) return 0;
  auto activated = gateway.store().activate_policy(merchant, added->version);
  EXPECT_TRUE(activated.ok());
  auto loaded = gateway.gateway().refresh_policies();
  EXPECT_TRUE(loaded.ok());
  return added->version;
}

inline std::string offered_amount(const http::Response& offer) {
  auto required = decode_header_json(offer["PAYMENT-REQUIRED"]);
  return std::string(required.at("accepts").as_array().at(0).at("amount").as_string());
}

// PAYMENT-SIGNATURE answering the 402's first offer with `amount` instead of its own.
inline std::string pay_v2_amount(const http::Response& offer, const Authorization& a,
                                 const std::string& amount) {
  auto required = decode_header_json(offer["PAYMENT-REQUIRED"]);
  auto accepted = required.at("accepts").as_array().at(0).as_object();
  accepted["amount"] = amount;
  boost::json::object payment{{"x402Version", 2},
                              {"resource", required.at("resource")},
                              {"accepted", accepted},
                              {"payload", payload_of(a, amount)}};
  return base64::encode(boost::json::serialize(payment));
}

inline http::Response post(uint16_t port, const std::string& target, const std::string& body,
                           const std::string& key) {
  Headers headers{{"Content-Type", "application/json"}};
  if (!key.empty()) headers.push_back({"Authorization", "Bearer " + key});
  return send_request(port, bhttp::verb::post, target, headers, body);
}

}  // namespace x402::testing
