// Bad input through a real x402d: undecodable and ill-typed payment headers (400 naming the JSON
// path), well-formed payments that do not fit the offer (402 naming the problem), and HTTP that is
// malformed or too big (400 / 413 / 431 from the server). Every refusal must leave no trace — no
// facilitator call, no upstream call, no payment row — and the gateway must keep serving.
#include <gtest/gtest.h>

#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <functional>

#include "support/fake_facilitator.hpp"
#include "support/gateway_harness.hpp"

namespace x402::testing {
namespace {

namespace json = boost::json;

constexpr const char* kPaidPath = "/acme/api/signal";
constexpr const char* kOtherAddress = "0x1111111111111111111111111111111111111111";

// Small enough that the oversize tests send kilobytes; the header limit is above the payment
// decoder's own 16 KiB cap so that cap can be reached through the server.
constexpr size_t kMaxHeaderBytes = 32 * 1024;
constexpr size_t kMaxBodyBytes = 4096;

std::string with_server_limits(std::string yaml, size_t max_header_bytes, size_t max_body_bytes) {
  const std::string anchor = "  workers: 2\n";
  const auto at = yaml.find(anchor);
  if (at == std::string::npos) throw std::logic_error("gateway_yaml changed: no workers line");
  yaml.insert(at + anchor.size(),
              "  limits: { max_header_bytes: " + std::to_string(max_header_bytes) +
                  ", max_body_bytes: " + std::to_string(max_body_bytes) + " }\n");
  return yaml;
}

// What came back for bytes written verbatim to a fresh connection.
struct RawExchange {
  bool answered = false;
  http::Response response;
  std::string failure;  // why no response could be read
};

// Writes `bytes` as they are (no HTTP library in between, so they may be malformed) and reads one
// response. The deadline only guards against a hang; no test measures time.
RawExchange exchange_raw(uint16_t port, std::string_view bytes) {
  boost::asio::io_context ioc;
  boost::beast::tcp_stream stream(ioc);
  stream.socket().connect({boost::asio::ip::make_address("127.0.0.1"), port});
  boost::system::error_code ignored;  // the server may answer and close before taking it all
  boost::asio::write(stream.socket(), boost::asio::buffer(bytes.data(), bytes.size()), ignored);

  RawExchange out;
  boost::beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  stream.expires_after(std::chrono::seconds(30));
  bhttp::async_read(stream, buffer, parser, [&](boost::system::error_code ec, size_t) {
    if (ec) {
      out.failure = ec.message();
      return;
    }
    out.answered = true;
    out.response = parser.release();
  });
  ioc.run();
  return out;
}

std::string base64_of(std::string_view text) {
  return base64::encode(text);
}

json::object decoded_payment(const std::string& header_value) {
  auto bytes = base64::decode(header_value);
  if (!bytes) throw std::logic_error("harness built a payment that is not base64");
  return parse_object(*bytes);
}

json::object& authorization_of(json::object& payment) {
  return payment["payload"].as_object()["authorization"].as_object();
}

json::object& accepted_of(json::object& payment) {
  return payment["accepted"].as_object();
}

using Mutation = std::function<void(json::object& payment)>;
using HeaderValue = std::function<std::string(const http::Response& offer)>;

// A valid v2 payment for the offer (as @x402/fetch builds it), then broken by `mutate`.
HeaderValue v2_with(Mutation mutate) {
  return [mutate](const http::Response& offer) {
    auto payment = decoded_payment(pay_v2(offer));
    mutate(payment);
    return base64_of(json::serialize(payment));
  };
}

// A valid v1 payment for the offer (as x402-fetch builds it), then broken by `mutate`.
HeaderValue v1_with(Mutation mutate) {
  return [mutate](const http::Response& offer) {
    auto payment = decoded_payment(pay_v1(offer));
    mutate(payment);
    return base64_of(json::serialize(payment));
  };
}

HeaderValue verbatim(std::string value) {
  return [value](const http::Response&) { return value; };
}

Mutation set_authorization(std::string key, json::value value) {
  return [key, value](json::object& p) { authorization_of(p)[key] = value; };
}

Mutation set_accepted(std::string key, json::value value) {
  return [key, value](json::object& p) { accepted_of(p)[key] = value; };
}

Mutation set_top(std::string key, json::value value) {
  return [key, value](json::object& p) { p[key] = value; };
}

json::string seconds_from_now(int64_t delta) {
  return json::string(std::to_string(static_cast<int64_t>(unix_now()) + delta));
}

struct BadPayment {
  std::string name;
  std::string header;  // "PAYMENT-SIGNATURE" or "X-PAYMENT"
  HeaderValue value;
  unsigned status;
  // 400: the body's `code`. 402: the problem code the body's `error` must start with.
  std::string code;
  // 400: the body's `field` (the JSON path or header at fault). 402: text `error` must contain.
  std::string names;
};

void PrintTo(const BadPayment& c, std::ostream* os) {
  *os << c.name;
}

constexpr const char* kV2 = "PAYMENT-SIGNATURE";
constexpr const char* kV1 = "X-PAYMENT";

BadPayment invalid(std::string name, std::string header, HeaderValue value, std::string field) {
  return {std::move(name),   std::move(header), std::move(value), 400,
          "invalid_payment", std::move(field)};
}

BadPayment unfit(std::string name, std::string header, HeaderValue value, std::string code,
                 std::string names) {
  return {std::move(name), std::move(header), std::move(value), 402,
          std::move(code), std::move(names)};
}

std::vector<BadPayment> bad_payments() {
  return {
      // --- encoding ------------------------------------------------------------------------
      invalid("NotBase64", kV2, verbatim("%%%"), kV2),
      invalid("NotBase64InXPayment", kV1, verbatim("%%%"), kV1),
      invalid("Base64OfNonJson", kV2, verbatim(base64_of("this is not json")), kV2),
      invalid("Base64OfJsonArray", kV2, verbatim(base64_of(R"([{"x402Version":2}])")), kV2),
      invalid(
          "Base64OfTruncatedJson", kV2,
          [](const http::Response& offer) {
            auto text = json::serialize(decoded_payment(pay_v2(offer)));
            return base64_of(text.substr(0, text.size() - 1));
          },
          kV2),
      // Over the decoder's 16 KiB cap, under the server's header limit.
      invalid("PaymentHeaderOver16KiB", kV2, verbatim(std::string(17 * 1024, 'A')), kV2),

      // --- version -------------------------------------------------------------------------
      invalid("VersionAsString", kV2, v2_with(set_top("x402Version", "2")), "x402Version"),
      invalid("Version3", kV2, v2_with(set_top("x402Version", 3)), "x402Version"),
      invalid("VersionMissing", kV2, v2_with([](json::object& p) { p.erase("x402Version"); }),
              "x402Version"),
      invalid("V2PayloadInXPayment", kV1, v2_with([](json::object&) {}), "x402Version"),
      invalid("V1PayloadInPaymentSignature", kV2, v1_with([](json::object&) {}), "x402Version"),

      // --- shape -----------------------------------------------------------------------------
      invalid("AcceptedMissing", kV2, v2_with([](json::object& p) { p.erase("accepted"); }),
              "accepted"),
      invalid("AcceptedNotAnObject", kV2, v2_with(set_top("accepted", "exact")), "accepted"),
      invalid("AcceptedAmountAsNumber", kV2, v2_with(set_accepted("amount", 10000)),
              "accepted.amount"),
      invalid("PayloadNotAnObject", kV2, v2_with(set_top("payload", json::array{})), "payload"),
      invalid("SignatureMissing", kV2,
              v2_with([](json::object& p) { p["payload"].as_object().erase("signature"); }),
              "payload.signature"),
      invalid("SignatureTooShort", kV2,
              v2_with([](json::object& p) { p["payload"].as_object()["signature"] = "0x1234"; }),
              "payload.signature"),
      invalid("AuthorizationMissing", kV2,
              v2_with([](json::object& p) { p["payload"].as_object().erase("authorization"); }),
              "payload.authorization"),
      invalid("V1NetworkMissing", kV1, v1_with([](json::object& p) { p.erase("network"); }),
              "network"),

      // --- authorization fields --------------------------------------------------------------
      invalid("ValueAsJsonNumber", kV2, v2_with(set_authorization("value", 10000)),
              "payload.authorization.value"),
      invalid("ValueNegative", kV2, v2_with(set_authorization("value", "-1")),
              "payload.authorization.value"),
      invalid("ValueWithExponent", kV2, v2_with(set_authorization("value", "1e6")),
              "payload.authorization.value"),
      invalid("ValueAsHumanPrice", kV2, v2_with(set_authorization("value", "0.01")),
              "payload.authorization.value"),
      invalid("ValueOver78Digits", kV2, v2_with(set_authorization("value", json::string(79, '9'))),
              "payload.authorization.value"),
      invalid("V1ValueNegative", kV1, v1_with(set_authorization("value", "-1")),
              "payload.authorization.value"),
      invalid("NonceTooShort", kV2, v2_with(set_authorization("nonce", "0x1234")),
              "payload.authorization.nonce"),
      invalid("NonceNotHex", kV2,
              v2_with(set_authorization("nonce", json::string("0x" + std::string(64, 'z')))),
              "payload.authorization.nonce"),
      invalid("FromNotAnAddress", kV2, v2_with(set_authorization("from", "alice")),
              "payload.authorization.from"),
      invalid("ToMissing", kV2, v2_with([](json::object& p) { authorization_of(p).erase("to"); }),
              "payload.authorization.to"),
      invalid("ValidBeforeAsFloat", kV2, v2_with(set_authorization("validBefore", 1.9e9)),
              "payload.authorization.validBefore"),
      invalid("ValidAfterNegative", kV2, v2_with(set_authorization("validAfter", -1)),
              "payload.authorization.validAfter"),

      // --- well-formed, but not what was offered ---------------------------------------------
      unfit("V2PayToMismatch", kV2, v2_with(set_authorization("to", kOtherAddress)),
            "payto_mismatch", kOtherAddress),
      unfit("V1PayToMismatch", kV1, v1_with(set_authorization("to", kOtherAddress)),
            "payto_mismatch", kOtherAddress),
      unfit("V2AcceptedPayToAltered", kV2, v2_with([](json::object& p) {
              accepted_of(p)["payTo"] = kOtherAddress;
              authorization_of(p)["to"] = kOtherAddress;
            }),
            "no_matching_requirement", kOtherAddress),
      unfit("V2ValueBelowAmount", kV2, v2_with(set_authorization("value", "9999")),
            "amount_mismatch", "9999"),
      unfit("V2ValueAboveAmount", kV2, v2_with(set_authorization("value", "10001")),
            "amount_mismatch", "exactly 10000"),
      unfit("V1ValueBelowMaxAmountRequired", kV1, v1_with(set_authorization("value", "9999")),
            "amount_mismatch", "at least 10000"),
      unfit("V2AcceptedAmountAltered", kV2, v2_with([](json::object& p) {
              accepted_of(p)["amount"] = "1";
              authorization_of(p)["value"] = "1";
            }),
            "no_matching_requirement", "amount 1 of"),
      // asset_mismatch (checks.cpp) cannot be reached: v2 matching deep-compares `accepted`
      // first, and a v1 payload names no asset. The refusal still names the altered asset.
      unfit("V2AcceptedAssetAltered", kV2, v2_with(set_accepted("asset", kOtherAddress)),
            "no_matching_requirement", kOtherAddress),
      unfit("V2AcceptedNetworkMainnet", kV2, v2_with(set_accepted("network", "eip155:8453")),
            "no_matching_requirement", "eip155:8453"),
      unfit("V2AcceptedNetworkUnknown", kV2, v2_with(set_accepted("network", "foo-chain")),
            "no_matching_requirement", "foo-chain"),
      unfit("V1NetworkBaseMainnet", kV1, v1_with(set_top("network", "base")),
            "no_matching_requirement", "(exact, base)"),
      unfit("V1NetworkUnknown", kV1, v1_with(set_top("network", "foo-chain")),
            "no_matching_requirement", "foo-chain"),
      unfit("V1SchemeUnknown", kV1, v1_with(set_top("scheme", "upto")), "no_matching_requirement",
            "upto"),
      unfit(
          "V2Expired", kV2,
          [](const http::Response& offer) {
            return v2_with(set_authorization("validBefore", seconds_from_now(-10)))(offer);
          },
          "expired", "validBefore"),
      // Still valid for 2 s, under the 6 s the settlement needs.
      unfit(
          "V2ExpiresTooSoon", kV2,
          [](const http::Response& offer) {
            return v2_with(set_authorization("validBefore", seconds_from_now(2)))(offer);
          },
          "expired", "validBefore"),
      unfit(
          "V1Expired", kV1,
          [](const http::Response& offer) {
            return v1_with(set_authorization("validBefore", seconds_from_now(-10)))(offer);
          },
          "expired", "validBefore"),
      unfit(
          "V2NotYetValid", kV2,
          [](const http::Response& offer) {
            return v2_with(set_authorization("validAfter", seconds_from_now(3600)))(offer);
          },
          "not_yet_valid", "validAfter"),
      unfit(
          "V1NotYetValid", kV1,
          [](const http::Response& offer) {
            return v1_with(set_authorization("validAfter", seconds_from_now(3600)))(offer);
          },
          "not_yet_valid", "validAfter"),
  };
}

class BadInputTest : public ::testing::Test {
 protected:
  void start(bool default_limits = false) {
    ConfigOptions options;
    options.facilitators = {{"primary", facilitator.url()}};
    options.upstream_port = upstream.port();
    auto yaml = gateway_yaml(options);
    if (!default_limits) yaml = with_server_limits(yaml, kMaxHeaderBytes, kMaxBodyBytes);
    gateway = std::make_unique<GatewayHarness>(yaml);
  }

