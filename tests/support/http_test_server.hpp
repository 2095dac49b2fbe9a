#pragma once
// A tiny in-process HTTP(S) server for tests (client tests, fake upstreams and facilitators): its
// own io_context on its own thread, bound to an ephemeral port on 127.0.0.1, with a scripted
// behaviour per request.
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <functional>
#include <memory>
#include <thread>

#include "http/client.hpp"

namespace x402::http::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

// What the server does with one request.
struct Action {
  // RespondThenClose: answers with keep-alive, then closes anyway (an idle-timeout on the peer).
  enum class Kind { Respond, RespondThenClose, CloseWithoutAnswer, Hang } kind = Kind::Respond;
  Response response;
};

inline Action respond(Response response) {
  return Action{Action::Kind::Respond, std::move(response)};
}
inline Action respond_then_close(Response response) {
  return Action{Action::Kind::RespondThenClose, std::move(response)};
}
inline Action close_without_answer() {
  return Action{Action::Kind::CloseWithoutAnswer, {}};
}
inline Action hang() {
  return Action{Action::Kind::Hang, {}};
}

// Called on the server thread with the request and its 0-based index on its connection.
using Script = std::function<Action(const Request&, int index_on_connection)>;

class TestServer {
 public:
  // `tls` makes it an HTTPS server. `hold_without_reading` accepts connections and never touches
  // them (a peer that stalls the TLS handshake).
  explicit TestServer(Script script, std::shared_ptr<asio::ssl::context> tls = nullptr,
                      bool hold_without_reading = false)
      : script_(std::move(script)),
        tls_(std::move(tls)),
        hold_without_reading_(hold_without_reading),
        acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
    asio::co_spawn(ioc_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }

  ~TestServer() {
    ioc_.stop();
    thread_.join();
  }

  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int accepted() const { return accepted_.load(); }
  // Connections closed by RespondThenClose, counted once the close is complete.
  int closed_after_response() const { return closed_after_response_.load(); }

 private:
  static constexpr auto kAsValues = asio::as_tuple(asio::use_awaitable);

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(kAsValues);
      if (ec) co_return;
      ++accepted_;
      asio::co_spawn(ioc_, serve(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> wait_forever() {
    asio::steady_timer timer(ioc_, std::chrono::hours(1));
    co_await timer.async_wait(kAsValues);
  }

  asio::awaitable<void> serve(asio::ip::tcp::socket socket) {
    if (hold_without_reading_) {
      co_await wait_forever();
      co_return;
    }
    if (!tls_) {
      beast::tcp_stream stream(std::move(socket));
      co_await serve_http(stream);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls_);
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kAsValues);
    if (!ec) co_await serve_http(stream);
  }

  template <class Stream>
  asio::awaitable<void> serve_http(Stream& stream) {
    beast::flat_buffer buffer;
    for (int index = 0;; ++index) {
      Request request;
      auto [read_ec, read] = co_await bhttp::async_read(stream, buffer, request, kAsValues);
      if (read_ec) co_return;
      Action action = script_(request, index);
      if (action.kind == Action::Kind::CloseWithoutAnswer) co_return;
      if (action.kind == Action::Kind::Hang) {
        co_await wait_forever();
        co_return;
      }
      action.response.version(11);
      if (!action.response.has_content_length() && !action.response.chunked()) {
        action.response.prepare_payload();
      }
      const bool keep_alive = action.response.keep_alive();
      auto [write_ec, written] = co_await bhttp::async_write(stream, action.response, kAsValues);
      if (write_ec || !keep_alive) co_return;
      if (action.kind == Action::Kind::RespondThenClose) {
        co_await close_politely(stream);
        ++closed_after_response_;
        co_return;
      }
    }
  }

  asio::awaitable<void> close_politely(beast::tcp_stream& stream) {
    beast::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream.socket().close(ignored);
    co_return;
  }

  // Sends close_notify; the wait for the client's reply is cut short because a client never sends
  // one while idle.
  asio::awaitable<void> close_politely(beast::ssl_stream<beast::tcp_stream>& stream) {
    beast::get_lowest_layer(stream).expires_after(std::chrono::milliseconds(200));
    co_await stream.async_shutdown(kAsValues);
    co_await close_politely(beast::get_lowest_layer(stream));
  }

  Script script_;
  std::shared_ptr<asio::ssl::context> tls_;
  bool hold_without_reading_;
  asio::io_context ioc_;
  asio::ip::tcp::acceptor acceptor_;
  std::atomic<int> accepted_{0};
  std::atomic<int> closed_after_response_{0};
  std::thread thread_;
};

inline Response make_response(bhttp::status status, std::string body) {
  Response response{status, 11};
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

inline Origin local_origin(uint16_t port, bool tls = false, std::string host = "127.0.0.1") {
  Origin origin;
  origin.tls = tls;
  origin.host = std::move(host);
  origin.port = port;
  return origin;
}

inline Request make_request(bhttp::verb method, std::string target, std::string body = {}) {
  Request request{method, target, 11};
  request.body() = std::move(body);
  return request;
}

// Runs one client exchange on `ioc` to completion.
inline Outcome run_send(asio::io_context& ioc, HttpClient& client, const Origin& origin,
                        Request request, Timeouts timeouts = {}) {
  auto future =
      asio::co_spawn(ioc, client.send(origin, std::move(request), timeouts), asio::use_future);
  ioc.restart();
  ioc.run();
  return future.get();
}

}  // namespace x402::http::testing
