// The admin API's policy management end to end: upload (compile + dry run), validate, list,
// show, activate, roll back, and who may do what.
#include <gtest/gtest.h>

#include "policy_test_support.hpp"

namespace x402::testing {
namespace {

constexpr const char* kPrice100 =
    R"({"source":"function price(req) return { amount = \"100\" } end"})";
constexpr const char* kPrice200 =
    R"({"source":"function price(req) return { amount = \"200\" } end"})";

class AdminApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gateway =
        std::make_unique<GatewayHarness>(policy_gateway_yaml(facilitator.url(), upstream.port()));
    admin_port = gateway->gateway().admin_api_port();
    ASSERT_NE(admin_port, 0);
  }

  http::Response admin_post(const std::string& path, const std::string& body,
                            const std::string& key = kAdminKey) {
    return post(admin_port, path, body, key);
  }
  http::Response admin_get(const std::string& path, const std::string& key = kAdminKey) {
    return get(admin_port, path, {{"Authorization", "Bearer " + key}});
  }

  FakeFacilitator facilitator;
  FakeUpstream upstream;
  std::unique_ptr<GatewayHarness> gateway;
  uint16_t admin_port = 0;
};

TEST_F(AdminApiTest, UploadActivateAndRollBack) {
  auto first = admin_post("/v1/merchants/acme/policies", kPrice100);
  ASSERT_EQ(first.result_int(), 201) << first.body();
  auto body = parse_object(first.body());
  EXPECT_EQ(body.at("version").as_int64(), 1);
  EXPECT_EQ(body.at("active").as_bool(), false);
  EXPECT_TRUE(body.at("report").at("accepted").as_bool());
  EXPECT_GE(body.at("report").at("samples").as_array().size(), 8u);  // the built-in corpus

  // Stored but inactive: the route still falls back.
  EXPECT_EQ(offered_amount(gateway->get("/acme/api/x")), "10000");
  auto activated = admin_post("/v1/merchants/acme/policies/1/activate", "");
  ASSERT_EQ(activated.result_int(), 200) << activated.body();
  EXPECT_EQ(offered_amount(gateway->get("/acme/api/x")), "100");

  ASSERT_EQ(admin_post("/v1/merchants/acme/policies", kPrice200).result_int(), 201);
  ASSERT_EQ(admin_post("/v1/merchants/acme/policies/2/activate", "").result_int(), 200);
  EXPECT_EQ(offered_amount(gateway->get("/acme/api/x")), "200");

  auto listed = parse_object(admin_get("/v1/merchants/acme/policies").body());
  EXPECT_EQ(listed.at("active_version").as_int64(), 2);
  EXPECT_EQ(listed.at("previous_version").as_int64(), 1);
  ASSERT_EQ(listed.at("versions").as_array().size(), 2u);
  EXPECT_TRUE(listed.at("versions").as_array().at(0).at("active").as_bool());

  auto rolled = admin_post("/v1/merchants/acme/policies/rollback", "");
  ASSERT_EQ(rolled.result_int(), 200) << rolled.body();
  EXPECT_EQ(parse_object(rolled.body()).at("active_version").as_int64(), 1);
  EXPECT_EQ(offered_amount(gateway->get("/acme/api/x")), "100");

  auto shown = admin_get("/v1/merchants/acme/policies/2");
  ASSERT_EQ(shown.result_int(), 200);
  EXPECT_NE(parse_object(shown.body()).at("source").as_string().find("\"200\""), std::string::npos);
}

