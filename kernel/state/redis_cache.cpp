// The many-node Cache backend (DESIGN.md §7–§8): Redis, reached over two connections that live on
// the cache's own I/O thread.
//
//  - the command connection carries claim/get/set/erase/eval/publish, pipelined (with a Redis
//    Cluster: one command connection per master, each command routed to its key's slot by
//    state/redis_cluster.hpp);
//  - the subscriber connection carries SUBSCRIBE only (a subscribed Redis connection accepts no
//    other commands), and is opened on the first subscribe(). It sends nothing on its own, so a
//    watchdog PINGs it every command_timeout and replaces it when Redis stays silent for two:
//    a stalled or partitioned subscriber would otherwise miss notices without anyone knowing.
//
// A call made on any worker's executor is handed to the cache thread, and its completion is posted
// back to the caller's executor: no caller ever blocks, and no caller runs cache-thread code.
// While the command connection is down, calls fail at once with cache_unavailable rather than
// queue (replay protection then fails closed); each connection reconnects with backoff forever.
#include <algorithm>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "state/cache.hpp"
#include "state/redis_cluster.hpp"
#include "state/redis_connection.hpp"
#include "state/redis_link.hpp"

namespace x402 {
namespace {

namespace asio = boost::asio;
using redis::Link;
using redis::Reply;
using redis::Route;

// What subscribers receive when notices may have been missed (cache.hpp).
constexpr const char* kResync = "*resync*";

std::optional<Error> check_ttl(std::chrono::milliseconds ttl) {
  if (ttl.count() > 0) return std::nullopt;
  return make_error("invalid_ttl", "ttl",
                    "cache TTL must be positive, got " + std::to_string(ttl.count()) + " ms");
}

Error cache_error(std::string message) {
  return make_error("cache_error", "", "redis: " + std::move(message));
}

Error unexpected(const char* command, const Reply& reply) {
  if (reply.type == Reply::Type::Error) return cache_error(reply.text);
  return cache_error(std::string("unexpected reply type to ") + command);
}

// Script replies are flattened one level deep (cache.hpp): scalars become text or nil.
Result<std::optional<std::string>> flatten_scalar(const Reply& reply) {
  switch (reply.type) {
    case Reply::Type::Integer:
      return std::optional<std::string>(std::to_string(reply.integer));
    case Reply::Type::String:
    case Reply::Type::Status:
      return std::optional<std::string>(reply.text);
    case Reply::Type::Nil:
      return std::optional<std::string>();
    case Reply::Type::Error:
      return cache_error(reply.text);
    case Reply::Type::Array:
      break;
  }
  return cache_error("script returned a nested array; only one level is supported");
}

Result<Cache::ScriptReply> flatten(const Reply& reply) {
  Cache::ScriptReply out;
  if (reply.type == Reply::Type::Array) {
    out.elements.reserve(reply.elements.size());
    for (const auto& element : reply.elements) {
      auto flat = flatten_scalar(element);
      if (!flat) return flat.error();
      out.elements.push_back(std::move(*flat));
    }
    return out;
  }
  auto flat = flatten_scalar(reply);
  if (!flat) return flat.error();
  out.value = std::move(*flat);
  return out;
}

class RedisCache final : public Cache {
 public:
  explicit RedisCache(const RedisOptions& options)
      : options_(options),
        keep_running_(io_.get_executor()),
        commands_(io_, options_, nullptr, nullptr),
        subscriber_(
            io_, options_, [this](redis::Connection& c) { resubscribe_all(c); },
            [this](Reply push) { on_subscriber_push(std::move(push)); }),
        subscriber_watchdog_(io_) {
    if (options_.cluster) {
      cluster_ = std::make_unique<redis::ClusterRouter>(io_, options_);
      // One subscriber connection to any master hears every PUBLISH in the cluster; when that
      // master is gone, the next attempt goes to another one.
      subscriber_.before_connect(
          [this](RedisOptions& o) { cluster_->next_subscriber_endpoint(o); });
    }
    asio::post(io_, [this] {
      if (cluster_) {
        cluster_->start();
      } else {
        commands_.start();
      }
    });
    thread_ = std::thread([this] { run(); });
  }

