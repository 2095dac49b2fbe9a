// What a policy sees in `req`, and that it cannot change it.
#include <gtest/gtest.h>

#include "policy_test_support.hpp"

namespace x402::policy {
namespace {

using testing::compile_ok;
using testing::sample_request;
using testing::usdc_offer;

// Runs `body` (Lua returning a string) inside price() and returns that string as the description.
std::string probe(const std::string& body, const PolicyRequest& request) {
  auto policy = compile_ok("function price(req) local d = (function() " + body +
                           " end)() return { amount = 1, description = d } end");
  if (!policy) return "<compile failed>";
  auto decision = policy->evaluate(request, usdc_offer());
  if (!decision.ok())
    return "<error " + decision.error().code + ": " + decision.error().message + ">";
  return decision->description.value_or("<nil>");
}

TEST(RequestView, ExposesEveryField) {
  auto request = sample_request();
  request.method = "POST";
  request.path = "/v1/x";
  request.query = {{"q", "one"}, {"q", "two"}, {"n", "5"}};
  request.headers = {{"Content-Type", "text/plain"}, {"X-Multi", "a"}, {"x-multi", "b"}};
  request.body_size = 1234;
  request.route = "/v1/*";
  request.payer.address = "0xabc";
  request.payer.calls_this_period = 7;
  request.payer.active_passes = 2;
  request.payer.package_balance = 9;
  request.merchant_stats.calls_this_period = 11;
  request.merchant_stats.calls_last_minute = 3;
  EXPECT_EQ(probe("return table.concat({req.method, req.path, req.route, req.merchant, "
                  "tostring(req.body_size), tostring(req.now)}, '|')",
                  request),
            "POST|/v1/x|/v1/*|acme|1234|1735689600");
  EXPECT_EQ(probe("return req.query.q .. req.query.n", request), "one5");  // first value wins
  EXPECT_EQ(probe("return req.headers['content-type'] .. '|' .. req.headers['x-multi']", request),
            "text/plain|a, b");
  EXPECT_EQ(probe("local p = req.payer return p.address .. p.calls_this_period .. "
                  "p.active_passes .. p.package_balance",
                  request),
            "0xabc729");
  EXPECT_EQ(probe("local m = req.merchant_stats return m.calls_this_period .. '/' .. "
                  "m.calls_last_minute",
                  request),
            "11/3");
}

TEST(RequestView, UnknownPayerAddressIsNil) {
  EXPECT_EQ(probe("return tostring(req.payer.address)", sample_request()), "nil");
}

TEST(RequestView, PairsAndNextIterateTheViews) {
  auto request = sample_request();
  request.query = {{"b", "2"}, {"a", "1"}};
  EXPECT_EQ(probe("local keys = {} for k, v in pairs(req.query) do keys[#keys + 1] = k .. '=' .. v "
                  "end table.sort(keys) return table.concat(keys, '&')",
                  request),
            "a=1&b=2");
  EXPECT_EQ(probe("return tostring(next(req.query) ~= nil)", request), "true");
  EXPECT_EQ(probe("local n = 0 for _ in pairs(req) do n = n + 1 end return tostring(n)", request),
            "10");
}

TEST(RequestView, EveryPartIsReadOnly) {
  const auto request = sample_request();
  for (const char* write :
       {"req.path = '/free'", "req.headers.host = 'evil'", "req.query.x = '1'",
        "req.payer.calls_this_period = 0", "req.merchant_stats.calls_last_minute = 0",
        "table.insert(req.query, 'x')", "table.sort(req.headers)", "table.remove(req.query)"}) {
    SCOPED_TRACE(write);
    auto policy =
        compile_ok(std::string("function price(req) ") + write + " return { amount = 1 } end");
    ASSERT_TRUE(policy);
    auto decision = policy->evaluate(request, usdc_offer());
    ASSERT_FALSE(decision.ok());
    EXPECT_EQ(decision.error().code, "policy_runtime_error");
    EXPECT_NE(decision.error().message.find("read-only"), std::string::npos)
        << decision.error().message;
  }
}

TEST(RequestView, EachCallGetsAFreshView) {
  // A policy stashing the view and reading it later sees the old request, never a mutation.
  auto policy = compile_ok(
      "local last function price(req) local prev = last and last.path or 'none' last = req "
      "return { amount = 1, description = prev } end");
  ASSERT_TRUE(policy);
  auto request = sample_request();
  request.path = "/first";
  EXPECT_EQ(policy->evaluate(request, usdc_offer())->description, "none");
  request.path = "/second";
  EXPECT_EQ(policy->evaluate(request, usdc_offer())->description, "/first");
}

}  // namespace
}  // namespace x402::policy
