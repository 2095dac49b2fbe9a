#include "http/connection_pool.hpp"

#include <poll.h>

namespace x402::http::detail {

Connection::Connection(boost::asio::io_context& ioc)
    : stream(std::in_place_type<PlainStream>, ioc) {}

Connection::Connection(boost::asio::io_context& ioc, boost::asio::ssl::context& tls)
    : stream(std::in_place_type<TlsStream>, ioc, tls) {}

PlainStream& Connection::tcp() {
  if (auto* plain = std::get_if<PlainStream>(&stream)) return *plain;
  return std::get<TlsStream>(stream).next_layer();
}

bool Connection::looks_dead() {
  auto& socket = tcp().socket();
  if (!socket.is_open()) return true;
  // POLLRDHUP sees the peer's FIN even behind unread bytes (a TLS close_notify precedes it).
  pollfd watch{socket.native_handle(), POLLIN | POLLRDHUP, 0};
  const int ready = ::poll(&watch, 1, 0);
  if (ready < 0) return true;
  if (ready == 0) return false;  // nothing pending: the usual healthy idle connection
  if (watch.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
  // Unsolicited plaintext bytes mean the connection is out of step. On TLS they may be a late
  // session ticket, which the next read consumes harmlessly.
  return std::holds_alternative<PlainStream>(stream);
}

ConnectionPool::ConnectionPool(size_t max_idle_per_origin,
                               std::chrono::steady_clock::duration idle_timeout)
    : max_idle_per_origin_(max_idle_per_origin), idle_timeout_(idle_timeout) {}

std::unique_ptr<Connection> ConnectionPool::checkout(const std::string& key) {
  auto found = idle_.find(key);
  if (found == idle_.end()) return nullptr;
  auto& idle = found->second;
  const auto now = std::chrono::steady_clock::now();
  while (!idle.empty() && now - idle.front()->idle_since >= idle_timeout_) idle.pop_front();
  std::unique_ptr<Connection> connection;
  while (!idle.empty() && !connection) {
    connection = std::move(idle.back());
    idle.pop_back();
    if (connection->looks_dead()) connection.reset();
  }
  if (idle.empty()) idle_.erase(found);
  return connection;
}

void ConnectionPool::checkin(const std::string& key, std::unique_ptr<Connection> connection) {
  if (max_idle_per_origin_ == 0) return;
  auto& idle = idle_[key];
  if (idle.size() >= max_idle_per_origin_) idle.pop_front();  // keep the warmest sockets
  connection->idle_since = std::chrono::steady_clock::now();
  idle.push_back(std::move(connection));
}

}  // namespace x402::http::detail
