// x402d as a facilitator: the facilitator_api listener serves the standard facilitator HTTP API
// (PROTOCOL.md §2) from a configured facilitator instance — here facilitator-http in front of the
// FakeFacilitator double — and refuses malformed input with 400 naming the field.
#include <gtest/gtest.h>

#include "support/fake_facilitator.hpp"
#include "support/gateway_harness.hpp"

namespace x402::testing {
namespace {

namespace json = boost::json;
using Behaviour = FakeFacilitator::Behaviour;

std::string with_facilitator_api(std::string yaml, const std::string& facilitator) {
  return yaml + "facilitator_api:\n  listen: \"127.0.0.1:0\"\n  facilitator: " + facilitator + "\n";
}

json::object requirements() {
  return {{"scheme", "exact"},
          {"network", "eip155:84532"},
          {"amount", "10000"},
          {"asset", kUsdc},
          {"payTo", kPayTo},
          {"maxTimeoutSeconds", 60},
          {"extra", {{"name", "USDC"}, {"version", "2"}}}};
}

json::object payment_request(const Authorization& a = {}) {
  json::object payload{{"x402Version", 2},
                       {"resource", {{"url", "https://shop.example/api"}}},
                       {"accepted", requirements()},
                       {"payload", payload_of(a, "10000")}};
  return {{"x402Version", 2}, {"paymentPayload", payload}, {"paymentRequirements", requirements()}};
}

class FacilitatorApiTest : public ::testing::Test {
 protected:
  void start(const std::string& facilitator_url) {
    ConfigOptions options;
    options.facilitators = {{"primary", facilitator_url}};
    options.upstream_port = upstream_.port();
    harness_ =
        std::make_unique<GatewayHarness>(with_facilitator_api(gateway_yaml(options), "primary"));
    ASSERT_NE(harness_->gateway().facilitator_api_port(), 0);
    ASSERT_NE(harness_->gateway().facilitator_api_port(), harness_->port());
  }
  void SetUp() override { start(facilitator_.url()); }

  http::Response post(const std::string& path, const std::string& body) {
    return send_request(harness_->gateway().facilitator_api_port(), bhttp::verb::post, path,
                        {{"Content-Type", "application/json"}}, body);
  }
  http::Response post(const std::string& path, const json::object& body) {
    return post(path, json::serialize(body));
  }

  // A 400 naming `field`, and nothing reached the facilitator.
  void expect_bad_request(const std::string& path, const std::string& body,
                          const std::string& field) {
    auto res = post(path, body);
    EXPECT_EQ(res.result_int(), 400u) << body << " → " << res.body();
    EXPECT_EQ(res[bhttp::field::content_type], "application/json");
    auto answer = parse_object(res.body());
    EXPECT_EQ(answer["field"], json::value(field)) << res.body();
    EXPECT_TRUE(answer["error"].is_string()) << res.body();
  }

