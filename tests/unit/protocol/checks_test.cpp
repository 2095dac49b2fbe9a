#include "protocol/checks.hpp"

#include <gtest/gtest.h>

#include <functional>

#include "protocol/hex.hpp"
#include "test_support.hpp"

namespace x402 {
namespace {

namespace json = boost::json;

// test::v2_payment_json() is valid in [1000, 2000].
constexpr uint64_t kNow = 1500;

Requirement requirement() {
  Requirement r;
  r.network = Network{"base-sepolia", 84532};
  r.amount = Amount(10000);
  r.asset = test::kAsset;
  r.pay_to = test::kPayTo;
  r.extra_name = "USDC";
  r.extra_version = "2";
  return r;
}

PaymentPayload payment(bool v2, const std::function<void(json::object&)>& edit = {}) {
  json::object o = v2 ? test::v2_payment_json() : test::v1_payment_json();
  if (edit) edit(o);
  auto p = decode_payment(test::header_of(o), v2);
  EXPECT_TRUE(p.ok()) << p.error().field << ": " << p.error().message;
  return *p;
}

json::object& auth(json::object& o) {
  return o["payload"].as_object()["authorization"].as_object();
}

void expect_rejected(const Status& s, std::string_view code, std::string_view field) {
  ASSERT_FALSE(s.ok()) << "expected " << code;
  EXPECT_EQ(s.error().code, code) << s.error().message;
  EXPECT_EQ(s.error().field, field);
}

TEST(CheckPayment, AcceptsMatchingPaymentsOfBothVersions) {
  EXPECT_TRUE(check_payment(payment(true), requirement(), kNow).ok());
  EXPECT_TRUE(check_payment(payment(false), requirement(), kNow).ok());
}

TEST(CheckPayment, ComparesAddressesIgnoringCase) {
  auto p = payment(true, [](json::object& o) {
    auth(o)["to"] = lowercase_hex(test::kPayTo);
    o["accepted"].as_object()["asset"] = lowercase_hex(test::kAsset);
  });
  EXPECT_TRUE(check_payment(p, requirement(), kNow).ok());
}

TEST(CheckPayment, SchemeMismatch) {
  expect_rejected(
      check_payment(
          payment(true, [](json::object& o) { o["accepted"].as_object()["scheme"] = "upto"; }),
          requirement(), kNow),
      "scheme_mismatch", "accepted.scheme");
  expect_rejected(check_payment(payment(false, [](json::object& o) { o["scheme"] = "upto"; }),
                                requirement(), kNow),
                  "scheme_mismatch", "scheme");
}

TEST(CheckPayment, NetworkMismatchByChainNotSpelling) {
  EXPECT_TRUE(check_payment(payment(false, [](json::object& o) { o["network"] = "eip155:84532"; }),
                            requirement(), kNow)
                  .ok());
  expect_rejected(check_payment(payment(false, [](json::object& o) { o["network"] = "base"; }),
                                requirement(), kNow),
                  "network_mismatch", "network");
  expect_rejected(check_payment(payment(true,
                                        [](json::object& o) {
                                          o["accepted"].as_object()["network"] = "eip155:8453";
                                        }),
                                requirement(), kNow),
                  "network_mismatch", "accepted.network");
}

TEST(CheckPayment, PayToMismatch) {
  auto p = payment(
      true, [](json::object& o) { auth(o)["to"] = "0x0000000000000000000000000000000000000001"; });
  expect_rejected(check_payment(p, requirement(), kNow), "payto_mismatch",
                  "payload.authorization.to");
}

TEST(CheckPayment, V2NeedsTheExactAmount) {
  for (const char* value : {"9999", "10001"}) {
    auto p = payment(true, [&](json::object& o) { auth(o)["value"] = value; });
    auto s = check_payment(p, requirement(), kNow);
    expect_rejected(s, "amount_mismatch", "payload.authorization.value");
    EXPECT_NE(s.error().message.find(value), std::string::npos) << s.error().message;
    EXPECT_NE(s.error().message.find("10000"), std::string::npos) << s.error().message;
  }
}

TEST(CheckPayment, V1AcceptsAtLeastTheAmount) {
  auto more = payment(false, [](json::object& o) { auth(o)["value"] = "10001"; });
  EXPECT_TRUE(check_payment(more, requirement(), kNow).ok());
  auto less = payment(false, [](json::object& o) { auth(o)["value"] = "9999"; });
  expect_rejected(check_payment(less, requirement(), kNow), "amount_mismatch",
                  "payload.authorization.value");
}

TEST(CheckPayment, V2AssetMismatch) {
  auto p = payment(true, [](json::object& o) {
    o["accepted"].as_object()["asset"] = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
  });
  expect_rejected(check_payment(p, requirement(), kNow), "asset_mismatch", "accepted.asset");
}

TEST(CheckPayment, NotYetValid) {
  EXPECT_TRUE(check_payment(payment(true), requirement(), 1000).ok());  // validAfter == now
  expect_rejected(check_payment(payment(true), requirement(), 999), "not_yet_valid",
                  "payload.authorization.validAfter");
}

TEST(CheckPayment, ExpiredWithinSixSecondsOfNow) {
  EXPECT_TRUE(check_payment(payment(true), requirement(), 2000 - 6).ok());
  auto s = check_payment(payment(true), requirement(), 2000 - 5);
  expect_rejected(s, "expired", "payload.authorization.validBefore");
  EXPECT_NE(s.error().message.find("2000"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("1995"), std::string::npos) << s.error().message;
  expect_rejected(check_payment(payment(false), requirement(), 5000), "expired",
                  "payload.authorization.validBefore");
}

}  // namespace
}  // namespace x402
