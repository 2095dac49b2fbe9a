// Idempotency through a real x402d (docs/idempotency.md): the x402 payment-identifier extension
// on a paid route, and Idempotency-Key on the admin API's POSTs. A retry with the same key and
// payload replays the first answer (Idempotent-Replayed: true) without reaching the upstream, the
// facilitator or the books again; another payload under the key is 422; a duplicate while the
// first runs is 409; expired keys are new.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <future>

#include "policy_test_support.hpp"
#include "protocol/settlement.hpp"
#include "support/fake_facilitator.hpp"
#include "support/gateway_harness.hpp"

namespace x402::testing {
namespace {

constexpr const char* kPaymentId = "pay_7d5d747be160e280504c099d984bcfe0";

// As @x402/extensions' appendPaymentIdentifierToExtensions: the 402's declaration with info.id.
std::string pay_v2_with_id(const http::Response& offer, const Authorization& a,
                           const std::string& id) {
  auto required = decode_header_json(offer["PAYMENT-REQUIRED"]);
  auto payment = decode_header_json(pay_v2(offer, a));
  boost::json::object extensions = required.at("extensions").as_object();
  extensions["payment-identifier"].as_object()["info"].as_object()["id"] = id;
  payment["extensions"] = std::move(extensions);
  return base64::encode(boost::json::serialize(payment));
}

// Moves every stored key past its retention, as if a day had passed.
void expire_all_keys(const std::string& config_path) {
  const auto db_path = std::filesystem::path(config_path).parent_path() / "x402d.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.string().c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char* error = nullptr;
  const int rc =
      sqlite3_exec(db, "UPDATE idempotency_keys SET expires_ms = 1", nullptr, nullptr, &error);
  EXPECT_EQ(rc, SQLITE_OK) << (error ? error : "");
  sqlite3_free(error);
  EXPECT_GT(sqlite3_changes(db), 0);
  sqlite3_close(db);
}

class PaymentIdentifierTest : public ::testing::Test {
 protected:
  void start(const std::string& route_extra = "", const std::string& top_extra = "",
             uint16_t upstream_port = 0) {
    ConfigOptions options;
    options.facilitators = {{"primary", facilitator.url()}};
    options.upstream_port = upstream_port ? upstream_port : upstream.port();
    std::string yaml = gateway_yaml(options);
    const std::string anchor = "        mime_type: application/json\n";
    yaml.replace(yaml.find(anchor), anchor.size(), anchor + route_extra);
    gateway = std::make_unique<GatewayHarness>(yaml + top_extra);
  }

  size_t usage_records() {
    auto usage = gateway->store().usage_for_merchant("acme", 100);
    EXPECT_TRUE(usage.ok());
    return usage.ok() ? usage->size() : 0;
  }

