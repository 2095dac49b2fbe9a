// The x402d executable as an operator runs it: --version, --check-config (exit status and the
// file:line of a mistake), serving on a configured port, the one-JSON-line-per-request log on
// stderr, SIGHUP reload, and SIGTERM draining a request in flight before exiting 0.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <optional>
#include <sstream>

#include "support/fake_facilitator.hpp"
#include "support/gateway_harness.hpp"
#include "x402/plugin_abi.h"

extern char** environ;

namespace x402::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string kX402d = X402_BINARY_DIR "/x402d";

std::string read_file(const fs::path& path) {
  std::stringstream text;
  text << std::ifstream(path).rdbuf();
  return text.str();
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// x402d started with posix_spawn, stdout and stderr going to files in its own temp folder (files,
// not pipes, so a chatty child can never block on a pipe nobody reads). Killed if a test leaves it
// running.
class X402dProcess {
 public:
  X402dProcess() {
    dir_ = fs::temp_directory_path() /
           ("x402d-bin-" + std::to_string(::getpid()) + "-" + random_hex(4).substr(2));
    fs::create_directories(dir_);
  }
  ~X402dProcess() {
    if (pid_ > 0 && !exit_status_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  X402dProcess(const X402dProcess&) = delete;
  X402dProcess& operator=(const X402dProcess&) = delete;

  fs::path dir() const { return dir_; }
  std::string config_path() const { return (dir_ / "gateway.yaml").string(); }

  void write_config(const std::string& yaml) const {
    const std::string tmp = config_path() + ".tmp";
    std::ofstream(tmp) << yaml;
    fs::rename(tmp, config_path());
  }

  void start(const std::vector<std::string>& args) {
    std::vector<std::string> argv_strings{kX402d};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_strings) argv.push_back(a.data());
    argv.push_back(nullptr);

    const std::string out = stdout_path(), err = stderr_path();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int spawned = posix_spawn(&pid_, kX402d.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ASSERT_EQ(spawned, 0) << "cannot run " << kX402d << ": " << std::strerror(spawned);
  }

  // The wait status once the process has exited, or nothing if it is still running after
  // `within`.
  std::optional<int> wait_exit(std::chrono::milliseconds within) {
    if (exit_status_) return exit_status_;
    wait_until(
        [&] {
          int status = 0;
          if (::waitpid(pid_, &status, WNOHANG) == pid_) exit_status_ = status;
          return exit_status_.has_value();
        },
        within);
    return exit_status_;
  }

  bool running() { return !wait_exit(0ms).has_value(); }
  void signal(int signo) const { ::kill(pid_, signo); }

  std::string stdout_text() const { return read_file(stdout_path()); }
  std::string stderr_text() const { return read_file(stderr_path()); }

  // The stderr log as JSON objects; a line that is not one is reported and skipped.
  std::vector<boost::json::object> log_lines() const {
    std::vector<boost::json::object> lines;
    std::istringstream in(stderr_text());
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      boost::system::error_code ec;
      auto value = boost::json::parse(line, ec);
      if (ec || !value.is_object()) {
        ADD_FAILURE() << "stderr line is not a JSON object: " << line;
        continue;
      }
      lines.push_back(value.as_object());
    }
    return lines;
  }

  bool log_has_message(std::string_view msg) const {
    for (const auto& line : log_lines())
      if (const auto* m = line.if_contains("msg"); m && m->is_string() && m->get_string() == msg)
        return true;
    return false;
  }

 private:
  std::string stdout_path() const { return (dir_ / "stdout").string(); }
  std::string stderr_path() const { return (dir_ / "stderr").string(); }

  fs::path dir_;
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
};

struct Run {
  int exit_code = -1;
  std::string out, err;
};

// Runs x402d to completion (it must not take more than 30 s).
Run run_x402d(const std::vector<std::string>& args) {
  X402dProcess process;
  Run run;
  process.start(args);
  auto status = process.wait_exit(30s);
  EXPECT_TRUE(status.has_value()) << "x402d did not exit";
  if (status && WIFEXITED(*status)) run.exit_code = WEXITSTATUS(*status);
  run.out = process.stdout_text();
  run.err = process.stderr_text();
  return run;
}

std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "'" << from << "' not in the config";
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

// gateway_yaml() listening on a fixed port: x402d, unlike the in-process Gateway, cannot tell the
// test which port it picked.
std::string yaml_on_port(ConfigOptions options, uint16_t port) {
  return replace_once(gateway_yaml(options), "listen: \"127.0.0.1:0\"",
                      "listen: \"127.0.0.1:" + std::to_string(port) + "\"");
}

// The 1-based line of the first occurrence of `needle`.
int line_of(const std::string& text, const std::string& needle) {
  auto at = text.find(needle);
  EXPECT_NE(at, std::string::npos);
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + at, '\n'));
}

std::string offered_amount(uint16_t port) {
  auto res = get(port, "/acme/api/signal");
  EXPECT_EQ(res.result_int(), 402);
  auto required = decode_header_json(res["PAYMENT-REQUIRED"]);
  return std::string(required.at("accepts").at(0).at("amount").as_string());
}

