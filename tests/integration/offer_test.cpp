// The unpaid 402 of a fixed-price route is rendered once per resource URL and kept in the route's
// plan: through a real x402d, it must still name the URL each client asked for, follow a config
// reload, carry the route's payment-identifier declaration, and never stand in for a refusal.
#include <gtest/gtest.h>

#include "support/fake_facilitator.hpp"
#include "support/gateway_harness.hpp"

namespace x402::testing {
namespace {

namespace json = boost::json;

std::string v2_resource_url(const http::Response& res) {
  auto required = decode_header_json(res["PAYMENT-REQUIRED"]);
  return std::string(required.at("resource").at("url").as_string());
}

std::string v1_resource_url(const http::Response& res) {
  return std::string(
      parse_object(res.body()).at("accepts").as_array().at(0).at("resource").as_string());
}

class OfferTest : public ::testing::Test {
 protected:
  std::string yaml(const std::string& route_extra = "", const std::string& price = "0.01") {
    ConfigOptions options;
    options.facilitators = {{"primary", facilitator.url()}};
    options.upstream_port = upstream.port();
    std::string y = gateway_yaml(options);
    const std::string anchor = "        mime_type: application/json\n";
    y.replace(y.find(anchor), anchor.size(), anchor + route_extra);
    const std::string price_line = "price: \"0.01\"";
    y.replace(y.find(price_line), price_line.size(), "price: \"" + price + "\"");
    return y;
  }

  void start(const std::string& route_extra = "") {
    gateway = std::make_unique<GatewayHarness>(yaml(route_extra));
  }

  http::Response offer(const std::string& target, const Headers& headers = {}) {
    auto res = gateway->get(target, headers);
    EXPECT_EQ(res.result_int(), 402) << target << ": " << res.body();
    return res;
  }

