#include "verifier.hpp"

#include <gtest/gtest.h>

#include "payments.hpp"

namespace x402::plugins::selfhosted {
namespace {

using test::selfhosted::kNow;
using test::selfhosted::PaymentSpec;
using test::selfhosted::signed_request;

VerifyPolicy policy() {
  return VerifyPolicy{84532, {}, 6, {}};
}

Verdict verdict_of(const PaymentSpec& s, VerifyPolicy p = policy()) {
  return check_locally(signed_request(s), p, kNow).verdict;
}

const std::string kPayer = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";

TEST(SelfhostedVerifyLocal, AValidV2PaymentPasses) {
  LocalCheck c = check_locally(signed_request({}), policy(), kNow);
  ASSERT_TRUE(c.payment) << c.verdict.reason << ": " << c.verdict.message;
  EXPECT_TRUE(c.verdict.valid);
  EXPECT_EQ(c.payment->payer, kPayer);
  std::string nonce = "0x";
  for (int i = 0; i < 32; ++i) nonce += "01";
  EXPECT_EQ(c.payment->job_id(),
            "84532:0x036cbd53842c5426634e7929541ec2318f3dcf7e:" + kPayer + ":" + nonce);
  EXPECT_EQ(c.payment->signature.size(), 65u);
  EXPECT_EQ(c.verdict.to_json(), R"({"isValid":true,"payer":")" + kPayer + "\"}");
}

TEST(SelfhostedVerifyLocal, V1UsesTheNetworkNameAndAcceptsMore) {
  PaymentSpec s;
  s.version = 1;
  s.network = "base-sepolia";
  s.value = "20000";  // more than asked: v1 peers accept it
  EXPECT_TRUE(verdict_of(s).valid) << verdict_of(s).message;
  s.value = "9999";
  EXPECT_EQ(verdict_of(s).reason, reason::kValue);
}

TEST(SelfhostedVerifyLocal, V2WantsTheExactAmount) {
  PaymentSpec s;
  s.value = "20000";
  s.amount = "10000";
  EXPECT_EQ(verdict_of(s).reason, reason::kValue);
}

TEST(SelfhostedVerifyLocal, EachCheckHasItsReason) {
  struct Case {
    const char* name;
    std::function<void(PaymentSpec&)> change;
    std::string_view reason;
  };
  std::vector<Case> cases = {
      {"scheme", [](PaymentSpec& s) { s.scheme = "upto"; }, reason::kScheme},
      {"network", [](PaymentSpec& s) { s.network = "eip155:8453"; }, reason::kNetwork},
      {"unknown network", [](PaymentSpec& s) { s.network = "mars"; }, reason::kNetwork},
      {"domain missing", [](PaymentSpec& s) { s.drop_extra = true; }, reason::kMissingDomain},
      {"wrong domain name", [](PaymentSpec& s) { s.requirements_name = "USD Coin"; },
       reason::kSignature},
      {"other signer", [](PaymentSpec& s) { s.chain_id = 1; }, reason::kSignature},
      {"high s", [](PaymentSpec& s) { s.high_s = true; }, reason::kSignature},
      {"recipient", [](PaymentSpec& s) { s.to = "0x0000000000000000000000000000000000000001"; },
       reason::kRecipient},
      {"not yet valid", [](PaymentSpec& s) { s.valid_after = kNow + 10; }, reason::kValidAfter},
      {"expired", [](PaymentSpec& s) { s.valid_before = kNow - 1; }, reason::kValidBefore},
      {"expires within the margin", [](PaymentSpec& s) { s.valid_before = kNow + 5; },
       reason::kValidBefore},
      {"value not decimal", [](PaymentSpec& s) { s.value = "1e4"; }, reason::kInvalidPayload},
  };
  for (auto& c : cases) {
    PaymentSpec s;
    c.change(s);
    Verdict v = verdict_of(s);
    EXPECT_FALSE(v.valid) << c.name;
    EXPECT_EQ(v.reason, c.reason) << c.name << ": " << v.message;
    EXPECT_EQ(v.payer, kPayer) << c.name;  // every verdict past parsing names the payer
  }
  // Right at the margin is fine.
  PaymentSpec edge;
  edge.valid_before = kNow + 6;
  EXPECT_TRUE(verdict_of(edge).valid);
}

TEST(SelfhostedVerifyLocal, AssetAllowList) {
  VerifyPolicy p = policy();
  p.assets.push_back(*eth::parse_address("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"));
  EXPECT_EQ(verdict_of({}, p).reason, reason::kAssetNotAllowed);
  p.assets.push_back(*eth::parse_address(test::selfhosted::kToken));
  EXPECT_TRUE(verdict_of({}, p).valid);
}

TEST(SelfhostedVerifyLocal, MalformedRequests) {
  EXPECT_EQ(check_locally("not json", policy(), kNow).verdict.reason, reason::kInvalidPayload);
  EXPECT_EQ(check_locally(R"({"x402Version":3,"paymentPayload":{},"paymentRequirements":{}})",
                          policy(), kNow)
                .verdict.reason,
            reason::kInvalidVersion);
  std::string r = signed_request({});
  auto swap = [&](std::string from, std::string to) {
    std::string out = r;
    out.replace(out.find(from), from.size(), to);
    return check_locally(out, policy(), kNow).verdict;
  };
  // A 64-byte signature (drop the last byte's hex).
  auto sig_at = r.find("\"signature\":\"") + 13;
  std::string short_sig = r;
  short_sig.erase(sig_at + 2 + 128, 2);
  EXPECT_EQ(check_locally(short_sig, policy(), kNow).verdict.reason, reason::kSignatureFormat);
  EXPECT_EQ(swap("\"nonce\":\"0x01", "\"nonce\":\"0x1").reason, reason::kInvalidPayload);
}

// 65 well-formed bytes that recover to no key are a bad signature, not an unparsable one: the
// format reason is kept for "not 65 bytes of hex" (the doc's table, and @x402/evm's answer).
TEST(SelfhostedVerifyLocal, A65ByteSignatureThatRecoversToNoKeyIsAnInvalidSignature) {
  std::string r = signed_request({});
  auto sig_at = r.find("\"signature\":\"") + 13;
  auto with_signature = [&](const std::string& hex130) {
    std::string out = r;
    out.replace(sig_at + 2, 130, hex130);
    return check_locally(out, policy(), kNow).verdict;
  };
  const std::string s_one = std::string(63, '0') + "1";
  // r = 5 is no x coordinate on the curve; r = 0 is out of range.
  for (const std::string& r_hex : {std::string(63, '0') + "5", std::string(64, '0')}) {
    Verdict v = with_signature(r_hex + s_one + "1b");
    EXPECT_FALSE(v.valid) << r_hex;
    EXPECT_EQ(v.reason, reason::kSignature) << r_hex << ": " << v.message;
    EXPECT_EQ(v.payer, kPayer) << r_hex;
  }
  // Control: the same document with a short signature is still a format error.
  EXPECT_EQ(with_signature(std::string(63, '0') + "5" + s_one + "1").reason,
            reason::kSignatureFormat);
}

TEST(SelfhostedVerifyLocal, V2AcceptedMustMatchTheRequirements) {
  std::string r = signed_request({});
  // Change only paymentRequirements.amount (the last "amount" in the document).
  auto at = r.rfind("\"amount\":\"10000\"");
  r.replace(at, 16, "\"amount\":\"10001\"");
  EXPECT_EQ(check_locally(r, policy(), kNow).verdict.reason, reason::kRequirementsMismatch);
}

TEST(SelfhostedVerifyLocal, JobIdIsReadableWithoutJudging) {
  PaymentSpec s;
  s.valid_before = kNow - 100;  // expired, yet a retry must still find its job
  auto id = job_id_of_request(signed_request(s), 84532);
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, check_locally(signed_request({}), policy(), kNow).payment->job_id());
}

}  // namespace
}  // namespace x402::plugins::selfhosted