  ~RedisCache() override {
    asio::post(io_, [this] {
      commands_.stop();  // fails whatever is in flight, so no caller is left waiting
      if (cluster_) cluster_->stop();
      subscriber_.stop();
      subscriber_watchdog_.cancel();
      io_.stop();
    });
    thread_.join();
  }

  asio::awaitable<Result<bool>> claim(std::string key, std::string value,
                                      std::chrono::milliseconds ttl) override {
    if (auto bad = check_ttl(ttl)) co_return *bad;
    const Route route = key_route(key);
    std::vector<std::string> argv{"SET", std::move(key), std::move(value),
                                  "NX",  "PX",           std::to_string(ttl.count())};
    auto reply = co_await command(std::move(argv), route);
    if (!reply) co_return reply.error();
    if (reply->type == Reply::Type::Status) co_return true;  // +OK: the key is ours
    if (reply->type == Reply::Type::Nil) co_return false;    // NX refused: someone holds it
    co_return unexpected("SET NX", *reply);
  }

  asio::awaitable<Result<std::optional<std::string>>> get(std::string key) override {
    const Route route = key_route(key);
    std::vector<std::string> argv{"GET", std::move(key)};
    auto reply = co_await command(std::move(argv), route);
    if (!reply) co_return reply.error();
    if (reply->type == Reply::Type::String) co_return std::optional<std::string>(reply->text);
    if (reply->type == Reply::Type::Nil) co_return std::optional<std::string>();
    co_return unexpected("GET", *reply);
  }

  asio::awaitable<Status> set(std::string key, std::string value,
                              std::chrono::milliseconds ttl) override {
    if (auto bad = check_ttl(ttl)) co_return *bad;
    const Route route = key_route(key);
    std::vector<std::string> argv{"SET", std::move(key), std::move(value), "PX",
                                  std::to_string(ttl.count())};
    auto reply = co_await command(std::move(argv), route);
    if (!reply) co_return reply.error();
    if (reply->type == Reply::Type::Status) co_return Ok{};
    co_return unexpected("SET", *reply);
  }

  asio::awaitable<Status> erase(std::string key) override {
    const Route route = key_route(key);
    std::vector<std::string> argv{"DEL", std::move(key)};
    auto reply = co_await command(std::move(argv), route);
    if (!reply) co_return reply.error();
    if (reply->type == Reply::Type::Integer) co_return Ok{};
    co_return unexpected("DEL", *reply);
  }

  // EVALSHA first; the SHA comes from Redis' own SCRIPT LOAD reply (remembered per script text),
  // so this backend needs no hashing library. NOSCRIPT (Redis restarted or SCRIPT FLUSH) loads the
  // script again and retries exactly once.
  asio::awaitable<Result<ScriptReply>> eval(const std::string& script,
                                            std::vector<std::string> keys,
                                            std::vector<std::string> args) override {
    std::string text = script;
    Route route;
    if (cluster_) {
      // The script runs on the one master owning its keys' slot, and that node may not have
      // loaded it yet (the router loads it there on NOSCRIPT).
      auto slot = redis::common_slot(keys);
      if (!slot) co_return slot.error();
      route.slot = *slot;
      route.script = text;
    }
    std::optional<std::string> sha = known_sha(text);
    if (!sha) {
      auto loaded = co_await load_script(text);
      if (!loaded) co_return loaded.error();
      sha = std::move(*loaded);
    }
    auto reply = co_await command(evalsha(*sha, keys, args), route);
    if (reply && reply->type == Reply::Type::Error && reply->text.starts_with("NOSCRIPT")) {
      auto loaded = co_await load_script(text);
      if (!loaded) co_return loaded.error();
      reply = co_await command(evalsha(*loaded, keys, args), route);
    }
    if (!reply) co_return reply.error();
    co_return flatten(*reply);
  }