  // The refusal left no trace anywhere.
  void expect_nothing_happened() {
    EXPECT_EQ(facilitator.verify_calls.load(), 0);
    EXPECT_EQ(facilitator.settle_calls.load(), 0);
    EXPECT_EQ(upstream.hits(), 0);
    EXPECT_EQ(gateway->store().count_payments().value(), 0);
  }

  // A correct payment right after is served and recorded: the gateway kept serving.
  void expect_still_serving(int64_t payments_before = 0) {
    auto offer = gateway->get(kPaidPath);
    ASSERT_EQ(offer.result_int(), 402);
    auto paid = gateway->get(kPaidPath, {{kV2, pay_v2(offer)}});
    EXPECT_EQ(paid.result_int(), 200) << paid.body();
    EXPECT_EQ(gateway->store().count_payments().value(), payments_before + 1);
    auto health = gateway->get("/healthz");
    EXPECT_EQ(health.result_int(), 200);
  }

  // Sends one bad payment and checks the answer names the problem as the case says.
  void expect_refused(const BadPayment& c) {
    SCOPED_TRACE(c.name);
    auto offer = gateway->get(kPaidPath);
    ASSERT_EQ(offer.result_int(), 402);
    auto res = gateway->get(kPaidPath, {{c.header, c.value(offer)}});
    ASSERT_EQ(res.result_int(), c.status) << res.body();
    EXPECT_EQ(res[bhttp::field::content_type], "application/json");
    auto body = parse_object(res.body());
    if (c.status == 400) {
      EXPECT_EQ(body.at("code").as_string(), c.code) << res.body();
      EXPECT_EQ(body.at("field").as_string(), c.names) << res.body();
      EXPECT_FALSE(body.at("error").as_string().empty());
      EXPECT_TRUE(res["PAYMENT-REQUIRED"].empty());
      return;
    }
    // 402: a fresh offer whose error (v1 body and v2 header alike) says what was wrong.
    const std::string error(body.at("error").as_string());
    EXPECT_TRUE(error.starts_with(c.code + ": ")) << error;
    EXPECT_NE(error.find(c.names), std::string::npos) << error;
    EXPECT_FALSE(body.at("accepts").as_array().empty());
    auto v2 = decode_header_json(res["PAYMENT-REQUIRED"]);
    EXPECT_EQ(v2["error"], json::value(error));
  }

