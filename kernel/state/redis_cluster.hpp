#pragma once
// Redis Cluster routing for the Redis cache (DESIGN.md §8): the key-slot rule, the slot map and
// the redirections, all on the cache's own I/O thread.
//
// The configured host:port is only a seed: the masters and the slots each one owns come from
// CLUSTER SLOTS, and there is one connection per master (each reconnecting with the usual
// backoff). Every command goes to the master owning its key's slot:
//  - -MOVED: the slot has a new owner for good; the map is re-read and the command re-sent there;
//  - -ASK: the slot is being migrated and this key already moved; the command is re-sent to the
//    importing node behind ASKING, and the map stays as it is;
//  - -TRYAGAIN / -CLUSTERDOWN: retried until the command deadline, then cache_unavailable;
//  - NOSCRIPT: each master keeps its own script cache, so the node that lacks the script gets
//    SCRIPT LOAD and the command once more.
// A master that is down fails its slots' commands at once with cache_unavailable (replay
// protection fails closed); the other masters' slots keep working.
#include <array>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "state/cache.hpp"
#include "state/redis_connection.hpp"
#include "state/redis_link.hpp"

namespace x402::redis {

inline constexpr uint16_t kClusterSlots = 16384;

// CRC16-XMODEM of the key's hash tag (the text between the first '{' and the next '}', when that
// is not empty), else of the whole key, modulo 16384: the Redis Cluster key-slot rule.
uint16_t key_slot(std::string_view key);

// The slot all `keys` share; nullopt for none; error cache_cross_slot when they differ (a script
// over several keys runs on one master only, so its keys must share a hash tag).
Result<std::optional<uint16_t>> common_slot(const std::vector<std::string>& keys);

// Where a command goes and how to recover it.
struct Route {
  std::optional<uint16_t> slot;  // nullopt: any master (PUBLISH, SCRIPT LOAD, keyless scripts)
  std::string script;            // EVALSHA: the script text to load on a node answering NOSCRIPT
};

class ClusterRouter {
 public:
  ClusterRouter(boost::asio::io_context& io, const RedisOptions& seed);
  ~ClusterRouter();
  ClusterRouter(const ClusterRouter&) = delete;
  ClusterRouter& operator=(const ClusterRouter&) = delete;

  void start();
  void stop();  // fails whatever is in flight

  // done gets the reply (Redis error replies included) or cache_unavailable.
  void send(std::vector<std::string> argv, Route route, Connection::ReplyHandler done);

  // Points `options` at the next known master in turn: the subscriber's endpoint for its next
  // connection attempt.
  void next_subscriber_endpoint(RedisOptions& options);

 private:
  struct Command;

  size_t node_at(const std::string& host, uint16_t port);
  std::optional<size_t> pick(const Command& command);
  void dispatch(const std::shared_ptr<Command>& command);
  void on_reply(const std::shared_ptr<Command>& command, size_t node, Result<Reply> reply);
  void retry_later(const std::shared_ptr<Command>& command, std::string why);
  static void finish_command(Command& command, Result<Reply> reply);
  void refresh();
  void apply_slots(const Reply& slots, const std::string& answered_by);
  std::string why_no_map() const;

  boost::asio::io_context& io_;
  RedisOptions seed_;
  // One link per known node; never shrinks, so indexes stay valid.
  std::vector<std::unique_ptr<Link>> nodes_;
  std::map<std::string, size_t> node_by_address_;
  std::array<int, kClusterSlots> owner_;  // index into nodes_, -1 when unknown
  std::vector<size_t> masters_;           // the owners in the last map
  bool map_loaded_ = false;
  bool refreshing_ = false;
  bool refresh_again_ = false;
  bool refresh_waits_for_a_node_ = false;
  std::string last_refresh_error_;
  size_t round_robin_ = 0;
  size_t subscriber_turn_ = 0;
  // Commands between two attempts (TRYAGAIN, a first connection under way), so that stop() can
  // fail them: no caller may be left waiting.
  std::map<Command*, std::shared_ptr<Command>> waiting_;
  bool stopping_ = false;
};

}  // namespace x402::redis