bool answers_ready(uint16_t port) {
  try {
    return get(port, "/readyz").result_int() == 200;
  } catch (const std::exception&) {
    return false;  // not listening yet
  }
}

bool connection_refused(uint16_t port) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket(ioc);
  boost::system::error_code ec;
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
  return ec == boost::asio::error::connection_refused;
}

class X402dBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::is_regular_file(kX402d)) << kX402d << " missing: build the x402d target";
  }

  ConfigOptions options(uint16_t upstream_port) const {
    ConfigOptions o;
    o.facilitators = {{"primary", facilitator.url()}};
    o.upstream_port = upstream_port;
    return o;
  }

  // Starts x402d on a free port and waits until it answers /readyz.
  uint16_t serve(X402dProcess& process, const std::string& yaml_without_port,
                 std::vector<std::string> extra_args = {}) {
    const uint16_t port = closed_port();
    process.write_config(replace_once(yaml_without_port, "listen: \"127.0.0.1:0\"",
                                      "listen: \"127.0.0.1:" + std::to_string(port) + "\""));
    std::vector<std::string> args{"--config", process.config_path()};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    process.start(args);
    const bool ready = wait_until([&] { return !process.running() || answers_ready(port); }, 15s);
    EXPECT_TRUE(ready && process.running())
        << "x402d did not come up on port " << port << "; stderr:\n"
        << process.stderr_text();
    return port;
  }

  FakeFacilitator facilitator;
};

TEST_F(X402dBinaryTest, VersionNamesTheGatewayAndItsPluginAbi) {
  auto run = run_x402d({"--version"});
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.out.rfind("x402d ", 0), 0u) << run.out;
  const std::string abi =
      "plugin ABI " + std::to_string(X402_ABI_MAJOR) + "." + std::to_string(X402_ABI_MINOR);
  EXPECT_NE(run.out.find(abi), std::string::npos) << run.out;
}