  FakeFacilitator facilitator;
  FakeUpstream upstream;
  std::unique_ptr<GatewayHarness> gateway;
};

// --- payment headers, one gateway per case ---------------------------------------------------

class BadInputPaymentTest : public BadInputTest,
                            public ::testing::WithParamInterface<BadPayment> {};

TEST_P(BadInputPaymentTest, IsRefusedNamingTheProblemWithoutSideEffects) {
  start();
  expect_refused(GetParam());
  expect_nothing_happened();
  expect_still_serving();
}

INSTANTIATE_TEST_SUITE_P(BadInput, BadInputPaymentTest, ::testing::ValuesIn(bad_payments()),
                         [](const ::testing::TestParamInfo<BadPayment>& info) {
                           return info.param.name;
                         });

TEST_F(BadInputTest, EveryBadPaymentInARowLeavesTheGatewayServing) {
  start();
  for (const auto& c : bad_payments()) expect_refused(c);
  expect_nothing_happened();
  expect_still_serving();
}

TEST_F(BadInputTest, BadPaymentThenGoodPaymentOnOneKeepAliveConnection) {
  start();
  auto offer = gateway->get(kPaidPath);
  const std::string head =
      std::string("GET ") + kPaidPath + " HTTP/1.1\r\nHost: 127.0.0.1\r\nPAYMENT-SIGNATURE: ";
  // Both requests pipelined on one connection: the 400 must not end the connection.
  auto exchange = [&](const std::string& bytes) {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::socket socket(ioc);
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), gateway->port()});
    boost::asio::write(socket, boost::asio::buffer(bytes));
    boost::beast::flat_buffer buffer;
    std::vector<http::Response> answers(2);
    bhttp::read(socket, buffer, answers[0]);
    bhttp::read(socket, buffer, answers[1]);
    return answers;
  };
  auto answers = exchange(head + "%%%\r\n\r\n" + head + pay_v2(offer) + "\r\n\r\n");
  EXPECT_EQ(answers[0].result_int(), 400);
  EXPECT_EQ(answers[1].result_int(), 200) << answers[1].body();
  EXPECT_EQ(gateway->store().count_payments().value(), 1);
}