  asio::awaitable<Status> publish(std::string channel, std::string message) override {
    std::vector<std::string> argv{"PUBLISH", std::move(channel), std::move(message)};
    auto reply = co_await command(std::move(argv));
    if (!reply) co_return reply.error();
    if (reply->type == Reply::Type::Integer) co_return Ok{};
    co_return unexpected("PUBLISH", *reply);
  }

  // Handlers run on the cache thread. Each gets "*resync*" once its channel's subscription is
  // established, the first time included: only from then on can no notice be missed, so a
  // listener that reloads on "*resync*" never misses what was published while it was subscribing
  // or while Redis was away.
  void subscribe(std::string channel, std::function<void(const std::string&)> on_message) override {
    asio::post(io_, [this, channel = std::move(channel), on_message = std::move(on_message)] {
      Channel& state = channels_[channel];
      state.handlers.push_back(on_message);
      if (subscriber_.start()) watch_subscriber();
      if (state.requested) return;  // confirmation pending or done: the handler joins in
      if (redis::Connection* c = subscriber_.ready()) {
        state.requested = true;
        c->send_without_reply({"SUBSCRIBE", channel});
      }
    });
  }

 private:
  struct Channel {
    std::vector<std::function<void(const std::string&)>> handlers;
    bool requested = false;  // SUBSCRIBE sent on the current subscriber connection
  };

  void run() {
    for (;;) {
      try {
        io_.run();
        return;
      } catch (...) {
        // A handler threw; the thread keeps serving the other connections.
      }
    }
  }

  // Hands one command to the cache thread and completes on the caller's executor, which is kept
  // busy (outstanding work) until then so a caller's io_context does not run out of work.
  template <typename Token>
  auto async_command(std::vector<std::string> argv, Route route, Token&& token) {
    return asio::async_initiate<Token, void(Result<Reply>)>(
        [this](auto handler, std::vector<std::string> argv, Route route) {
          auto work = asio::prefer(asio::get_associated_executor(handler, io_.get_executor()),
                                   asio::execution::outstanding_work.tracked);
          struct Caller {
            decltype(handler) resume;
            decltype(work) executor;
          };
          auto caller = std::make_shared<Caller>(Caller{std::move(handler), std::move(work)});
          asio::post(io_, [this, caller, argv = std::move(argv), route = std::move(route)] {
            send_command(argv, route, [caller](Result<Reply> reply) {
              asio::post(caller->executor, [caller, reply = std::move(reply)]() mutable {
                std::move(caller->resume)(std::move(reply));
              });
            });
          });
        },
        token, std::move(argv), std::move(route));
  }

  // Callers build argv in a local first: GCC 12 miscompiles a braced list of string literals
  // inside a co_await expression ("array used as initializer").
  // Not a coroutine: GCC 12 miscompiles a defaulted class-type parameter of a coroutine.
  asio::awaitable<Result<Reply>> command(std::vector<std::string> argv) {
    return command(std::move(argv), Route{});
  }

  // `route` matters only with a Redis Cluster: where the command goes and how to recover it.
  asio::awaitable<Result<Reply>> command(std::vector<std::string> argv, Route route) {
    try {
      co_return co_await async_command(std::move(argv), std::move(route), asio::use_awaitable);
    } catch (const std::exception& e) {
      co_return cache_error(e.what());  // e.g. bad_alloc: errors are values at this boundary
    }
  }

  // On the cache thread.
  void send_command(const std::vector<std::string>& argv, const Route& route,
                    redis::Connection::ReplyHandler done) {
    if (cluster_) return cluster_->send(argv, route, std::move(done));
    redis::Connection* c = commands_.ready();
    if (c == nullptr) return done(redis::unavailable(commands_.why_down()));
    if (c->in_flight() >= redis::kMaxInFlight) {
      return done(redis::unavailable("redis is not keeping up: " +
                                     std::to_string(redis::kMaxInFlight) + " commands in flight"));
    }
    c->send(argv, std::move(done));
  }

