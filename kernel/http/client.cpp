// Outbound HTTP/1.1 exchange: pooled connection or fresh connect, one request, one response, and a
// failure classification (NotSent / MaybeSent) that payment failover can trust.
#include "http/client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/verify_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <limits>
#include <optional>

#include "http/connection_pool.hpp"
#include "http/message_writer.hpp"

namespace x402::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using Clock = std::chrono::steady_clock;
using detail::Connection;
using detail::TlsStream;
using Stage = TransportError::Stage;

// Completion token that hands errors back as values instead of throwing them.
constexpr auto kAsValues = asio::as_tuple(asio::use_awaitable);

constexpr std::string_view kUserAgent = "x402d/0.1";

TransportError not_sent(std::string message, bool timed_out = false) {
  return TransportError{Stage::NotSent, timed_out, std::move(message)};
}

TransportError maybe_sent(std::string message, bool timed_out = false) {
  return TransportError{Stage::MaybeSent, timed_out, std::move(message)};
}

std::string timeout_message(std::chrono::milliseconds limit) {
  return "timeout after " + std::to_string(limit.count()) + " ms";
}

bool is_idempotent(bhttp::verb method) {
  switch (method) {
    case bhttp::verb::get:
    case bhttp::verb::head:
    case bhttp::verb::options:
    case bhttp::verb::put:
    case bhttp::verb::delete_:
      return true;
    default:
      return false;
  }
}

// How a kept-alive connection fails when the peer closed it while it sat in the pool.
bool is_stale_connection_error(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted || ec == asio::ssl::error::stream_truncated;
}

bool is_ip_literal(const std::string& host) {
  beast::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string tls_failure_message(SSL* ssl, const beast::error_code& ec) {
  const long verify_result = SSL_get_verify_result(ssl);
  if (verify_result != X509_V_OK) {
    return std::string("TLS: certificate verify failed: ") +
           X509_verify_cert_error_string(verify_result);
  }
  return "TLS: " + ec.message();
}

void prepare(Request& request, const Origin& origin) {
  if (request.find(bhttp::field::host) == request.end()) {
    request.set(bhttp::field::host, origin.host_header());
  }
  if (request.find(bhttp::field::user_agent) == request.end()) {
    request.set(bhttp::field::user_agent, kUserAgent);
  }
  // A caller that says "Connection: close" gets it; otherwise the connection is offered for reuse.
  if (request.find(bhttp::field::connection) == request.end()) request.keep_alive(true);
  request.prepare_payload();
}

}  // namespace

struct HttpClient::Impl {
  using Connected = std::variant<std::unique_ptr<Connection>, TransportError>;

  Impl(asio::io_context& ioc, std::shared_ptr<asio::ssl::context> tls, ClientOptions options)
      : ioc(ioc),
        tls(std::move(tls)),
        options(options),
        pool(options.max_idle_per_origin, options.idle_timeout) {}

  asio::awaitable<Outcome> send(const Origin& origin, Request& request, Timeouts timeouts);
  asio::awaitable<Connected> connect(const Origin& origin, Clock::time_point total_deadline,
                                     Timeouts timeouts);
  asio::awaitable<Outcome> exchange(Connection& connection, const Request& request,
                                    Clock::time_point deadline, std::chrono::milliseconds total,
                                    bool& stale);
  template <class Stream>
  asio::awaitable<Outcome> exchange_on(Stream& stream, Connection& connection,
                                       const Request& request, Clock::time_point deadline,
                                       std::chrono::milliseconds total, bool& stale);
  void release(const std::string& key, std::unique_ptr<Connection> connection,
               const Request& request, const Outcome& outcome);

  asio::io_context& ioc;
  std::shared_ptr<asio::ssl::context> tls;
  ClientOptions options;
  detail::ConnectionPool pool;
};

