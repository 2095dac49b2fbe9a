// Header hygiene of the reverse proxy, through a real x402d: what the merchant's upstream sees of a
// client's request (hop-by-hop and payment fields gone in any letter case, X-Forwarded-* ours,
// everything else kept in order), and what the client sees of the upstream's answer.
#include <gtest/gtest.h>

#include <boost/asio/write.hpp>
#include <cstdlib>

#include "support/fake_facilitator.hpp"
#include "support/gateway_harness.hpp"

namespace x402::testing {
namespace {

// Every value of `name` in `message`, in order.
template <class Message>
std::vector<std::string> values_of(const Message& message, std::string_view name) {
  std::vector<std::string> out;
  auto [first, last] = message.equal_range(name);
  for (auto it = first; it != last; ++it) out.emplace_back(it->value());
  return out;
}

// Sends `raw` (a whole request, as written) and reads one response: the request's field names,
// letter case and duplicates reach the gateway exactly as given.
http::Response exchange_raw(uint16_t port, const std::string& raw) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket(ioc);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  boost::asio::write(socket, boost::asio::buffer(raw));
  boost::beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  bhttp::read(socket, buffer, parser);
  return parser.release();
}

class ProxyHeadersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ConfigOptions options;
    options.facilitators = {{"primary", facilitator.url()}};
    options.upstream_port = upstream.port();
    gateway = std::make_unique<GatewayHarness>(gateway_yaml(options));
  }

  FakeFacilitator facilitator;
  FakeUpstream upstream;
  std::unique_ptr<GatewayHarness> gateway;
};

TEST_F(ProxyHeadersTest, UpstreamSeesOnlyEndToEndFieldsAndOurForwardingFields) {
  const std::string raw =
      "GET /acme/public/echo?q=1&r=2 HTTP/1.1\r\n"
      "Host: shop.example:8443\r\n"
      "proxy-connection: keep-alive\r\n"
      "x-payment: v1-payment\r\n"
      "Payment-Signature: v2-payment\r\n"
      "Connection: keep-alive, X-Secret, x-other\r\n"
      "X-Secret: hop\r\n"
      "X-Other: hop too\r\n"
      "x-secret: again\r\n"
      "Connection: x-third\r\n"  // a second Connection line adds to the list (RFC 9110 §5.3)
      "X-Third: hop as well\r\n"
      "Keep-Alive: timeout=5\r\n"
      "TE: trailers\r\n"
      "trailer: Expires\r\n"
      "Proxy-Authorization: Basic x\r\n"
      "proxy-authenticate: Basic\r\n"
      "X-Forwarded-For: 10.0.0.1\r\n"
      "x-forwarded-proto: https\r\n"
      "X-Forwarded-Host: spoofed.example\r\n"
      "Accept: text/html\r\n"
      "X-Keep-Me: yes\r\n"
      "accept: application/json\r\n"
      "x-request-id: client-req-0001\r\n"
      "\r\n";
  auto res = exchange_raw(gateway->port(), raw);
  ASSERT_EQ(res.result_int(), 200) << res.body();
  ASSERT_EQ(upstream.received().size(), 1u);
  const auto seen = upstream.received().at(0);
  EXPECT_EQ(seen.target(), "/public/echo?q=1&r=2");

  for (const char* dropped :
       {"Proxy-Connection", "X-PAYMENT", "PAYMENT-SIGNATURE", "X-Secret", "X-Other", "X-Third",
        "Keep-Alive", "TE", "Trailer", "Proxy-Authorization", "Proxy-Authenticate",
        "Transfer-Encoding", "Upgrade"}) {
    EXPECT_TRUE(values_of(seen, dropped).empty())
        << dropped << " reached the upstream: " << values_of(seen, dropped).at(0);
  }
  // The upstream's own Connection is the gateway's business (its pooled keep-alive), never the
  // client's list of names.
  for (const auto& connection : values_of(seen, "Connection")) {
    EXPECT_EQ(connection.find("X-Secret"), std::string::npos) << connection;
    EXPECT_EQ(connection.find("x-other"), std::string::npos) << connection;
  }

  EXPECT_EQ(values_of(seen, "Host"),
            std::vector<std::string>{"127.0.0.1:" + std::to_string(upstream.port())});
  EXPECT_EQ(values_of(seen, "X-Forwarded-For"), std::vector<std::string>{"10.0.0.1, 127.0.0.1"});
  EXPECT_EQ(values_of(seen, "X-Forwarded-Proto"), std::vector<std::string>{"http"});
  EXPECT_EQ(values_of(seen, "X-Forwarded-Host"), std::vector<std::string>{"shop.example:8443"});
  EXPECT_EQ(values_of(seen, "Accept"), (std::vector<std::string>{"text/html", "application/json"}));
  EXPECT_EQ(values_of(seen, "X-Keep-Me"), std::vector<std::string>{"yes"});
  EXPECT_EQ(values_of(seen, "X-Request-Id"), std::vector<std::string>{"client-req-0001"});
  EXPECT_EQ(res["X-Request-Id"], "client-req-0001");
}

