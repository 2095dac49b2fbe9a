#include "protocol/payload.hpp"

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace x402 {
namespace {

namespace json = boost::json;
using test::header_of;

// Sets a member at a dotted path, creating nothing: the path's parents must exist.
void set_path(json::object& root, std::string_view path, json::value v) {
  json::object* o = &root;
  size_t dot;
  while ((dot = path.find('.')) != std::string_view::npos) {
    o = &o->at(path.substr(0, dot)).as_object();
    path.remove_prefix(dot + 1);
  }
  (*o)[path] = std::move(v);
}

void erase_path(json::object& root, std::string_view path) {
  json::object* o = &root;
  size_t dot;
  while ((dot = path.find('.')) != std::string_view::npos) {
    o = &o->at(path.substr(0, dot)).as_object();
    path.remove_prefix(dot + 1);
  }
  o->erase(path);
}

json::value jstr(const std::string& s) {
  return json::value(json::string_view(s));
}

void expect_invalid(const Result<PaymentPayload>& r, std::string_view field) {
  ASSERT_FALSE(r.ok()) << "expected an error at " << field;
  EXPECT_EQ(r.error().code, "invalid_payment");
  EXPECT_EQ(r.error().field, field) << r.error().message;
  EXPECT_FALSE(r.error().message.empty());
}

TEST(DecodePayment, DecodesAWellFormedV2Payment) {
  auto p = decode_payment(header_of(test::v2_payment_json()), true);
  ASSERT_TRUE(p.ok()) << p.error().field << ": " << p.error().message;
  EXPECT_EQ(p->x402_version, 2);
  EXPECT_EQ(p->scheme, "exact");
  EXPECT_EQ(p->network, "eip155:84532");
  EXPECT_EQ(json::string_view(p->accepted->at("payTo").as_string()), test::kPayTo);
  EXPECT_EQ(p->resource->at("url"), "https://gw.example/acme/api/signal");
  EXPECT_EQ(p->authorization.from, test::kFrom);
  EXPECT_EQ(p->authorization.to, test::kPayTo);
  EXPECT_EQ(p->authorization.value, Amount(10000));
  EXPECT_EQ(p->authorization.valid_after, 1000u);
  EXPECT_EQ(p->authorization.valid_before, 2000u);
  EXPECT_EQ(p->authorization.nonce, test::kNonce);
  EXPECT_EQ(p->signature, test::kSignature);
  EXPECT_EQ(p->raw, json::value(test::v2_payment_json()));
}

TEST(DecodePayment, DecodesAWellFormedV1PaymentFromUnpaddedUrlSafeBase64) {
  std::string header = header_of(test::v1_payment_json());
  for (char& c : header) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!header.empty() && header.back() == '=') header.pop_back();
  auto p = decode_payment(header, false);
  ASSERT_TRUE(p.ok()) << p.error().field << ": " << p.error().message;
  EXPECT_EQ(p->x402_version, 1);
  EXPECT_EQ(p->network, "base-sepolia");
  EXPECT_FALSE(p->accepted.has_value());
  EXPECT_FALSE(p->resource.has_value());
}

TEST(DecodePayment, AcceptsIntegerValidityWindowAndLongSmartWalletSignatures) {
  auto o = test::v2_payment_json();
  set_path(o, "payload.authorization.validAfter", 0);
  set_path(o, "payload.authorization.validBefore", static_cast<uint64_t>(UINT64_MAX));
  set_path(o, "payload.signature", jstr("0x" + std::string(400, 'c')));
  auto p = decode_payment(header_of(o), true);
  ASSERT_TRUE(p.ok()) << p.error().field << ": " << p.error().message;
  EXPECT_EQ(p->authorization.valid_after, 0u);
  EXPECT_EQ(p->authorization.valid_before, UINT64_MAX);
}

TEST(DecodePayment, ResourceIsOptionalForV2) {
  auto o = test::v2_payment_json();
  o.erase("resource");
  auto p = decode_payment(header_of(o), true);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->resource.has_value());
  o["resource"] = "https://x";
  expect_invalid(decode_payment(header_of(o), true), "resource");
}

TEST(DecodePayment, EncodingLevelErrorsNameTheHeader) {
  expect_invalid(decode_payment("", true), "PAYMENT-SIGNATURE");
  expect_invalid(decode_payment("not base64!", true), "PAYMENT-SIGNATURE");
  expect_invalid(decode_payment(base64::encode("{\"x402Version\":"), false), "X-PAYMENT");
  expect_invalid(decode_payment(base64::encode("[1,2]"), true), "PAYMENT-SIGNATURE");
  expect_invalid(decode_payment(base64::encode("\"x\""), true), "PAYMENT-SIGNATURE");
  expect_invalid(decode_payment(base64::encode("{\"a\":\"\xff\"}"), true), "PAYMENT-SIGNATURE");
  auto huge = decode_payment(std::string(kMaxPaymentHeaderBytes + 4, 'A'), true);
  expect_invalid(huge, "PAYMENT-SIGNATURE");
  EXPECT_NE(huge.error().message.find("16384"), std::string::npos) << huge.error().message;
}

