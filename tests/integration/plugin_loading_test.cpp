// Plugins as an operator meets them: a routing plugin built out of tree against the installed SDK
// alone is loaded by an unmodified gateway and decides which facilitator verifies; a plugin built
// for another ABI, or one that is not there, stops the gateway with a message that says what to
// do, instead of a crash.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/fake_facilitator.hpp"
#include "support/gateway_harness.hpp"
#include "x402/plugin_abi.h"

namespace x402::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Replaces the plugins: line of gateway_yaml() so the config also loads `files` by path.
std::string with_plugin_files(std::string yaml, const std::vector<std::string>& files) {
  std::string line =
      std::string("plugins: { directories: [ \"") + X402_PLUGIN_DIR + "\" ], load: [";
  for (size_t i = 0; i < files.size(); ++i) line += (i ? ", \"" : " \"") + files[i] + "\"";
  line += " ] }\n";
  auto begin = yaml.find("plugins: {");
  EXPECT_NE(begin, std::string::npos) << "gateway_yaml() changed shape; update this helper";
  if (begin == std::string::npos) return yaml;
  yaml.replace(begin, yaml.find('\n', begin) + 1 - begin, line);
  return yaml;
}

// A config file in a fresh folder, loaded as x402d would load it.
class ConfigFile {
 public:
  explicit ConfigFile(const std::string& yaml) {
    dir_ = fs::temp_directory_path() /
           ("x402-plugins-" + std::to_string(::getpid()) + "-" + random_hex(4).substr(2));
    fs::create_directories(dir_);
    path_ = (dir_ / "gateway.yaml").string();
    std::ofstream(path_) << yaml;
  }
  ~ConfigFile() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  const std::string& path() const { return path_; }
  std::shared_ptr<const Config> load() const {
    auto config = load_config(path_);
    EXPECT_TRUE(config.ok()) << (config.ok() ? "" : config.error().message);
    return config.ok() ? config.value() : nullptr;
  }

 private:
  fs::path dir_;
  std::string path_;
};

struct ExamplePlugin {
  std::string path;  // empty when the build failed
  std::string log;   // the build's output, for the failure message
};

// tests/sdk/build_example_plugin.sh installs this build's SDK into a temporary prefix and builds
// examples/plugin-round-robin against that prefix alone. It takes a while, so once per process.
const ExamplePlugin& example_plugin() {
  static const ExamplePlugin built = [] {
    static const fs::path work =
        fs::temp_directory_path() / ("x402-sdk-example-" + std::to_string(::getpid()));
    fs::create_directories(work);
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(work, ec);
    });
    const std::string log_path = (work / "build.log").string();
    const std::string command = "'" X402_SOURCE_DIR "/tests/sdk/build_example_plugin.sh' '" +
                                std::string(X402_BINARY_DIR) + "' '" + work.string() + "' 2>'" +
                                log_path + "'";
    ExamplePlugin result;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (!pipe) {
      result.log = "popen failed";
      return result;
    }
    std::string out;
    char buffer[512];
    while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
    const int status = ::pclose(pipe);
    std::stringstream log;
    log << std::ifstream(log_path).rdbuf();
    result.log = log.str();
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    if (auto nl = out.rfind('\n'); nl != std::string::npos) out = out.substr(nl + 1);
    if (status == 0 && fs::is_regular_file(out))
      result.path = out;
    else
      result.log += "\n(exit status " + std::to_string(status) + ", stdout '" + out + "')";
    return result;
  }();
  return built;
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// Routing plugins put only facilitators whose /supported answer is known first; wait for it.
bool supported_known_for_all(Gateway& gateway) {
  return wait_until(
      [&] {
        auto snapshot = gateway.snapshot();
        if (!snapshot) return false;
        for (const auto& member : snapshot->chain->members()) {
          if (!member.facilitator->supported_kinds()) return false;
        }
        return true;
      },
      10s);
}

class RoutingPluginTest : public ::testing::Test {
 protected:
  // Four paid requests in a row through a gateway using `strategy`; each must be served.
  void pay_four_times(const std::string& strategy, const std::vector<std::string>& plugin_files) {
    ConfigOptions options;
    options.facilitators = {{"first", first.url()}, {"second", second.url()}};
    options.upstream_port = upstream.port();
    options.routing_strategy = strategy;
    GatewayHarness gateway(with_plugin_files(gateway_yaml(options), plugin_files));
    ASSERT_TRUE(supported_known_for_all(gateway.gateway()))
        << "the facilitators' /supported never landed";
    auto offer = gateway.get("/acme/api/signal");
    ASSERT_EQ(offer.result_int(), 402);
    for (int i = 0; i < 4; ++i) {
      auto res = gateway.get("/acme/api/signal", {{"PAYMENT-SIGNATURE", pay_v2(offer)}});
      ASSERT_EQ(res.result_int(), 200) << res.body();
    }
  }

