// x402d: the x402 payment gateway. Reads gateway.yaml, serves until SIGTERM, reloads on SIGHUP
// or when the file changes.
#include <cstdio>
#include <filesystem>
#include <string>

#include "config/config.hpp"
#include "gateway/gateway.hpp"
#include "observability/log.hpp"

namespace {

constexpr const char* kUsage =
    "usage: x402d --config FILE     run the gateway\n"
    "       x402d --check-config FILE  validate FILE (plugins included) and exit\n"
    "       x402d --version\n"
    "options: --plugin-dir DIR  extra folder to look for plugins in (repeatable)\n"
    "         --no-watch        do not reload when the config file changes (SIGHUP still does)\n";

// Plugins installed beside the binary: <prefix>/bin/x402d → <prefix>/lib/x402/plugins, and the
// build tree's build/x402d → build/plugins.
std::vector<std::string> default_plugin_dirs() {
  std::vector<std::string> dirs;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return dirs;
  auto bin = self.parent_path();
  dirs.push_back((bin / "plugins").string());
  dirs.push_back((bin.parent_path() / "lib" / "x402" / "plugins").string());
  return dirs;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path, check_path;
  x402::GatewayOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "x402d: %s needs a value\n%s", arg.c_str(), kUsage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--config") {
      config_path = next();
    } else if (arg == "--check-config") {
      check_path = next();
    } else if (arg == "--plugin-dir") {
      options.default_plugin_dirs.push_back(next());
    } else if (arg == "--no-watch") {
      options.watch_config_file = false;
    } else if (arg == "--version") {
      std::printf("x402d 0.1.0 (plugin ABI %d.%d)\n", X402_ABI_MAJOR, X402_ABI_MINOR);
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      std::printf("%s", kUsage);
      return 0;
    } else {
      std::fprintf(stderr, "x402d: unknown argument '%s'\n%s", arg.c_str(), kUsage);
      return 2;
    }
  }
  for (auto& d : default_plugin_dirs()) options.default_plugin_dirs.push_back(d);

  if (!check_path.empty()) {
    auto config = x402::load_config(check_path);
    if (!config) {
      std::fprintf(stderr, "%s\n", config.error().message.c_str());
      return 1;
    }
    auto checked = x402::Gateway::check(config.value(), options);
    if (!checked) {
      std::fprintf(stderr, "%s\n", checked.error().message.c_str());
      return 1;
    }
    std::printf("%s: OK\n", check_path.c_str());
    return 0;
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }

  auto config = x402::load_config(config_path);
  if (!config) {
    std::fprintf(stderr, "x402d: %s\n", config.error().message.c_str());
    return 1;
  }
  x402::Gateway gateway(options);
  if (auto started = gateway.start(config.value()); !started) {
    std::fprintf(stderr, "x402d: %s\n", started.error().message.c_str());
    return 1;
  }
  gateway.wait();
  return 0;
}
