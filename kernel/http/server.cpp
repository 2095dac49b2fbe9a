#include "http/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/serialize.hpp>
#include <list>
#include <optional>

#include "http/message_writer.hpp"

namespace x402::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

namespace {

OutgoingResponse limit_response(bhttp::status status, std::string_view what, size_t limit) {
  OutgoingResponse res{status, 11};
  res.set(bhttp::field::content_type, "application/json");
  boost::json::object body{{"error", what}, {"limit_bytes", limit}};
  res.body() = boost::json::serialize(body);
  res.keep_alive(false);
  res.prepare_payload();
  return res;
}

// The client sent something that is not HTTP/1.1 as RFC 9112 allows (as opposed to the connection
// ending or a limit being hit): it gets a 400 naming the problem rather than a silent close.
bool is_malformed_request(const boost::system::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
         ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message &&
         ec != bhttp::error::short_read && ec != bhttp::error::header_limit &&
         ec != bhttp::error::body_limit;
}

OutgoingResponse bad_request_response(std::string_view detail) {
  OutgoingResponse res{bhttp::status::bad_request, 11};
  res.set(bhttp::field::content_type, "application/json");
  boost::json::object body{{"error", "malformed HTTP request"}, {"detail", detail}};
  res.body() = boost::json::serialize(body);
  res.keep_alive(false);
  res.prepare_payload();
  return res;
}

}  // namespace

// A connection as seen by its worker: drain closes the idle ones and leaves busy ones to finish.
struct SessionEntry {
  beast::tcp_stream* stream = nullptr;
  bool idle = true;
};

struct Server::Worker {
  explicit Worker(asio::io_context& io) : ioc(io), grace_timer(io) {}
  asio::io_context& ioc;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::list<SessionEntry*> sessions;  // touched only on this worker's thread
  asio::steady_timer grace_timer;
};

Server::Server(std::vector<asio::io_context*> workers, Handler handler, ServerLimits limits)
    : handler_(std::move(handler)), limits_(limits) {
  for (auto* io : workers) workers_.push_back(std::make_unique<Worker>(*io));
}

Server::~Server() = default;

