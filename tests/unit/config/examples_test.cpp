// The shipped example configs are documentation people copy: they must always load.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "config/config.hpp"

namespace x402 {
namespace {

namespace fs = std::filesystem;

TEST(ExampleConfigs, QuickstartLoadsWithTheDocumentedShape) {
  const fs::path file = fs::path(X402_SOURCE_DIR) / "examples/quickstart/gateway.yaml";
  auto result = load_config(file.string());
  ASSERT_TRUE(result.ok()) << result.error().message;
  const Config& config = *result.value();
  EXPECT_EQ(config.server.listen_address, "127.0.0.1");
  EXPECT_EQ(config.server.listen_port, 8402);
  EXPECT_EQ(config.storage.path, (file.parent_path() / "x402d.db").lexically_normal().string());
  // No plugin folder: x402d finds its plugins next to its own binary.
  EXPECT_TRUE(config.plugins.directories.empty());
  ASSERT_EQ(config.facilitators.size(), 1u);
  // The quickstart settles on a local devnet through the self-hosted facilitator.
  EXPECT_EQ(config.facilitators[0].plugin, "facilitator-selfhosted");
  const MerchantConfig* demo = config.find_merchant("demo");
  ASSERT_NE(demo, nullptr);
  EXPECT_EQ(demo->upstream.port, 9000);
  ASSERT_EQ(demo->routes.size(), 2u);
  EXPECT_EQ(demo->routes[0].accepts.at(0).amount, Amount(1000));  // 0.001 USDC
  EXPECT_TRUE(demo->routes[1].free);
}

TEST(ExampleConfigs, EveryAnnotatedExampleLoads) {
  // reference.yaml reads its secrets from the environment, as a deployment does.
  ::setenv("X402_CREDENTIAL_SECRET", "example-credential-secret-0123456789abcdef", 1);
  ::setenv("X402_ADMIN_KEY", "example-admin-key-0123456789", 1);
  const fs::path folder = fs::path(X402_SOURCE_DIR) / "examples/configs";
  int loaded = 0;
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (entry.path().extension() != ".yaml") continue;
    auto result = load_config(entry.path().string());
    EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
    ++loaded;
  }
  EXPECT_GE(loaded, 2);
}

}  // namespace
}  // namespace x402