// v1 peers accept paying more than maxAmountRequired (PROTOCOL.md §3); v2 is exact (in the table).
TEST_F(BadInputTest, V1ValueAboveMaxAmountRequiredIsAccepted) {
  start();
  auto offer = gateway->get(kPaidPath);
  Authorization overpay;
  overpay.value = "10001";
  auto res = gateway->get(kPaidPath, {{kV1, pay_v1(offer, overpay)}});
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(facilitator.verify_calls.load(), 1);
  auto stored = gateway->store().payments_with_status(PaymentStatus::Settled, 10);
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ(stored->at(0).amount, "10001");
}

// --- oversized input -------------------------------------------------------------------------

TEST_F(BadInputTest, OversizedPaymentHeaderWithDefaultLimitsIs431FromTheServer) {
  // The server's default header limit (16 KiB for the whole block) is hit before the payment
  // decoder's 16 KiB cap on the header value could be.
  start(/*default_limits=*/true);
  const std::string request =
      std::string("GET ") + kPaidPath +
      " HTTP/1.1\r\nHost: 127.0.0.1\r\nPAYMENT-SIGNATURE: " + std::string(17 * 1024, 'A') +
      "\r\n\r\n";
  auto got = exchange_raw(gateway->port(), request);
  ASSERT_TRUE(got.answered) << got.failure;
  EXPECT_EQ(got.response.result_int(), 431);
  EXPECT_EQ(got.response[bhttp::field::content_type], "application/json");
  auto body = parse_object(got.response.body());
  EXPECT_EQ(body.at("limit_bytes").as_int64(), 16 * 1024);
  EXPECT_FALSE(body.at("error").as_string().empty());
  expect_nothing_happened();
  expect_still_serving();
}

