#include "state/redis_connection.hpp"

#include <hiredis/hiredis.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <utility>

namespace x402::redis {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kReadChunk = 16 * 1024;

Reply copy_reply(const redisReply& r) {
  Reply out;
  switch (r.type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::String;
      out.text.assign(r.str, r.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::Status;
      out.text.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::Error;
      out.text.assign(r.str, r.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::Integer;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::Array;
      out.elements.reserve(r.elements);
      for (size_t i = 0; i < r.elements; ++i) out.elements.push_back(copy_reply(*r.element[i]));
      break;
    default:  // REDIS_REPLY_NIL, and a nil array
      out.type = Reply::Type::Nil;
      break;
  }
  return out;
}

// RESP framing via hiredis: binary-safe because every argument carries its length.
std::optional<std::string> encode(const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<size_t> lengths;
  args.reserve(argv.size());
  lengths.reserve(argv.size());
  for (const auto& a : argv) {
    args.push_back(a.data());
    lengths.push_back(a.size());
  }
  char* command = nullptr;
  int length =
      redisFormatCommandArgv(&command, static_cast<int>(args.size()), args.data(), lengths.data());
  if (length < 0 || command == nullptr) return std::nullopt;
  std::string out(command, static_cast<size_t>(length));
  redisFreeCommand(command);
  return out;
}

}  // namespace

Error unavailable(std::string message) {
  return make_error("cache_unavailable", "", std::move(message));
}

std::shared_ptr<Connection> Connection::create(asio::io_context& io, const RedisOptions& options) {
  return std::shared_ptr<Connection>(new Connection(io, options));
}

Connection::Connection(asio::io_context& io, const RedisOptions& options)
    : options_(options),
      resolver_(io),
      socket_(io),
      connect_timer_(io),
      deadline_timer_(io),
      reader_(redisReaderCreate(), &redisReaderFree),
      read_buffer_(kReadChunk) {}

Connection::~Connection() = default;

std::string Connection::where() const {
  return "redis at " + options_.host + ":" + std::to_string(options_.port);
}

void Connection::open(std::function<void()> on_ready, std::function<void(const Error&)> on_closed,
                      PushHandler on_push) {
  on_ready_ = std::move(on_ready);
  on_closed_ = std::move(on_closed);
  on_push_ = std::move(on_push);
  state_ = State::Connecting;
  if (!reader_) {
    close(unavailable("cannot allocate a hiredis reader"));
    return;
  }

  connect_timer_.expires_after(options_.connect_timeout);
  connect_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->state_ != State::Connecting) return;
    self->close(unavailable(self->where() + " not ready within connect_timeout (" +
                            std::to_string(self->options_.connect_timeout.count()) + " ms)"));
  });

  resolver_.async_resolve(
      options_.host, std::to_string(options_.port),
      [self = shared_from_this()](boost::system::error_code ec,
                                  asio::ip::tcp::resolver::results_type endpoints) {
        if (self->state_ == State::Closed) return;
        if (ec) {
          self->close(unavailable("cannot resolve " + self->where() + ": " + ec.message()));
          return;
        }
        asio::async_connect(self->socket_, endpoints,
                            [self](boost::system::error_code ec, const asio::ip::tcp::endpoint&) {
                              if (self->state_ == State::Closed) return;
                              if (ec) {
                                self->close(unavailable("cannot connect to " + self->where() +
                                                        ": " + ec.message()));
                                return;
                              }
                              self->on_connected();
                            });
      });
}

void Connection::on_connected() {
  boost::system::error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  // Lets the kernel notice a peer that vanished without a FIN, which matters for the subscriber
  // connection: it sends nothing, so no command deadline would ever expire on it.
  socket_.set_option(asio::socket_base::keep_alive(true), ignored);
  read_more();

  // The handshake is pipelined too; it shares the connect deadline rather than command_timeout.
  const auto deadline = connect_timer_.expiry();
  if (!options_.password.empty()) {
    enqueue(
        {"AUTH", options_.password},
        [this](Result<Reply> r) {
          if (r && r->type == Reply::Type::Error) {
            close(unavailable(where() + " refused AUTH: " + r->text));
          }
        },
        deadline);
  }
  if (options_.database != 0) {
    enqueue(
        {"SELECT", std::to_string(options_.database)},
        [this](Result<Reply> r) {
          if (r && r->type == Reply::Type::Error) {
            close(unavailable(where() + " refused SELECT " + std::to_string(options_.database) +
                              ": " + r->text));
          }
        },
        deadline);
  }
  enqueue(
      {"PING"},
      [this](Result<Reply> r) {
        if (!r || state_ != State::Connecting) return;  // already closing
        if (r->type == Reply::Type::Error) {
          close(unavailable(where() + " refused PING: " + r->text));
          return;
        }
        state_ = State::Ready;
        connect_timer_.cancel();
        if (on_ready_) on_ready_();
      },
      deadline);
}

