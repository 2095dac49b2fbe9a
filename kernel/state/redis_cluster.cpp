#include "state/redis_cluster.hpp"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <utility>

namespace x402::redis {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// A command chased around this many redirections is caught in a topology that keeps changing;
// it fails closed rather than wander on.
constexpr int kMaxRedirects = 5;

constexpr std::array<uint16_t, 256> crc16_table() {
  std::array<uint16_t, 256> table{};
  for (unsigned byte = 0; byte < 256; ++byte) {
    uint16_t crc = static_cast<uint16_t>(byte << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = static_cast<uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    table[byte] = crc;
  }
  return table;
}
constexpr auto kCrc16Table = crc16_table();

// CRC16-XMODEM (polynomial 0x1021, initial value 0), the checksum Redis Cluster hashes keys with.
uint16_t crc16(std::string_view data) {
  uint16_t crc = 0;
  for (unsigned char c : data) {
    crc = static_cast<uint16_t>((crc << 8) ^ kCrc16Table[((crc >> 8) ^ c) & 0xff]);
  }
  return crc;
}

struct Redirect {
  uint16_t slot;
  std::string host;
  uint16_t port;
};

// "MOVED 3999 10.0.0.7:6381" or "ASK 3999 10.0.0.7:6381". An empty host (Redis 7 with an unknown
// endpoint) means the node that answered.
std::optional<Redirect> parse_redirect(const std::string& text, const std::string& answered_by) {
  const size_t first_space = text.find(' ');
  if (first_space == std::string::npos) return std::nullopt;
  const size_t second_space = text.find(' ', first_space + 1);
  if (second_space == std::string::npos) return std::nullopt;
  const std::string slot = text.substr(first_space + 1, second_space - first_space - 1);
  const std::string endpoint = text.substr(second_space + 1);
  const size_t colon = endpoint.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  try {
    const unsigned long slot_number = std::stoul(slot);
    const unsigned long port = std::stoul(endpoint.substr(colon + 1));
    if (slot_number >= kClusterSlots || port == 0 || port > 65535) return std::nullopt;
    std::string host = endpoint.substr(0, colon);
    if (host.empty()) host = answered_by;
    return Redirect{static_cast<uint16_t>(slot_number), std::move(host),
                    static_cast<uint16_t>(port)};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

uint16_t key_slot(std::string_view key) {
  const size_t open = key.find('{');
  if (open != std::string_view::npos) {
    const size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return crc16(key) & (kClusterSlots - 1);
}

Result<std::optional<uint16_t>> common_slot(const std::vector<std::string>& keys) {
  if (keys.empty()) return std::optional<uint16_t>();
  const uint16_t slot = key_slot(keys.front());
  for (const auto& key : keys) {
    if (key_slot(key) != slot) {
      return make_error("cache_cross_slot", "keys",
                        "the keys of one script must share a Redis Cluster hash tag (e.g. "
                        "x402:{tag}:a and x402:{tag}:b); '" +
                            keys.front() + "' and '" + key + "' hash to different slots");
    }
  }
  return std::optional<uint16_t>(slot);
}

struct ClusterRouter::Command {
  std::vector<std::string> argv;
  Route route;
  Connection::ReplyHandler done;  // emptied once called
  Clock::time_point deadline;
  int redirects = 0;
  std::optional<size_t> ask_node;  // send to this node behind ASKING, once
  bool script_reloaded = false;
  std::string problem;  // why the last attempt could not be served
  std::unique_ptr<asio::steady_timer> retry_timer;
};

ClusterRouter::ClusterRouter(asio::io_context& io, const RedisOptions& seed)
    : io_(io), seed_(seed) {
  owner_.fill(-1);
}

ClusterRouter::~ClusterRouter() = default;

void ClusterRouter::start() {
  node_at(seed_.host, seed_.port);
  refresh();
}

void ClusterRouter::stop() {
  stopping_ = true;
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& [raw, command] : waiting) {
    command->retry_timer.reset();
    finish_command(*command, unavailable("the redis cache is shutting down"));
  }
  for (auto& node : nodes_) node->stop();
}

size_t ClusterRouter::node_at(const std::string& host, uint16_t port) {
  const std::string address = host + ":" + std::to_string(port);
  if (auto it = node_by_address_.find(address); it != node_by_address_.end()) return it->second;
  RedisOptions options = seed_;
  options.host = host;
  options.port = port;
  auto node = std::make_unique<Link>(
      io_, options,
      [this](Connection&) {
        if (refresh_waits_for_a_node_) {
          refresh_waits_for_a_node_ = false;
          refresh();
        }
      },
      nullptr);
  // A lost master may have been replaced (failover): the map says where its slots went.
  node->on_lost([this](const Error&) { refresh(); });
  nodes_.push_back(std::move(node));
  node_by_address_[address] = nodes_.size() - 1;
  return nodes_.size() - 1;
}

void ClusterRouter::send(std::vector<std::string> argv, Route route,
                         Connection::ReplyHandler done) {
  auto command = std::make_shared<Command>();
  command->argv = std::move(argv);
  command->route = std::move(route);
  command->done = std::move(done);
  command->deadline = Clock::now() + seed_.command_timeout;
  dispatch(command);
}

std::optional<size_t> ClusterRouter::pick(const Command& command) {
  if (command.ask_node) return command.ask_node;
  if (command.route.slot) {
    const int owner = owner_[*command.route.slot];
    if (owner < 0) return std::nullopt;
    return static_cast<size_t>(owner);
  }
  // Any master will do; one whose connection is up is preferred.
  std::vector<size_t> candidates = masters_;
  if (candidates.empty()) {
    for (size_t i = 0; i < nodes_.size(); ++i) candidates.push_back(i);
  }
  if (candidates.empty()) return std::nullopt;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const size_t index = candidates[(round_robin_ + i) % candidates.size()];
    if (nodes_[index]->ready()) {
      ++round_robin_;
      return index;
    }
  }
  return candidates[round_robin_++ % candidates.size()];
}

std::string ClusterRouter::why_no_map() const {
  std::string why = "no redis cluster slot map yet";
  if (!last_refresh_error_.empty()) return why + ": " + last_refresh_error_;
  for (const auto& node : nodes_) {
    if (node->down()) return why + ": " + node->why_down();
  }
  return why + " (asking " + seed_.host + ":" + std::to_string(seed_.port) + ")";
}

void ClusterRouter::dispatch(const std::shared_ptr<Command>& command) {
  if (stopping_) return finish_command(*command, unavailable("the redis cache is shutting down"));
  if (!command->problem.empty() && Clock::now() >= command->deadline) {
    return finish_command(*command, unavailable(command->problem));
  }
  const std::optional<size_t> target = pick(*command);
  if (!target) {
    refresh();
    if (map_loaded_) {
      return retry_later(command, "slot " + std::to_string(*command->route.slot) +
                                      " has no master in the redis cluster map");
    }
    const bool all_down =
        std::all_of(nodes_.begin(), nodes_.end(), [](const auto& node) { return node->down(); });
    // Nothing is connecting that could bring a map: fail at once, as a standalone Redis does.
    if (all_down) return finish_command(*command, unavailable(why_no_map()));
    return retry_later(command, why_no_map());
  }
  Link& node = *nodes_[*target];
  node.start();
  Connection* connection = node.ready();
  if (connection == nullptr) {
    // A master that is down fails its slots at once (fail closed, no queueing); one whose first
    // connection is still being made is worth waiting for.
    if (node.down()) return finish_command(*command, unavailable(node.why_down()));
    return retry_later(command, node.why_down());
  }
  if (connection->in_flight() >= kMaxInFlight) {
    return finish_command(
        *command,
        unavailable("redis at " + node.options().host + ":" + std::to_string(node.options().port) +
                    " is not keeping up: " + std::to_string(kMaxInFlight) + " commands in flight"));
  }
  if (command->ask_node) {
    std::vector<std::string> asking{"ASKING"};
    connection->send(asking, [](Result<Reply>) {});  // its +OK; the command's reply says the rest
  }
  const size_t at = *target;
  connection->send(command->argv, [this, command, at](Result<Reply> reply) {
    on_reply(command, at, std::move(reply));
  });
}

void ClusterRouter::on_reply(const std::shared_ptr<Command>& command, size_t node,
                             Result<Reply> reply) {
  if (stopping_ || !reply || reply->type != Reply::Type::Error) {
    return finish_command(*command, std::move(reply));
  }
  const std::string& text = reply->text;
  const bool moved = text.starts_with("MOVED ");
  if (moved || text.starts_with("ASK ")) {
    auto to = parse_redirect(text, nodes_[node]->options().host);
    if (!to) {
      return finish_command(
          *command, make_error("cache_error", "", "redis: unreadable redirection: " + text));
    }
    if (++command->redirects > kMaxRedirects) {
      return finish_command(
          *command, unavailable("redis cluster: still redirected after " +
                                std::to_string(kMaxRedirects) + " hops (last: " + text + ")"));
    }
    const size_t target = node_at(to->host, to->port);
    if (moved) {
      // Trust the redirection for this slot now; the full map follows.
      owner_[to->slot] = static_cast<int>(target);
      command->ask_node.reset();
      refresh();
    } else {
      command->ask_node = target;
    }
    return dispatch(command);
  }
  if (text.starts_with("TRYAGAIN") || text.starts_with("CLUSTERDOWN")) {
    command->ask_node.reset();  // a migration may have finished meanwhile: start from the owner
    return retry_later(command, "redis cluster: " + text);
  }
  if (text.starts_with("NOSCRIPT") && !command->route.script.empty() && !command->script_reloaded) {
    // Each master has its own script cache: load it on the one that answered, then run again.
    if (Connection* connection = nodes_[node]->ready()) {
      command->script_reloaded = true;
      std::vector<std::string> load{"SCRIPT", "LOAD", command->route.script};
      connection->send(load, [this, command](Result<Reply> loaded) {
        if (stopping_ || !loaded || loaded->type == Reply::Type::Error) {
          return finish_command(*command, std::move(loaded));
        }
        dispatch(command);
      });
      return;
    }
  }
  finish_command(*command, std::move(reply));
}

void ClusterRouter::retry_later(const std::shared_ptr<Command>& command, std::string why) {
  command->problem = std::move(why);
  const auto now = Clock::now();
  if (now >= command->deadline) return finish_command(*command, unavailable(command->problem));
  const auto pause =
      std::clamp(seed_.reconnect_min, std::chrono::milliseconds(1), std::chrono::milliseconds(100));
  command->retry_timer = std::make_unique<asio::steady_timer>(io_);
  command->retry_timer->expires_after(std::min<Clock::duration>(pause, command->deadline - now));
  Command* raw = command.get();
  waiting_[raw] = command;
  command->retry_timer->async_wait([this, raw](boost::system::error_code ec) {
    auto it = waiting_.find(raw);
    if (it == waiting_.end()) return;  // failed by stop()
    std::shared_ptr<Command> waiting = std::move(it->second);
    waiting_.erase(it);
    if (ec || stopping_) return finish_command(*waiting, unavailable(waiting->problem));
    dispatch(waiting);
  });
}

void ClusterRouter::finish_command(Command& command, Result<Reply> reply) {
  if (!command.done) return;
  auto done = std::move(command.done);
  command.done = nullptr;
  done(std::move(reply));
}

void ClusterRouter::refresh() {
  if (stopping_) return;
  if (refreshing_) {
    refresh_again_ = true;
    return;
  }
  Connection* connection = nullptr;
  std::string host;
  for (size_t i = 0; i < nodes_.size() && connection == nullptr; ++i) {
    Link& node = *nodes_[(round_robin_ + i) % nodes_.size()];
    connection = node.ready();
    host = node.options().host;
  }
  if (connection == nullptr) {
    // Asked again by whichever node connects first.
    refresh_waits_for_a_node_ = true;
    for (auto& node : nodes_) node->start();
    return;
  }
  refreshing_ = true;
  std::vector<std::string> argv{"CLUSTER", "SLOTS"};
  connection->send(argv, [this, host](Result<Reply> reply) {
    refreshing_ = false;
    if (stopping_) return;
    if (!reply) {
      last_refresh_error_ = reply.error().message;
    } else if (reply->type == Reply::Type::Error) {
      last_refresh_error_ = "CLUSTER SLOTS refused by " + host + ": " + reply->text;
    } else if (reply->type != Reply::Type::Array) {
      last_refresh_error_ = "unexpected reply to CLUSTER SLOTS from " + host;
    } else {
      last_refresh_error_.clear();
      apply_slots(*reply, host);
    }
    if (refresh_again_) {
      refresh_again_ = false;
      refresh();
    }
  });
}

// CLUSTER SLOTS: [[first, last, [host, port, id, ...], replicas...], ...]
void ClusterRouter::apply_slots(const Reply& slots, const std::string& answered_by) {
  std::array<int, kClusterSlots> owner;
  owner.fill(-1);
  std::vector<size_t> masters;
  for (const Reply& range : slots.elements) {
    if (range.type != Reply::Type::Array || range.elements.size() < 3) continue;
    const Reply& master = range.elements[2];
    if (master.type != Reply::Type::Array || master.elements.size() < 2) continue;
    std::string host = master.elements[0].text;
    if (host == "?") continue;  // the node's endpoint is unknown: nowhere to send its slots
    if (host.empty()) host = answered_by;
    const long long port = master.elements[1].integer;
    const long long first = range.elements[0].integer;
    const long long last = range.elements[1].integer;
    if (port <= 0 || port > 65535 || first < 0 || last >= kClusterSlots || first > last) continue;
    const size_t index = node_at(host, static_cast<uint16_t>(port));
    for (long long slot = first; slot <= last; ++slot) owner[slot] = static_cast<int>(index);
    if (std::find(masters.begin(), masters.end(), index) == masters.end()) {
      masters.push_back(index);
    }
  }
  owner_ = owner;
  masters_ = std::move(masters);
  map_loaded_ = true;
  for (size_t index : masters_) nodes_[index]->start();
}

void ClusterRouter::next_subscriber_endpoint(RedisOptions& options) {
  const std::vector<size_t>& candidates = masters_;
  if (candidates.empty()) return;  // no map yet: the seed
  const RedisOptions& node = nodes_[candidates[subscriber_turn_++ % candidates.size()]]->options();
  options.host = node.host;
  options.port = node.port;
}

}  // namespace x402::redis
