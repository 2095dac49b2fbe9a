// render_head() and async_write_message() must put on the wire exactly what Beast's own serializer
// writes: they replaced beast::http::async_write on the server's responses and the client's
// upstream requests, so any difference is a protocol change.
#include "http/message_writer.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <sstream>
#include <string>

namespace x402::http {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Req = bhttp::request<bhttp::string_body>;
using Res = bhttp::response<bhttp::string_body>;

// What Beast's serializer writes for `message` (start line, fields, body).
template <bool isRequest>
std::string beast_bytes(const bhttp::message<isRequest, bhttp::string_body>& message) {
  std::ostringstream os;
  os << message;
  return os.str();
}

template <bool isRequest>
std::string our_bytes(const bhttp::message<isRequest, bhttp::string_body>& message) {
  return render_head(message) + message.body();
}

Res response_with(bhttp::status status, std::string body) {
  Res res{status, 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

TEST(RenderHeadTest, StandardStatusMatchesBeast) {
  const Res res = response_with(bhttp::status::payment_required, R"({"error":"pay"})");
  const std::string bytes = our_bytes(res);
  EXPECT_EQ(bytes, beast_bytes(res));
  EXPECT_EQ(bytes.rfind("HTTP/1.1 402 Payment Required\r\n", 0), 0u) << bytes;
}

TEST(RenderHeadTest, CustomReasonMatchesBeast) {
  Res res = response_with(bhttp::status::ok, "x");
  res.reason("Whatever You Say");
  EXPECT_EQ(our_bytes(res), beast_bytes(res));
  EXPECT_EQ(render_head(res).rfind("HTTP/1.1 200 Whatever You Say\r\n", 0), 0u);
}

TEST(RenderHeadTest, UnknownStatusCodeMatchesBeast) {
  Res res;
  res.version(11);
  res.result(599);
  res.body() = "odd";
  res.prepare_payload();
  EXPECT_EQ(our_bytes(res), beast_bytes(res));
  EXPECT_EQ(render_head(res).rfind("HTTP/1.1 599 ", 0), 0u) << render_head(res);
}

TEST(RenderHeadTest, UnknownStatusCodeWithReasonMatchesBeast) {
  Res res;
  res.version(11);
  res.result(299);
  res.reason("Custom");
  EXPECT_EQ(our_bytes(res), beast_bytes(res));
  EXPECT_EQ(render_head(res).rfind("HTTP/1.1 299 Custom\r\n", 0), 0u);
}

TEST(RenderHeadTest, Http10ResponseAndRequestMatchBeast) {
  Res res = response_with(bhttp::status::not_found, "nope");
  res.version(10);
  EXPECT_EQ(our_bytes(res), beast_bytes(res));
  EXPECT_EQ(render_head(res).rfind("HTTP/1.0 404 Not Found\r\n", 0), 0u);

  Req req{bhttp::verb::get, "/old", 10};
  req.set(bhttp::field::host, "example.com");
  EXPECT_EQ(our_bytes(req), beast_bytes(req));
  EXPECT_EQ(render_head(req).rfind("GET /old HTTP/1.0\r\n", 0), 0u);
}

TEST(RenderHeadTest, ManyFieldsWithDuplicatesAndUnknownNamesMatchBeast) {
  Res res = response_with(bhttp::status::ok, "body");
  res.insert(bhttp::field::set_cookie, "a=1");
  res.insert("X-Custom-Thing", "alpha");
  res.insert(bhttp::field::set_cookie, "b=2; Path=/");
  res.insert("x-lower-case-unknown", "beta, gamma");
  res.insert("X-Custom-Thing", "second");
  res.insert(bhttp::field::vary, "Accept-Encoding");
  res.insert("PAYMENT-RESPONSE", std::string(300, 'Q'));
  res.insert("X-Empty", "");
  for (int i = 0; i < 40; ++i) res.insert("X-Many-" + std::to_string(i), std::to_string(i * i));
  const std::string bytes = our_bytes(res);
  EXPECT_EQ(bytes, beast_bytes(res));
  // Duplicates stay, in insertion order.
  const auto first = bytes.find("Set-Cookie: a=1\r\n");
  const auto second = bytes.find("Set-Cookie: b=2; Path=/\r\n");
  ASSERT_NE(first, std::string::npos);
  ASSERT_NE(second, std::string::npos);
  EXPECT_LT(first, second);
  EXPECT_NE(bytes.find("x-lower-case-unknown: beta, gamma\r\n"), std::string::npos);
}

TEST(RenderHeadTest, RequestWithLongTargetAndQueryMatchesBeast) {
  const std::string target = "/acme/api/signal?" + std::string(2000, 'a') +
                             "=1&b=%20x&c=" + std::string(500, 'z') + "#frag";
  Req req{bhttp::verb::post, target, 11};
  req.set(bhttp::field::host, "upstream.internal:8080");
  req.set(bhttp::field::content_type, "application/json");
  req.set("X-Request-Id", "req-123");
  req.body() = R"({"k":"v"})";
  req.prepare_payload();
  const std::string bytes = our_bytes(req);
  EXPECT_EQ(bytes, beast_bytes(req));
  EXPECT_EQ(bytes.rfind("POST " + target + " HTTP/1.1\r\n", 0), 0u);
}

TEST(RenderHeadTest, UnknownMethodStringMatchesBeast) {
  Req req;
  req.method_string("FROBNICATE");  // not a verb Beast knows (PURGE is one)
  req.target("/cache/item");
  req.version(11);
  req.set(bhttp::field::host, "h");
  ASSERT_EQ(req.method(), bhttp::verb::unknown);
  EXPECT_EQ(our_bytes(req), beast_bytes(req));
  EXPECT_EQ(render_head(req).rfind("FROBNICATE /cache/item HTTP/1.1\r\n", 0), 0u);

  Req purge;
  purge.method_string("PURGE");
  purge.target("/cache/item");
  purge.version(11);
  EXPECT_EQ(our_bytes(purge), beast_bytes(purge));
}

TEST(RenderHeadTest, EmptyBodyAndNoFieldsMatchBeast) {
  Res res{bhttp::status::no_content, 11};
  EXPECT_EQ(our_bytes(res), beast_bytes(res));
  EXPECT_EQ(render_head(res), "HTTP/1.1 204 No Content\r\n\r\n");

  Res empty_ok = response_with(bhttp::status::ok, "");
  EXPECT_EQ(our_bytes(empty_ok), beast_bytes(empty_ok));
  EXPECT_NE(render_head(empty_ok).find("Content-Length: 0\r\n"), std::string::npos);
}

// A connected pair of loopback sockets: `writer` is what async_write_message writes to.
struct SocketPair {
  asio::io_context ioc;
  tcp::socket writer{ioc};
  tcp::socket reader{ioc};

  SocketPair() {
    tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    reader.connect(acceptor.local_endpoint());
    acceptor.accept(writer);
  }

  // Writes `message` with async_write_message, then closes the writer so the reader sees EOF.
  template <bool isRequest>
  size_t write(const bhttp::message<isRequest, bhttp::string_body>& message) {
    auto done = asio::co_spawn(ioc, async_write_message(writer, message), asio::use_future);
    ioc.run();
    ioc.restart();
    auto [ec, written] = done.get();
    EXPECT_FALSE(ec) << ec.message();
    boost::system::error_code ignored;
    writer.shutdown(tcp::socket::shutdown_send, ignored);
    return written;
  }

  std::string read_all() {
    std::string bytes;
    boost::system::error_code ec;
    asio::read(reader, asio::dynamic_buffer(bytes), ec);
    EXPECT_EQ(ec, asio::error::eof) << ec.message();
    return bytes;
  }
};

TEST(AsyncWriteMessageTest, PeerReadsExactlyBeastsBytesForAResponse) {
  Res res = response_with(bhttp::status::ok, std::string(100000, 'b') + "end");
  res.insert("X-Dup", "1");
  res.insert("X-Dup", "2");
  res.keep_alive(true);
  SocketPair pair;
  const size_t written = pair.write(res);
  const std::string bytes = pair.read_all();
  EXPECT_EQ(bytes, beast_bytes(res));
  EXPECT_EQ(written, bytes.size());
}

TEST(AsyncWriteMessageTest, PeerReadsExactlyBeastsBytesForARequest) {
  Req req;
  req.method_string("FROBNICATE");
  req.target("/x?y=1");
  req.version(11);
  req.set(bhttp::field::host, "127.0.0.1:9");
  req.body() = "payload";
  req.prepare_payload();
  SocketPair pair;
  pair.write(req);
  EXPECT_EQ(pair.read_all(), beast_bytes(req));
}

TEST(AsyncWriteMessageTest, EmptyBodyIsHeadOnly) {
  Res res{bhttp::status::not_modified, 11};
  res.set(bhttp::field::etag, "\"v1\"");
  SocketPair pair;
  pair.write(res);
  EXPECT_EQ(pair.read_all(), "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n");
}

TEST(AsyncWriteMessageTest, ChunkedResponseArrivesChunkEncoded) {
  Res res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, "text/plain");
  res.body() = std::string(70000, 'c') + "tail";
  res.chunked(true);
  SocketPair pair;
  pair.write(res);
  const std::string bytes = pair.read_all();
  const auto head_end = bytes.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos);
  EXPECT_NE(bytes.substr(0, head_end).find("Transfer-Encoding: chunked"), std::string::npos);
  // The body is framed: a hex chunk size comes first, the zero-length last chunk ends it.
  EXPECT_NE(bytes.substr(head_end + 4, 4), "cccc");
  EXPECT_EQ(bytes.substr(bytes.size() - 5), "0\r\n\r\n");

  // Parsed back, the body is the original.
  boost::beast::flat_buffer buffer;
  buffer.commit(asio::buffer_copy(buffer.prepare(bytes.size()), asio::buffer(bytes)));
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(1 << 20);
  boost::system::error_code ec;
  while (!parser.is_done() && !ec) {
    const auto used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == bhttp::error::need_more) ec = {};
    if (used == 0 && !parser.is_done()) break;
  }
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(parser.is_done());
  EXPECT_TRUE(parser.chunked());
  EXPECT_EQ(parser.get().body(), res.body());
}

}  // namespace
}  // namespace x402::http
