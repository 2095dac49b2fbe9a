// facilitator-http: how each facilitator answer becomes an x402_facilitator_result.
#include "http_facilitator.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "fake_host.hpp"

namespace x402::plugins::facilitator_http {
namespace {

using test::CannedResponse;
using test::FakeHost;

constexpr const char* kRequest =
    R"({"x402Version":2,"paymentPayload":{},"paymentRequirements":{"network":"eip155:84532"}})";

HttpFacilitatorConfig generic_config(std::string extra = "") {
  std::string json = R"({"url":"https://fac.example/api/","timeout_ms":1500)" + extra + "}";
  return parse_config(json, [](const char*) -> const char* { return nullptr; });
}

class HttpFacilitatorTest : public ::testing::Test {
 protected:
  std::unique_ptr<HttpFacilitator> make(HttpFacilitatorConfig config) {
    return std::make_unique<HttpFacilitator>(sdk::Host(host.api(), "fac-under-test"),
                                             std::move(config));
  }
  sdk::FacilitatorDone collect() {
    return [this](const sdk::FacilitatorResult& r) { results.push_back(r); };
  }
  boost::json::object answered_body(size_t i = 0) {
    return boost::json::parse(results.at(i).body).as_object();
  }

  FakeHost host;
  std::vector<sdk::FacilitatorResult> results;
};

TEST_F(HttpFacilitatorTest, VerifyVerdictOn200IsAnsweredWithEveryField) {
  host.script.push_back(
      {X402_TRANSPORT_OK, 200, {}, R"({"isValid":true,"payer":"0xAbC","vendorField":7})"});
  auto fac = make(generic_config());
  fac->verify(kRequest, collect());

  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, X402_FAC_ANSWERED);
  EXPECT_EQ(results[0].http_status, 200);
  auto body = answered_body();
  EXPECT_EQ(body.at("isValid"), true);
  EXPECT_EQ(body.at("payer"), "0xAbC");
  EXPECT_EQ(body.at("vendorField"), 7);

  ASSERT_EQ(host.requests.size(), 1u);
  const auto& sent = host.requests[0];
  EXPECT_EQ(sent.method, "POST");
  EXPECT_EQ(sent.url, "https://fac.example/api/verify");  // trailing '/' of the base URL dropped
  EXPECT_EQ(sent.body, kRequest);
  EXPECT_EQ(sent.header("Content-Type"), "application/json");
  EXPECT_EQ(sent.header("Authorization"), "");
  EXPECT_EQ(sent.timeout_ms, 1500u);
}

TEST_F(HttpFacilitatorTest, InvalidVerdictOn400IsStillAnAnswer) {  // x402-rs style
  host.script.push_back(
      {X402_TRANSPORT_OK, 400, {}, R"({"isValid":false,"invalidReason":"insufficient_funds"})"});
  auto fac = make(generic_config());
  fac->verify(kRequest, collect());

  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, X402_FAC_ANSWERED);
  EXPECT_EQ(results[0].http_status, 400);
  EXPECT_EQ(answered_body().at("invalidReason"), "insufficient_funds");
}

TEST_F(HttpFacilitatorTest, SettleFailureOn500WithVerdictIsAnsweredAndNetworkFilledIn) {
  host.script.push_back({X402_TRANSPORT_OK,
                         500,
                         {},
                         R"({"success":false,"errorReason":"invalid_transaction_state",)"
                         R"("network":"","payer":""})"});
  auto fac = make(generic_config());
  fac->settle(kRequest, collect());

  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, X402_FAC_ANSWERED);
  auto body = answered_body();
  EXPECT_EQ(body.at("success"), false);
  EXPECT_EQ(body.at("errorReason"), "invalid_transaction_state");
  EXPECT_EQ(body.at("network"), "eip155:84532");
  EXPECT_EQ(body.at("transaction"), "");
  EXPECT_EQ(host.requests.at(0).url, "https://fac.example/api/settle");
}

