#include "state/redis_link.hpp"

#include <algorithm>
#include <utility>

namespace x402::redis {

Link::Link(boost::asio::io_context& io, RedisOptions options,
           std::function<void(Connection&)> on_ready, Connection::PushHandler on_push)
    : io_(io),
      options_(std::move(options)),
      retry_timer_(io),
      min_backoff_(std::max(options_.reconnect_min, std::chrono::milliseconds(1))),
      max_backoff_(std::max(options_.reconnect_max, min_backoff_)),
      backoff_(min_backoff_),
      on_ready_(std::move(on_ready)),
      on_push_(std::move(on_push)) {}

bool Link::start() {
  if (started_) return false;
  started_ = true;
  connect();
  return true;
}

void Link::stop() {
  stopping_ = true;
  retry_timer_.cancel();
  if (connection_) connection_->close(unavailable("the redis cache is shutting down"));
}

std::string Link::why_down() const {
  return last_error_.empty() ? "not connected to redis at " + options_.host + ":" +
                                   std::to_string(options_.port) + " yet"
                             : last_error_;
}

void Link::connect() {
  if (before_connect_) before_connect_(options_);
  connection_ = Connection::create(io_, options_);
  Connection* connection = connection_.get();
  connection_->open(
      [this, connection] {
        backoff_ = min_backoff_;
        last_error_.clear();
        if (on_ready_) on_ready_(*connection);
      },
      [this](const Error& why) {
        last_error_ = why.message;
        if (stopping_) return;
        retry_later();
        if (on_lost_) on_lost_(why);
      },
      on_push_);
}

void Link::retry_later() {
  retry_timer_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, max_backoff_);
  retry_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopping_) return;
    connect();
  });
}

}  // namespace x402::redis
