#pragma once
// One Redis connection plus its reconnect policy: a new connection after every loss, the delay
// doubling from reconnect_min to reconnect_max while Redis stays unreachable, back to the minimum
// once a connection became ready. Used on the Redis cache's own I/O thread only.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "state/cache.hpp"
#include "state/redis_connection.hpp"

namespace x402::redis {

// Beyond this many unanswered commands on one connection Redis is not keeping up; more would only
// queue memory behind a deadline that is bound to expire.
inline constexpr size_t kMaxInFlight = 10000;

class Link {
 public:
  Link(boost::asio::io_context& io, RedisOptions options, std::function<void(Connection&)> on_ready,
       Connection::PushHandler on_push);
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // Runs before every connection attempt and may change the endpoint: the Redis Cluster subscriber
  // moves to another master when the one it used is gone.
  void before_connect(std::function<void(RedisOptions&)> hook) {
    before_connect_ = std::move(hook);
  }
  // Runs whenever a connection ends or an attempt fails (the cluster then re-reads its slot map).
  void on_lost(std::function<void(const Error&)> hook) { on_lost_ = std::move(hook); }

  // True when this call started the link (the first one does).
  bool start();
  void stop();

  // The connection when it is ready for commands, else nullptr.
  Connection* ready() const {
    return connection_ && connection_->ready() ? connection_.get() : nullptr;
  }
  // True from a failed attempt or a lost connection until a connection is ready again: callers
  // then fail at once instead of waiting, as they do while the first attempt is still under way.
  bool down() const { return !last_error_.empty(); }
  std::string why_down() const;
  const RedisOptions& options() const { return options_; }

 private:
  void connect();
  void retry_later();

  boost::asio::io_context& io_;
  RedisOptions options_;
  boost::asio::steady_timer retry_timer_;
  const std::chrono::milliseconds min_backoff_;  // never 0: a zero delay would spin the thread
  const std::chrono::milliseconds max_backoff_;
  std::chrono::milliseconds backoff_;
  std::function<void(Connection&)> on_ready_;
  Connection::PushHandler on_push_;
  std::function<void(RedisOptions&)> before_connect_;
  std::function<void(const Error&)> on_lost_;
  std::shared_ptr<Connection> connection_;
  std::string last_error_;
  bool started_ = false;
  bool stopping_ = false;
};

}  // namespace x402::redis