TEST_F(HttpFacilitatorTest, SettlementPendingIsPendingWhateverTheStatus) {  // CDP
  host.script.push_back({X402_TRANSPORT_OK,
                         500,
                         {},
                         R"({"success":false,"errorReason":"settlement_pending",)"
                         R"("transaction":"0xfeed","network":"eip155:8453"})"});
  auto fac = make(generic_config());
  fac->settle(kRequest, collect());

  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, X402_FAC_PENDING);
  EXPECT_EQ(results[0].http_status, 500);
  EXPECT_EQ(answered_body().at("transaction"), "0xfeed");
  EXPECT_EQ(answered_body().at("network"), "eip155:8453");
}

TEST_F(HttpFacilitatorTest, BadGatewayWithoutBodyIsUnavailable) {
  host.script.push_back({X402_TRANSPORT_OK, 502, {}, ""});
  auto fac = make(generic_config());
  fac->verify(kRequest, collect());

  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, X402_FAC_UNAVAILABLE);
  EXPECT_EQ(results[0].http_status, 502);
  EXPECT_EQ(results[0].error, "HTTP 502 without a verdict body");
  EXPECT_TRUE(results[0].body.empty());
}

TEST_F(HttpFacilitatorTest, GarbageOn200IsUnavailable) {
  host.script.push_back({X402_TRANSPORT_OK, 200, {}, "<html>oops</html>"});
  auto fac = make(generic_config());
  fac->verify(kRequest, collect());

  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, X402_FAC_UNAVAILABLE);
  EXPECT_EQ(results[0].error, "malformed JSON answer");
}

TEST_F(HttpFacilitatorTest, JsonWithoutVerdictIsUnavailable) {
  host.script.push_back({X402_TRANSPORT_OK, 200, {}, R"({"isValid":"yes"})"});
  host.script.push_back({X402_TRANSPORT_OK, 503, {}, R"({"error":"maintenance"})"});
  auto fac = make(generic_config());
  fac->verify(kRequest, collect());
  fac->settle(kRequest, collect());

  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].outcome, X402_FAC_UNAVAILABLE);
  EXPECT_EQ(results[1].outcome, X402_FAC_UNAVAILABLE);
  EXPECT_EQ(results[1].error, "HTTP 503 without a verdict body");
}

TEST_F(HttpFacilitatorTest, NotSentStaysNotSent) {
  host.script.push_back({X402_TRANSPORT_NOT_SENT, 0, {}, "", "connection refused"});
  auto fac = make(generic_config());
  fac->settle(kRequest, collect());

  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, X402_FAC_NOT_SENT);
  EXPECT_EQ(results[0].error, "connection refused");
}

TEST_F(HttpFacilitatorTest, TimeoutAfterSendingIsUnavailableNotNotSent) {
  host.script.push_back({X402_TRANSPORT_MAYBE_SENT, 0, {}, "", "operation timed out", true});
  host.script.push_back({X402_TRANSPORT_MAYBE_SENT, 0, {}, "", "connection reset", false});
  auto fac = make(generic_config());
  fac->settle(kRequest, collect());
  fac->settle(kRequest, collect());

  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].outcome, X402_FAC_UNAVAILABLE);
  EXPECT_EQ(results[0].error, "timeout after 1500 ms");
  EXPECT_EQ(results[1].outcome, X402_FAC_UNAVAILABLE);
  EXPECT_NE(results[1].error.find("connection reset"), std::string::npos);
}

TEST_F(HttpFacilitatorTest, RateLimitedThenSuccessRetriesAfterRetryAfter) {
  host.script.push_back({X402_TRANSPORT_OK, 429, {{"Retry-After", "1"}}, ""});
  host.script.push_back({X402_TRANSPORT_OK, 200, {}, R"({"isValid":true})"});
  auto fac = make(generic_config());
  fac->verify(kRequest, collect());

  EXPECT_TRUE(results.empty()) << "must wait for the timer, not answer";
  ASSERT_EQ(host.timers.size(), 1u);
  EXPECT_EQ(host.timers[0].delay_ms, 1000u);
  EXPECT_EQ(host.fire_timers(), 1u);

  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, X402_FAC_ANSWERED);
  ASSERT_EQ(host.requests.size(), 2u);
  EXPECT_EQ(host.requests[1].url, host.requests[0].url);
  EXPECT_EQ(host.requests[1].body, kRequest);
}