  FakeFacilitator facilitator;
  FakeUpstream upstream;
  std::unique_ptr<GatewayHarness> gateway;
};

TEST_F(OfferTest, EachHostGetsItsOwnResourceUrlAndTheSameAnswerAgain) {
  start();
  auto a = offer("/acme/api/signal", {{"Host", "a.example"}});
  auto b = offer("/acme/api/signal", {{"Host", "b.example:8080"}});
  EXPECT_EQ(v2_resource_url(a), "http://a.example/acme/api/signal");
  EXPECT_EQ(v1_resource_url(a), "http://a.example/acme/api/signal");
  EXPECT_EQ(v2_resource_url(b), "http://b.example:8080/acme/api/signal");
  EXPECT_EQ(v1_resource_url(b), "http://b.example:8080/acme/api/signal");

  auto a_again = offer("/acme/api/signal", {{"Host", "a.example"}});
  EXPECT_EQ(a_again["PAYMENT-REQUIRED"], a["PAYMENT-REQUIRED"]);
  EXPECT_EQ(a_again.body(), a.body());
  EXPECT_EQ(a_again[bhttp::field::content_type], a[bhttp::field::content_type]);
  EXPECT_EQ(a_again[bhttp::field::content_length], std::to_string(a.body().size()));
  EXPECT_EQ(parse_object(a_again.body()).at("error").as_string(),
            "payment required: send PAYMENT-SIGNATURE (x402 v2) or X-PAYMENT (x402 v1)");
  EXPECT_EQ(upstream.hits(), 0);
}

TEST_F(OfferTest, EachQueryStringIsItsOwnResource) {
  start();
  auto one = offer("/acme/api/signal?symbol=BTC");
  auto two = offer("/acme/api/signal?symbol=ETH");
  const std::string base = "http://127.0.0.1:" + std::to_string(gateway->port());
  EXPECT_EQ(v2_resource_url(one), base + "/acme/api/signal?symbol=BTC");
  EXPECT_EQ(v2_resource_url(two), base + "/acme/api/signal?symbol=ETH");
  EXPECT_EQ(v1_resource_url(two), base + "/acme/api/signal?symbol=ETH");
  EXPECT_EQ(v2_resource_url(offer("/acme/api/signal?symbol=BTC")),
            base + "/acme/api/signal?symbol=BTC");
}

TEST_F(OfferTest, AReloadedPriceIsOfferedAtOnce) {
  start();
  auto before = offer("/acme/api/signal");
  auto required = decode_header_json(before["PAYMENT-REQUIRED"]);
  ASSERT_EQ(required.at("accepts").as_array().at(0).at("amount").as_string(), "10000");

  gateway->write_config(yaml("", "0.02"));
  ASSERT_TRUE(gateway->gateway().reload().ok());
  auto after = offer("/acme/api/signal");  // the URL whose 402 was rendered before
  required = decode_header_json(after["PAYMENT-REQUIRED"]);
  EXPECT_EQ(required.at("accepts").as_array().at(0).at("amount").as_string(), "20000");
  EXPECT_EQ(parse_object(after.body()).at("accepts").as_array().at(0).at("maxAmountRequired"),
            "20000");

  // A payment made against the old offer is refused; one against the new one is served.
  auto old_price = gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", pay_v2(before)}});
  EXPECT_EQ(old_price.result_int(), 402) << old_price.body();
  auto new_price = gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", pay_v2(after)}});
  EXPECT_EQ(new_price.result_int(), 200) << new_price.body();
}

// The declaration a 402 carries, or null when it has none; the v1 body never has extensions.
json::value declaration_of(const http::Response& res) {
  EXPECT_FALSE(parse_object(res.body()).contains("extensions")) << res.body();
  auto required = decode_header_json(res["PAYMENT-REQUIRED"]);
  if (!required.contains("extensions")) return nullptr;
  const auto& extensions = required.at("extensions").as_object();
  if (!extensions.contains("payment-identifier")) return nullptr;
  return extensions.at("payment-identifier");
}

TEST_F(OfferTest, PaymentIdentifierOffDeclaresNothing) {
  start("        payment_identifier: \"off\"\n");
  for (int i = 0; i < 2; ++i) {  // rendered, then cached
    EXPECT_TRUE(declaration_of(offer("/acme/api/signal")).is_null());
  }
}

TEST_F(OfferTest, PaymentIdentifierOptionalIsDeclaredNotRequired) {
  start("        payment_identifier: optional\n");
  for (int i = 0; i < 2; ++i) {
    auto declaration = declaration_of(offer("/acme/api/signal"));
    ASSERT_TRUE(declaration.is_object());
    EXPECT_EQ(declaration.at("info").at("required"), false);
    EXPECT_EQ(declaration.at("schema").at("properties").at("id").at("maxLength"), 128);
  }
}

TEST_F(OfferTest, PaymentIdentifierRequiredIsDeclaredRequired) {
  start("        payment_identifier: required\n");
  for (int i = 0; i < 2; ++i) {
    auto declaration = declaration_of(offer("/acme/api/signal"));
    ASSERT_TRUE(declaration.is_object());
    EXPECT_EQ(declaration.at("info").at("required"), true);
  }
}

TEST_F(OfferTest, ARefusedPaymentGetsItsOwnErrorAndStillTheDeclaration) {
  start("        payment_identifier: required\n");
  auto unpaid = offer("/acme/api/signal");
  const auto unpaid_error = decode_header_json(unpaid["PAYMENT-REQUIRED"]).at("error");

  // A v2 payment with an id, as the declaration asks, but short of the price: refused with a 402
  // that names the amount.
  Authorization cheap;
  cheap.value = "1";
  auto payment = decode_header_json(pay_v2(unpaid, cheap));
  json::object extensions =
      decode_header_json(unpaid["PAYMENT-REQUIRED"]).at("extensions").as_object();
  extensions["payment-identifier"].as_object()["info"].as_object()["id"] =
      "pay_7d5d747be160e280504c099d984bcfe0";
  payment["extensions"] = std::move(extensions);
  auto refused = gateway->get("/acme/api/signal",
                              {{"PAYMENT-SIGNATURE", base64::encode(json::serialize(payment))}});
  ASSERT_EQ(refused.result_int(), 402) << refused.body();
  const auto body_error = std::string(parse_object(refused.body()).at("error").as_string());
  EXPECT_NE(body_error, unpaid_error.as_string());
  EXPECT_NE(body_error.find("amount_mismatch"), std::string::npos) << body_error;
  auto required = decode_header_json(refused["PAYMENT-REQUIRED"]);
  EXPECT_EQ(required.at("error").as_string(), body_error);
  EXPECT_EQ(required.at("extensions").at("payment-identifier").at("info").at("required"), true);
  EXPECT_EQ(v2_resource_url(refused), v2_resource_url(unpaid));
  EXPECT_EQ(facilitator.verify_calls.load(), 0);

  // And the unpaid answer after it is the cached one again, not the refusal.
  auto again = offer("/acme/api/signal");
  EXPECT_EQ(again["PAYMENT-REQUIRED"], unpaid["PAYMENT-REQUIRED"]);
  EXPECT_EQ(again.body(), unpaid.body());
}

TEST_F(OfferTest, ARefusedV2PaymentOnAnOptionalRouteCarriesTheDeclaration) {
  start();
  auto unpaid = offer("/acme/api/signal?x=1");
  Authorization cheap;
  cheap.value = "1";
  auto refused =
      gateway->get("/acme/api/signal?x=1", {{"PAYMENT-SIGNATURE", pay_v2(unpaid, cheap)}});
  ASSERT_EQ(refused.result_int(), 402) << refused.body();
  auto required = decode_header_json(refused["PAYMENT-REQUIRED"]);
  EXPECT_NE(required.at("error"), decode_header_json(unpaid["PAYMENT-REQUIRED"]).at("error"));
  EXPECT_NE(std::string(required.at("error").as_string()).find("amount_mismatch"),
            std::string::npos);
  EXPECT_EQ(required.at("extensions").at("payment-identifier").at("info").at("required"), false);
  EXPECT_EQ(required.at("resource").at("url"),
            decode_header_json(unpaid["PAYMENT-REQUIRED"]).at("resource").at("url"));

  // The same refusal in v1: its own error in the body, and no extensions there.
  auto refused_v1 = gateway->get("/acme/api/signal?x=1", {{"X-PAYMENT", pay_v1(unpaid, cheap)}});
  ASSERT_EQ(refused_v1.result_int(), 402) << refused_v1.body();
  auto body = parse_object(refused_v1.body());
  EXPECT_NE(std::string(body.at("error").as_string()).find("amount_mismatch"), std::string::npos);
  EXPECT_FALSE(body.contains("extensions"));
}

TEST_F(OfferTest, MoreDistinctUrlsThanTheCacheHoldsAllGetTheirOwn402) {
  start();
  const std::string base = "http://127.0.0.1:" + std::to_string(gateway->port());
  constexpr int kUrls = 1100;  // past the 1024 the cache keeps
  for (int i = 0; i < kUrls; ++i) {
    const std::string target = "/acme/api/signal?n=" + std::to_string(i);
    auto res = gateway->get(target);
    ASSERT_EQ(res.result_int(), 402) << target;
    ASSERT_EQ(v2_resource_url(res), base + target);
    ASSERT_EQ(v1_resource_url(res), base + target);
  }
  // The first ones again, after the cache started over, and the latest ones.
  for (int i : {0, 1, 500, 1023, 1024, 1099}) {
    const std::string target = "/acme/api/signal?n=" + std::to_string(i);
    auto res = offer(target);
    EXPECT_EQ(v2_resource_url(res), base + target);
    EXPECT_EQ(v1_resource_url(res), base + target);
  }
  EXPECT_EQ(upstream.hits(), 0);
}

}  // namespace
}  // namespace x402::testing
