// The books on the admin API end to end: real paid requests through x402d (facilitator-http
// against a fake facilitator), then revenue, payments (with the audit trail) and usage read back
// as JSON; who may read what; bad query parameters named.
#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "policy_test_support.hpp"
#include "state/books.hpp"

namespace x402::testing {
namespace {

std::string utc_date(int64_t offset_days) {
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  return books::format_date(now_ms / books::kDayMs + offset_days);
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class AdminBooksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string yaml = policy_gateway_yaml(facilitator.url(), upstream.port());
    yaml += "books: { platform_fee_bps: 250 }\n";
    const std::string beta = "  - id: beta\n";
    yaml.replace(yaml.find(beta), beta.size(), beta + "    platform_fee_bps: 1000\n");
    gateway = std::make_unique<GatewayHarness>(yaml);
    admin_port = gateway->gateway().admin_api_port();
    ASSERT_NE(admin_port, 0);
  }

  // One request paid at the route's static fallback price (0.01 USDC = 10000).
  void pay(const std::string& path) {
    auto offer = gateway->get(path);
    ASSERT_EQ(offer.result_int(), 402) << offer.body();
    auto res = gateway->get(path, {{"PAYMENT-SIGNATURE", pay_v2(offer)}});
    ASSERT_EQ(res.result_int(), 200) << res.body();
  }

  http::Response admin_get(const std::string& target, const std::string& key = kAdminKey) {
    return get(admin_port, target, {{"Authorization", "Bearer " + key}});
  }

  boost::json::object ok_json(const std::string& target, const std::string& key = kAdminKey) {
    auto res = admin_get(target, key);
    EXPECT_EQ(res.result_int(), 200) << target << ": " << res.body();
    return res.result_int() == 200 ? parse_object(res.body()) : boost::json::object{};
  }

  std::string bad_field(const std::string& target) {
    auto res = admin_get(target);
    EXPECT_EQ(res.result_int(), 400) << target << ": " << res.body();
    auto body = parse_object(res.body());
    EXPECT_EQ(body.at("code").as_string(), "invalid_parameter") << target;
    return body.contains("field") ? std::string(body.at("field").as_string()) : "";
  }

  std::string around_today() { return "from=" + utc_date(-1) + "&to=" + utc_date(1); }

  FakeFacilitator facilitator;
  FakeUpstream upstream;
  std::unique_ptr<GatewayHarness> gateway;
  uint16_t admin_port = 0;
};

TEST_F(AdminBooksTest, PaidRequestsShowUpInRevenuePaymentsAndUsage) {
  for (int i = 0; i < 3; ++i) pay("/acme/api/x" + std::to_string(i));
  pay("/beta/api/y");

  // Revenue per day around today (a run across midnight splits it into two lines; the totals
  // hold either way, and 2.5% of 10000 is exact per payment).
  auto revenue = ok_json("/v1/merchants/acme/revenue?period=day&" + around_today());
  EXPECT_EQ(revenue.at("platform_fee_bps").as_int64(), 250);
  EXPECT_EQ(revenue.at("period").as_string(), "day");
  EXPECT_EQ(revenue.at("time_basis").as_string(), "created_ms");
  int64_t payments = 0, gross = 0, fee = 0, net = 0;
  for (const auto& row : revenue.at("revenue").as_array()) {
    EXPECT_EQ(row.at("network").as_string(), "eip155:84532");
    EXPECT_EQ(row.at("asset").as_string(), lower(kUsdc));
    payments += row.at("payments").as_int64();
    gross += std::stoll(std::string(row.at("gross").as_string()));
    fee += std::stoll(std::string(row.at("platform_fee").as_string()));
    net += std::stoll(std::string(row.at("net").as_string()));
  }
  EXPECT_EQ(payments, 3);
  EXPECT_EQ(gross, 30000);
  EXPECT_EQ(fee, 750);
  EXPECT_EQ(net, 29250);

  // Months: whole calendar months, each line starting on the 1st.
  auto month = ok_json("/v1/merchants/acme/revenue?period=month&" + around_today());
  EXPECT_EQ(month.at("from").as_string(), utc_date(-1).substr(0, 8) + "01");
  int64_t month_payments = 0;
  for (const auto& row : month.at("revenue").as_array()) {
    const std::string start(row.at("period_start").as_string());
    EXPECT_TRUE(start.ends_with("-01")) << start;
    EXPECT_EQ(row.at("period").as_string(), start.substr(0, 7));
    month_payments += row.at("payments").as_int64();
  }
  EXPECT_EQ(month_payments, 3);

  // beta's own fee override.
  auto beta = ok_json("/v1/merchants/beta/revenue?period=week&" + around_today());
  EXPECT_EQ(beta.at("platform_fee_bps").as_int64(), 1000);
  ASSERT_EQ(beta.at("revenue").as_array().size(), 1u);  // one payment, one line
  EXPECT_EQ(beta.at("revenue").as_array().at(0).at("platform_fee").as_string(), "1000");
  EXPECT_EQ(beta.at("revenue").as_array().at(0).at("net").as_string(), "9000");

  // Payments, two per page, followed by cursor.
  auto first = ok_json("/v1/merchants/acme/payments?limit=2");
  ASSERT_EQ(first.at("payments").as_array().size(), 2u);
  ASSERT_TRUE(first.at("next_cursor").is_string());
  auto second = ok_json("/v1/merchants/acme/payments?limit=2&cursor=" +
                        std::string(first.at("next_cursor").as_string()));
  ASSERT_EQ(second.at("payments").as_array().size(), 1u);
  EXPECT_TRUE(second.at("next_cursor").is_null());
  std::set<std::string> ids;
  for (const auto* page : {&first, &second}) {
    for (const auto& p : page->at("payments").as_array()) {
      EXPECT_EQ(p.at("status").as_string(), "SETTLED");
      EXPECT_EQ(p.at("amount").as_string(), "10000");
      ids.insert(std::string(p.at("id").as_string()));
    }
  }
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_TRUE(
      ok_json("/v1/merchants/acme/payments?status=failed").at("payments").as_array().empty());
  EXPECT_EQ(ok_json("/v1/merchants/acme/payments?status=SETTLED&" + around_today())
                .at("payments")
                .as_array()
                .size(),
            3u);

  // One payment with its audit trail.
  const std::string id = *ids.begin();
  auto shown = ok_json("/v1/merchants/acme/payments/" + id);
  const auto& payment = shown.at("payment").as_object();
  EXPECT_EQ(payment.at("id").as_string(), id);
  EXPECT_EQ(payment.at("tx_hash").as_string().size(), 66u);
  const auto& events = payment.at("events").as_array();
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.front().at("from_status").as_string(), "");
  EXPECT_EQ(events.back().at("to_status").as_string(), "SETTLED");
  EXPECT_EQ(events.back().at("tx_hash").as_string(), payment.at("tx_hash").as_string());
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_EQ(events[i].at("from_status").as_string(), events[i - 1].at("to_status").as_string());
  }

  // Usage records of the paid calls.
  auto usage = ok_json("/v1/merchants/acme/usage?" + around_today());
  ASSERT_EQ(usage.at("usage").as_array().size(), 3u);
  for (const auto& u : usage.at("usage").as_array()) {
    EXPECT_TRUE(ids.contains(std::string(u.at("payment_id").as_string())));
    EXPECT_EQ(u.at("amount").as_string(), "10000");
    EXPECT_EQ(u.at("upstream_status").as_int64(), 200);
  }
}

