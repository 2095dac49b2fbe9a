// Finding plugins by name: directories, explicit files, duplicates, wrong kinds.
#include "plugin_host/registry.hpp"

#include <gtest/gtest.h>

#include "test_paths.hpp"

namespace x402::plugin_host {
namespace {

using test::built_plugin;
using test::fixture_plugin;

TEST(PluginRegistry, FindsPluginsByNameInDirectories) {
  auto registry = PluginRegistry::create({"/nonexistent", X402_PLUGIN_DIR}, {});
  ASSERT_TRUE(registry.ok()) << registry.error().message;
  auto fac = (*registry)->find("facilitator-http", PluginKind::facilitator);
  ASSERT_TRUE(fac.ok()) << fac.error().message;
  EXPECT_EQ((*fac)->path(), built_plugin("facilitator-http"));
  auto again = (*registry)->find("facilitator-http", PluginKind::facilitator);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value().get(), fac.value().get()) << "loaded once";
  EXPECT_EQ((*registry)->loaded().size(), 1u);
}

TEST(PluginRegistry, SaysWhereItLookedWhenNotFound) {
  auto registry = PluginRegistry::create({"/nowhere/a", "/nowhere/b"}, {});
  ASSERT_TRUE(registry.ok());
  auto found = (*registry)->find("facilitator-acme", PluginKind::facilitator);
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.error().code, "plugin_not_found");
  EXPECT_EQ(found.error().message,
            "plugin facilitator-acme not found: looked for facilitator-acme.so in /nowhere/a, "
            "/nowhere/b");
}

TEST(PluginRegistry, RefusesTheWrongKind) {
  auto registry = PluginRegistry::create({X402_PLUGIN_DIR}, {});
  ASSERT_TRUE(registry.ok());
  auto found = (*registry)->find("routing-priority", PluginKind::facilitator);
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.error().code, "plugin_kind");
  EXPECT_NE(found.error().message.find("is not a facilitator plugin"), std::string::npos);
}

TEST(PluginRegistry, ExplicitFilesAreFoundByTheirDeclaredName) {
  auto registry = PluginRegistry::create({}, {fixture_plugin("sdk-probe-copy")});
  ASSERT_TRUE(registry.ok()) << registry.error().message;
  auto found = (*registry)->find("sdk-probe", PluginKind::routing);
  ASSERT_TRUE(found.ok()) << found.error().message;
  EXPECT_EQ((*found)->path(), fixture_plugin("sdk-probe-copy"));
}

TEST(PluginRegistry, RefusesTwoPluginsWithTheSameName) {
  auto registry =
      PluginRegistry::create({}, {fixture_plugin("sdk-probe"), fixture_plugin("sdk-probe-copy")});
  ASSERT_FALSE(registry.ok());
  EXPECT_EQ(registry.error().code, "plugin_duplicate");
  EXPECT_NE(registry.error().message.find("two plugins are named sdk-probe"), std::string::npos);
}

TEST(PluginRegistry, RefusesAFileWhoseNameDisagreesWithThePlugin) {
  auto registry = PluginRegistry::create({std::string(X402_BINARY_DIR) + "/test-plugins"}, {});
  ASSERT_TRUE(registry.ok());
  auto found = (*registry)->find("sdk-probe-copy", PluginKind::facilitator);
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.error().code, "plugin_name");
}

TEST(PluginRegistry, ABadExplicitFileFailsTheWholeRegistry) {
  auto registry = PluginRegistry::create({}, {fixture_plugin("plugin-wrong-abi")});
  ASSERT_FALSE(registry.ok());
  EXPECT_NE(registry.error().message.find("plugin ABI 2.0"), std::string::npos);
}

}  // namespace
}  // namespace x402::plugin_host
