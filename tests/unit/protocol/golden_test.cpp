// Both directions against vectors produced by the reference packages (golden/README.md): what we
// emit equals what they emit, and what they emit decodes, matches and passes our checks.
#include <gtest/gtest.h>

#include <vector>

#include "protocol/amount.hpp"
#include "protocol/base64.hpp"
#include "protocol/checks.hpp"
#include "protocol/matching.hpp"
#include "protocol/network.hpp"
#include "protocol/payload.hpp"
#include "protocol/requirements.hpp"
#include "protocol/settlement.hpp"
#include "test_support.hpp"

namespace x402 {
namespace {

namespace json = boost::json;

std::string str(const json::value& v, std::string_view key) {
  return std::string(v.at(key).as_string());
}

// The golden `input` turned into our Requirements, the way config would build them.
std::vector<Requirement> requirements_from_golden(const json::value& golden) {
  const auto networks = NetworkTable::builtin();
  std::vector<Requirement> out;
  for (const auto& in : golden.at("input").at("requirements").as_array()) {
    Requirement r;
    r.scheme = str(in, "scheme");
    r.network =
        *networks.resolve("eip155:" + std::to_string(in.at("chain_id").to_number<uint64_t>()));
    EXPECT_EQ(r.network.name, str(in, "network_name"));
    r.amount = *Amount::parse_atomic(str(in, "amount"));
    r.asset = str(in, "asset");
    r.pay_to = str(in, "payTo");
    r.max_timeout_seconds = in.at("maxTimeoutSeconds").to_number<uint32_t>();
    r.extra_name = str(in.at("extra"), "name");
    r.extra_version = str(in.at("extra"), "version");
    out.push_back(r);
  }
  return out;
}

ResourceInfo resource_from_golden(const json::value& golden) {
  const auto& res = golden.at("input").at("resource");
  return ResourceInfo{str(res, "url"), str(res, "description"), str(res, "mimeType")};
}

PaymentRequiredResponse build_from_golden(const json::value& golden) {
  const auto reqs = requirements_from_golden(golden);
  return build_payment_required(str(golden.at("input"), "error"), resource_from_golden(golden),
                                reqs);
}

TEST(Golden, PaymentRequiredV2EqualsReference) {
  const auto golden = test::load_golden("payment_required.json");
  const auto built = build_from_golden(golden);
  EXPECT_EQ(json::value(built.v2), golden.at("v2")) << json::serialize(built.v2);
  // Our header decodes to the same document the reference header carries.
  auto ours = base64::decode(built.v2_header);
  auto theirs = base64::decode(golden.at("v2_header").as_string());
  ASSERT_TRUE(ours.ok());
  ASSERT_TRUE(theirs.ok());
  EXPECT_EQ(json::parse(*ours), json::parse(*theirs));
}

TEST(Golden, PaymentRequiredV1BodyEqualsReference) {
  const auto golden = test::load_golden("payment_required.json");
  const auto built = build_from_golden(golden);
  EXPECT_EQ(json::value(built.v1_body), golden.at("v1_body")) << json::serialize(built.v1_body);
}

TEST(Golden, RequirementWithoutV1NameUsesCaip2ForV1Peers) {
  const auto golden = test::load_golden("payment_required.json");
  const auto built = build_from_golden(golden);
  EXPECT_EQ(built.v1_body.at("accepts").as_array().at(2).at("network"), "eip155:31337");
  EXPECT_EQ(built.v1_body.at("accepts").as_array().at(0).at("network"), "base-sepolia");
  EXPECT_EQ(built.v2.at("accepts").as_array().at(0).at("network"), "eip155:84532");
}

TEST(Golden, ReferenceV2PaymentDecodesMatchesAndPassesChecks) {
  const auto required = test::load_golden("payment_required.json");
  const auto payments = test::load_golden("payment_payloads.json");
  const auto& v2 = payments.at("v2");

  auto p = decode_payment(v2.at("header").as_string(), /*from_v2_header=*/true);
  ASSERT_TRUE(p.ok()) << p.error().field << ": " << p.error().message;
  EXPECT_EQ(p->x402_version, 2);
  EXPECT_EQ(p->scheme, "exact");
  EXPECT_EQ(p->network, "eip155:84532");
  EXPECT_EQ(p->raw, v2.at("decoded"));
  const auto& auth_json = v2.at("decoded").at("payload").at("authorization");
  EXPECT_EQ(p->authorization.from, str(payments, "payer"));
  EXPECT_EQ(p->authorization.nonce, str(auth_json, "nonce"));
  EXPECT_EQ(p->authorization.value, Amount(10000));
  EXPECT_EQ(std::to_string(p->authorization.valid_before), str(auth_json, "validBefore"));
  EXPECT_EQ(p->signature, str(v2.at("decoded").at("payload"), "signature"));
  ASSERT_TRUE(p->resource.has_value());

  const auto reqs = requirements_from_golden(required);
  std::vector<json::object> offered;
  for (const auto& r : reqs) offered.push_back(to_v2_json(r));
  auto index = match_v2(*p, offered);
  ASSERT_TRUE(index.ok()) << index.error().message;
  EXPECT_EQ(*index, v2.at("matches_offered_index").to_number<size_t>());

  const uint64_t now = p->authorization.valid_before - 60;
  auto checked = check_payment(*p, reqs[*index], now);
  EXPECT_TRUE(checked.ok()) << checked.error().code << ": " << checked.error().message;
}

TEST(Golden, ReferenceV1PaymentsDecodeMatchAndPassChecks) {
  const auto required = test::load_golden("payment_required.json");
  const auto payments = test::load_golden("payment_payloads.json");
  const auto reqs = requirements_from_golden(required);
  const auto networks = NetworkTable::builtin();
  for (const char* which : {"v1", "v1_x402js"}) {
    SCOPED_TRACE(which);
    const auto& v1 = payments.at(which);
    auto p = decode_payment(v1.at("header").as_string(), /*from_v2_header=*/false);
    ASSERT_TRUE(p.ok()) << p.error().field << ": " << p.error().message;
    EXPECT_EQ(p->x402_version, 1);
    EXPECT_EQ(p->network, "base-sepolia");
    EXPECT_FALSE(p->accepted.has_value());
    EXPECT_EQ(p->raw, v1.at("decoded"));

    auto index = match_v1(*p, reqs, networks);
    ASSERT_TRUE(index.ok()) << index.error().message;
    EXPECT_EQ(*index, 0u);
    const uint64_t now = p->authorization.valid_after + 10;
    auto checked = check_payment(*p, reqs[*index], now);
    EXPECT_TRUE(checked.ok()) << checked.error().code << ": " << checked.error().message;
  }
}

TEST(Golden, ReferencePaymentsAreRejectedFromTheOtherVersionsHeader) {
  const auto payments = test::load_golden("payment_payloads.json");
  auto v2_in_v1_header = decode_payment(payments.at("v2").at("header").as_string(), false);
  ASSERT_FALSE(v2_in_v1_header.ok());
  EXPECT_EQ(v2_in_v1_header.error().field, "x402Version");
  auto v1_in_v2_header = decode_payment(payments.at("v1").at("header").as_string(), true);
  ASSERT_FALSE(v1_in_v2_header.ok());
  EXPECT_EQ(v1_in_v2_header.error().field, "x402Version");
}

SettlementResponse settlement_from_json(const json::value& d) {
  SettlementResponse s;
  s.success = d.at("success").as_bool();
  s.transaction = str(d, "transaction");
  s.network = str(d, "network");
  if (d.as_object().contains("payer")) s.payer = str(d, "payer");
  if (d.as_object().contains("errorReason")) s.error_reason = str(d, "errorReason");
  if (d.as_object().contains("errorMessage")) s.error_message = str(d, "errorMessage");
  if (d.as_object().contains("amount")) s.amount = *Amount::parse_atomic(str(d, "amount"));
  return s;
}

TEST(Golden, SettlementHeadersMatchReferenceBothWays) {
  const auto golden = test::load_golden("settlement.json");
  for (const auto& [name, c] : golden.as_object()) {
    SCOPED_TRACE(std::string(name));
    const SettlementResponse expected = settlement_from_json(c.at("decoded"));

    auto decoded = decode_settlement_header(c.at("header").as_string());
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    EXPECT_EQ(decoded->success, expected.success);
    EXPECT_EQ(decoded->transaction, expected.transaction);
    EXPECT_EQ(decoded->network, expected.network);
    EXPECT_EQ(decoded->payer, expected.payer);
    EXPECT_EQ(decoded->error_reason, expected.error_reason);
    EXPECT_EQ(decoded->error_message, expected.error_message);
    EXPECT_EQ(decoded->amount, expected.amount);

    auto ours = base64::decode(encode_settlement_header(expected));
    ASSERT_TRUE(ours.ok());
    EXPECT_EQ(json::parse(*ours), c.at("decoded"));
  }
}

}  // namespace
}  // namespace x402