TEST_F(AdminBooksTest, KeysReachOnlyTheirOwnMerchant) {
  pay("/beta/api/y");
  const std::string target = "/v1/merchants/beta/revenue?period=day&" + around_today();
  EXPECT_EQ(get(admin_port, target).result_int(), 401);
  EXPECT_EQ(admin_get(target, "wrong-key-0123456789").result_int(), 401);
  auto forbidden = admin_get(target, kAcmeKey);
  EXPECT_EQ(forbidden.result_int(), 403);
  EXPECT_EQ(parse_object(forbidden.body()).at("field").as_string(), "merchant_id");
  EXPECT_EQ(admin_get("/v1/merchants/beta/payments", kAcmeKey).result_int(), 403);
  EXPECT_EQ(admin_get("/v1/merchants/beta/usage", kAcmeKey).result_int(), 403);
  EXPECT_EQ(admin_get(target).result_int(), 200);
  EXPECT_EQ(admin_get("/v1/merchants/acme/payments", kAcmeKey).result_int(), 200);
  EXPECT_EQ(admin_get("/v1/merchants/nobody/payments").result_int(), 404);

  // beta's payment is not reachable through acme's path, even with the admin key.
  auto listed = ok_json("/v1/merchants/beta/payments");
  ASSERT_EQ(listed.at("payments").as_array().size(), 1u);
  const std::string id(listed.at("payments").as_array().at(0).at("id").as_string());
  EXPECT_EQ(admin_get("/v1/merchants/beta/payments/" + id).result_int(), 200);
  auto hidden = admin_get("/v1/merchants/acme/payments/" + id);
  EXPECT_EQ(hidden.result_int(), 404);
  EXPECT_EQ(parse_object(hidden.body()).at("code").as_string(), "payment_not_found");
}

TEST_F(AdminBooksTest, BadParametersAreNamed) {
  const std::string revenue = "/v1/merchants/acme/revenue?";
  EXPECT_EQ(bad_field(revenue + "period=year&from=2025-01-01&to=2025-01-31"), "period");
  EXPECT_EQ(bad_field(revenue + "from=2025-13-01&to=2025-01-31"), "from");
  EXPECT_EQ(bad_field(revenue + "from=2025-01-01"), "to");
  EXPECT_EQ(bad_field(revenue + "to=2025-01-01"), "from");
  EXPECT_EQ(bad_field(revenue + "from=2025-02-01&to=2025-01-01"), "to");
  EXPECT_EQ(bad_field(revenue + "from=1990-01-01&to=2025-01-01"), "to");  // over ten years
  EXPECT_EQ(bad_field(revenue + "from=2025-01-01&to=2025-01-02&form=x"), "form");
  EXPECT_EQ(bad_field(revenue + "from=2025-01-01&from=2025-01-02&to=2025-01-03"), "from");
  const std::string payments = "/v1/merchants/acme/payments?";
  EXPECT_EQ(bad_field(payments + "limit=0"), "limit");
  EXPECT_EQ(bad_field(payments + "limit=1001"), "limit");
  EXPECT_EQ(bad_field(payments + "limit=ten"), "limit");
  EXPECT_EQ(bad_field(payments + "cursor=zzz"), "cursor");
  EXPECT_EQ(bad_field(payments + "status=paid"), "status");
  EXPECT_EQ(bad_field(payments + "from=yesterday"), "from");
  EXPECT_EQ(bad_field("/v1/merchants/acme/usage?status=SETTLED"), "status");
  EXPECT_EQ(ok_json("/v1/merchants/acme/payments?limit=1000").at("payments").as_array().size(), 0u);

  auto post_revenue = post(admin_port, "/v1/merchants/acme/revenue", "{}", kAdminKey);
  EXPECT_EQ(post_revenue.result_int(), 405);
  EXPECT_EQ(post_revenue[bhttp::field::allow], "GET");
  EXPECT_EQ(admin_get("/v1/merchants/acme/revenue/extra").result_int(), 404);
}

}  // namespace
}  // namespace x402::testing