  FakeFacilitator facilitator;
  FakeUpstream upstream;
  std::unique_ptr<GatewayHarness> gateway;
};

TEST_F(PaymentIdentifierTest, The402DeclaresTheExtensionAsOptionalByDefault) {
  start();
  auto offer = gateway->get("/acme/api/signal");
  ASSERT_EQ(offer.result_int(), 402);
  auto required = decode_header_json(offer["PAYMENT-REQUIRED"]);
  const auto& extension = required.at("extensions").at("payment-identifier");
  EXPECT_EQ(extension.at("info").at("required").as_bool(), false);
  EXPECT_EQ(extension.at("schema").at("properties").at("id").at("minLength").as_int64(), 16);
  EXPECT_EQ(extension.at("schema").at("properties").at("id").at("pattern").as_string(),
            "^[a-zA-Z0-9_-]+$");
}

TEST_F(PaymentIdentifierTest, OffRouteDoesNotDeclareIt) {
  start("        payment_identifier: \"off\"\n");
  auto required = decode_header_json(gateway->get("/acme/api/signal")["PAYMENT-REQUIRED"]);
  EXPECT_FALSE(required.contains("extensions") &&
               required.at("extensions").as_object().contains("payment-identifier"));
}

TEST_F(PaymentIdentifierTest, RetryOfTheSamePaymentReplaysTheFirstAnswer) {
  start();
  auto offer = gateway->get("/acme/api/signal");
  const std::string payment = pay_v2_with_id(offer, Authorization{}, kPaymentId);
  auto first = gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", payment}});
  ASSERT_EQ(first.result_int(), 200) << first.body();
  EXPECT_TRUE(first["Idempotent-Replayed"].empty());

  auto again = gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", payment}});
  ASSERT_EQ(again.result_int(), 200) << again.body();
  EXPECT_EQ(again["Idempotent-Replayed"], "true");
  EXPECT_EQ(again.body(), first.body());
  EXPECT_EQ(again["PAYMENT-RESPONSE"], first["PAYMENT-RESPONSE"]);
  EXPECT_EQ(again[bhttp::field::content_type], "application/json");
  EXPECT_TRUE(decode_settlement_header(again["PAYMENT-RESPONSE"]).ok());

  // Served once, charged once, booked once.
  EXPECT_EQ(upstream.hits(), 1);
  EXPECT_EQ(facilitator.verify_calls.load(), 1);
  EXPECT_EQ(facilitator.settle_calls.load(), 1);
  EXPECT_EQ(usage_records(), 1u);
  auto count = gateway->store().count_payments();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 1);
}

TEST_F(PaymentIdentifierTest, WithoutAnIdTheRetryIsStillRefusedAsAlreadyUsed) {
  start();
  auto offer = gateway->get("/acme/api/signal");
  const std::string payment = pay_v2(offer);
  ASSERT_EQ(gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", payment}}).result_int(), 200);
  auto again = gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", payment}});
  EXPECT_EQ(again.result_int(), 402);
  EXPECT_NE(again.body().find("payment_already_used"), std::string::npos) << again.body();
  EXPECT_TRUE(again["Idempotent-Replayed"].empty());
  EXPECT_EQ(upstream.hits(), 1);
}

TEST_F(PaymentIdentifierTest, SameIdWithAnotherPaymentIs422) {
  start();
  auto offer = gateway->get("/acme/api/signal");
  ASSERT_EQ(gateway
                ->get("/acme/api/signal",
                      {{"PAYMENT-SIGNATURE", pay_v2_with_id(offer, Authorization{}, kPaymentId)}})
                .result_int(),
            200);
  auto other =
      gateway->get("/acme/api/signal",
                   {{"PAYMENT-SIGNATURE", pay_v2_with_id(offer, Authorization{}, kPaymentId)}});
  ASSERT_EQ(other.result_int(), 422) << other.body();
  auto body = parse_object(other.body());
  EXPECT_EQ(body.at("code").as_string(), "idempotency_key_reused");
  EXPECT_EQ(body.at("field").as_string(), "extensions.payment-identifier.info.id");
  EXPECT_EQ(upstream.hits(), 1);
  EXPECT_EQ(facilitator.verify_calls.load(), 1);
}

TEST_F(PaymentIdentifierTest, MalformedIdIs400NamingTheField) {
  start();
  auto offer = gateway->get("/acme/api/signal");
  for (const std::string& id :
       std::vector<std::string>{"short", std::string(129, 'a'), "pay_has a space_0123456"}) {
    auto res = gateway->get("/acme/api/signal",
                            {{"PAYMENT-SIGNATURE", pay_v2_with_id(offer, Authorization{}, id)}});
    ASSERT_EQ(res.result_int(), 400) << id << ": " << res.body();
    auto body = parse_object(res.body());
    EXPECT_EQ(body.at("code").as_string(), "invalid_payment_identifier");
    EXPECT_EQ(body.at("field").as_string(), "extensions.payment-identifier.info.id");
  }
  EXPECT_EQ(facilitator.verify_calls.load(), 0);
}

TEST_F(PaymentIdentifierTest, RequiredRouteRefusesAPaymentWithoutAnId) {
  start("        payment_identifier: required\n");
  auto offer = gateway->get("/acme/api/signal");
  auto required = decode_header_json(offer["PAYMENT-REQUIRED"]);
  EXPECT_TRUE(
      required.at("extensions").at("payment-identifier").at("info").at("required").as_bool());

  auto missing = gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", pay_v2(offer)}});
  ASSERT_EQ(missing.result_int(), 400) << missing.body();
  auto body = parse_object(missing.body());
  EXPECT_EQ(body.at("code").as_string(), "payment_identifier_required");
  EXPECT_EQ(body.at("field").as_string(), "extensions.payment-identifier.info.id");
  EXPECT_EQ(facilitator.verify_calls.load(), 0);

  auto with_id =
      gateway->get("/acme/api/signal",
                   {{"PAYMENT-SIGNATURE", pay_v2_with_id(offer, Authorization{}, kPaymentId)}});
  EXPECT_EQ(with_id.result_int(), 200) << with_id.body();
}

TEST_F(PaymentIdentifierTest, FailedUpstreamReleasesTheIdSoTheRetryIsServed) {
  start();
  auto offer = gateway->get("/acme/api/signal");
  const std::string payment = pay_v2_with_id(offer, Authorization{}, kPaymentId);
  upstream.status = 500;
  auto failed = gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", payment}});
  ASSERT_EQ(failed.result_int(), 500) << failed.body();
  EXPECT_EQ(facilitator.settle_calls.load(), 0);

  upstream.status = 200;
  auto retried = gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", payment}});
  ASSERT_EQ(retried.result_int(), 200) << retried.body();
  EXPECT_TRUE(retried["Idempotent-Replayed"].empty());  // run again, not replayed
  EXPECT_EQ(facilitator.settle_calls.load(), 1);
  EXPECT_EQ(upstream.hits(), 2);
}

TEST_F(PaymentIdentifierTest, DuplicateWhileTheFirstRunsIs409ThenReplays) {
  DelayedUpstream slow;
  start("", "", slow.port());
  auto offer = gateway->get("/acme/api/signal");
  const std::string payment = pay_v2_with_id(offer, Authorization{}, kPaymentId);
  auto first = std::async(std::launch::async, [&] {
    return gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", payment}});
  });
  ASSERT_TRUE(slow.wait_for_arrivals(1, std::chrono::seconds(10)));

  // The first is held at the upstream: still in flight.
  for (int i = 0; i < 3; ++i) {
    auto duplicate = gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", payment}});
    ASSERT_EQ(duplicate.result_int(), 409) << duplicate.body();
    EXPECT_FALSE(duplicate[bhttp::field::retry_after].empty());
    EXPECT_EQ(parse_object(duplicate.body()).at("code").as_string(), "idempotency_key_in_flight");
  }
  slow.release();
  auto served = first.get();
  ASSERT_EQ(served.result_int(), 200) << served.body();

  auto replay = gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", payment}});
  ASSERT_EQ(replay.result_int(), 200) << replay.body();
  EXPECT_EQ(replay["Idempotent-Replayed"], "true");
  EXPECT_EQ(replay.body(), served.body());
  EXPECT_EQ(slow.arrived(), 1);
  EXPECT_EQ(facilitator.settle_calls.load(), 1);
}

TEST_F(PaymentIdentifierTest, ConcurrentDuplicatesAreServedOnce) {
  start();
  auto offer = gateway->get("/acme/api/signal");
  const std::string payment = pay_v2_with_id(offer, Authorization{}, kPaymentId);
  std::vector<std::future<http::Response>> answers;
  for (int i = 0; i < 8; ++i) {
    answers.push_back(std::async(std::launch::async, [&] {
      return gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", payment}});
    }));
  }
  int fresh = 0, replayed = 0, busy = 0;
  for (auto& answer : answers) {
    auto res = answer.get();
    if (res.result_int() == 200 && res["Idempotent-Replayed"].empty()) {
      ++fresh;
    } else if (res.result_int() == 200) {
      ++replayed;
    } else {
      EXPECT_EQ(res.result_int(), 409) << res.body();
      ++busy;
    }
  }
  EXPECT_EQ(fresh, 1);
  EXPECT_EQ(fresh + replayed + busy, 8);
  EXPECT_EQ(upstream.hits(), 1);
  EXPECT_EQ(facilitator.settle_calls.load(), 1);
  EXPECT_EQ(usage_records(), 1u);
}

TEST_F(PaymentIdentifierTest, ResponseOverTheCapIsNotKeptButTheSettlementIs) {
  start("", "idempotency: { retention_hours: 24, max_stored_body_bytes: 10 }\n");
  auto offer = gateway->get("/acme/api/signal");
  const std::string payment = pay_v2_with_id(offer, Authorization{}, kPaymentId);
  auto first = gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", payment}});
  ASSERT_EQ(first.result_int(), 200) << first.body();
  ASSERT_GT(first.body().size(), 10u);

  auto again = gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", payment}});
  ASSERT_EQ(again.result_int(), 410) << again.body();
  EXPECT_EQ(again["Idempotent-Replayed"], "true");
  EXPECT_EQ(again["PAYMENT-RESPONSE"], first["PAYMENT-RESPONSE"]);
  auto body = parse_object(again.body());
  EXPECT_EQ(body.at("code").as_string(), "idempotent_response_not_kept");
  EXPECT_EQ(body.at("original_status").as_int64(), 200);
  EXPECT_EQ(upstream.hits(), 1);
}

TEST_F(PaymentIdentifierTest, ExpiredIdIsTreatedAsNew) {
  start();
  auto offer = gateway->get("/acme/api/signal");
  const std::string payment = pay_v2_with_id(offer, Authorization{}, kPaymentId);
  ASSERT_EQ(gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", payment}}).result_int(), 200);
  expire_all_keys(gateway->config_path());
  // Forgotten: the request is handled afresh, and the payment's own replay guard refuses it.
  auto again = gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", payment}});
  EXPECT_EQ(again.result_int(), 402) << again.body();
  EXPECT_NE(again.body().find("payment_already_used"), std::string::npos);
  // And the id may now name a different payment.
  auto fresh =
      gateway->get("/acme/api/signal",
                   {{"PAYMENT-SIGNATURE", pay_v2_with_id(offer, Authorization{}, kPaymentId)}});
  EXPECT_EQ(fresh.result_int(), 200) << fresh.body();
  EXPECT_EQ(upstream.hits(), 2);
}

// ---- Admin API ------------------------------------------------------------------------------

constexpr const char* kPolicy =
    R"({"source":"function price(req) return { amount = \"100\" } end"})";
constexpr const char* kOtherPolicy =
    R"({"source":"function price(req) return { amount = \"200\" } end"})";

class AdminIdempotencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gateway =
        std::make_unique<GatewayHarness>(policy_gateway_yaml(facilitator.url(), upstream.port()));
    admin_port = gateway->gateway().admin_api_port();
    ASSERT_NE(admin_port, 0);
  }

  http::Response upload(const std::string& body, const std::string& key,
                        const std::string& api_key = kAdminKey,
                        const std::string& path = "/v1/merchants/acme/policies") {
    Headers headers{{"Content-Type", "application/json"}, {"Authorization", "Bearer " + api_key}};
    if (!key.empty()) headers.push_back({"Idempotency-Key", key});
    return send_request(admin_port, bhttp::verb::post, path, headers, body);
  }

  size_t versions() {
    auto listed = gateway->store().list_policies("acme");
    EXPECT_TRUE(listed.ok());
    return listed.ok() ? listed->size() : 0;
  }

  FakeFacilitator facilitator;
  FakeUpstream upstream;
  std::unique_ptr<GatewayHarness> gateway;
  uint16_t admin_port = 0;
};

