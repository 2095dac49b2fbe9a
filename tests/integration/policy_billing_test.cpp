// Merchant Lua pricing policies end to end through a real x402d (issue 4): the 402 carries the
// policy's price, each billing mode is honoured (per request, dynamic, volume tiers, free, time
// pass, package), a failing policy gets the route's declared fallback, and credentials are
// bounded, expiring and unforgeable.
#include <gtest/gtest.h>

#include <thread>

#include "gateway/credential_token.hpp"
#include "policy_test_support.hpp"

namespace x402::testing {
namespace {

class PolicyBillingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gateway =
        std::make_unique<GatewayHarness>(policy_gateway_yaml(facilitator.url(), upstream.port()));
  }

  // Pays the 402 `offer` for `target` and returns the answer.
  http::Response pay(const std::string& target, const http::Response& offer,
                     const Authorization& payer = {}) {
    return gateway->get(target, {{"PAYMENT-SIGNATURE", pay_v2(offer, payer)}});
  }

  std::vector<UsageRecord> usage(const std::string& merchant = "acme") {
    auto records = gateway->store().usage_for_merchant(merchant, 100);
    EXPECT_TRUE(records.ok());
    return records.ok() ? *records : std::vector<UsageRecord>{};
  }

  uint64_t failures(const std::string& merchant, const std::string& code) {
    return gateway->gateway().metrics().counter("x402_policy_failures_total",
                                                "merchant=" + merchant + ",code=" + code);
  }

  FakeFacilitator facilitator;
  FakeUpstream upstream;
  std::unique_ptr<GatewayHarness> gateway;
};

TEST_F(PolicyBillingTest, DynamicPriceIsTheOfferAndTheSettledAmount) {
  const auto version = install_policy(*gateway, "acme", R"(
    function price(req)
      local n = tonumber(req.query.n or "0")
      return { amount = 1000 + n * 10 + req.body_size, description = "dynamic " .. n }
    end)");
  auto offer = gateway->get("/acme/api/data?n=23");
  ASSERT_EQ(offer.result_int(), 402) << offer.body();
  EXPECT_EQ(offered_amount(offer), "1230");
  auto v1 = parse_object(offer.body());
  EXPECT_EQ(v1.at("accepts").as_array().at(0).at("description").as_string(), "dynamic 23");
  EXPECT_EQ(offered_amount(gateway->get("/acme/api/data?n=7")), "1070");

  auto res = pay("/acme/api/data?n=23", offer);
  ASSERT_EQ(res.result_int(), 200) << res.body();
  ASSERT_EQ(facilitator.settle_calls.load(), 1);
  EXPECT_EQ(facilitator.settle_requests().at(0).at("paymentRequirements").at("amount").as_string(),
            "1230");
  auto records = usage();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].amount, "1230");
  EXPECT_EQ(records[0].billing_mode, "per_request");
  EXPECT_EQ(records[0].policy_version, std::to_string(version));
}

TEST_F(PolicyBillingTest, PaymentForAnotherPriceIsRefused) {
  install_policy(*gateway, "acme", R"(function price(req) return { amount = "5000" } end)");
  auto offer = gateway->get("/acme/api/x");
  ASSERT_EQ(offered_amount(offer), "5000");
  Authorization payer;
  auto res =
      gateway->get("/acme/api/x", {{"PAYMENT-SIGNATURE", pay_v2_amount(offer, payer, "10")}});
  EXPECT_EQ(res.result_int(), 402);
  EXPECT_EQ(upstream.hits(), 0);
  EXPECT_EQ(facilitator.settle_calls.load(), 0);
}

TEST_F(PolicyBillingTest, FreeModeIsServedWithoutPaymentAndRecorded) {
  const auto version = install_policy(*gateway, "acme", R"(
    function price(req)
      if req.path == "/api/health" then return { mode = "free" } end
      return { amount = "3000" }
    end)");
  auto res = gateway->get("/acme/api/health");
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(upstream.hits(), 1);
  EXPECT_EQ(gateway->get("/acme/api/paid").result_int(), 402);
  auto records = usage();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].billing_mode, "free");
  EXPECT_EQ(records[0].amount, "0");
  EXPECT_EQ(records[0].policy_version, std::to_string(version));
  EXPECT_TRUE(records[0].payment_id.empty());
}