TEST_F(BadInputTest, HeaderBlockOverTheServerLimitIs431WithJson) {
  start();
  std::string request = "GET /acme/public/x HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (int i = 0; request.size() <= kMaxHeaderBytes; ++i) {
    request += "X-Filler-" + std::to_string(i) + ": " + std::string(1000, 'f') + "\r\n";
  }
  request += "\r\n";
  auto got = exchange_raw(gateway->port(), request);
  ASSERT_TRUE(got.answered) << got.failure;
  EXPECT_EQ(got.response.result_int(), 431);
  EXPECT_EQ(got.response[bhttp::field::content_type], "application/json");
  EXPECT_EQ(parse_object(got.response.body()).at("limit_bytes").as_int64(),
            static_cast<int64_t>(kMaxHeaderBytes));
  expect_nothing_happened();
  expect_still_serving();
}

TEST_F(BadInputTest, BodyAtTheLimitIsForwarded) {
  // The control for the 413 tests below: the limit is where the config says.
  start();
  auto res = send_request(gateway->port(), bhttp::verb::post, "/acme/public/upload", {},
                          std::string(kMaxBodyBytes, 'b'));
  ASSERT_EQ(res.result_int(), 200) << res.body();
  ASSERT_EQ(upstream.hits(), 1);
  EXPECT_EQ(upstream.received().at(0).body().size(), kMaxBodyBytes);
}