TEST_F(AdminIdempotencyTest, RetriedUploadReturnsTheSameVersionAndStoresOne) {
  auto first = upload(kPolicy, "\"upload-0001\"");
  ASSERT_EQ(first.result_int(), 201) << first.body();
  EXPECT_TRUE(first["Idempotent-Replayed"].empty());
  auto again = upload(kPolicy, "\"upload-0001\"");
  ASSERT_EQ(again.result_int(), 201) << again.body();
  EXPECT_EQ(again["Idempotent-Replayed"], "true");
  EXPECT_EQ(parse_object(again.body()).at("version").as_int64(), 1);
  EXPECT_EQ(again.body(), first.body());
  EXPECT_EQ(versions(), 1u);

  // A bare token is accepted too (leniently), and is the same key as its quoted form.
  auto bare = upload(kPolicy, "upload-0001");
  EXPECT_EQ(bare["Idempotent-Replayed"], "true");
  EXPECT_EQ(versions(), 1u);

  // Without a key every upload is new.
  ASSERT_EQ(upload(kPolicy, "").result_int(), 201);
  EXPECT_EQ(versions(), 2u);
}

TEST_F(AdminIdempotencyTest, SameKeyWithAnotherBodyIs422) {
  ASSERT_EQ(upload(kPolicy, "\"upload-0002\"").result_int(), 201);
  auto other = upload(kOtherPolicy, "\"upload-0002\"");
  ASSERT_EQ(other.result_int(), 422) << other.body();
  auto body = parse_object(other.body());
  EXPECT_EQ(body.at("code").as_string(), "idempotency_key_reused");
  EXPECT_EQ(body.at("field").as_string(), "Idempotency-Key");
  // Another endpoint under the same key is another request too.
  auto activate =
      upload("", "\"upload-0002\"", kAdminKey, "/v1/merchants/acme/policies/1/activate");
  EXPECT_EQ(activate.result_int(), 422) << activate.body();
  EXPECT_EQ(versions(), 1u);
}