TEST_F(PolicyBillingTest, MerchantStatsCountTheMerchantsCallsForSurgePricing) {
  install_policy(*gateway, "acme", R"(
    function price(req)
      if req.path == "/api/health" then return { mode = "free" } end
      return { amount = 1000 + req.merchant_stats.calls_this_period * 100
                             + req.merchant_stats.calls_last_minute }
    end)");
  EXPECT_EQ(offered_amount(gateway->get("/acme/api/paid")), "1000");
  for (int i = 0; i < 3; ++i) ASSERT_EQ(gateway->get("/acme/api/health").result_int(), 200);
  // Three recorded calls this period, all within the last minute: 1000 + 3*100 + 3.
  EXPECT_EQ(offered_amount(gateway->get("/acme/api/paid")), "1303");
}

TEST_F(PolicyBillingTest, VolumeTiersPriceByThePayersUsageThisPeriod) {
  install_policy(*gateway, "acme", R"(
    function price(req)
      if req.payer.calls_this_period >= 2 then return { amount = "500" } end
      return { amount = "1000" }
    end)");
  Authorization payer;
  const std::string from = payer.from;
  for (int i = 0; i < 2; ++i) {
    auto offer = gateway->get("/acme/api/t");
    ASSERT_EQ(offered_amount(offer), "1000");
    Authorization a;
    a.from = from;
    ASSERT_EQ(pay("/acme/api/t", offer, a).result_int(), 200);
  }
  // The anonymous offer is still the first tier; this payer may now pay the second tier.
  auto offer = gateway->get("/acme/api/t");
  ASSERT_EQ(offered_amount(offer), "1000");
  Authorization a;
  a.from = from;
  auto res = gateway->get("/acme/api/t", {{"PAYMENT-SIGNATURE", pay_v2_amount(offer, a, "500")}});
  ASSERT_EQ(res.result_int(), 200) << res.body();
  // Another payer cannot: it has no history.
  Authorization stranger;
  auto refused =
      gateway->get("/acme/api/t", {{"PAYMENT-SIGNATURE", pay_v2_amount(offer, stranger, "500")}});
  EXPECT_EQ(refused.result_int(), 402);
  auto records = usage();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].amount, "500");  // newest first
}

TEST_F(PolicyBillingTest, FailingPolicyGetsTheDeclaredFallbackNeverFree) {
  install_policy(*gateway, "acme", R"(
    function price(req)
      if req.path:find("^/api/") or req.path:find("^/fixed/") or req.path:find("^/strict/") then
        error("broken on purpose")
      end
      return { amount = "1" }
    end)");
  // static: the route's own price.
  auto offer = gateway->get("/acme/api/x");
  ASSERT_EQ(offer.result_int(), 402);
  EXPECT_EQ(offered_amount(offer), "10000");
  // a fallback price.
  auto fixed = gateway->get("/acme/fixed/x");
  ASSERT_EQ(fixed.result_int(), 402);
  EXPECT_EQ(offered_amount(fixed), "50000");
  // 503: no price, no service.
  auto strict = gateway->get("/acme/strict/x");
  EXPECT_EQ(strict.result_int(), 503);
  EXPECT_EQ(parse_object(strict.body()).at("code").as_string(), "pricing_unavailable");
  EXPECT_EQ(upstream.hits(), 0);
  EXPECT_EQ(failures("acme", "policy_runtime_error"), 3u);

  // The fallback is a real price: paying it serves, and the books say so.
  auto res = pay("/acme/api/x", offer);
  ASSERT_EQ(res.result_int(), 200) << res.body();
  auto records = usage();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].amount, "10000");
  EXPECT_EQ(records[0].policy_version, "fallback");
}

TEST_F(PolicyBillingTest, BudgetAbortAndNoActivePolicyAreFailuresToo) {
  auto none = gateway->get("/acme/strict/x");
  EXPECT_EQ(none.result_int(), 503);
  EXPECT_EQ(failures("acme", "policy_not_active"), 1u);
  install_policy(*gateway, "acme", "function price(req) while true do end end");
  EXPECT_EQ(gateway->get("/acme/strict/x").result_int(), 503);
  EXPECT_EQ(failures("acme", "policy_instruction_limit"), 1u);
  EXPECT_NE(gateway->gateway().metrics().render_prometheus().find(
                "x402_policy_evaluations_total{merchant=\"acme\",outcome=\"error\"} 2"),
            std::string::npos);
  EXPECT_EQ(upstream.hits(), 0);
}

