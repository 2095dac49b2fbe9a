// The paid path end to end through a real x402d: the dual-stack 402, a v2 and a v1 payment
// verified and settled through facilitator-http, the upstream call, the settlement header and
// the books.
#include <gtest/gtest.h>

#include "protocol/settlement.hpp"
#include "support/fake_facilitator.hpp"
#include "support/gateway_harness.hpp"

namespace x402::testing {
namespace {

class PaidFlowTest : public ::testing::Test {
 protected:
  void start(const std::string& settle = "after") {
    ConfigOptions options;
    options.facilitators = {{"primary", facilitator.url()}};
    options.upstream_port = upstream.port();
    options.settle = settle;
    gateway = std::make_unique<GatewayHarness>(gateway_yaml(options));
  }

  FakeFacilitator facilitator;
  FakeUpstream upstream;
  std::unique_ptr<GatewayHarness> gateway;
};

TEST_F(PaidFlowTest, UnpaidRequestGetsDualStack402) {
  start();
  auto res = gateway->get("/acme/api/signal?symbol=ETH");
  ASSERT_EQ(res.result_int(), 402);
  EXPECT_EQ(res[bhttp::field::cache_control], "no-store");
  EXPECT_NE(res[bhttp::field::access_control_expose_headers].find("PAYMENT-REQUIRED"),
            std::string::npos);

  // v2: the PAYMENT-REQUIRED header.
  auto v2 = decode_header_json(res["PAYMENT-REQUIRED"]);
  EXPECT_EQ(v2.at("x402Version").as_int64(), 2);
  EXPECT_EQ(v2.at("resource").at("url").as_string(),
            "http://127.0.0.1:" + std::to_string(gateway->port()) + "/acme/api/signal?symbol=ETH");
  const auto& accepted = v2.at("accepts").as_array().at(0).as_object();
  EXPECT_EQ(accepted.at("network").as_string(), "eip155:84532");
  EXPECT_EQ(accepted.at("amount").as_string(), "10000");  // "0.01" USDC, 6 decimals
  EXPECT_EQ(accepted.at("payTo").as_string(), kPayTo);
  EXPECT_EQ(accepted.at("asset").as_string(), kUsdc);
  EXPECT_EQ(accepted.at("extra").at("name").as_string(), "USDC");

  // v1: the JSON body.
  auto v1 = parse_object(res.body());
  EXPECT_EQ(v1.at("x402Version").as_int64(), 1);
  const auto& requirement = v1.at("accepts").as_array().at(0).as_object();
  EXPECT_EQ(requirement.at("network").as_string(), "base-sepolia");
  EXPECT_EQ(requirement.at("maxAmountRequired").as_string(), "10000");
  EXPECT_EQ(requirement.at("description").as_string(), "Trading signal");
  EXPECT_EQ(upstream.hits(), 0);
  EXPECT_EQ(facilitator.verify_calls.load(), 0);
}

TEST_F(PaidFlowTest, V2PaymentIsVerifiedForwardedSettledAndRecorded) {
  start();
  auto offer = gateway->get("/acme/api/signal");
  Authorization payer;
  auto res = gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", pay_v2(offer, payer)}});

  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_NE(res.body().find("sunny"), std::string::npos);
  EXPECT_EQ(res[bhttp::field::cache_control], "private");
  EXPECT_TRUE(res["X-PAYMENT-RESPONSE"].empty());
  auto settlement = decode_settlement_header(res["PAYMENT-RESPONSE"]);
  ASSERT_TRUE(settlement.ok());
  EXPECT_TRUE(settlement->success);
  EXPECT_EQ(settlement->network, "eip155:84532");
  EXPECT_EQ(settlement->payer, payer.from);
  EXPECT_EQ(settlement->transaction.size(), 66u);

  // The upstream saw the request without the payer's signature, with forwarding headers.
  ASSERT_EQ(upstream.hits(), 1);
  auto seen = upstream.received().at(0);
  EXPECT_EQ(seen.target(), "/api/signal");
  EXPECT_TRUE(seen["PAYMENT-SIGNATURE"].empty());
  EXPECT_EQ(seen["X-Forwarded-For"], "127.0.0.1");
  EXPECT_EQ(seen["X-Forwarded-Proto"], "http");

  // The facilitator got the payload as sent and the requirement the client accepted.
  ASSERT_EQ(facilitator.settle_calls.load(), 1);
  auto settle_request = facilitator.settle_requests().at(0);
  EXPECT_EQ(settle_request.at("x402Version").as_int64(), 2);
  EXPECT_EQ(settle_request.at("paymentRequirements").at("amount").as_string(), "10000");

  auto stored = gateway->store().payments_with_status(PaymentStatus::Settled, 10);
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ(stored->at(0).amount, "10000");
  EXPECT_EQ(stored->at(0).tx_hash, settlement->transaction);
  EXPECT_EQ(stored->at(0).facilitator, "primary");
  auto usage = gateway->store().usage_for_merchant("acme", 10);
  ASSERT_TRUE(usage.ok());
  ASSERT_EQ(usage->size(), 1u);
  EXPECT_EQ(usage->at(0).amount, "10000");
  EXPECT_EQ(usage->at(0).upstream_status, 200);
}

TEST_F(PaidFlowTest, V1PaymentIsAnsweredWithXPaymentResponse) {
  start();
  auto offer = gateway->get("/acme/api/signal");
  auto res = gateway->get("/acme/api/signal", {{"X-PAYMENT", pay_v1(offer)}});
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_TRUE(res["PAYMENT-RESPONSE"].empty());
  auto settlement = decode_settlement_header(res["X-PAYMENT-RESPONSE"]);
  ASSERT_TRUE(settlement.ok());
  EXPECT_EQ(settlement->network, "base-sepolia");
  // The facilitator is called with the payload's own version and the v1 requirement.
  auto verify = facilitator.verify_requests().at(0);
  EXPECT_EQ(verify.at("x402Version").as_int64(), 1);
  EXPECT_EQ(verify.at("paymentRequirements").at("maxAmountRequired").as_string(), "10000");
  EXPECT_EQ(verify.at("paymentRequirements").at("resource").as_string(),
            "http://127.0.0.1:" + std::to_string(gateway->port()) + "/acme/api/signal");
}

TEST_F(PaidFlowTest, FailedUpstreamIsNotSettledAndThePaymentStaysUsable) {
  start();
  upstream.status = 500;
  auto offer = gateway->get("/acme/api/signal");
  auto payment = pay_v2(offer);
  auto res = gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", payment}});
  EXPECT_EQ(res.result_int(), 500);
  EXPECT_EQ(facilitator.settle_calls.load(), 0);
  EXPECT_TRUE(res["PAYMENT-RESPONSE"].empty());

  // Nothing was charged, so the same authorization may be presented again.
  upstream.status = 200;
  res = gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", payment}});
  EXPECT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(facilitator.settle_calls.load(), 1);
}

TEST_F(PaidFlowTest, SettleBeforeRouteSettlesBeforeTheUpstreamIsCalled) {
  start("before");
  upstream.status = 500;
  auto offer = gateway->get("/acme/api/signal");
  auto res = gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", pay_v2(offer)}});
  // Settled first, so the payer gets the upstream's answer together with the receipt.
  EXPECT_EQ(res.result_int(), 500);
  EXPECT_EQ(facilitator.settle_calls.load(), 1);
  EXPECT_TRUE(decode_settlement_header(res["PAYMENT-RESPONSE"]).ok());
}

TEST_F(PaidFlowTest, InvalidVerdictIsA402WithTheFacilitatorsReason) {
  start();
  facilitator.verify_behaviour = FakeFacilitator::Behaviour::RefuseWith400;
  auto offer = gateway->get("/acme/api/signal");
  auto res = gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", pay_v2(offer)}});
  ASSERT_EQ(res.result_int(), 402);
  EXPECT_NE(parse_object(res.body()).at("error").as_string().find("insufficient_funds"),
            std::string::npos);
  EXPECT_EQ(upstream.hits(), 0);
  EXPECT_EQ(gateway->store().count_payments().value(), 0);
}

TEST_F(PaidFlowTest, FreeRouteIsAPlainReverseProxy) {
  start();
  auto res = gateway->get(
      "/acme/public/hello?x=1",
      {{"Connection", "keep-alive, X-Secret"}, {"X-Secret", "hop"}, {"X-PAYMENT", "ignored"}});
  ASSERT_EQ(res.result_int(), 200);
  auto seen = upstream.received().at(0);
  EXPECT_EQ(seen.target(), "/public/hello?x=1");
  EXPECT_TRUE(seen["X-Secret"].empty());   // named in Connection: hop-by-hop
  EXPECT_TRUE(seen["X-PAYMENT"].empty());  // payment headers never reach the upstream
  EXPECT_EQ(facilitator.verify_calls.load(), 0);
}

TEST(UpstreamTimeoutTest, SlowUpstreamIsA504AndThePaymentIsNotSettled) {
  FakeFacilitator facilitator;
  DelayedUpstream slow(std::chrono::seconds(10));
  ConfigOptions options;
  options.facilitators = {{"primary", facilitator.url()}};
  options.upstream_port = slow.port();
  options.upstream_timeout_ms = 300;
  GatewayHarness gateway(gateway_yaml(options));

  auto offer = gateway.get("/acme/api/signal");
  auto res = gateway.get("/acme/api/signal", {{"PAYMENT-SIGNATURE", pay_v2(offer)}});
  EXPECT_EQ(res.result_int(), 504);
  EXPECT_EQ(parse_object(res.body()).at("code").as_string(), "upstream_timeout");
  EXPECT_EQ(facilitator.settle_calls.load(), 0);
  EXPECT_EQ(gateway.store().count_payments().value(), 0);  // released: nothing was charged
  slow.release();
}

TEST_F(PaidFlowTest, HeadOnAFreeRouteKeepsTheUpstreamsContentLength) {
  start();
  auto got = gateway->get("/acme/public/x");
  auto head = send_request(gateway->port(), bhttp::verb::head, "/acme/public/x");
  ASSERT_EQ(head.result_int(), 200);
  EXPECT_TRUE(head.body().empty());
  EXPECT_EQ(head[bhttp::field::content_length], std::to_string(got.body().size()));
}

TEST_F(PaidFlowTest, UnknownMerchantAndRouteAre404WithJson) {
  start();
  auto res = gateway->get("/nobody/x");
  EXPECT_EQ(res.result_int(), 404);
  EXPECT_EQ(parse_object(res.body()).at("code").as_string(), "unknown_merchant");
  res = gateway->get("/acme/nothing-here");
  EXPECT_EQ(res.result_int(), 404);
  EXPECT_EQ(parse_object(res.body()).at("code").as_string(), "no_route");
}

TEST_F(PaidFlowTest, UnknownSettlementIsReconciledThenServedOnceToTheSamePayment) {
  start();
  facilitator.settle_behaviour = FakeFacilitator::Behaviour::Hang;  // "broadcast", then silence
  auto offer = gateway->get("/acme/api/signal");
  auto payment = pay_v2(offer);
  auto first = gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", payment}});
  ASSERT_EQ(first.result_int(), 503) << first.body();
  EXPECT_EQ(parse_object(first.body()).at("code").as_string(), "settlement_unknown");
  EXPECT_FALSE(first[bhttp::field::retry_after].empty());

  // Until reconciled, a retry with the same payment is told to wait, never to pay again.
  auto waiting = gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", payment}});
  EXPECT_EQ(waiting.result_int(), 503);
  EXPECT_EQ(parse_object(waiting.body()).at("code").as_string(), "settlement_unknown");

  facilitator.settle_behaviour = FakeFacilitator::Behaviour::Answer;
  gateway->gateway().reconcile_now();
  ASSERT_EQ(gateway->store().payments_with_status(PaymentStatus::Settled, 10)->size(), 1u);

  const int hits_before = upstream.hits();
  auto served = gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", payment}});
  ASSERT_EQ(served.result_int(), 200) << served.body();
  EXPECT_TRUE(decode_settlement_header(served["PAYMENT-RESPONSE"]).ok());
  EXPECT_EQ(upstream.hits(), hits_before + 1);
  auto usage = gateway->store().usage_for_merchant("acme", 10);
  EXPECT_EQ(usage->size(), 1u);

  // Served once: the next copy is a replay.
  auto replay = gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", payment}});
  EXPECT_EQ(replay.result_int(), 402);
  EXPECT_EQ(upstream.hits(), hits_before + 1);
}

}  // namespace
}  // namespace x402::testing