TEST_F(X402dBinaryTest, UnknownArgumentExitsWithUsage) {
  auto run = run_x402d({"--no-such-flag"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("--no-such-flag"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("usage:"), std::string::npos) << run.err;
}

TEST_F(X402dBinaryTest, CheckConfigAcceptsAValidConfig) {
  X402dProcess files;  // only for its folder
  files.write_config(yaml_on_port(options(closed_port()), 8402));
  auto run = run_x402d({"--check-config", files.config_path()});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("OK"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find(files.config_path()), std::string::npos) << run.out;
}

TEST_F(X402dBinaryTest, CheckConfigNamesFileLineAndKeyOfABadPrice) {
  X402dProcess files;
  const std::string yaml =
      replace_once(gateway_yaml(options(closed_port())), "price: \"0.01\"", "price: \"ten\"");
  files.write_config(yaml);
  auto run = run_x402d({"--check-config", files.config_path()});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.out.find("OK"), std::string::npos) << run.out;
  const std::string where =
      files.config_path() + ":" + std::to_string(line_of(yaml, "price: \"ten\"")) + ":";
  EXPECT_NE(run.err.find(where), std::string::npos) << "expected '" << where << "' in: " << run.err;
  EXPECT_NE(run.err.find("price"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("ten"), std::string::npos) << run.err;
}

TEST_F(X402dBinaryTest, CheckConfigRefusesAPluginForAnotherAbi) {
  X402dProcess files;
  const std::string wrong_abi = X402_BINARY_DIR "/test-plugins/plugin-wrong-abi.so";
  ASSERT_TRUE(fs::is_regular_file(wrong_abi)) << wrong_abi << " missing: build plugin-wrong-abi";
  files.write_config(replace_once(gateway_yaml(options(closed_port())), "\" ] }\n",
                                  "\" ], load: [ \"" + wrong_abi + "\" ] }\n"));
  auto run = run_x402d({"--check-config", files.config_path()});
  EXPECT_EQ(run.exit_code, 1);  // a clean refusal, not a crash (which would be a signal)
  EXPECT_NE(run.err.find(wrong_abi), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("ABI"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("rebuild"), std::string::npos) << run.err;
}

TEST_F(X402dBinaryTest, ServesLogsOneJsonLinePerRequestAndExitsZeroOnSigterm) {
  FakeUpstream upstream;
  X402dProcess process;
  const uint16_t port = serve(process, gateway_yaml(options(upstream.port())), {"--no-watch"});
  ASSERT_TRUE(process.running());

  auto paid = get(port, "/acme/api/signal?symbol=ETH", {{"X-Request-Id", "lifecycle-paid-1"}});
  ASSERT_EQ(paid.result_int(), 402);
  auto required = decode_header_json(paid["PAYMENT-REQUIRED"]);
  EXPECT_EQ(required.at("x402Version").as_int64(), 2);
  EXPECT_EQ(required.at("accepts").at(0).at("amount").as_string(), "10000");
  auto free_route = get(port, "/acme/public/hello", {{"X-Request-Id", "lifecycle-free-1"}});
  EXPECT_EQ(free_route.result_int(), 200);
  EXPECT_EQ(upstream.hits(), 1);

  process.signal(SIGTERM);
  auto status = process.wait_exit(15s);
  ASSERT_TRUE(status.has_value()) << "x402d still running 15 s after SIGTERM";
  ASSERT_TRUE(WIFEXITED(*status)) << "x402d died of signal " << WTERMSIG(*status);
  EXPECT_EQ(WEXITSTATUS(*status), 0) << process.stderr_text();

  // One line per request, with the fields an operator greps for.
  std::map<std::string, boost::json::object> by_id;
  int merchant_lines = 0;
  for (const auto& line : process.log_lines()) {
    if (!line.contains("request_id")) continue;
    EXPECT_EQ(line.at("msg").as_string(), "request");
    EXPECT_TRUE(line.contains("status")) << boost::json::serialize(line);
    EXPECT_TRUE(line.contains("ts")) << boost::json::serialize(line);
    if (line.contains("merchant")) ++merchant_lines;
    auto id = std::string(line.at("request_id").as_string());
    EXPECT_TRUE(by_id.emplace(id, line).second) << "two lines for request " << id;
  }
  EXPECT_EQ(merchant_lines, 2) << process.stderr_text();
  ASSERT_TRUE(by_id.contains("lifecycle-paid-1")) << process.stderr_text();
  const auto& paid_line = by_id["lifecycle-paid-1"];
  EXPECT_EQ(paid_line.at("merchant").as_string(), "acme");
  EXPECT_EQ(paid_line.at("route").as_string(), "/api/signal");
  EXPECT_EQ(paid_line.at("status").as_int64(), 402);
  ASSERT_TRUE(by_id.contains("lifecycle-free-1")) << process.stderr_text();
  const auto& free_line = by_id["lifecycle-free-1"];
  EXPECT_EQ(free_line.at("merchant").as_string(), "acme");
  EXPECT_EQ(free_line.at("route").as_string(), "/public/**");
  EXPECT_EQ(free_line.at("status").as_int64(), 200);
}

TEST_F(X402dBinaryTest, SighupAppliesAnEditedPriceAndKeepsServingThroughABadEdit) {
  FakeUpstream upstream;
  X402dProcess process;
  const std::string original = gateway_yaml(options(upstream.port()));
  // --no-watch: only the signal can make x402d read the file again.
  const uint16_t port = serve(process, original, {"--no-watch"});
  ASSERT_EQ(offered_amount(port), "10000");

  const std::string listen = "listen: \"127.0.0.1:" + std::to_string(port) + "\"";
  const std::string on_port = replace_once(original, "listen: \"127.0.0.1:0\"", listen);
  process.write_config(replace_once(on_port, "price: \"0.01\"", "price: \"0.02\""));
  EXPECT_EQ(offered_amount(port), "10000") << "--no-watch, yet the edit applied without SIGHUP";

  process.signal(SIGHUP);
  EXPECT_TRUE(wait_until([&] { return offered_amount(port) == "20000"; }, 10s))
      << "the new price never showed after SIGHUP; stderr:\n"
      << process.stderr_text();

  // A broken edit is rejected; the last good config keeps serving.
  process.write_config(replace_once(on_port, "price: \"0.01\"", "price: \"-3\""));
  process.signal(SIGHUP);
  EXPECT_TRUE(wait_until(
      [&] {
        return process.log_has_message("config reload rejected; the previous config keeps serving");
      },
      10s))
      << process.stderr_text();
  EXPECT_EQ(offered_amount(port), "20000");
  EXPECT_TRUE(process.running());

  process.signal(SIGTERM);
  auto status = process.wait_exit(15s);
  ASSERT_TRUE(status && WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

TEST_F(X402dBinaryTest, SigtermDrainsTheRequestInFlightThenExitsZero) {
  DelayedUpstream upstream(30s);  // far beyond every wait below: only release() lets it go
  X402dProcess process;
  const uint16_t port = serve(process, gateway_yaml(options(upstream.port())), {"--no-watch"});
  ASSERT_TRUE(process.running());

  auto in_flight =
      std::async(std::launch::async, [port] { return get_within(port, "/acme/public/slow", 20s); });
  struct ReleaseOnExit {
    DelayedUpstream& upstream;
    ~ReleaseOnExit() { upstream.release(); }
  } release_later{upstream};
  ASSERT_TRUE(upstream.wait_for_arrivals(1, 10s));

  process.signal(SIGTERM);
  EXPECT_TRUE(wait_until([&] { return connection_refused(port); }, 10s))
      << "x402d still accepts connections after SIGTERM";
  EXPECT_TRUE(process.running()) << "x402d exited with a request still in flight";

  upstream.release();
  http::Response res;
  ASSERT_NO_THROW(res = in_flight.get()) << "the in-flight request was cut off";
  EXPECT_EQ(res.result_int(), 200) << res.body();
  auto status = process.wait_exit(15s);
  ASSERT_TRUE(status.has_value()) << "x402d still running after draining";
  ASSERT_TRUE(WIFEXITED(*status)) << "x402d died of signal " << WTERMSIG(*status);
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  EXPECT_TRUE(process.log_has_message("x402d stopped")) << process.stderr_text();
}

}  // namespace
}  // namespace x402::testing