TEST_F(PolicyBillingTest, ActivationInTheStoreReachesTheNodeByPolling) {
  install_policy(*gateway, "acme", R"(function price(req) return { amount = "111" } end)");
  ASSERT_EQ(offered_amount(gateway->get("/acme/api/x")), "111");
  // As another node sharing the database would: store only, no refresh call on this node.
  auto added = gateway->store().add_policy(
      "acme", R"(function price(req) return { amount = "222" } end)", "{}");
  ASSERT_TRUE(added.ok());
  ASSERT_TRUE(gateway->store().activate_policy("acme", added->version).ok());
  std::string seen;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < give_up) {
    seen = offered_amount(gateway->get("/acme/api/x"));
    if (seen == "222") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(seen, "222");
}

TEST_F(PolicyBillingTest, TimePassServesUntilItExpiresAndIsBoundToMerchantAndScope) {
  const auto version = install_policy(*gateway, "acme", R"(
    function price(req)
      return { mode = "time_pass", amount = "50000", duration_seconds = 3600 }
    end)");
  install_policy(*gateway, "beta", R"(function price(req) return { amount = "7" } end)");
  auto offer = gateway->get("/acme/api/a");
  ASSERT_EQ(offered_amount(offer), "50000");
  Authorization payer;
  auto bought = pay("/acme/api/a", offer, payer);
  ASSERT_EQ(bought.result_int(), 200) << bought.body();
  const std::string token(bought["X-402-Credential"]);
  ASSERT_FALSE(token.empty());
  EXPECT_NE(bought[bhttp::field::access_control_expose_headers].find("X-402-Credential"),
            std::string::npos);

  // Free until it expires, on any path of the route, both ways of presenting it.
  for (int i = 0; i < 3; ++i) {
    auto res = gateway->get("/acme/api/b" + std::to_string(i),
                            {{"Authorization", "X402-Credential " + token}});
    ASSERT_EQ(res.result_int(), 200) << res.body();
  }
  EXPECT_EQ(gateway->get("/acme/api/c", {{"X-402-Credential", token}}).result_int(), 200);
  EXPECT_EQ(facilitator.settle_calls.load(), 1);
  EXPECT_EQ(upstream.hits(), 5);
  auto records = usage();
  ASSERT_EQ(records.size(), 5u);
  size_t covered = 0;
  for (const auto& r : records) {
    EXPECT_EQ(r.billing_mode, "time_pass");
    EXPECT_EQ(r.policy_version, std::to_string(version));
    if (r.amount == "0") ++covered;
  }
  EXPECT_EQ(covered, 4u);

  // Another route of the merchant (scope "route"), and another merchant: refused, not served.
  auto other_route = gateway->get("/acme/other/x", {{"X-402-Credential", token}});
  EXPECT_EQ(other_route.result_int(), 401);
  EXPECT_EQ(parse_object(other_route.body()).at("code").as_string(), "credential_scope");
  auto other_merchant = gateway->get("/beta/api/x", {{"X-402-Credential", token}});
  EXPECT_EQ(other_merchant.result_int(), 401);

  // Forged: a changed signature, and changed claims under the old signature.
  // (Not the last character: it carries padding bits, and a non-zero one makes the token
  // malformed rather than forged.)
  std::string forged = token;
  char& flipped = forged[forged.size() - 3];
  flipped = flipped == 'A' ? 'B' : 'A';
  auto refused = gateway->get("/acme/api/x", {{"X-402-Credential", forged}});
  EXPECT_EQ(refused.result_int(), 401);
  EXPECT_EQ(parse_object(refused.body()).at("code").as_string(), "credential_forged");
  CredentialClaims widened{1,
                           "made-up",
                           "acme",
                           payer.from,
                           "*",
                           "time_pass",
                           static_cast<int64_t>(unix_now()) + 999999,
                           "1"};
  std::string resigned = sign_credential(widened, "not-the-gateway-secret-0123456789abcdef");
  EXPECT_EQ(gateway->get("/acme/api/x", {{"X-402-Credential", resigned}}).result_int(), 401);

  // Expired (signed with the real secret): the answer is a new offer.
  CredentialClaims old{
      1,  "old", "acme", payer.from, "/api/**", "time_pass", static_cast<int64_t>(unix_now()) - 5,
      "1"};
  auto expired =
      gateway->get("/acme/api/x", {{"X-402-Credential", sign_credential(old, kCredentialSecret)}});
  EXPECT_EQ(expired.result_int(), 402);
  EXPECT_NE(parse_object(expired.body()).at("error").as_string().find("credential_expired"),
            std::string::npos);
  EXPECT_EQ(upstream.hits(), 5);
}

