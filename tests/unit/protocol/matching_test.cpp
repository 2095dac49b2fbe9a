#include "protocol/matching.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "test_support.hpp"

namespace x402 {
namespace {

namespace json = boost::json;

Requirement base_sepolia_usdc() {
  Requirement r;
  r.network = Network{"base-sepolia", 84532};
  r.amount = Amount(10000);
  r.asset = test::kAsset;
  r.pay_to = test::kPayTo;
  r.max_timeout_seconds = 60;
  r.extra_name = "USDC";
  r.extra_version = "2";
  return r;
}

Requirement base_usdc() {
  Requirement r = base_sepolia_usdc();
  r.network = Network{"base", 8453};
  r.asset = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
  r.extra_name = "USD Coin";
  return r;
}

PaymentPayload decode(const json::object& o, bool v2) {
  auto p = decode_payment(test::header_of(o), v2);
  EXPECT_TRUE(p.ok()) << p.error().field << ": " << p.error().message;
  return *p;
}

std::vector<json::object> offered() {
  return {to_v2_json(base_usdc()), to_v2_json(base_sepolia_usdc())};
}

TEST(MatchV2, FindsTheEchoedRequirement) {
  auto index = match_v2(decode(test::v2_payment_json(), true), offered());
  ASSERT_TRUE(index.ok()) << index.error().message;
  EXPECT_EQ(*index, 1u);
}

TEST(MatchV2, IgnoresKeyOrderWhitespaceAndNumberSpelling) {
  const std::string text = R"({"payload":{"authorization":{"nonce":")" + test::kNonce +
                           R"(","validBefore":"2000","validAfter":"1000","value":"10000","to":")" +
                           test::kPayTo + R"(","from":")" + test::kFrom + R"("},"signature":")" +
                           test::kSignature + R"("},
      "accepted" : { "extra" : {"version":"2", "name":"USDC"}, "maxTimeoutSeconds" : 60.0,
                     "payTo":")" +
                           test::kPayTo + R"(", "asset":")" + test::kAsset + R"(",
                     "amount":"10000", "network":"eip155:84532", "scheme":"exact" },
      "x402Version" : 2 })";
  auto p = decode_payment(base64::encode(text), true);
  ASSERT_TRUE(p.ok()) << p.error().field << ": " << p.error().message;
  auto index = match_v2(*p, offered());
  ASSERT_TRUE(index.ok()) << index.error().message;
  EXPECT_EQ(*index, 1u);
}

TEST(MatchV2, AcceptsExtraFieldsTheClientAddedToExtraLikeTheReference) {
  auto o = test::v2_payment_json();
  o["accepted"].as_object()["extra"].as_object()["assetTransferMethod"] = "eip3009";
  EXPECT_TRUE(match_v2(decode(o, true), offered()).ok());
}

TEST(MatchV2, RejectsAnyChangedOrAddedOrMissingMember) {
  struct Change {
    const char* key;
    json::value value;
  };
  const Change changes[] = {{"amount", "9999"},
                            {"network", "eip155:8453"},
                            {"payTo", "0x0000000000000000000000000000000000000001"},
                            {"asset", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"},
                            {"maxTimeoutSeconds", 600},
                            {"maxTimeoutSeconds", "60"},
                            {"extra", json::object{{"name", "USD Coin"}, {"version", "2"}}},
                            {"extra", json::object{{"name", "USDC"}}},
                            {"surprise", true}};
  for (const auto& c : changes) {
    SCOPED_TRACE(std::string(c.key) + "=" + json::serialize(c.value));
    auto o = test::v2_payment_json();
    o["accepted"].as_object()[c.key] = c.value;
    auto r = match_v2(decode(o, true), offered());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "no_matching_requirement");
    EXPECT_EQ(r.error().field, "accepted");
  }
  auto o = test::v2_payment_json();
  o["accepted"].as_object().erase("maxTimeoutSeconds");
  EXPECT_FALSE(match_v2(decode(o, true), offered()).ok());
}

TEST(MatchV2, ErrorNamesWhatWasOffered) {
  auto o = test::v2_payment_json();
  o["accepted"].as_object()["amount"] = "1";
  auto r = match_v2(decode(o, true), offered());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("eip155:8453, amount 10000"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("eip155:84532"), std::string::npos);
}

TEST(MatchV2, V1PaymentHasNothingToMatch) {
  auto r = match_v2(decode(test::v1_payment_json(), false), offered());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "no_matching_requirement");
}

TEST(MatchV1, MatchesBySchemeAndNetworkNameOrCaip2) {
  const std::vector<Requirement> reqs = {base_usdc(), base_sepolia_usdc()};
  const auto networks = NetworkTable::builtin();
  auto o = test::v1_payment_json();
  EXPECT_EQ(*match_v1(decode(o, false), reqs, networks), 1u);
  o["network"] = "eip155:84532";
  EXPECT_EQ(*match_v1(decode(o, false), reqs, networks), 1u);
  o["network"] = "base";
  EXPECT_EQ(*match_v1(decode(o, false), reqs, networks), 0u);
}

TEST(MatchV1, RejectsOtherSchemesNetworksAndUnknownNames) {
  const std::vector<Requirement> reqs = {base_usdc(), base_sepolia_usdc()};
  const auto networks = NetworkTable::builtin();
  for (auto [scheme, network] :
       {std::pair{"exact", "polygon"}, std::pair{"upto", "base"}, std::pair{"exact", "eip155:1"},
        std::pair{"exact", "nowhere"}, std::pair{"exact", "eip155:01"}}) {
    auto o = test::v1_payment_json();
    o["scheme"] = scheme;
    o["network"] = network;
    auto r = match_v1(decode(o, false), reqs, networks);
    ASSERT_FALSE(r.ok()) << scheme << " " << network;
    EXPECT_EQ(r.error().code, "no_matching_requirement");
    EXPECT_EQ(r.error().field, "network");
    EXPECT_NE(r.error().message.find("(exact, base-sepolia)"), std::string::npos)
        << r.error().message;
  }
}

}  // namespace
}  // namespace x402