  FakeFacilitator facilitator_;
  FakeUpstream upstream_;
  std::unique_ptr<GatewayHarness> harness_;
};

TEST_F(FacilitatorApiTest, VerifyForwardsTheBodyAndAnswersTheVerdict) {
  Authorization payer;
  auto request = payment_request(payer);
  auto res = post("/verify", request);
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  auto verdict = parse_object(res.body());
  EXPECT_EQ(verdict["isValid"], json::value(true));
  EXPECT_EQ(verdict["payer"], json::value(payer.from));

  ASSERT_EQ(facilitator_.verify_calls.load(), 1);
  EXPECT_EQ(facilitator_.verify_requests().at(0), json::value(request));
  EXPECT_EQ(facilitator_.settle_calls.load(), 0);
}

TEST_F(FacilitatorApiTest, AnInvalidVerdictIsStill200LikeTheReferenceFacilitator) {
  facilitator_.verify_behaviour = Behaviour::RefuseWith400;  // x402-rs style, normalized
  auto res = post("/verify", payment_request());
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  auto verdict = parse_object(res.body());
  EXPECT_EQ(verdict["isValid"], json::value(false));
  EXPECT_EQ(verdict["invalidReason"], json::value("insufficient_funds"));
}

TEST_F(FacilitatorApiTest, SettleForwardsTheBodyAndAnswersTheSettlement) {
  Authorization payer;
  auto request = payment_request(payer);
  auto res = post("/settle", request);
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  auto verdict = parse_object(res.body());
  EXPECT_EQ(verdict["success"], json::value(true));
  EXPECT_EQ(verdict["network"], json::value("eip155:84532"));
  EXPECT_EQ(verdict["payer"], json::value(payer.from));
  ASSERT_TRUE(verdict["transaction"].is_string());
  EXPECT_EQ(verdict["transaction"].as_string().size(), 66u);

  ASSERT_EQ(facilitator_.settle_calls.load(), 1);
  EXPECT_EQ(facilitator_.settle_requests().at(0), json::value(request));
  EXPECT_EQ(facilitator_.verify_calls.load(), 0);
}

TEST_F(FacilitatorApiTest, ARefusedSettlementIs200WithTheReason) {
  facilitator_.settle_behaviour = Behaviour::Refuse;
  auto res = post("/settle", payment_request());
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  auto verdict = parse_object(res.body());
  EXPECT_EQ(verdict["success"], json::value(false));
  EXPECT_EQ(verdict["errorReason"], json::value("insufficient_funds"));
}

TEST_F(FacilitatorApiTest, ABroadcastButUnconfirmedSettlementIs202Pending) {
  facilitator_.settle_behaviour = Behaviour::SettlementPending;
  auto res = post("/settle", payment_request());
  ASSERT_EQ(res.result_int(), 202u) << res.body();
  auto verdict = parse_object(res.body());
  EXPECT_EQ(verdict["success"], json::value(false));
  EXPECT_EQ(verdict["errorReason"], json::value("settlement_pending"));
  EXPECT_TRUE(verdict["transaction"].is_string());
}

TEST_F(FacilitatorApiTest, SupportedAnswersTheInstancesKinds) {
  auto res =
      send_request(harness_->gateway().facilitator_api_port(), bhttp::verb::get, "/supported");
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  auto body = parse_object(res.body());
  ASSERT_TRUE(body["kinds"].is_array());
  const auto& kinds = body["kinds"].as_array();
  ASSERT_EQ(kinds.size(), 2u);
  EXPECT_EQ(kinds[1].at("network"), json::value("eip155:84532"));
  EXPECT_EQ(kinds[1].at("x402Version"), json::value(2));
}

TEST_F(FacilitatorApiTest, MalformedBodiesAre400NamingTheField) {
  expect_bad_request("/verify", "{not json", "body");
  expect_bad_request("/settle", "", "body");
  expect_bad_request("/verify", "[1,2]", "body");

  auto request = payment_request();
  request.erase("x402Version");
  expect_bad_request("/verify", json::serialize(request), "x402Version");
  request = payment_request();
  request["x402Version"] = "2";
  expect_bad_request("/settle", json::serialize(request), "x402Version");
  request["x402Version"] = 0;
  expect_bad_request("/settle", json::serialize(request), "x402Version");

  request = payment_request();
  request.erase("paymentPayload");
  expect_bad_request("/verify", json::serialize(request), "paymentPayload");
  request["paymentPayload"] = "eyJ4NDAyVmVyc2lvbiI6Mn0=";  // a header value, not the object
  expect_bad_request("/settle", json::serialize(request), "paymentPayload");

  request = payment_request();
  request["paymentRequirements"] = json::array{requirements()};
  expect_bad_request("/verify", json::serialize(request), "paymentRequirements");
  request.erase("paymentRequirements");
  expect_bad_request("/settle", json::serialize(request), "paymentRequirements");

  EXPECT_EQ(facilitator_.verify_calls.load(), 0);
  EXPECT_EQ(facilitator_.settle_calls.load(), 0);
}

TEST_F(FacilitatorApiTest, UnknownPathsAre404AndWrongMethods405) {
  const uint16_t port = harness_->gateway().facilitator_api_port();
  auto missing = send_request(port, bhttp::verb::post, "/refund", {}, "{}");
  EXPECT_EQ(missing.result_int(), 404u);
  EXPECT_TRUE(parse_object(missing.body())["error"].is_string());

  auto get_verify = send_request(port, bhttp::verb::get, "/verify");
  EXPECT_EQ(get_verify.result_int(), 405u);
  EXPECT_EQ(get_verify[bhttp::field::allow], "POST");
  auto post_supported = send_request(port, bhttp::verb::post, "/supported", {}, "{}");
  EXPECT_EQ(post_supported.result_int(), 405u);
  EXPECT_EQ(post_supported[bhttp::field::allow], "GET");

  // The merchant listener does not serve the facilitator API.
  auto on_gateway = send_request(harness_->port(), bhttp::verb::post, "/verify", {},
                                 json::serialize(payment_request()));
  EXPECT_NE(on_gateway.result_int(), 200u);
  EXPECT_EQ(facilitator_.verify_calls.load(), 0);
}

TEST_F(FacilitatorApiTest, AFacilitatorWithoutAnAnswerIs502) {
  facilitator_.verify_behaviour = Behaviour::Error502;
  auto res = post("/verify", payment_request());
  EXPECT_EQ(res.result_int(), 502u) << res.body();
  auto body = parse_object(res.body());
  EXPECT_TRUE(body["error"].is_string());
  EXPECT_EQ(body["facilitator"], json::value("primary"));
}

TEST_F(FacilitatorApiTest, AFacilitatorThatNeverAnswersIs504) {
  facilitator_.settle_behaviour = Behaviour::Hang;  // the harness's settle timeout is 600 ms
  auto res = post("/settle", payment_request());
  EXPECT_EQ(res.result_int(), 504u) << res.body();
  EXPECT_TRUE(parse_object(res.body())["error"].is_string());
}

TEST_F(FacilitatorApiTest, RemovingTheSectionOnReloadStopsServingIt) {
  ConfigOptions options;
  options.facilitators = {{"primary", facilitator_.url()}};
  options.upstream_port = upstream_.port();
  harness_->write_config(gateway_yaml(options));
  ASSERT_TRUE(harness_->gateway().reload());
  auto res = post("/verify", payment_request());
  EXPECT_EQ(res.result_int(), 503u) << res.body();
  EXPECT_EQ(facilitator_.verify_calls.load(), 0);
}

TEST(FacilitatorApiUnreachable, AFacilitatorThatCannotBeReachedIs503) {
  FakeUpstream upstream;
  ConfigOptions options;
  options.facilitators = {{"primary", "http://127.0.0.1:" + std::to_string(closed_port())}};
  options.upstream_port = upstream.port();
  GatewayHarness harness(with_facilitator_api(gateway_yaml(options), "primary"));
  auto res =
      send_request(harness.gateway().facilitator_api_port(), bhttp::verb::post, "/verify",
                   {{"Content-Type", "application/json"}}, json::serialize(payment_request()));
  EXPECT_EQ(res.result_int(), 503u) << res.body();
  EXPECT_EQ(parse_object(res.body())["facilitator"], json::value("primary"));
}

}  // namespace
}  // namespace x402::testing