  Route key_route(const std::string& key) const {
    Route route;
    if (cluster_) route.slot = redis::key_slot(key);
    return route;
  }

  static std::vector<std::string> evalsha(const std::string& sha,
                                          const std::vector<std::string>& keys,
                                          const std::vector<std::string>& args) {
    std::vector<std::string> argv{"EVALSHA", sha, std::to_string(keys.size())};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  std::optional<std::string> known_sha(const std::string& script) {
    std::lock_guard lock(scripts_mutex_);
    auto it = sha_by_script_.find(script);
    if (it == sha_by_script_.end()) return std::nullopt;
    return it->second;
  }

  asio::awaitable<Result<std::string>> load_script(const std::string& script) {
    std::vector<std::string> argv{"SCRIPT", "LOAD", script};
    auto reply = co_await command(std::move(argv));
    if (!reply) co_return reply.error();
    if (reply->type != Reply::Type::String) co_return unexpected("SCRIPT LOAD", *reply);
    std::lock_guard lock(scripts_mutex_);
    sha_by_script_[script] = reply->text;
    co_return reply->text;
  }

  // On the cache thread, each time a subscriber connection becomes ready.
  void resubscribe_all(redis::Connection& connection) {
    subscriber_heard_at_ = std::chrono::steady_clock::now();
    std::vector<std::string> argv{"SUBSCRIBE"};
    for (auto& [name, state] : channels_) {
      state.requested = true;
      argv.push_back(name);
    }
    if (argv.size() > 1) connection.send_without_reply(argv);
  }

  void on_subscriber_push(Reply push) {
    subscriber_heard_at_ = std::chrono::steady_clock::now();
    // Pushes are ["subscribe", channel, count] and ["message", channel, payload].
    if (push.type != Reply::Type::Array || push.elements.size() < 3) return;
    const std::string& kind = push.elements[0].text;
    auto it = channels_.find(push.elements[1].text);
    if (it == channels_.end()) return;
    if (kind == "message") {
      deliver(it->second, push.elements[2].text);
    } else if (kind == "subscribe") {
      deliver(it->second, kResync);
    }
  }

  // On the cache thread, from the first subscribe() on.
  void watch_subscriber() {
    subscriber_watchdog_.expires_after(options_.command_timeout);
    subscriber_watchdog_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      if (redis::Connection* c = subscriber_.ready()) {
        const auto silent = std::chrono::steady_clock::now() - subscriber_heard_at_;
        if (silent > 2 * options_.command_timeout) {
          c->close(redis::unavailable("the redis subscriber connection stopped answering PING"));
        } else {
          c->send_without_reply({"PING"});  // answered by a ["pong", ""] push
        }
      }
      watch_subscriber();
    });
  }

  static void deliver(const Channel& channel, const std::string& message) {
    for (const auto& handler : channel.handlers) {
      try {
        handler(message);
      } catch (...) {
        // A listener's failure must not cost the other listeners their notice.
      }
    }
  }

  asio::io_context io_;  // first member: destroyed last, after everything that refers to it
  RedisOptions options_;
  asio::executor_work_guard<asio::io_context::executor_type> keep_running_;
  Link commands_;                                  // standalone only
  std::unique_ptr<redis::ClusterRouter> cluster_;  // cluster only: a connection per master
  Link subscriber_;
  asio::steady_timer subscriber_watchdog_;
  std::chrono::steady_clock::time_point subscriber_heard_at_;
  std::map<std::string, Channel> channels_;  // cache thread only
  std::mutex scripts_mutex_;
  std::unordered_map<std::string, std::string> sha_by_script_;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Cache> make_redis_cache(const RedisOptions& options) {
  return std::make_unique<RedisCache>(options);
}

}  // namespace x402
