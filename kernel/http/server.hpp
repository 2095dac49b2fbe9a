#pragma once
// Inbound HTTP/1.1 server: keep-alive, explicit header/body limits, per-stage timeouts, one
// io_context per worker thread, graceful drain on shutdown.
//
// Each worker owns an acceptor bound with SO_REUSEPORT to the same address, so the kernel spreads
// connections across workers and a connection lives its whole life on one thread.
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace x402::http {

using IncomingRequest = boost::beast::http::request<boost::beast::http::string_body>;
using OutgoingResponse = boost::beast::http::response<boost::beast::http::string_body>;

struct ServerLimits {
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 1024 * 1024;
  size_t max_connections = 10000;  // per server, across workers
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds write_timeout{30000};
};

struct PeerInfo {
  std::string remote_address;  // client IP as text
  bool tls = false;            // inbound TLS is terminated in front of x402d for now
};

// The application: turns one parsed request into one response. Runs on the connection's worker.
using Handler =
    std::function<boost::asio::awaitable<OutgoingResponse>(IncomingRequest&, const PeerInfo&)>;

class Server {
 public:
  // `workers` are the io_contexts run by the caller's threads; one acceptor per worker.
  Server(std::vector<boost::asio::io_context*> workers, Handler handler, ServerLimits limits);
  ~Server();

  // Binds and starts accepting. Port 0 picks a free port (see port()).
  Status listen(const std::string& address, uint16_t port);
  uint16_t port() const { return port_; }

  // Stops accepting, closes idle keep-alive connections, lets in-flight requests finish (their
  // responses carry Connection: close). `on_drained` runs once every listener is closed and no
  // connection is left; after `grace` the remaining connections are closed forcibly.
  // Thread-safe.
  void drain(std::chrono::milliseconds grace, std::function<void()> on_drained);

  size_t open_connections() const { return open_connections_.load(); }

 private:
  struct Worker;
  boost::asio::awaitable<void> accept_loop(Worker& worker);
  boost::asio::awaitable<void> session(Worker& worker, boost::asio::ip::tcp::socket socket);
  void connection_closed();
  void notify_if_drained();

  std::vector<std::unique_ptr<Worker>> workers_;
  Handler handler_;
  ServerLimits limits_;
  uint16_t port_ = 0;
  std::atomic<size_t> open_connections_{0};
  std::atomic<bool> draining_{false};
  std::atomic<size_t> listeners_open_{0};
  std::mutex drain_mutex_;
  std::function<void()> on_drained_;
  std::atomic<bool> drained_notified_{false};
};

}  // namespace x402::http
