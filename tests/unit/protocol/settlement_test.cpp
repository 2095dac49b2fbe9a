#include "protocol/settlement.hpp"

#include <gtest/gtest.h>

#include "protocol/base64.hpp"

namespace x402 {
namespace {

namespace json = boost::json;

TEST(Settlement, OmitsEmptyOptionalMembersButKeepsRequiredOnes) {
  SettlementResponse s;
  s.success = false;
  s.network = "eip155:84532";
  const json::object o = settlement_to_json(s);
  EXPECT_EQ(o.at("success"), false);
  EXPECT_EQ(o.at("transaction"), "");
  EXPECT_EQ(o.at("network"), "eip155:84532");
  for (const char* absent : {"payer", "errorReason", "errorMessage", "amount"}) {
    EXPECT_FALSE(o.contains(absent)) << absent;
  }
}

TEST(Settlement, RoundTripsEveryMember) {
  SettlementResponse s;
  s.success = true;
  s.transaction = "0x" + std::string(64, 'e');
  s.network = "base-sepolia";
  s.payer = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
  s.error_reason = "settlement_pending";
  s.error_message = "broadcast, not yet confirmed";
  s.amount = Amount(7500);
  const std::string header = encode_settlement_header(s);
  EXPECT_EQ(header.size() % 4, 0u);  // standard padded form
  auto back = decode_settlement_header(header);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->success, s.success);
  EXPECT_EQ(back->transaction, s.transaction);
  EXPECT_EQ(back->network, s.network);
  EXPECT_EQ(back->payer, s.payer);
  EXPECT_EQ(back->error_reason, s.error_reason);
  EXPECT_EQ(back->error_message, s.error_message);
  EXPECT_EQ(back->amount, s.amount);
}

TEST(Settlement, DecodeIgnoresUnknownMembersAndRejectsWrongTypes) {
  auto ok = decode_settlement_header(base64::encode(
      R"({"success":true,"transaction":"0x1","network":"base","extensions":{"a":1}})"));
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->success);

  for (const char* bad :
       {R"({"transaction":"0x1","network":"base"})",
        R"({"success":"true","transaction":"0x1","network":"base"})",
        R"({"success":true,"transaction":1,"network":"base"})",
        R"({"success":true,"network":"base","amount":"1.5"})", R"([true])", "nonsense"}) {
    auto r = decode_settlement_header(base64::encode(bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, "invalid_settlement_response");
  }
  EXPECT_FALSE(decode_settlement_header("***").ok());
}

}  // namespace
}  // namespace x402
