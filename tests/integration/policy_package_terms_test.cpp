// A package's optional terms through a real x402d: `duration_seconds` sets when its calls expire
// (default 365 days), `scope = "merchant"` lets one balance cover every route of the merchant that
// sold it and no other merchant.
#include <gtest/gtest.h>

#include <thread>

#include "gateway/credential_token.hpp"
#include "policy_test_support.hpp"

namespace x402::testing {
namespace {

class PolicyPackageTermsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gateway =
        std::make_unique<GatewayHarness>(policy_gateway_yaml(facilitator.url(), upstream.port()));
  }

  // Buys the package `target` offers and returns its credential token.
  std::string buy(const std::string& target) {
    auto offer = gateway->get(target);
    EXPECT_EQ(offer.result_int(), 402) << offer.body();
    auto bought = gateway->get(target, {{"PAYMENT-SIGNATURE", pay_v2(offer)}});
    EXPECT_EQ(bought.result_int(), 200) << bought.body();
    return std::string(bought["X-402-Credential"]);
  }

  // The store's row behind a token, expired or not (the signature is still checked).
  std::optional<Credential> stored(const std::string& token) {
    auto claims = verify_credential(token, kCredentialSecret, /*now_seconds=*/0);
    EXPECT_TRUE(claims.ok());
    if (!claims.ok()) return std::nullopt;
    auto found = gateway->store().find_credential(claims->id);
    EXPECT_TRUE(found.ok());
    return found.ok() ? *found : std::nullopt;
  }

  FakeFacilitator facilitator;
  FakeUpstream upstream;
  std::unique_ptr<GatewayHarness> gateway;
};

TEST_F(PolicyPackageTermsTest, DefaultPackageLastsAYearOnItsRoute) {
  install_policy(*gateway, "acme", R"(
    function price(req) return { mode = "package", amount = "20000", calls = 5 } end)");
  const auto before = static_cast<int64_t>(unix_now());
  const auto token = buy("/acme/api/p");
  ASSERT_FALSE(token.empty());
  auto claims = verify_credential(token, kCredentialSecret, before);
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ(claims->scope, "/api/**");
  EXPECT_GE(claims->exp, before + 365LL * 24 * 3600);
  EXPECT_LE(claims->exp, static_cast<int64_t>(unix_now()) + 365LL * 24 * 3600 + 1);
  auto other_route = gateway->get("/acme/other/x", {{"X-402-Credential", token}});
  EXPECT_EQ(other_route.result_int(), 401);
  EXPECT_EQ(parse_object(other_route.body()).at("code").as_string(), "credential_scope");
}

TEST_F(PolicyPackageTermsTest, CustomDurationExpiresTheUnusedCalls) {
  install_policy(*gateway, "acme", R"(
    function price(req)
      return { mode = "package", amount = "20000", calls = 10, duration_seconds = 2 }
    end)");
  const auto token = buy("/acme/api/p");
  ASSERT_FALSE(token.empty());
  auto credential = stored(token);
  ASSERT_TRUE(credential);
  EXPECT_EQ(credential->expires_ms - credential->created_ms, 2000);
  ASSERT_EQ(gateway->get("/acme/api/p", {{"X-402-Credential", token}}).result_int(), 200);

  // Wait until the expiry has surely passed (the token's exp is in whole seconds).
  while (static_cast<int64_t>(unix_now()) * 1000 <= credential->expires_ms + 1000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const int hits = upstream.hits();
  auto expired = gateway->get("/acme/api/p", {{"X-402-Credential", token}});
  ASSERT_EQ(expired.result_int(), 402) << expired.body();
  EXPECT_NE(parse_object(expired.body()).at("error").as_string().find("credential_expired"),
            std::string::npos);
  EXPECT_EQ(upstream.hits(), hits);
  // Nine calls were left; they expired with the package, none was taken.
  auto after = stored(token);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->calls_remaining, 9);
}

TEST_F(PolicyPackageTermsTest, MerchantScopedPackageCoversOtherRoutesOfThatMerchantOnly) {
  install_policy(*gateway, "acme", R"(
    function price(req)
      return { mode = "package", amount = "20000", calls = 3, scope = "merchant" }
    end)");
  install_policy(*gateway, "beta", R"(
    function price(req) return { mode = "package", amount = "20000", calls = 3 } end)");
  const auto token = buy("/acme/api/p");
  ASSERT_FALSE(token.empty());
  auto claims = verify_credential(token, kCredentialSecret, static_cast<int64_t>(unix_now()));
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ(claims->scope, "*");

  // Another route of acme draws on the same balance.
  EXPECT_EQ(gateway->get("/acme/other/x", {{"X-402-Credential", token}}).result_int(), 200);
  EXPECT_EQ(gateway->get("/acme/fixed/y", {{"X-402-Credential", token}}).result_int(), 200);
  auto credential = stored(token);
  ASSERT_TRUE(credential);
  EXPECT_EQ(credential->calls_remaining, 1);

  // Another merchant: refused, not served, balance untouched.
  const int hits = upstream.hits();
  auto other_merchant = gateway->get("/beta/api/x", {{"X-402-Credential", token}});
  EXPECT_EQ(other_merchant.result_int(), 401);
  EXPECT_EQ(parse_object(other_merchant.body()).at("code").as_string(), "credential_scope");
  EXPECT_EQ(upstream.hits(), hits);
  EXPECT_EQ(stored(token)->calls_remaining, 1);

  EXPECT_EQ(gateway->get("/acme/api/q", {{"X-402-Credential", token}}).result_int(), 200);
  auto exhausted = gateway->get("/acme/other/z", {{"X-402-Credential", token}});
  EXPECT_EQ(exhausted.result_int(), 402);
  EXPECT_EQ(facilitator.settle_calls.load(), 1);
}

TEST_F(PolicyPackageTermsTest, InvalidPackageTermsGetTheFallbackNotAPackage) {
  install_policy(*gateway, "acme", R"(
    function price(req)
      return { mode = "package", amount = "20000", calls = 3, duration_seconds = 400 * 86400 }
    end)");
  auto offer = gateway->get("/acme/api/p");
  ASSERT_EQ(offer.result_int(), 402);
  EXPECT_EQ(offered_amount(offer), "10000");  // the route's static fallback price
  EXPECT_EQ(gateway->gateway().metrics().counter("x402_policy_failures_total",
                                                 "merchant=acme,code=policy_invalid_result"),
            1u);
  auto paid = gateway->get("/acme/api/p", {{"PAYMENT-SIGNATURE", pay_v2(offer)}});
  ASSERT_EQ(paid.result_int(), 200) << paid.body();
  EXPECT_TRUE(paid["X-402-Credential"].empty());
}

}  // namespace
}  // namespace x402::testing