TEST(DecodePayment, X402VersionMustBeOneOrTwoAndMatchTheHeader) {
  auto o = test::v2_payment_json();
  for (json::value bad :
       {json::value(3), json::value(0), json::value("2"), json::value(2.0), json::value(nullptr)}) {
    o["x402Version"] = bad;
    expect_invalid(decode_payment(header_of(o), true), "x402Version");
  }
  o.erase("x402Version");
  expect_invalid(decode_payment(header_of(o), true), "x402Version");
  expect_invalid(decode_payment(header_of(test::v2_payment_json()), false), "x402Version");
  expect_invalid(decode_payment(header_of(test::v1_payment_json()), true), "x402Version");
}

struct FieldCase {
  const char* path;
  json::value replacement;  // null: remove the member
};

class DecodeV2FieldErrors : public ::testing::TestWithParam<FieldCase> {};

TEST_P(DecodeV2FieldErrors, NameTheField) {
  auto o = test::v2_payment_json();
  const FieldCase& c = GetParam();
  if (c.replacement.is_null()) {
    erase_path(o, c.path);
  } else {
    set_path(o, c.path, c.replacement);
  }
  expect_invalid(decode_payment(header_of(o), true), c.path);
}

INSTANTIATE_TEST_SUITE_P(
    Protocol, DecodeV2FieldErrors,
    ::testing::Values(
        FieldCase{"accepted", nullptr}, FieldCase{"accepted", "exact"},
        FieldCase{"accepted.scheme", nullptr}, FieldCase{"accepted.scheme", 1},
        FieldCase{"accepted.scheme", ""}, FieldCase{"accepted.network", nullptr},
        FieldCase{"accepted.network", json::array{"eip155:84532"}},
        FieldCase{"accepted.asset", nullptr}, FieldCase{"accepted.payTo", 5},
        FieldCase{"accepted.amount", 10000}, FieldCase{"payload", nullptr},
        FieldCase{"payload", json::array{}}, FieldCase{"payload.signature", nullptr},
        FieldCase{"payload.signature", "0x1234"},                            // too short
        FieldCase{"payload.signature", jstr("0x" + std::string(131, '1'))},  // odd length
        FieldCase{"payload.signature", jstr(std::string(132, '1'))},         // no 0x
        FieldCase{"payload.signature", jstr("0x" + std::string(129, '1') + "g")},
        FieldCase{"payload.authorization", nullptr}, FieldCase{"payload.authorization", "x"},
        FieldCase{"payload.authorization.from", nullptr},
        FieldCase{"payload.authorization.from", "0x1234"},
        FieldCase{"payload.authorization.to", "209693Bc6afc0C5328bA36FaF03C514EF312287C"},
        FieldCase{"payload.authorization.to", "0x209693Bc6afc0C5328bA36FaF03C514EF312287Z"},
        FieldCase{"payload.authorization.value", nullptr},
        FieldCase{"payload.authorization.value", 10000},
        FieldCase{"payload.authorization.value", "-1"},
        FieldCase{"payload.authorization.value", "1e4"},
        FieldCase{"payload.authorization.value", "10000.0"},
        FieldCase{"payload.authorization.validAfter", nullptr},
        FieldCase{"payload.authorization.validAfter", -1},
        FieldCase{"payload.authorization.validAfter", 1.5},
        FieldCase{"payload.authorization.validAfter", "abc"},
        FieldCase{"payload.authorization.validBefore", "18446744073709551616"},
        FieldCase{"payload.authorization.validBefore", true},
        FieldCase{"payload.authorization.validBefore", 2000.0},
        FieldCase{"payload.authorization.nonce", nullptr},
        FieldCase{"payload.authorization.nonce", jstr("0x" + std::string(62, 'a'))},
        FieldCase{"payload.authorization.nonce", jstr("0x" + std::string(66, 'a'))},
        FieldCase{"payload.authorization.nonce", jstr(std::string(66, 'a'))}));

TEST(DecodePayment, V1SchemeAndNetworkComeFromTheTopLevel) {
  for (const char* field : {"scheme", "network"}) {
    auto o = test::v1_payment_json();
    o.erase(field);
    expect_invalid(decode_payment(header_of(o), false), field);
    o[field] = 42;
    expect_invalid(decode_payment(header_of(o), false), field);
  }
}

TEST(DecodePayment, MessagesSayWhatIsExpected) {
  auto o = test::v2_payment_json();
  set_path(o, "payload.authorization.nonce", "0x1234");
  auto r = decode_payment(header_of(o), true);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("64 hex"), std::string::npos) << r.error().message;

  o = test::v2_payment_json();
  set_path(o, "payload.authorization.validBefore", 1.5);
  r = decode_payment(header_of(o), true);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("decimal string"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace x402