TEST_F(ProxyHeadersTest, GeneratedRequestIdIsTheOneTheClientIsAnswered) {
  const std::string raw =
      "GET /acme/public/id HTTP/1.1\r\n"
      "Host: shop.example\r\n"
      "X-Request-Id: not a valid id!\r\n"  // replaced: not printable-token
      "\r\n";
  auto res = exchange_raw(gateway->port(), raw);
  ASSERT_EQ(res.result_int(), 200) << res.body();
  const auto seen = upstream.received().at(0);
  const std::string answered(res["X-Request-Id"]);
  EXPECT_FALSE(answered.empty());
  EXPECT_NE(answered, "not a valid id!");
  EXPECT_EQ(values_of(seen, "X-Request-Id"), std::vector<std::string>{answered});
  // No client X-Forwarded-For: the peer alone.
  EXPECT_EQ(values_of(seen, "X-Forwarded-For"), std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(values_of(seen, "X-Forwarded-Host"), std::vector<std::string>{"shop.example"});
}

TEST_F(ProxyHeadersTest, ClientDoesNotSeeTheUpstreamsHopByHopFields) {
  // Connection comes first, so the names it lists are needed after it is dropped.
  upstream.answer_with({{"Connection", "X-Upstream-Secret, x-other-hop"},
                        {"X-Upstream-Secret", "s"},
                        {"X-Merchant", "kept"},
                        {"x-other-hop", "o"},
                        {"Keep-Alive", "timeout=5"},
                        {"Proxy-Connection", "keep-alive"},
                        {"proxy-authenticate", "Basic"},
                        {"Set-Cookie", "a=1"},
                        {"Set-Cookie", "b=2"},
                        {"Connection", "x-late-hop"},
                        {"X-Late-Hop", "l"}},
                       "body from upstream", false);
  auto res = gateway->get("/acme/public/answer");
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(res.body(), "body from upstream");
  for (const char* dropped : {"X-Upstream-Secret", "X-Other-Hop", "X-Late-Hop", "Keep-Alive",
                              "Proxy-Connection", "Proxy-Authenticate"}) {
    EXPECT_TRUE(values_of(res, dropped).empty())
        << dropped << " reached the client: " << values_of(res, dropped).at(0);
  }
  for (const auto& connection : values_of(res, "Connection")) {
    EXPECT_EQ(connection.find("X-Upstream-Secret"), std::string::npos) << connection;
  }
  EXPECT_EQ(values_of(res, "X-Merchant"), std::vector<std::string>{"kept"});
  EXPECT_EQ(values_of(res, "Set-Cookie"), (std::vector<std::string>{"a=1", "b=2"}));
  EXPECT_EQ(res[bhttp::field::content_type], "text/plain");
}

// Whether the client was spared the upstream's Connection-named fields, in a gateway of its own.
bool connection_named_fields_are_dropped() {
  FakeFacilitator facilitator;
  FakeUpstream upstream;
  upstream.answer_with({{"Connection", "X-Upstream-Secret, x-other-hop"},
                        {"X-Upstream-Secret", "s"},
                        {"x-other-hop", "o"},
                        {"X-Merchant", "kept"}},
                       "body", false);
  ConfigOptions options;
  options.facilitators = {{"primary", facilitator.url()}};
  options.upstream_port = upstream.port();
  GatewayHarness gateway(gateway_yaml(options));
  auto res = gateway.get("/acme/public/answer");
  return res.result_int() == 200 && values_of(res, "X-Upstream-Secret").empty() &&
         values_of(res, "X-Other-Hop").empty() && res["X-Merchant"] == "kept";
}

// The names the upstream's Connection lists must still be readable after that field is dropped.
// Reading them from the dropped field's freed memory goes unnoticed where the freed bytes are left
// alone, so this runs in a fresh process (the death-test machinery re-runs this binary) whose glibc
// overwrites every freed block.
TEST(ProxyHeadersMemoryTest, ConnectionNamesOfTheUpstreamOutliveItsConnectionField) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const char* before = std::getenv("GLIBC_TUNABLES");
  const std::string saved = before ? before : "";
  ::setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0:glibc.malloc.perturb=165", 1);
  EXPECT_EXIT(std::exit(connection_named_fields_are_dropped() ? 0 : 1),
              ::testing::ExitedWithCode(0), "");
  if (before) {
    ::setenv("GLIBC_TUNABLES", saved.c_str(), 1);
  } else {
    ::unsetenv("GLIBC_TUNABLES");
  }
}

TEST_F(ProxyHeadersTest, ChunkedUpstreamAnswerReachesTheClientWithAContentLength) {
  const std::string body(50000, 'z');
  upstream.answer_with({{"X-Merchant", "chunky"}}, body, true);
  auto res = gateway->get("/acme/public/chunked");
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(res.body(), body);
  EXPECT_TRUE(values_of(res, "Transfer-Encoding").empty());
  EXPECT_EQ(res[bhttp::field::content_length], std::to_string(body.size()));
  EXPECT_EQ(res["X-Merchant"], "chunky");
}

}  // namespace
}  // namespace x402::testing
