#pragma once
// One TCP connection to Redis, driven entirely by one io_context thread (the Redis cache's own).
// Commands are pipelined: each is written as soon as it is sent and its reply is matched to it in
// FIFO order, which is how Redis answers. hiredis only encodes commands and parses replies; Asio
// does all the I/O, so nothing here ever blocks.
//
// Every command has a deadline. A command without a reply by then means Redis is stalled or the
// link is dead, and the replies still to come could no longer be matched safely, so the whole
// connection is closed: every pending command fails with cache_unavailable and the owner is told
// (it reconnects). A connection is never reopened; the owner makes a new one.
//
// A connection is either a command connection (every reply answers the oldest pending command)
// or, once the owner sends SUBSCRIBE with send_without_reply(), a subscriber connection (every
// reply is a push: a subscription confirmation or a message) delivered to on_push.
//
// Not thread-safe: every member function must be called on the io_context's thread.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "state/cache.hpp"

struct redisReader;

namespace x402::redis {

// A reply copied out of hiredis' tree so it can cross threads and outlive the parser.
struct Reply {
  enum class Type { String, Status, Integer, Nil, Array, Error };
  Type type = Type::Nil;
  std::string text;  // String, Status and Error
  long long integer = 0;
  std::vector<Reply> elements;  // Array
};

// The error every caller sees when Redis cannot answer: replay protection fails closed on it.
Error unavailable(std::string message);

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using ReplyHandler = std::function<void(Result<Reply>)>;
  using PushHandler = std::function<void(Reply)>;

  static std::shared_ptr<Connection> create(boost::asio::io_context& io,
                                            const RedisOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Resolves, connects, then AUTHs, SELECTs and PINGs, all within options.connect_timeout (the
  // PING proves Redis answers: a stopped Redis still accepts TCP connections). on_ready runs once
  // that succeeded; on_closed runs exactly once when the connection ends, whether or not it was
  // ever ready. on_push receives replies that answer no command (pub/sub).
  void open(std::function<void()> on_ready, std::function<void(const Error&)> on_closed,
            PushHandler on_push = {});

  // Pipelines one command; on_reply gets its reply (Redis error replies included, as
  // Reply::Type::Error) or cache_unavailable if the connection is not ready or ends first.
  void send(const std::vector<std::string>& argv, ReplyHandler on_reply);
  // For SUBSCRIBE: its answers arrive as pushes, not as one reply.
  void send_without_reply(const std::vector<std::string>& argv);

  // Fails every pending command with `why` and reports it through on_closed. Idempotent.
  void close(const Error& why);

  bool ready() const { return state_ == State::Ready; }
  size_t in_flight() const { return pending_.size(); }

 private:
  enum class State { Idle, Connecting, Ready, Closed };
  struct Pending {
    ReplyHandler on_reply;
    std::chrono::steady_clock::time_point deadline;
  };

  Connection(boost::asio::io_context& io, const RedisOptions& options);

  void on_connected();
  void enqueue(const std::vector<std::string>& argv, ReplyHandler on_reply,
               std::chrono::steady_clock::time_point deadline);
  void write_more();
  void read_more();
  void dispatch(Reply reply);
  void arm_deadline();
  std::string where() const;

  RedisOptions options_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer connect_timer_;
  boost::asio::steady_timer deadline_timer_;
  bool deadline_armed_ = false;
  std::unique_ptr<redisReader, void (*)(redisReader*)> reader_;
  State state_ = State::Idle;

  std::deque<Pending> pending_;
  std::string outbox_;   // encoded commands not yet handed to the socket
  std::string writing_;  // the bytes the current async_write owns
  bool write_in_progress_ = false;
  std::vector<char> read_buffer_;

  std::function<void()> on_ready_;
  std::function<void(const Error&)> on_closed_;
  PushHandler on_push_;
};

}  // namespace x402::redis
