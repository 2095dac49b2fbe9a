#pragma once
// Idle keep-alive connections of one HttpClient, keyed by Origin::key(). Internal to x402_http.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <variant>

namespace x402::http::detail {

using PlainStream = boost::beast::tcp_stream;
using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

// One upstream connection. The read buffer lives with the connection because bytes read past one
// response belong to the next one on the same socket.
struct Connection {
  explicit Connection(boost::asio::io_context& ioc);
  Connection(boost::asio::io_context& ioc, boost::asio::ssl::context& tls);

  PlainStream& tcp();
  // True when the peer has closed (or sent something unsolicited) while the connection sat idle.
  // A cheap non-blocking poll that spares most requests the stale-connection failure path.
  bool looks_dead();

  std::variant<PlainStream, TlsStream> stream;
  boost::beast::flat_buffer buffer;
  std::chrono::steady_clock::time_point idle_since;
};

class ConnectionPool {
 public:
  ConnectionPool(size_t max_idle_per_origin, std::chrono::steady_clock::duration idle_timeout);

  // The most recently used live idle connection for `key`, or null. Expired and dead connections
  // met on the way are closed (eviction is lazy: there is no background sweep).
  std::unique_ptr<Connection> checkout(const std::string& key);
  // Keeps `connection` for reuse unless the origin already has max_idle_per_origin idle ones.
  void checkin(const std::string& key, std::unique_ptr<Connection> connection);
  void clear() { idle_.clear(); }

 private:
  size_t max_idle_per_origin_;
  std::chrono::steady_clock::duration idle_timeout_;
  // Per origin, oldest first: expiry trims the front, reuse takes the back (warmest socket).
  std::unordered_map<std::string, std::deque<std::unique_ptr<Connection>>> idle_;
};

}  // namespace x402::http::detail
