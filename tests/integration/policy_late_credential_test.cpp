// A time pass or package whose settlement came back unknown (reconciled to SETTLED later) is
// served on the payer's retry with the same payment, and that retry carries the credential the
// payment bought — issued exactly once however many retries race, on the terms it was sold on.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "gateway/credential_token.hpp"
#include "policy_test_support.hpp"
#include "protocol/settlement.hpp"

namespace x402::testing {
namespace {

class PolicyLateCredentialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gateway =
        std::make_unique<GatewayHarness>(policy_gateway_yaml(facilitator.url(), upstream.port()));
  }

  // Pays the current offer of `target` while the facilitator answers "settlement_pending" (the
  // outcome is unknown), then lets the reconciler confirm it. Returns the payment header.
  std::string pay_unknown_then_reconcile(const std::string& target, const Authorization& payer) {
    auto offer = gateway->get(target);
    EXPECT_EQ(offer.result_int(), 402) << offer.body();
    const std::string payment = pay_v2(offer, payer);
    facilitator.settle_behaviour = FakeFacilitator::Behaviour::SettlementPending;
    auto first = gateway->get(target, {{"PAYMENT-SIGNATURE", payment}});
    EXPECT_EQ(first.result_int(), 202) << first.body();
    EXPECT_TRUE(first["X-402-Credential"].empty());

    // Not settled yet: the retry waits, and still gets no credential.
    auto waiting = gateway->get(target, {{"PAYMENT-SIGNATURE", payment}});
    EXPECT_EQ(waiting.result_int(), 503) << waiting.body();
    EXPECT_TRUE(waiting["X-402-Credential"].empty());

    facilitator.settle_behaviour = FakeFacilitator::Behaviour::Answer;
    gateway->gateway().reconcile_now();
    auto settled = gateway->store().payments_with_status(PaymentStatus::Settled, 10);
    EXPECT_TRUE(settled.ok() && settled->size() == 1u);
    return payment;
  }

  CredentialClaims claims_of(const std::string& token) {
    auto claims = verify_credential(token, kCredentialSecret, static_cast<int64_t>(unix_now()));
    EXPECT_TRUE(claims.ok()) << (claims.ok() ? "" : claims.error().message);
    return claims.ok() ? *claims : CredentialClaims{};
  }

  PayerUsage payer_usage(const std::string& payer) {
    const int64_t now_ms = static_cast<int64_t>(unix_now()) * 1000 + 1000;
    auto found = gateway->store().payer_usage("acme", lower(payer), 0, now_ms);
    EXPECT_TRUE(found.ok());
    return found.ok() ? *found : PayerUsage{};
  }

  static std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  FakeFacilitator facilitator;
  FakeUpstream upstream;
  std::unique_ptr<GatewayHarness> gateway;
};

TEST_F(PolicyLateCredentialTest, LateSettledTimePassIsIssuedOnTheRetryAndWorks) {
  const auto version = install_policy(*gateway, "acme", R"(
    function price(req)
      return { mode = "time_pass", amount = "50000", duration_seconds = 3600 }
    end)");
  Authorization payer;
  const auto payment = pay_unknown_then_reconcile("/acme/api/a", payer);

  const auto before = static_cast<int64_t>(unix_now());
  auto served = gateway->get("/acme/api/a", {{"PAYMENT-SIGNATURE", payment}});
  ASSERT_EQ(served.result_int(), 200) << served.body();
  EXPECT_TRUE(decode_settlement_header(served["PAYMENT-RESPONSE"]).ok());
  const std::string token(served["X-402-Credential"]);
  ASSERT_FALSE(token.empty()) << "the late-settled pass was served without its credential";
  EXPECT_NE(served[bhttp::field::access_control_expose_headers].find("X-402-Credential"),
            std::string::npos);
  auto claims = claims_of(token);
  EXPECT_EQ(claims.mode, "time_pass");
  EXPECT_EQ(claims.merchant, "acme");
  EXPECT_EQ(claims.payer, lower(payer.from));
  EXPECT_EQ(claims.scope, "/api/**");
  EXPECT_EQ(claims.pv, std::to_string(version));
  // The pass runs from when it was issued, not from the lost first attempt.
  EXPECT_GE(claims.exp, before + 3600);
  EXPECT_LE(claims.exp, static_cast<int64_t>(unix_now()) + 3600 + 1);

  // The credential covers later calls without a payment.
  const int settles = facilitator.settle_calls.load();
  const int hits = upstream.hits();
  auto covered = gateway->get("/acme/api/b", {{"X-402-Credential", token}});
  ASSERT_EQ(covered.result_int(), 200) << covered.body();
  EXPECT_EQ(upstream.hits(), hits + 1);
  EXPECT_EQ(facilitator.settle_calls.load(), settles);
  EXPECT_EQ(payer_usage(payer.from).active_passes, 1u);

  // The books: the redeemed call is billed as the pass, the covered call as free under it.
  auto records = gateway->store().usage_for_merchant("acme", 10);
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 2u);
  for (const auto& r : *records) {
    EXPECT_EQ(r.billing_mode, "time_pass");
    EXPECT_EQ(r.policy_version, std::to_string(version));
  }

  // Served once: the same payment again is a replay, and issues nothing.
  auto replay = gateway->get("/acme/api/a", {{"PAYMENT-SIGNATURE", payment}});
  EXPECT_EQ(replay.result_int(), 402);
  EXPECT_TRUE(replay["X-402-Credential"].empty());
  EXPECT_EQ(payer_usage(payer.from).active_passes, 1u);
}

