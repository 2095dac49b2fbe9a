#pragma once
// Outbound HTTP/1.1 for upstreams and facilitators: keep-alive connection pooling per origin,
// per-stage timeouts, TLS with certificate and host-name verification (OpenSSL).
//
// One HttpClient per worker io_context; it is not thread-safe and never needs to be: a request is
// issued and completed on the worker's own thread. Pooled connections are reused only after a
// complete response with keep-alive.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>

#include "common/result.hpp"

namespace x402::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

// Where requests go: parsed once, when config is applied.
struct Origin {
  bool tls = false;
  std::string host;  // name or IP literal, used for DNS, SNI and certificate checks
  uint16_t port = 0;
  std::string base_path;            // path prefix from the URL, without trailing '/', may be empty
  std::string host_header() const;  // "host" or "host:port" when the port is not the default
  std::string key() const;          // pool key: "https://host:port"
};

// Parses "http://host[:port][/base]" or "https://...". Rejects other schemes, userinfo, query
// and fragment, with code "invalid_url".
Result<Origin> parse_origin(std::string_view url);

// Splits an absolute URL into its origin and the request target ("/path?query").
Result<std::pair<Origin, std::string>> parse_url(std::string_view url);

struct Timeouts {
  std::chrono::milliseconds connect{2000};  // DNS + TCP + TLS handshake
  std::chrono::milliseconds total{30000};   // whole exchange, from start to the last body byte
};

// Why an exchange failed. The stage drives failover: NotSent means no request byte left this
// process (DNS failure, connection refused, connect/TLS timeout), so another peer may be tried.
// MaybeSent means the peer may have received and acted on the request.
struct TransportError {
  enum class Stage { NotSent, MaybeSent } stage = Stage::NotSent;
  bool timed_out = false;
  std::string message;  // "connection refused", "timeout after 3000 ms", "TLS: certificate verify
                        // failed", ...
};

using Outcome = std::variant<Response, TransportError>;

struct ClientOptions {
  size_t max_idle_per_origin = 64;
  std::chrono::seconds idle_timeout{30};
  size_t response_body_limit = 8 * 1024 * 1024;
  size_t response_header_limit = 64 * 1024;
};

class HttpClient {
 public:
  // `tls` is shared by all workers (verify_peer, system trust store).
  HttpClient(boost::asio::io_context& ioc, std::shared_ptr<boost::asio::ssl::context> tls,
             ClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `request` to `origin`. The caller sets method, target, headers and body; the client sets
  // Host (if absent), Content-Length and keep-alive. A stale pooled connection that fails before
  // any response byte is retried once on a fresh connection only for idempotent methods
  // (GET, HEAD, OPTIONS, PUT, DELETE); otherwise the failure is reported as MaybeSent.
  boost::asio::awaitable<Outcome> send(const Origin& origin, Request request, Timeouts timeouts);

  // Drops idle pooled connections (shutdown, tests).
  void close_idle();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A TLS client context with certificate verification on and the system trust store loaded.
std::shared_ptr<boost::asio::ssl::context> make_client_tls_context();

}  // namespace x402::http
