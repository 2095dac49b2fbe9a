#pragma once
// A real 3-master Redis 7 cluster for tests: three redis-server children on free loopback ports
// (tests/unit/state/redis_server.hpp), each with its own cluster config file in a temp dir, joined
// by `redis-cli --cluster create`. A test can kill and restart one master (it rejoins with its
// old identity and slots from its config file) and move slots between masters by hand, as an
// operator resharding the cluster would.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "unit/state/redis_server.hpp"
#include "unit/state/temp_dir.hpp"

namespace x402::test {

class RedisClusterServer {
 public:
  static constexpr size_t kMasters = 3;

  RedisClusterServer() {
    // Each node also listens on port + 10000 (the cluster bus), so ports above 55535 are refused;
    // pick pairs below that, starting at a per-process offset so parallel test runs rarely meet.
    uint16_t candidate = static_cast<uint16_t>(20000 + (getpid() * 37) % 20000);
    for (size_t i = 0; i < kMasters; ++i) {
      dirs_.push_back(std::make_unique<testing::TempDir>());
      const std::string dir = dirs_.back()->file("");
      while (!RedisServer::port_is_free(candidate) ||
             !RedisServer::port_is_free(static_cast<uint16_t>(candidate + 10000))) {
        candidate = static_cast<uint16_t>(candidate >= 45000 ? 20000 : candidate + 1);
      }
      const uint16_t port = candidate++;
      nodes_.push_back(std::make_unique<RedisServer>(
          std::vector<std::string>{
              "--cluster-enabled", "yes", "--cluster-config-file", dirs_.back()->file("nodes.conf"),
              // Losing one master must not take the others' slots down with it (the default, "yes",
              // refuses every slot once a master is marked failed): the tests check that the other
              // masters keep serving. A short node timeout makes a restarted master rejoin sooner.
              "--cluster-require-full-coverage", "no", "--cluster-node-timeout", "2000", "--dir",
              dir},
          port));
    }
  }

  // Starts the masters, creates the cluster and waits until every node says cluster_state:ok.
  // Returns "" on success, else why not.
  std::string start() {
    for (auto& node : nodes_) {
      std::string why = node->start();
      if (!why.empty()) return why;
    }
    std::string cli = RedisServer::find_program("redis-cli");
    if (cli.empty()) return "redis-cli not found on PATH; the Redis Cluster tests need it";
    std::string command = cli + " --cluster create";
    for (auto& node : nodes_) command += " 127.0.0.1:" + std::to_string(node->port());
    const std::string log = dirs_[0]->file("create.log");
    command += " --cluster-replicas 0 --cluster-yes > " + log + " 2>&1";
    const int status = std::system(command.c_str());
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return "redis-cli --cluster create failed (" + command + "):\n" + read(log);
    }
    for (size_t i = 0; i < kMasters; ++i) {
      std::string why = wait_ok(i);
      if (!why.empty()) return why;
    }
    for (size_t i = 0; i < kMasters; ++i) ids_.push_back(nodes_[i]->command({{"CLUSTER", "MYID"}}));
    return "";
  }

  RedisServer& node(size_t i) { return *nodes_[i]; }
  const std::string& id(size_t i) const { return ids_[i]; }

  // Waits until master i says cluster_state:ok (after a start or restart).
  std::string wait_ok(size_t i) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::string info;
    while (std::chrono::steady_clock::now() < give_up) {
      info = nodes_[i]->command({{"CLUSTER", "INFO"}});
      if (info.find("cluster_state:ok") != std::string::npos) return "";
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return "redis cluster node on port " + std::to_string(nodes_[i]->port()) +
           " never reached cluster_state:ok within 30 s; CLUSTER INFO:\n" + info;
  }

  // The master that owns `slot` according to master `asking`, or -1.
  int owner(uint16_t slot, size_t asking = 0) {
    std::istringstream lines(nodes_[asking]->command({{"CLUSTER", "NODES"}}));
    std::string line;
    while (std::getline(lines, line)) {
      std::istringstream fields(line);
      std::string id, address, flags, master, ping, pong, epoch, link, range;
      fields >> id >> address >> flags >> master >> ping >> pong >> epoch >> link;
      while (fields >> range) {
        if (range.starts_with("[")) continue;  // a migration in progress, not ownership
        const size_t dash = range.find('-');
        const long first = std::stol(range.substr(0, dash));
        const long last = dash == std::string::npos ? first : std::stol(range.substr(dash + 1));
        if (slot >= first && slot <= last) return index_of(id);
      }
    }
    return -1;
  }

  // Starts moving `slot` from its owner to master `to` (IMPORTING / MIGRATING); keys then move
  // one by one with migrate_key.
  std::string begin_migration(uint16_t slot, size_t to) {
    const int from = owner(slot);
    if (from < 0) return "slot " + std::to_string(slot) + " has no owner";
    const std::string s = std::to_string(slot);
    std::string r1 = nodes_[to]->command({{"CLUSTER", "SETSLOT", s, "IMPORTING", ids_[from]}});
    std::string r2 = nodes_[from]->command({{"CLUSTER", "SETSLOT", s, "MIGRATING", ids_[to]}});
    if (r1 != "OK" || r2 != "OK") return "SETSLOT IMPORTING/MIGRATING: " + r1 + " / " + r2;
    return "";
  }

  std::string migrate_key(const std::string& key, size_t from, size_t to) {
    std::string r = nodes_[from]->command(
        {{"MIGRATE", "127.0.0.1", std::to_string(nodes_[to]->port()), key, "0", "5000"}});
    return r == "OK" ? "" : "MIGRATE " + key + ": " + r;
  }

  // Ends a migration: every master is told that `to` owns the slot now (the target first, as
  // redis-cli does), so no node keeps the old owner in its view.
  std::string finish_migration(uint16_t slot, size_t to) {
    const std::string s = std::to_string(slot);
    std::vector<size_t> order{to};
    for (size_t i = 0; i < kMasters; ++i) {
      if (i != to) order.push_back(i);
    }
    for (size_t i : order) {
      std::string r = nodes_[i]->command({{"CLUSTER", "SETSLOT", s, "NODE", ids_[to]}});
      if (r != "OK") return "SETSLOT NODE on master " + std::to_string(i) + ": " + r;
    }
    return "";
  }

  // Moves `slot` and every key in it to master `to`.
  std::string move_slot(uint16_t slot, size_t to) {
    const int from = owner(slot);
    if (from < 0) return "slot " + std::to_string(slot) + " has no owner";
    if (static_cast<size_t>(from) == to) return "";
    if (std::string why = begin_migration(slot, to); !why.empty()) return why;
    for (;;) {
      std::string keys =
          nodes_[from]->command({{"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), "100"}});
      if (keys.empty() || keys == "(nil)") break;
      std::istringstream list(keys);
      std::string key;
      while (std::getline(list, key, ',')) {
        if (std::string why = migrate_key(key, from, to); !why.empty()) return why;
      }
    }
    return finish_migration(slot, to);
  }

 private:
  int index_of(const std::string& id) const {
    for (size_t i = 0; i < ids_.size(); ++i) {
      if (ids_[i] == id) return static_cast<int>(i);
    }
    return -1;
  }

  static std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream all;
    all << in.rdbuf();
    return all.str();
  }

  // Declared first so the servers (which write into them) are gone before the dirs are removed.
  std::vector<std::unique_ptr<testing::TempDir>> dirs_;
  std::vector<std::unique_ptr<RedisServer>> nodes_;
  std::vector<std::string> ids_;
};

}  // namespace x402::test