void Connection::send(const std::vector<std::string>& argv, ReplyHandler on_reply) {
  if (state_ != State::Ready) {
    on_reply(unavailable("not connected to " + where()));
    return;
  }
  enqueue(argv, std::move(on_reply), Clock::now() + options_.command_timeout);
}

void Connection::send_without_reply(const std::vector<std::string>& argv) {
  if (state_ != State::Ready) return;  // the owner repeats it after reconnecting
  enqueue(argv, nullptr, {});
}

void Connection::enqueue(const std::vector<std::string>& argv, ReplyHandler on_reply,
                         Clock::time_point deadline) {
  auto encoded = encode(argv);
  if (!encoded) {
    if (on_reply) on_reply(make_error("cache_error", "", "cannot encode a redis command"));
    return;
  }
  outbox_.append(*encoded);
  if (on_reply) {
    pending_.push_back(Pending{std::move(on_reply), deadline});
    arm_deadline();
  }
  write_more();
}

void Connection::write_more() {
  if (write_in_progress_ || outbox_.empty() || state_ == State::Closed) return;
  // Everything queued since the last write goes out in one call: that is the pipelining.
  writing_.swap(outbox_);
  outbox_.clear();
  write_in_progress_ = true;
  asio::async_write(
      socket_, asio::buffer(writing_),
      [self = shared_from_this()](boost::system::error_code ec, size_t) {
        self->write_in_progress_ = false;
        if (self->state_ == State::Closed) return;
        if (ec) {
          self->close(unavailable("writing to " + self->where() + " failed: " + ec.message()));
          return;
        }
        self->writing_.clear();
        self->write_more();
      });
}

void Connection::read_more() {
  socket_.async_read_some(asio::buffer(read_buffer_), [self = shared_from_this()](
                                                          boost::system::error_code ec, size_t n) {
    if (self->state_ == State::Closed) return;
    if (ec) {
      self->close(unavailable("connection to " + self->where() + " lost: " + ec.message()));
      return;
    }
    if (redisReaderFeed(self->reader_.get(), self->read_buffer_.data(), n) != REDIS_OK) {
      self->close(unavailable("cannot buffer a reply from " + self->where()));
      return;
    }
    while (self->state_ != State::Closed) {
      void* parsed = nullptr;
      if (redisReaderGetReply(self->reader_.get(), &parsed) != REDIS_OK) {
        self->close(
            unavailable("malformed reply from " + self->where() + ": " + self->reader_->errstr));
        return;
      }
      if (parsed == nullptr) break;  // the rest of the reply has not arrived yet
      Reply reply = copy_reply(*static_cast<redisReply*>(parsed));
      freeReplyObject(parsed);
      self->dispatch(std::move(reply));
    }
    if (self->state_ != State::Closed) self->read_more();
  });
}

void Connection::dispatch(Reply reply) {
  if (!pending_.empty()) {
    ReplyHandler on_reply = std::move(pending_.front().on_reply);
    pending_.pop_front();
    on_reply(std::move(reply));
    return;
  }
  if (on_push_) {
    on_push_(std::move(reply));
    return;
  }
  close(unavailable(where() + " sent a reply no command asked for"));
}

// One timer watches the oldest pending command. Deadlines grow along the FIFO, so when the timer
// fires it either finds that command late (the connection is declared dead) or already answered
// (it moves on to the new oldest). Re-arming only then keeps the timer off the per-reply path.
void Connection::arm_deadline() {
  if (deadline_armed_ || pending_.empty()) return;
  deadline_armed_ = true;
  deadline_timer_.expires_at(pending_.front().deadline);
  deadline_timer_.async_wait([self = shared_from_this()](boost::system::error_code) {
    self->deadline_armed_ = false;
    if (self->state_ == State::Closed || self->pending_.empty()) return;
    if (self->pending_.front().deadline <= Clock::now()) {
      const auto limit = self->state_ == State::Ready ? self->options_.command_timeout
                                                      : self->options_.connect_timeout;
      self->close(unavailable(self->where() + " did not answer within " +
                              std::to_string(limit.count()) + " ms"));
      return;
    }
    self->arm_deadline();
  });
}

void Connection::close(const Error& why) {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  boost::system::error_code ignored;
  resolver_.cancel();
  connect_timer_.cancel();
  deadline_timer_.cancel();
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);

  // Callbacks may re-enter the owner (which may open a new connection), so take everything out of
  // this object before calling any of them.
  auto pending = std::move(pending_);
  pending_.clear();
  auto on_closed = std::move(on_closed_);
  on_ready_ = nullptr;
  on_push_ = nullptr;
  for (auto& p : pending) p.on_reply(why);
  if (on_closed) on_closed(why);
}

}  // namespace x402::redis