Status Server::listen(const std::string& address, uint16_t port) {
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(address, ec);
  if (ec) return make_error("invalid_listen", "server.listen", "not an IP address: " + address);
  uint16_t bound_port = port;
  for (auto& w : workers_) {
    auto acceptor = std::make_unique<tcp::acceptor>(w->ioc);
    tcp::endpoint ep{ip, bound_port};
    acceptor->open(ep.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) {
      int one = 1;
      if (::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        ec.assign(errno, boost::system::system_category());
    }
    if (!ec) acceptor->bind(ep, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return make_error(
          "listen_failed", "server.listen",
          "cannot listen on " + address + ":" + std::to_string(bound_port) + ": " + ec.message());
    }
    // Port 0: the first acceptor picks the port, the others join it.
    bound_port = acceptor->local_endpoint().port();
    w->acceptor = std::move(acceptor);
  }
  port_ = bound_port;
  listeners_open_ = workers_.size();
  for (auto& w : workers_) {
    asio::co_spawn(w->ioc, accept_loop(*w), asio::detached);
  }
  return Ok{};
}

asio::awaitable<void> Server::accept_loop(Worker& worker) {
  while (!draining_) {
    auto [ec, socket] = co_await worker.acceptor->async_accept(kNoThrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || draining_) co_return;
      continue;  // EMFILE and friends: keep serving the connections we have
    }
    if (open_connections_.load() >= limits_.max_connections) {
      socket.close(ec);  // over the limit: refuse rather than degrade everyone
      continue;
    }
    ++open_connections_;
    asio::co_spawn(worker.ioc, session(worker, std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> Server::session(Worker& worker, tcp::socket socket) {
  PeerInfo peer;
  boost::system::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  if (!ec) peer.remote_address = remote.address().to_string();

  // Each response leaves in one write; Nagle would only hold its tail back.
  socket.set_option(tcp::no_delay(true), ec);
  beast::tcp_stream stream(std::move(socket));
  SessionEntry entry{&stream, true};
  auto registration = worker.sessions.insert(worker.sessions.end(), &entry);
  beast::flat_buffer buffer;
  bool first_request = true;

  while (!draining_) {
    entry.idle = true;
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(limits_.max_header_bytes));
    parser.body_limit(limits_.max_body_bytes);

    // A keep-alive connection may wait idle_timeout for its next request; a fresh one gets only
    // header_timeout to send its first header (slow-loris protection).
    stream.expires_after(first_request ? limits_.header_timeout : limits_.idle_timeout);
    auto [read_ec, header_bytes] =
        co_await bhttp::async_read_header(stream, buffer, parser, kNoThrow);
    if (read_ec) {
      std::optional<OutgoingResponse> res;
      if (read_ec == bhttp::error::header_limit) {
        res = limit_response(bhttp::status::request_header_fields_too_large,
                             "request header too large", limits_.max_header_bytes);
      } else if (read_ec == bhttp::error::body_limit) {
        // Beast refuses a declared Content-Length over the limit while parsing the header.
        res = limit_response(bhttp::status::payload_too_large, "request body too large",
                             limits_.max_body_bytes);
      } else if (is_malformed_request(read_ec)) {
        res = bad_request_response(read_ec.message());
      }
      if (res) {
        stream.expires_after(limits_.write_timeout);
        co_await bhttp::async_write(stream, *res, kNoThrow);
      }
      break;
    }
    entry.idle = false;

    // RFC 9112 §6.3: a request whose Transfer-Encoding does not end in chunked has no knowable
    // length. Beast reads it as bodiless, so its body would be parsed as the next request
    // (request smuggling behind a front proxy that reads it differently).
    if (!parser.chunked() && parser.get().count(bhttp::field::transfer_encoding) > 0) {
      auto res = bad_request_response("Transfer-Encoding must end in chunked");
      stream.expires_after(limits_.write_timeout);
      co_await bhttp::async_write(stream, res, kNoThrow);
      break;
    }

    auto length = parser.content_length();
    if (length && *length > limits_.max_body_bytes) {
      auto res = limit_response(bhttp::status::payload_too_large, "request body too large",
                                limits_.max_body_bytes);
      stream.expires_after(limits_.write_timeout);
      co_await bhttp::async_write(stream, res, kNoThrow);
      break;
    }
    if (bhttp::token_list{parser.get()[bhttp::field::expect]}.exists("100-continue")) {
      bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, 11};
      stream.expires_after(limits_.write_timeout);
      co_await bhttp::async_write(stream, cont, kNoThrow);
    }
    if (!parser.is_done()) {
      stream.expires_after(limits_.body_timeout);
      auto [body_ec, body_bytes] = co_await bhttp::async_read(stream, buffer, parser, kNoThrow);
      if (body_ec) {
        std::optional<OutgoingResponse> res;
        if (body_ec == bhttp::error::body_limit) {
          res = limit_response(bhttp::status::payload_too_large, "request body too large",
                               limits_.max_body_bytes);
        } else if (is_malformed_request(body_ec)) {
          res = bad_request_response(body_ec.message());  // e.g. a bad chunk size line
        }
        if (res) {
          stream.expires_after(limits_.write_timeout);
          co_await bhttp::async_write(stream, *res, kNoThrow);
        }
        break;
      }
    }

    IncomingRequest request = parser.release();
    const bool client_keep_alive = request.keep_alive();
    stream.expires_never();  // the handler enforces its own stage deadlines
    OutgoingResponse response;
    try {
      response = co_await handler_(request, peer);
    } catch (const std::exception& e) {
      // Handlers return errors as values; this is the last line of defence.
      response = limit_response(bhttp::status::internal_server_error, "internal error", 0);
    }
    const bool keep_alive = client_keep_alive && !draining_;
    response.keep_alive(keep_alive);
    stream.expires_after(limits_.write_timeout);
    auto [write_ec, written] = co_await async_write_message(stream, response);
    if (write_ec || !keep_alive) break;
    first_request = false;
  }

  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.socket().close(ec);
  worker.sessions.erase(registration);
  connection_closed();
}

void Server::connection_closed() {
  --open_connections_;
  notify_if_drained();
}

// Drained means: every listener is closed (no new connection can be accepted into a loop that
// is about to stop) and no connection is left.
void Server::notify_if_drained() {
  if (draining_ && listeners_open_.load() == 0 && open_connections_.load() == 0 &&
      !drained_notified_.exchange(true) && on_drained_) {
    on_drained_();
  }
}

void Server::drain(std::chrono::milliseconds grace, std::function<void()> on_drained) {
  {
    // on_drained_ is read by workers once draining_ is set: publish it first.
    std::lock_guard lock(drain_mutex_);
    if (draining_) return;
    on_drained_ = std::move(on_drained);
    draining_ = true;
  }
  for (auto& w : workers_) {
    asio::post(w->ioc, [this, grace, worker = w.get()] {
      boost::system::error_code ec;
      if (worker->acceptor) worker->acceptor->close(ec);
      --listeners_open_;
      for (auto* s : worker->sessions) {
        if (s->idle) s->stream->socket().close(ec);  // nothing in flight: close now
      }
      notify_if_drained();
      worker->grace_timer.expires_after(grace);
      worker->grace_timer.async_wait([worker](boost::system::error_code wait_ec) {
        if (wait_ec) return;
        boost::system::error_code close_ec;
        for (auto* s : worker->sessions) s->stream->socket().close(close_ec);
      });
    });
  }
}

}  // namespace x402::http