  FakeFacilitator first;
  FakeFacilitator second;
  FakeUpstream upstream;
};

TEST_F(RoutingPluginTest, OutOfTreeRoundRobinPluginRotatesTheVerifyingFacilitator) {
  const auto& plugin = example_plugin();
  ASSERT_FALSE(plugin.path.empty()) << "building examples/plugin-round-robin against the "
                                       "installed SDK failed:\n"
                                    << plugin.log;
  // The plugin's own name, as the SDK's X402_PLUGIN declares it, is what the config names.
  ASSERT_NO_FATAL_FAILURE(pay_four_times("routing-round-robin", {plugin.path}));
  // Rotation: every other payment goes to the other facilitator first; none failed over.
  EXPECT_EQ(first.verify_calls.load(), 2);
  EXPECT_EQ(second.verify_calls.load(), 2);
  // Settle goes to whichever facilitator verified.
  EXPECT_EQ(first.settle_calls.load(), 2);
  EXPECT_EQ(second.settle_calls.load(), 2);
}

TEST_F(RoutingPluginTest, ShippedPriorityStrategyKeepsEveryPaymentOnTheFirstFacilitator) {
  // The control for the test above: with the same facilitators and traffic, the shipped strategy
  // never rotates, so the spread above is the plugin's doing.
  ASSERT_NO_FATAL_FAILURE(pay_four_times("priority", {}));
  EXPECT_EQ(first.verify_calls.load(), 4);
  EXPECT_EQ(second.verify_calls.load(), 0);
}

class PluginErrorTest : public ::testing::Test {
 protected:
  std::string yaml(const std::string& strategy = "priority") const {
    ConfigOptions options;
    options.facilitators = {{"primary", facilitator.url()}};
    options.upstream_port = closed_port();
    options.routing_strategy = strategy;
    return gateway_yaml(options);
  }

  // The same config must be refused by --check-config (Gateway::check) and by start().
  void expect_refused(const std::string& yaml, const std::vector<std::string>& needles) {
    ConfigFile file(yaml);
    auto config = file.load();
    ASSERT_TRUE(config);

    auto checked = Gateway::check(config, GatewayOptions{});
    ASSERT_FALSE(checked.ok()) << "Gateway::check accepted it";
    for (const auto& needle : needles) {
      EXPECT_NE(checked.error().message.find(needle), std::string::npos)
          << "check's message lacks '" << needle << "': " << checked.error().message;
    }

    GatewayOptions options;
    options.watch_config_file = false;
    Gateway gateway(options);
    auto started = gateway.start(config);
    ASSERT_FALSE(started.ok()) << "Gateway::start accepted it";
    for (const auto& needle : needles) {
      EXPECT_NE(started.error().message.find(needle), std::string::npos)
          << "start's message lacks '" << needle << "': " << started.error().message;
    }
    EXPECT_EQ(gateway.port(), 0) << "a gateway that refused its config must not listen";
  }

  FakeFacilitator facilitator;
};

TEST_F(PluginErrorTest, PluginBuiltForAnotherAbiIsRefusedWithRebuildAdvice) {
  const std::string wrong_abi = X402_BINARY_DIR "/test-plugins/plugin-wrong-abi.so";
  ASSERT_TRUE(fs::is_regular_file(wrong_abi)) << wrong_abi << " missing: build plugin-wrong-abi";
  // The fixture claims ABI 2.0 and fills the rest of its info block with garbage: reading past
  // the version check would crash this test rather than fail it.
  const std::string host_abi =
      std::to_string(X402_ABI_MAJOR) + "." + std::to_string(X402_ABI_MINOR);
  expect_refused(with_plugin_files(yaml(), {wrong_abi}),
                 {wrong_abi, "ABI", "2.0", host_abi, "rebuild"});
}

TEST_F(PluginErrorTest, UnknownFacilitatorPluginNamesTheFoldersSearched) {
  std::string config = yaml();
  const std::string shipped = "plugin: facilitator-http";
  config.replace(config.find(shipped), shipped.size(), "plugin: facilitator-nonexistent");
  expect_refused(config, {"facilitators[0]", "facilitator-nonexistent.so", X402_PLUGIN_DIR});
}

TEST_F(PluginErrorTest, UnknownRoutingStrategyNamesTheFoldersSearched) {
  expect_refused(yaml("routing-nonexistent"),
                 {"routing.strategy", "routing-nonexistent.so", X402_PLUGIN_DIR});
}

TEST_F(PluginErrorTest, MissingPluginFileUnderLoadNamesThePath) {
  const std::string missing = X402_BINARY_DIR "/test-plugins/no-such-plugin.so";
  expect_refused(with_plugin_files(yaml(), {missing}), {missing, "no such file"});
}

}  // namespace
}  // namespace x402::testing