// Failure classification on a reused connection. A pooled connection may have been closed by the
// peer while idle (keep-alive timeout on their side) without us noticing: our write then
// "succeeds" into a dead socket and the read fails with EOF/reset before any response byte. That
// is almost always harmless, but it is indistinguishable from a peer that received the request,
// acted on it and then died. So the request is repeated on a fresh connection only when repeating
// is harmless (idempotent methods); a POST — a settle — is reported MaybeSent so failover never
// pays twice. Correctness over convenience: the cheap idle check in checkout() makes this rare.
asio::awaitable<Outcome> HttpClient::Impl::send(const Origin& origin, Request& request,
                                                Timeouts timeouts) {
  const auto total_deadline = Clock::now() + timeouts.total;
  prepare(request, origin);
  const std::string key = origin.key();

  if (auto pooled = pool.checkout(key)) {
    bool stale = false;
    Outcome outcome = co_await exchange(*pooled, request, total_deadline, timeouts.total, stale);
    if (std::holds_alternative<Response>(outcome) || !stale || !is_idempotent(request.method())) {
      release(key, std::move(pooled), request, outcome);
      co_return outcome;
    }
  }

  Connected connected = co_await connect(origin, total_deadline, timeouts);
  if (auto* error = std::get_if<TransportError>(&connected)) co_return std::move(*error);
  auto fresh = std::move(std::get<std::unique_ptr<Connection>>(connected));
  bool stale = false;  // a fresh connection is never stale: its failures are reported as they are
  Outcome outcome = co_await exchange(*fresh, request, total_deadline, timeouts.total, stale);
  release(key, std::move(fresh), request, outcome);
  co_return outcome;
}

// Resolve, TCP connect and TLS handshake, all under one connect deadline (capped by the total
// one). Every failure here happens before a request byte is written, hence NotSent.
asio::awaitable<HttpClient::Impl::Connected> HttpClient::Impl::connect(
    const Origin& origin, Clock::time_point total_deadline, Timeouts timeouts) {
  auto deadline = Clock::now() + timeouts.connect;
  auto limit = timeouts.connect;
  if (total_deadline < deadline) {
    deadline = total_deadline;
    limit = timeouts.total;
  }
  if (origin.tls && !tls) co_return not_sent("TLS: no client TLS context configured");

  // The resolver is not a beast stream, so a timer cancels it. Both sit in shared state because
  // the timer's handler may run after this frame has moved on.
  auto resolver = std::make_shared<asio::ip::tcp::resolver>(ioc);
  auto resolve_timed_out = std::make_shared<bool>(false);
  asio::steady_timer resolve_timer(ioc, deadline);
  resolve_timer.async_wait([resolver, resolve_timed_out](const beast::error_code& ec) {
    if (ec) return;
    *resolve_timed_out = true;
    resolver->cancel();  // a getaddrinfo already running still finishes first (glibc limitation)
  });
  auto [resolve_ec, endpoints] =
      co_await resolver->async_resolve(origin.host, std::to_string(origin.port), kAsValues);
  resolve_timer.cancel();
  if (*resolve_timed_out) co_return not_sent(timeout_message(limit), true);
  if (resolve_ec)
    co_return not_sent("DNS: cannot resolve " + origin.host + ": " + resolve_ec.message());

  auto connection =
      origin.tls ? std::make_unique<Connection>(ioc, *tls) : std::make_unique<Connection>(ioc);
  connection->tcp().expires_at(deadline);
  auto [connect_ec, endpoint] = co_await connection->tcp().async_connect(endpoints, kAsValues);
  if (connect_ec == beast::error::timeout) co_return not_sent(timeout_message(limit), true);
  if (connect_ec == asio::error::connection_refused) co_return not_sent("connection refused");
  if (connect_ec) co_return not_sent("connect: " + connect_ec.message());
  beast::error_code ignored;
  connection->tcp().socket().set_option(asio::ip::tcp::no_delay(true), ignored);

  if (auto* stream = std::get_if<TlsStream>(&connection->stream)) {
    const bool ip_literal = is_ip_literal(origin.host);
    // SNI carries host names only (RFC 6066); an IP literal is checked against the IP SANs.
    if (!ip_literal && !SSL_set_tlsext_host_name(stream->native_handle(), origin.host.c_str())) {
      co_return not_sent("TLS: cannot set server name " + origin.host);
    }
    stream->set_verify_mode(asio::ssl::verify_peer);  // whatever context the caller passed
    stream->set_verify_callback(
        [check = asio::ssl::host_name_verification(origin.host), ip_literal](
            bool preverified, asio::ssl::verify_context& context) mutable {
          if (check(preverified, context)) return true;
          // Record why, so the failure message says "hostname mismatch" and not just "failed".
          if (preverified) {
            X509_STORE_CTX_set_error(context.native_handle(), ip_literal
                                                                  ? X509_V_ERR_IP_ADDRESS_MISMATCH
                                                                  : X509_V_ERR_HOSTNAME_MISMATCH);
          }
          return false;
        });
    auto [handshake_ec] =
        co_await stream->async_handshake(asio::ssl::stream_base::client, kAsValues);
    if (handshake_ec == beast::error::timeout) co_return not_sent(timeout_message(limit), true);
    if (handshake_ec)
      co_return not_sent(tls_failure_message(stream->native_handle(), handshake_ec));
  }
  co_return std::move(connection);
}