TEST_F(AdminIdempotencyTest, MalformedKeyIs400) {
  for (const std::string& key : std::vector<std::string>{"\"unterminated", "\"\"", "two words",
                                                         "\"" + std::string(300, 'k') + "\""}) {
    auto res = upload(kPolicy, key);
    ASSERT_EQ(res.result_int(), 400) << key << ": " << res.body();
    auto body = parse_object(res.body());
    EXPECT_EQ(body.at("code").as_string(), "invalid_idempotency_key");
    EXPECT_EQ(body.at("field").as_string(), "Idempotency-Key");
  }
  EXPECT_EQ(versions(), 0u);
}

TEST_F(AdminIdempotencyTest, KeysAreScopedByApiKey) {
  ASSERT_EQ(upload(kPolicy, "\"shared-key\"").result_int(), 201);
  auto merchant = upload(kPolicy, "\"shared-key\"", kAcmeKey);
  ASSERT_EQ(merchant.result_int(), 201) << merchant.body();
  EXPECT_TRUE(merchant["Idempotent-Replayed"].empty());
  EXPECT_EQ(parse_object(merchant.body()).at("version").as_int64(), 2);
  EXPECT_EQ(versions(), 2u);
}

TEST_F(AdminIdempotencyTest, ActivateAndRollbackReplayToo) {
  ASSERT_EQ(upload(kPolicy, "").result_int(), 201);
  ASSERT_EQ(upload(kOtherPolicy, "").result_int(), 201);
  const std::string base = "/v1/merchants/acme/policies/";
  ASSERT_EQ(upload("", "\"act-1\"", kAdminKey, base + "1/activate").result_int(), 200);
  ASSERT_EQ(upload("", "\"act-2\"", kAdminKey, base + "2/activate").result_int(), 200);
  auto rolled = upload("", "\"roll-1\"", kAdminKey, base + "rollback");
  ASSERT_EQ(rolled.result_int(), 200) << rolled.body();
  EXPECT_EQ(parse_object(rolled.body()).at("active_version").as_int64(), 1);
  // A retried rollback must not swap back again.
  auto retried = upload("", "\"roll-1\"", kAdminKey, base + "rollback");
  EXPECT_EQ(retried["Idempotent-Replayed"], "true");
  EXPECT_EQ(parse_object(retried.body()).at("active_version").as_int64(), 1);
  auto state = gateway->store().policy_state("acme");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->active_version, 1);
}

TEST_F(AdminIdempotencyTest, ExpiredKeyIsTreatedAsNew) {
  ASSERT_EQ(upload(kPolicy, "\"upload-0003\"").result_int(), 201);
  expire_all_keys(gateway->config_path());
  auto again = upload(kPolicy, "\"upload-0003\"");
  ASSERT_EQ(again.result_int(), 201) << again.body();
  EXPECT_TRUE(again["Idempotent-Replayed"].empty());
  EXPECT_EQ(parse_object(again.body()).at("version").as_int64(), 2);
  EXPECT_EQ(versions(), 2u);
}

}  // namespace
}  // namespace x402::testing