TEST_F(HttpFacilitatorTest, RateLimitedTooOftenGivesUpWithRetryAfter) {
  for (int i = 0; i < 3; ++i)
    host.script.push_back({X402_TRANSPORT_OK, 429, {{"retry-after", "2"}}, ""});
  auto fac = make(generic_config());  // max_429_retries defaults to 2
  fac->verify(kRequest, collect());
  while (host.fire_timers() > 0) {
  }

  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(host.requests.size(), 3u);
  EXPECT_EQ(results[0].outcome, X402_FAC_UNAVAILABLE);
  EXPECT_EQ(results[0].http_status, 429);
  EXPECT_EQ(results[0].retry_after_ms, 2000u);
  EXPECT_NE(results[0].error.find("429"), std::string::npos);
}

TEST_F(HttpFacilitatorTest, RetryAfterBeyondTheCapIsNotWaitedInline) {
  host.script.push_back({X402_TRANSPORT_OK, 429, {{"Retry-After", "30"}}, ""});
  auto fac = make(generic_config());
  fac->verify(kRequest, collect());

  EXPECT_TRUE(host.timers.empty());
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, X402_FAC_UNAVAILABLE);
  EXPECT_EQ(results[0].retry_after_ms, 30000u);
}

TEST(RetryAfter, ParsesSecondsAndHttpDates) {
  EXPECT_EQ(parse_retry_after("3", 0), 3000u);
  EXPECT_EQ(parse_retry_after(" 0 ", 0), 0u);
  // Sun, 06 Nov 1994 08:49:37 GMT = 784111777
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777000ull - 5000), 5000u);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777000ull + 5000), 0u);
  EXPECT_FALSE(parse_retry_after("soon", 0).has_value());
  EXPECT_FALSE(parse_retry_after("-1", 0).has_value());
}

TEST_F(HttpFacilitatorTest, SupportedIsCachedForItsTtl) {
  const std::string kinds =
      R"({"kinds":[{"x402Version":2,"scheme":"exact","network":"eip155:84532"}]})";
  host.script.push_back({X402_TRANSPORT_OK, 200, {}, kinds});
  host.script.push_back({X402_TRANSPORT_OK, 200, {}, kinds});
  auto fac = make(generic_config(R"(,"supported_ttl_seconds":60)"));

  fac->supported(collect());
  host.monotonic_ms += 59'000;
  fac->supported(collect());
  EXPECT_EQ(host.requests.size(), 1u);
  host.monotonic_ms += 2'000;
  fac->supported(collect());
  EXPECT_EQ(host.requests.size(), 2u);

  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) {
    EXPECT_EQ(r.outcome, X402_FAC_ANSWERED);
    EXPECT_EQ(boost::json::parse(r.body).at("kinds").as_array().size(), 1u);
  }
  EXPECT_EQ(host.requests[0].method, "GET");
  EXPECT_EQ(host.requests[0].url, "https://fac.example/api/supported");
}

TEST_F(HttpFacilitatorTest, FailedSupportedIsNotCached) {
  host.script.push_back({X402_TRANSPORT_OK, 500, {}, ""});
  host.script.push_back({X402_TRANSPORT_OK, 200, {}, R"({"kinds":[]})"});
  auto fac = make(generic_config());
  fac->supported(collect());
  fac->supported(collect());

  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].outcome, X402_FAC_UNAVAILABLE);
  EXPECT_EQ(results[1].outcome, X402_FAC_ANSWERED);
  EXPECT_EQ(host.requests.size(), 2u);
}

TEST_F(HttpFacilitatorTest, HealthProbeUsesHealthOnX402RsAndSupportedElsewhere) {
  auto none = [](const char*) -> const char* { return nullptr; };
  host.script.push_back({X402_TRANSPORT_OK, 200, {}, R"({"kinds":[]})"});
  host.script.push_back({X402_TRANSPORT_OK, 200, {}, R"({"kinds":[]})"});
  make(parse_config(R"({"preset":"x402-rs"})", none))->health(collect());
  make(generic_config())->health(collect());

  ASSERT_EQ(host.requests.size(), 2u);
  EXPECT_EQ(host.requests[0].url, "https://facilitator.x402.rs/health");
  EXPECT_EQ(host.requests[1].url, "https://fac.example/api/supported");
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].outcome, X402_FAC_ANSWERED);
}

}  // namespace
}  // namespace x402::plugins::facilitator_http
