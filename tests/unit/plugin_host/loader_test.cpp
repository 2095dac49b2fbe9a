// Loading plugin libraries: the ABI check comes first and failures are clear messages, not crashes.
#include "plugin_host/loader.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "test_paths.hpp"

namespace x402::plugin_host {
namespace {

using test::built_plugin;
using test::fixture_plugin;

TEST(PluginLoader, LoadsFacilitatorHttp) {
  auto plugin = load_plugin(built_plugin("facilitator-http"));
  ASSERT_TRUE(plugin.ok()) << plugin.error().message;
  EXPECT_EQ((*plugin)->name(), "facilitator-http");
  EXPECT_TRUE((*plugin)->provides(PluginKind::facilitator));
  EXPECT_FALSE((*plugin)->provides(PluginKind::routing));
  EXPECT_NE((*plugin)->config_schema_json().find("\"preset\""), std::string::npos);
  ASSERT_NE((*plugin)->facilitator(), nullptr);
  EXPECT_GE((*plugin)->facilitator()->struct_size, sizeof(x402_facilitator_vtable));
}

TEST(PluginLoader, LoadsRoutingPriority) {
  auto plugin = load_plugin(built_plugin("routing-priority"));
  ASSERT_TRUE(plugin.ok()) << plugin.error().message;
  EXPECT_EQ((*plugin)->name(), "routing-priority");
  EXPECT_TRUE((*plugin)->provides(PluginKind::routing));
}

TEST(PluginLoader, RefusesAPluginBuiltForAnotherAbiMajor) {
  std::string path = fixture_plugin("plugin-wrong-abi");
  auto plugin = load_plugin(path);
  ASSERT_FALSE(plugin.ok());
  EXPECT_EQ(plugin.error().code, "plugin_load");
  EXPECT_EQ(plugin.error().message,
            "plugin " + path + ": was built for plugin ABI 2.0, this x402d speaks 1." +
                std::to_string(X402_ABI_MINOR) + ": rebuild it against the installed x402 SDK");
}

TEST(PluginLoader, RefusesASharedLibraryWithoutTheEntryPoint) {
  auto plugin = load_plugin(fixture_plugin("not-a-plugin"));
  ASSERT_FALSE(plugin.ok());
  EXPECT_NE(plugin.error().message.find("is not an x402 plugin (no x402_plugin_entry symbol)"),
            std::string::npos)
      << plugin.error().message;
}

TEST(PluginLoader, RefusesAMissingFile) {
  auto plugin = load_plugin("/nonexistent/dir/ghost.so");
  ASSERT_FALSE(plugin.ok());
  EXPECT_EQ(plugin.error().message, "plugin /nonexistent/dir/ghost.so: no such file");
}

TEST(PluginLoader, RefusesAFileThatIsNotASharedLibrary) {
  auto path = std::filesystem::temp_directory_path() / "x402-loader-test-garbage.so";
  std::ofstream(path) << "this is not ELF";
  auto plugin = load_plugin(path.string());
  std::filesystem::remove(path);
  ASSERT_FALSE(plugin.ok());
  EXPECT_NE(plugin.error().message.find("cannot be loaded"), std::string::npos)
      << plugin.error().message;
}

TEST(PluginLoader, TheLibraryStaysLoadedWhileAnyOwnerRemains) {
  auto plugin = load_plugin(built_plugin("routing-priority"));
  ASSERT_TRUE(plugin.ok());
  std::shared_ptr<const LoadedPlugin> kept = plugin.value();
  plugin = load_plugin("/nonexistent.so");      // drop the Result's reference
  EXPECT_EQ(kept->name(), "routing-priority");  // reads the plugin's static info: still mapped
}

}  // namespace
}  // namespace x402::plugin_host