TEST_F(BadInputTest, DeclaredBodyOverTheLimitIs413BeforeTheBodyIsRead) {
  start();
  // Only the header is sent: the answer must come from the declared length alone.
  const std::string request =
      "POST /acme/public/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Content-Type: application/octet-stream\r\nContent-Length: " +
      std::to_string(kMaxBodyBytes + 1) + "\r\n\r\n";
  auto got = exchange_raw(gateway->port(), request);
  ASSERT_TRUE(got.answered) << got.failure;
  EXPECT_EQ(got.response.result_int(), 413);
  EXPECT_EQ(got.response[bhttp::field::content_type], "application/json");
  EXPECT_EQ(parse_object(got.response.body()).at("limit_bytes").as_int64(),
            static_cast<int64_t>(kMaxBodyBytes));
  expect_nothing_happened();
  expect_still_serving();
}

TEST_F(BadInputTest, ChunkedBodyOverTheLimitIs413) {
  start();
  // Chunks each under the limit whose sum crosses it; the request ends at the size line of the
  // crossing chunk, so the server has read everything sent when it answers.
  std::string request =
      "POST /acme/public/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  const size_t chunk = 1000;
  for (size_t sent = 0; sent + chunk <= kMaxBodyBytes; sent += chunk) {
    request += "3e8\r\n" + std::string(chunk, 'c') + "\r\n";
  }
  request += "3e8\r\n";
  auto got = exchange_raw(gateway->port(), request);
  ASSERT_TRUE(got.answered) << got.failure;
  EXPECT_EQ(got.response.result_int(), 413);
  EXPECT_EQ(got.response[bhttp::field::content_type], "application/json");
  EXPECT_EQ(parse_object(got.response.body()).at("limit_bytes").as_int64(),
            static_cast<int64_t>(kMaxBodyBytes));
  expect_nothing_happened();
  expect_still_serving();
}

// --- malformed HTTP --------------------------------------------------------------------------

struct MalformedHttp {
  std::string name;
  std::string bytes;
};

void PrintTo(const MalformedHttp& c, std::ostream* os) {
  *os << c.name;
}

class BadInputHttpTest : public BadInputTest,
                         public ::testing::WithParamInterface<MalformedHttp> {};