TEST_F(AdminApiTest, InvalidPoliciesAreRejectedWithTheReportAndNotStored) {
  auto syntax = admin_post("/v1/merchants/acme/policies", R"({"source":"function price(req"})");
  ASSERT_EQ(syntax.result_int(), 422) << syntax.body();
  EXPECT_EQ(parse_object(syntax.body()).at("code").as_string(), "policy_compile_error");

  // Prices the built-in corpus but fails the merchant's own sample.
  const std::string picky = R"({"source":
      "function price(req) if req.query.q == 'boom' then error('no') end return { amount = 5 } end",
      "samples": [ {"name": "ok", "path": "/api/a"},
                   {"name": "boom", "path": "/api/b", "query": {"q": "boom"}} ]})";
  auto rejected = admin_post("/v1/merchants/acme/policies", picky);
  ASSERT_EQ(rejected.result_int(), 422) << rejected.body();
  auto body = parse_object(rejected.body());
  EXPECT_EQ(body.at("code").as_string(), "policy_rejected");
  EXPECT_EQ(body.at("report").at("failures").as_int64(), 1);
  bool boom_reported = false;
  for (const auto& s : body.at("report").at("samples").as_array()) {
    if (s.at("name").as_string() == "boom") {
      boom_reported =
          !s.at("ok").as_bool() && s.at("error").at("code").as_string() == "policy_runtime_error";
    }
  }
  EXPECT_TRUE(boom_reported);

  auto hostile = admin_post("/v1/merchants/acme/policies",
                            R"({"source":"function price(req) while true do end end"})");
  EXPECT_EQ(hostile.result_int(), 422);

  auto limits = admin_post("/v1/merchants/acme/policies",
                           R"({"source":"function price(req) return {amount=1} end",
                               "limits":{"max_instructions": 999999999}})");
  EXPECT_EQ(limits.result_int(), 422);
  EXPECT_EQ(parse_object(limits.body()).at("field").as_string(), "limits.max_instructions");

  auto validate = admin_post("/v1/merchants/acme/policies/validate", kPrice100);
  ASSERT_EQ(validate.result_int(), 200) << validate.body();
  EXPECT_TRUE(parse_object(validate.body()).at("accepted").as_bool());

  auto listed = parse_object(admin_get("/v1/merchants/acme/policies").body());
  EXPECT_TRUE(listed.at("versions").as_array().empty());
}

TEST_F(AdminApiTest, KeysReachOnlyWhatTheyMay) {
  EXPECT_EQ(post(admin_port, "/v1/merchants/acme/policies", kPrice100, "").result_int(), 401);
  EXPECT_EQ(post(admin_port, "/v1/merchants/acme/policies", kPrice100, "wrong-key-0123456789")
                .result_int(),
            401);
  // A merchant key: its own merchant yes, another no.
  EXPECT_EQ(admin_post("/v1/merchants/acme/policies", kPrice100, kAcmeKey).result_int(), 201);
  auto other = admin_post("/v1/merchants/beta/policies", kPrice100, kAcmeKey);
  EXPECT_EQ(other.result_int(), 403);
  EXPECT_EQ(admin_get("/v1/merchants/beta/policies", kAcmeKey).result_int(), 403);
  // The admin key reaches beta.
  EXPECT_EQ(admin_post("/v1/merchants/beta/policies", kPrice100).result_int(), 201);
  EXPECT_EQ(admin_get("/v1/merchants/nobody/policies").result_int(), 404);
}

TEST_F(AdminApiTest, BadRequestsNameTheProblem) {
  auto not_json = admin_post("/v1/merchants/acme/policies", "{nope");
  ASSERT_EQ(not_json.result_int(), 400);
  EXPECT_EQ(parse_object(not_json.body()).at("field").as_string(), "body");
  auto no_source = admin_post("/v1/merchants/acme/policies", R"({"limits":{}})");
  ASSERT_EQ(no_source.result_int(), 400);
  EXPECT_EQ(parse_object(no_source.body()).at("field").as_string(), "source");
  auto bad_sample = admin_post("/v1/merchants/acme/policies",
                               R"({"source":"x","samples":[{"body_size":"big"}]})");
  ASSERT_EQ(bad_sample.result_int(), 400);
  EXPECT_EQ(parse_object(bad_sample.body()).at("field").as_string(), "samples[0].body_size");
  EXPECT_EQ(admin_post("/v1/merchants/acme/policies/7/activate", "").result_int(), 404);
  EXPECT_EQ(admin_post("/v1/merchants/acme/policies/rollback", "").result_int(), 409);
  EXPECT_EQ(admin_get("/v1/merchants/acme/policies/9").result_int(), 404);
  EXPECT_EQ(admin_get("/v1/other").result_int(), 404);
}

}  // namespace
}  // namespace x402::testing