TEST_F(PolicyBillingTest, PackageIsDecrementedPerCallAndEndsAtZero) {
  install_policy(*gateway, "acme", R"(
    function price(req) return { mode = "package", amount = "20000", calls = 2 } end)");
  auto offer = gateway->get("/acme/api/p");
  ASSERT_EQ(offered_amount(offer), "20000");
  auto bought = pay("/acme/api/p", offer);
  ASSERT_EQ(bought.result_int(), 200) << bought.body();
  const std::string token(bought["X-402-Credential"]);
  ASSERT_FALSE(token.empty());

  // A failed upstream call is given back.
  upstream.status = 500;
  EXPECT_EQ(gateway->get("/acme/api/p", {{"X-402-Credential", token}}).result_int(), 500);
  upstream.status = 200;
  EXPECT_EQ(gateway->get("/acme/api/p", {{"X-402-Credential", token}}).result_int(), 200);
  EXPECT_EQ(gateway->get("/acme/api/p", {{"X-402-Credential", token}}).result_int(), 200);
  auto exhausted = gateway->get("/acme/api/p", {{"X-402-Credential", token}});
  ASSERT_EQ(exhausted.result_int(), 402);
  EXPECT_NE(parse_object(exhausted.body()).at("error").as_string().find("credential_exhausted"),
            std::string::npos);
  EXPECT_EQ(offered_amount(exhausted), "20000");
  EXPECT_EQ(upstream.hits(), 4);  // bought + failed + 2 covered
  EXPECT_EQ(facilitator.settle_calls.load(), 1);

  auto records = usage();
  size_t package_calls = 0;
  for (const auto& r : records) {
    EXPECT_EQ(r.billing_mode, "package");
    if (r.amount == "0") ++package_calls;
  }
  EXPECT_EQ(package_calls, 2u);  // the refunded call left no record
}

TEST_F(PolicyBillingTest, PackageBalanceHoldsUnderConcurrentUse) {
  install_policy(*gateway, "acme", R"(
    function price(req) return { mode = "package", amount = "20000", calls = 5 } end)");
  auto bought = pay("/acme/api/p", gateway->get("/acme/api/p"));
  const std::string token(bought["X-402-Credential"]);
  ASSERT_FALSE(token.empty());
  std::atomic<int> served{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      for (int i = 0; i < 4; ++i) {
        if (get(gateway->port(), "/acme/api/p", {{"X-402-Credential", token}}).result_int() == 200)
          ++served;
      }
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(served.load(), 5);
}

TEST_F(PolicyBillingTest, OneMerchantsPolicyCannotSeeOrChangeAnothers) {
  install_policy(*gateway, "acme", R"(
    leaked = "acme was here"
    function price(req)
      leaked = "acme was here"
      string.upper = function() return "hijacked" end
      return { amount = "100" }
    end)");
  install_policy(*gateway, "beta", R"(
    function price(req)
      if leaked ~= nil or string.upper("a") ~= "A" then return { amount = "999" } end
      return { amount = "200" }
    end)");
  // Alternate so both policies run on both workers, in either order.
  for (int i = 0; i < 10; ++i) {
    auto acme = gateway->get("/acme/api/x");
    auto beta = gateway->get("/beta/api/x");
    ASSERT_EQ(beta.result_int(), 402);
    EXPECT_EQ(offered_amount(beta), "200");
    // acme's own attempt to replace a library function is refused (read-only library tables),
    // so acme gets its fallback.
    ASSERT_EQ(acme.result_int(), 402);
    EXPECT_EQ(offered_amount(acme), "10000");
  }
  EXPECT_EQ(failures("beta", "policy_runtime_error"), 0u);
}

}  // namespace
}  // namespace x402::testing