TEST_P(BadInputHttpTest, IsA400WithJsonAndTheGatewayKeepsServing) {
  start();
  auto got = exchange_raw(gateway->port(), GetParam().bytes);
  ASSERT_TRUE(got.answered) << "no HTTP answer, connection ended with: " << got.failure;
  EXPECT_EQ(got.response.result_int(), 400);
  EXPECT_EQ(got.response[bhttp::field::content_type], "application/json");
  boost::system::error_code ec;
  auto body = json::parse(got.response.body(), ec);
  ASSERT_FALSE(ec) << got.response.body();
  const json::value* error = body.is_object() ? body.as_object().if_contains("error") : nullptr;
  ASSERT_TRUE(error != nullptr && error->is_string()) << got.response.body();
  EXPECT_FALSE(error->get_string().empty());
  expect_nothing_happened();
  expect_still_serving();
}

INSTANTIATE_TEST_SUITE_P(
    BadInput, BadInputHttpTest,
    ::testing::Values(
        MalformedHttp{"GarbageRequestLine", "GARBAGE\r\n\r\n"},
        MalformedHttp{"NoHttpVersion", "GET /acme/public/x\r\nHost: 127.0.0.1\r\n\r\n"},
        MalformedHttp{"MalformedHttpVersion", "GET /acme/public/x HTTP/1.x\r\nHost: a\r\n\r\n"},
        MalformedHttp{"ControlCharacterInTarget", "GET /acme/\x01 HTTP/1.1\r\nHost: a\r\n\r\n"},
        MalformedHttp{"HeaderWithoutColon",
                      "GET /acme/public/x HTTP/1.1\r\nHost: a\r\nNo colon here\r\n\r\n"},
        MalformedHttp{"BareLineFeeds", "GET /acme/public/x HTTP/1.1\nHost: a\n\n"},
        MalformedHttp{"ContentLengthNotANumber",
                      "POST /acme/public/x HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n"},
        MalformedHttp{"TwoDifferentContentLengths",
                      "POST /acme/public/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
                      "Content-Length: 2\r\n\r\nab"},
        MalformedHttp{"TransferEncodingNotEndingInChunked",
                      "POST /acme/public/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
                      "\r\nab"},
        MalformedHttp{"ChunkedNotTheLastTransferEncoding",
                      "POST /acme/public/x HTTP/1.1\r\nHost: a\r\n"
                      "Transfer-Encoding: chunked, gzip\r\n\r\n2\r\nab\r\n0\r\n\r\n"},
        MalformedHttp{"ContentLengthAndTransferEncoding",
                      "POST /acme/public/x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"},
        MalformedHttp{"BadChunkSize",
                      "POST /acme/public/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                      "\r\nzz\r\nhello\r\n0\r\n\r\n"}),
    [](const ::testing::TestParamInfo<MalformedHttp>& info) { return info.param.name; });

// --- paths -----------------------------------------------------------------------------------

TEST_F(BadInputTest, DotSegmentsAre400InvalidPath) {
  start();
  for (const char* target :
       {"/acme/../acme/api/signal", "/acme/public/../api/signal", "/acme/public/%2e%2e/api/signal",
        "/acme/public/.%2E/api/signal", "/acme/./api/signal", "/acme/public/x/.."}) {
    SCOPED_TRACE(target);
    auto res = gateway->get(target);
    ASSERT_EQ(res.result_int(), 400) << res.body();
    auto body = parse_object(res.body());
    EXPECT_EQ(body.at("code").as_string(), "invalid_path");
    EXPECT_EQ(body.at("field").as_string(), "target");
  }
  expect_nothing_happened();
  expect_still_serving();
}

TEST_F(BadInputTest, TargetThatIsNotAnAbsolutePathIs400) {
  start();
  auto got = exchange_raw(gateway->port(), "OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  ASSERT_TRUE(got.answered) << got.failure;
  EXPECT_EQ(got.response.result_int(), 400);
  EXPECT_EQ(parse_object(got.response.body()).at("code").as_string(), "invalid_target");
  expect_nothing_happened();
  expect_still_serving();
}

}  // namespace
}  // namespace x402::testing
