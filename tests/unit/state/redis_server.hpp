#pragma once
// A real redis-server for tests: a child process on a free loopback port, without persistence,
// that a test can stop, kill -9, pause (SIGSTOP), resume and start again on the same port, which
// is how the tests prove that one cache instance rides out a Redis outage.
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace x402::test {

class RedisServer {
 public:
  explicit RedisServer(std::vector<std::string> extra_args = {})
      : extra_args_(std::move(extra_args)), port_(free_port()) {}
  // On a port the caller chose (a cluster node needs port + 10000 free too for its bus).
  RedisServer(std::vector<std::string> extra_args, uint16_t port)
      : extra_args_(std::move(extra_args)), port_(port) {}
  ~RedisServer() {
    kill();
    if (!log_path_.empty()) unlink(log_path_.c_str());
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  uint16_t port() const { return port_; }

  // True when 127.0.0.1:port can be bound right now.
  // The full path of a Redis program (redis-server, redis-cli) on PATH or in the usual places;
  // empty when it is not installed.
  static std::string find_program(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(std::string(path ? path : "") + ":/usr/bin:/usr/local/bin:/usr/sbin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
      if (dir.empty()) continue;
      std::string candidate = dir + "/" + name;
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return "";
  }

  static bool port_is_free(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    const bool free = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    return free;
  }

  // Starts (or restarts) the server and waits until it answers PING. Returns "" on success, else
  // why it could not, so a test fails with that reason instead of skipping.
  std::string start() {
    if (pid_ > 0) return "";
    std::string binary = find_program("redis-server");
    if (binary.empty()) {
      return "redis-server not found on PATH; install it (apt-get install redis-server), the "
             "Redis tests need a real server";
    }
    log_path_ = "/tmp/x402-test-redis-" + std::to_string(port_) + ".log";
    std::vector<std::string> args{binary,    "--port",       std::to_string(port_),
                                  "--bind",  "127.0.0.1",    "--save",
                                  "",        "--appendonly", "no",
                                  "--dir",   "/tmp",         "--logfile",
                                  log_path_, "--daemonize",  "no"};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    pid_t pid = fork();
    if (pid < 0) return "fork failed";
    if (pid == 0) {
      // Only async-signal-safe calls between fork and exec; the server dies with the test.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      int devnull = open("/dev/null", O_RDWR);
      if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
      }
      execv(argv[0], argv.data());
      _exit(127);
    }
    pid_ = pid;

    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < give_up) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "redis-server exited during start-up (port " + std::to_string(port_) +
               "); its log " + log_path_ + ":\n" + log_tail();
      }
      if (answers()) return "";
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill();
    return "redis-server did not answer on port " + std::to_string(port_) + " within 15 s; log " +
           log_path_ + ":\n" + log_tail();
  }

  // SIGTERM, then wait for it to exit.
  void stop() { signal_and_wait(SIGTERM); }
  // kill -9: the connections drop without a goodbye.
  void kill() { signal_and_wait(SIGKILL); }
  // SIGSTOP: the process keeps its sockets but stops answering, like a stalled server.
  void pause() {
    if (pid_ > 0) ::kill(pid_, SIGSTOP);
  }
  void resume() {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
  }

  // Runs commands in order on one fresh connection (AUTH/SELECT first if needed) and returns the
  // last reply as text: "(nil)", "(error) <message>", an integer as digits, an array as its
  // elements joined with ",". Returns "(no connection)" when the server cannot be reached.
  std::string command(const std::vector<std::vector<std::string>>& commands) const {
    timeval timeout{2, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, timeout);
    if (c == nullptr || c->err) {
      if (c) redisFree(c);
      return "(no connection)";
    }
    redisSetTimeout(c, timeout);
    std::string out = "(no reply)";
    for (const auto& argv : commands) {
      std::vector<const char*> args;
      std::vector<size_t> lengths;
      for (const auto& a : argv) {
        args.push_back(a.data());
        lengths.push_back(a.size());
      }
      auto* reply = static_cast<redisReply*>(
          redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lengths.data()));
      if (reply == nullptr) {
        out = "(no reply)";
        break;
      }
      out = to_text(*reply);
      freeReplyObject(reply);
    }
    redisFree(c);
    return out;
  }

 private:
  // A server started with extra arguments (e.g. --requirepass) may refuse an unauthenticated
  // PING; any answer at all, even an error, proves it is up.
  bool answers() const {
    std::string reply = command({{"PING"}});
    return reply != "(no connection)" && reply != "(no reply)";
  }

  static std::string to_text(const redisReply& r) {
    switch (r.type) {
      case REDIS_REPLY_STRING:
      case REDIS_REPLY_STATUS:
        return std::string(r.str, r.len);
      case REDIS_REPLY_ERROR:
        return "(error) " + std::string(r.str, r.len);
      case REDIS_REPLY_INTEGER:
        return std::to_string(r.integer);
      case REDIS_REPLY_ARRAY: {
        std::string out;
        for (size_t i = 0; i < r.elements; ++i) {
          if (i) out += ",";
          out += to_text(*r.element[i]);
        }
        return out;
      }
      default:
        return "(nil)";
    }
  }

  void signal_and_wait(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    if (sig != SIGCONT) ::kill(pid_, SIGCONT);  // a paused server must be able to act on it
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  static uint16_t free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    uint16_t port = 0;
    if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    if (fd >= 0) close(fd);
    return port;
  }

  std::string log_tail() const {
    std::ifstream in(log_path_);
    std::stringstream all;
    all << in.rdbuf();
    std::string text = all.str();
    return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
  }

  std::vector<std::string> extra_args_;
  uint16_t port_;
  pid_t pid_ = -1;
  std::string log_path_;
};

}  // namespace x402::test
