// cache.cluster: a Redis Cluster seed url, and the mistakes the loader must name.
#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"

namespace x402 {
namespace {

Result<std::shared_ptr<const Config>> load(const std::string& yaml) {
  return load_config_from_string(yaml, "gw.yaml");
}

TEST(CacheClusterConfig, ClusterFlagIsReadAndDefaultsToFalse) {
  auto cluster =
      load("cache: { backend: redis, url: 'redis://:pw@10.0.0.7:7000', cluster: true }\n");
  ASSERT_TRUE(cluster) << cluster.error().message;
  EXPECT_TRUE((*cluster)->cache.cluster);
  EXPECT_EQ((*cluster)->cache.host, "10.0.0.7");
  EXPECT_EQ((*cluster)->cache.port, 7000);
  EXPECT_EQ((*cluster)->cache.password, "pw");

  auto explicit_zero = load("cache: { backend: redis, url: 'redis://c:7000/0', cluster: true }\n");
  ASSERT_TRUE(explicit_zero) << explicit_zero.error().message;
  EXPECT_EQ((*explicit_zero)->cache.database, 0u);

  auto standalone = load("cache: { backend: redis, url: 'redis://c:6379/3' }\n");
  ASSERT_TRUE(standalone) << standalone.error().message;
  EXPECT_FALSE((*standalone)->cache.cluster);
  EXPECT_EQ((*standalone)->cache.database, 3u);
}

TEST(CacheClusterConfig, ADatabaseOtherThanZeroIsAnErrorOnTheUrl) {
  auto r = load("cache:\n  backend: redis\n  url: 'redis://c:7000/2'\n  cluster: true\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "invalid_config");
  EXPECT_EQ(r.error().field, "cache.url") << r.error().message;
  EXPECT_NE(r.error().message.find("database 0"), std::string::npos) << r.error().message;
}

TEST(CacheClusterConfig, BadValuesNameTheField) {
  auto not_bool = load("cache: { backend: redis, url: 'redis://c:7000', cluster: yes-please }\n");
  ASSERT_FALSE(not_bool);
  EXPECT_EQ(not_bool.error().field, "cache.cluster") << not_bool.error().message;

  auto memory = load("cache: { backend: memory, cluster: true }\n");
  ASSERT_FALSE(memory);
  EXPECT_EQ(memory.error().field, "cache.cluster") << memory.error().message;
}

}  // namespace
}  // namespace x402