TEST_F(PolicyLateCredentialTest, RacingRetriesIssueOnePackageOnly) {
  install_policy(*gateway, "acme", R"(
    function price(req) return { mode = "package", amount = "20000", calls = 3 } end)");
  Authorization payer;
  const auto payment = pay_unknown_then_reconcile("/acme/api/p", payer);

  constexpr int kRetries = 6;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<http::Response> answers(kRetries);
  std::vector<std::thread> retries;
  for (int i = 0; i < kRetries; ++i) {
    retries.emplace_back([&, i] {
      ++ready;
      while (!go.load()) std::this_thread::yield();
      answers[i] = get(gateway->port(), "/acme/api/p", {{"PAYMENT-SIGNATURE", payment}});
    });
  }
  while (ready.load() < kRetries) std::this_thread::yield();
  go = true;
  for (auto& t : retries) t.join();

  std::vector<std::string> tokens;
  int served = 0;
  for (const auto& a : answers) {
    if (a.result_int() == 200) ++served;
    if (!a["X-402-Credential"].empty()) tokens.emplace_back(a["X-402-Credential"]);
    if (a.result_int() != 200) {
      EXPECT_EQ(a.result_int(), 402) << a.body();
    }
  }
  EXPECT_EQ(served, 1);
  ASSERT_EQ(tokens.size(), 1u);
  // One credential row: the balance is one package's, not one per retry.
  EXPECT_EQ(payer_usage(payer.from).package_balance, 3u);
  auto stored = gateway->store().find_credential(claims_of(tokens[0]).id);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->calls_remaining, 3);
  EXPECT_EQ((*stored)->mode, "package");

  // The package then works call by call and ends at zero.
  for (int i = 0; i < 3; ++i) {
    auto res = gateway->get("/acme/api/p", {{"X-402-Credential", tokens[0]}});
    ASSERT_EQ(res.result_int(), 200) << res.body();
  }
  EXPECT_EQ(gateway->get("/acme/api/p", {{"X-402-Credential", tokens[0]}}).result_int(), 402);
}

TEST_F(PolicyLateCredentialTest, TermsAreThoseSoldNotThoseOfAPolicyActivatedBeforeTheRetry) {
  const auto sold_version = install_policy(*gateway, "acme", R"(
    function price(req)
      return { mode = "time_pass", amount = "50000", duration_seconds = 7200, scope = "merchant" }
    end)");
  Authorization payer;
  const auto payment = pay_unknown_then_reconcile("/acme/api/a", payer);

  // Same price, different terms: a one-minute, route-scoped pass. The retry still matches the
  // offer (same amount), but must get what was paid for.
  const auto newer = install_policy(*gateway, "acme", R"(
    function price(req)
      return { mode = "time_pass", amount = "50000", duration_seconds = 60 }
    end)");
  ASSERT_NE(newer, sold_version);
  auto served = gateway->get("/acme/api/a", {{"PAYMENT-SIGNATURE", payment}});
  ASSERT_EQ(served.result_int(), 200) << served.body();
  const std::string token(served["X-402-Credential"]);
  ASSERT_FALSE(token.empty());
  auto claims = claims_of(token);
  EXPECT_EQ(claims.scope, "*");
  EXPECT_EQ(claims.pv, std::to_string(sold_version));
  EXPECT_GE(claims.exp, static_cast<int64_t>(unix_now()) + 7200 - 5);
  // Merchant-wide, as sold.
  EXPECT_EQ(gateway->get("/acme/other/x", {{"X-402-Credential", token}}).result_int(), 200);
}

TEST_F(PolicyLateCredentialTest, LatePerRequestPaymentIssuesNoCredential) {
  install_policy(*gateway, "acme", R"(function price(req) return { amount = "3000" } end)");
  Authorization payer;
  const auto payment = pay_unknown_then_reconcile("/acme/api/x", payer);
  auto served = gateway->get("/acme/api/x", {{"PAYMENT-SIGNATURE", payment}});
  ASSERT_EQ(served.result_int(), 200) << served.body();
  EXPECT_TRUE(served["X-402-Credential"].empty());
  auto usage = payer_usage(payer.from);
  EXPECT_EQ(usage.active_passes, 0u);
  EXPECT_EQ(usage.package_balance, 0u);
  auto records = gateway->store().usage_for_merchant("acme", 10);
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ(records->at(0).billing_mode, "per_request");
}

}  // namespace
}  // namespace x402::testing