asio::awaitable<Outcome> HttpClient::Impl::exchange(Connection& connection, const Request& request,
                                                    Clock::time_point deadline,
                                                    std::chrono::milliseconds total, bool& stale) {
  return std::visit(
      [&](auto& stream) {
        return exchange_on(stream, connection, request, deadline, total, stale);
      },
      connection.stream);
}

// Writes the request and reads one final response. From the first write on, every failure is
// MaybeSent. `stale` is set when the failure looks like a connection the peer had already closed:
// EOF/reset with not a single response byte received.
template <class Stream>
asio::awaitable<Outcome> HttpClient::Impl::exchange_on(Stream& stream, Connection& connection,
                                                       const Request& request,
                                                       Clock::time_point deadline,
                                                       std::chrono::milliseconds total,
                                                       bool& stale) {
  connection.tcp().expires_at(deadline);
  auto [write_ec, written] = co_await async_write_message(stream, request);
  if (write_ec == beast::error::timeout) co_return maybe_sent(timeout_message(total), true);
  if (write_ec) {
    stale = is_stale_connection_error(write_ec);
    co_return maybe_sent("write: " + write_ec.message());
  }

  const auto header_limit = static_cast<uint32_t>(
      std::min<size_t>(options.response_header_limit, std::numeric_limits<uint32_t>::max()));
  std::optional<bhttp::response_parser<bhttp::string_body>> parser;
  bool any_response_byte = false;
  do {  // interim 1xx responses (100 Continue, 103 Early Hints) precede the real one
    parser.emplace();
    parser->body_limit(options.response_body_limit);
    parser->header_limit(header_limit);
    if (request.method() == bhttp::verb::head) parser->skip(true);
    auto [read_ec, read] =
        co_await bhttp::async_read(stream, connection.buffer, *parser, kAsValues);
    any_response_byte = any_response_byte || parser->got_some();
    if (read_ec == beast::error::timeout) co_return maybe_sent(timeout_message(total), true);
    if (read_ec == bhttp::error::body_limit) {
      co_return maybe_sent("upstream response body exceeds " +
                           std::to_string(options.response_body_limit) + " bytes");
    }
    if (read_ec == bhttp::error::header_limit) {
      co_return maybe_sent("upstream response header exceeds " + std::to_string(header_limit) +
                           " bytes");
    }
    if (read_ec == bhttp::error::end_of_stream || read_ec == asio::error::eof ||
        read_ec == bhttp::error::partial_message) {
      stale = !any_response_byte;
      co_return maybe_sent("connection closed by upstream before a complete response");
    }
    if (read_ec) {
      stale = !any_response_byte && is_stale_connection_error(read_ec);
      co_return maybe_sent("read: " + read_ec.message());
    }
  } while (parser->get().result_int() / 100 == 1 &&
           parser->get().result() != bhttp::status::switching_protocols);

  connection.tcp().expires_never();
  co_return parser->release();
}

void HttpClient::Impl::release(const std::string& key, std::unique_ptr<Connection> connection,
                               const Request& request, const Outcome& outcome) {
  const auto* response = std::get_if<Response>(&outcome);
  // Leftover bytes after a complete response mean the peer is out of step: never reuse then.
  if (response && request.keep_alive() && response->keep_alive() &&
      connection->buffer.size() == 0) {
    pool.checkin(key, std::move(connection));
  }
  // Otherwise the connection closes here, when `connection` goes out of scope.
}

HttpClient::HttpClient(asio::io_context& ioc, std::shared_ptr<asio::ssl::context> tls,
                       ClientOptions options)
    : impl_(std::make_unique<Impl>(ioc, std::move(tls), options)) {}

HttpClient::~HttpClient() = default;

asio::awaitable<Outcome> HttpClient::send(const Origin& origin, Request request,
                                          Timeouts timeouts) {
  try {
    co_return co_await impl_->send(origin, request, timeouts);
  } catch (const std::exception& e) {
    // We cannot tell how far the exchange got, so assume the peer may have seen the request.
    co_return maybe_sent(std::string("internal error: ") + e.what());
  } catch (...) {
    co_return maybe_sent("internal error");
  }
}

void HttpClient::close_idle() {
  impl_->pool.clear();
}

}  // namespace x402::http
