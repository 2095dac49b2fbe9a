// `idempotency:` (retention, replay body cap) and a paid route's `payment_identifier`: defaults,
// values, and errors naming the field.
#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"

namespace x402 {
namespace {

std::string yaml_with(const std::string& top, const std::string& route_extra,
                      const std::string& free_extra = "") {
  return top +
         "facilitators:\n  - { name: f, plugin: facilitator-http }\n"
         "assets:\n"
         "  - symbol: USDC\n"
         "    network: base-sepolia\n"
         "    address: \"0x036CbD53842c5426634e7929541eC2318f3dCF7e\"\n"
         "    decimals: 6\n"
         "    eip712: { name: USDC, version: \"2\" }\n"
         "merchants:\n"
         "  - id: acme\n"
         "    upstream: \"http://127.0.0.1:9000\"\n"
         "    pay_to: \"0x209693Bc6afc0C5328bA36FaF03C514EF312287C\"\n"
         "    routes:\n"
         "      - path: /api/**\n"
         "        price: \"0.01\"\n" +
         route_extra + "      - path: /public/**\n        free: true\n" + free_extra;
}

TEST(IdempotencyConfig, Defaults) {
  auto config = load_config_from_string(yaml_with("", ""), "gw.yaml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ((*config)->idempotency.retention, std::chrono::hours(24));
  EXPECT_EQ((*config)->idempotency.max_stored_body_bytes, 1024u * 1024u);
  EXPECT_EQ((*config)->merchants[0].routes[0].payment_identifier, PaymentIdentifierMode::Optional);
}

TEST(IdempotencyConfig, Values) {
  auto config = load_config_from_string(
      yaml_with("idempotency: { retention_hours: 48, max_stored_body_bytes: 4096 }\n",
                "        payment_identifier: required\n"),
      "gw.yaml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ((*config)->idempotency.retention, std::chrono::hours(48));
  EXPECT_EQ((*config)->idempotency.max_stored_body_bytes, 4096u);
  EXPECT_EQ((*config)->merchants[0].routes[0].payment_identifier, PaymentIdentifierMode::Required);

  auto off =
      load_config_from_string(yaml_with("", "        payment_identifier: \"off\"\n"), "gw.yaml");
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_EQ((*off)->merchants[0].routes[0].payment_identifier, PaymentIdentifierMode::Off);
}

TEST(IdempotencyConfig, ErrorsNameTheField) {
  struct Case {
    std::string top;
    std::string route;
    std::string free_route;
    std::string field;
  };
  for (const Case& c : {
           Case{"idempotency: { retention_hours: 0 }\n", "", "", "idempotency.retention_hours"},
           Case{"idempotency: { retention_hours: 9000 }\n", "", "", "idempotency.retention_hours"},
           Case{"idempotency: { max_stored_body_bytes: -1 }\n", "", "",
                "idempotency.max_stored_body_bytes"},
           Case{"idempotency: { ttl: 1 }\n", "", "", "idempotency.ttl"},
           Case{"", "        payment_identifier: always\n", "",
                "merchants[0].routes[0].payment_identifier"},
           Case{"", "", "        payment_identifier: required\n",
                "merchants[0].routes[1].payment_identifier"},
       }) {
    auto config = load_config_from_string(yaml_with(c.top, c.route, c.free_route), "gw.yaml");
    ASSERT_FALSE(config) << c.field;
    EXPECT_EQ(config.error().field, c.field) << config.error().message;
  }
}

}  // namespace
}  // namespace x402
