#include "config/watcher.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>

namespace x402 {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class ConfigWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("x402-watch-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    file_ = dir_ / "gateway.yaml";
    write(file_, "server: {}\n");
  }
  void TearDown() override { fs::remove_all(dir_); }

  static void write(const fs::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
  }

  std::unique_ptr<ConfigWatcher> watch(std::chrono::milliseconds debounce = 50ms) {
    auto watcher = ConfigWatcher::start(
        ioc_, file_.string(), [this] { ++changes_; }, debounce);
    EXPECT_TRUE(watcher.ok()) << (watcher.ok() ? "" : watcher.error().message);
    return watcher.ok() ? std::move(watcher).value() : nullptr;
  }

  // Runs the io_context until a change is seen; the limit is generous because the point is only
  // to end a broken test, not to measure anything.
  void run_until_change() {
    const auto limit = std::chrono::steady_clock::now() + 20s;
    while (changes_ == 0 && std::chrono::steady_clock::now() < limit) ioc_.run_for(20ms);
  }

  boost::asio::io_context ioc_;
  fs::path dir_;
  fs::path file_;
  int changes_ = 0;
};

TEST_F(ConfigWatcherTest, FiresWhenTheFileIsRewritten) {
  auto watcher = watch();
  ASSERT_TRUE(watcher);
  ioc_.poll();
  EXPECT_EQ(changes_, 0);
  write(file_, "server: { workers: 2 }\n");
  run_until_change();
  EXPECT_EQ(changes_, 1);
}

TEST_F(ConfigWatcherTest, FiresWhenANewFileIsRenamedOverIt) {
  auto watcher = watch();
  ASSERT_TRUE(watcher);
  const fs::path temp = dir_ / ".gateway.yaml.swp";
  write(temp, "server: { workers: 3 }\n");
  ioc_.poll();
  fs::rename(temp, file_);
  run_until_change();
  EXPECT_EQ(changes_, 1);

  // The watch survives the replacement (it is on the folder, not the old inode).
  write(file_, "server: { workers: 4 }\n");
  changes_ = 0;
  run_until_change();
  EXPECT_EQ(changes_, 1);
}

TEST_F(ConfigWatcherTest, FiresWhenTheFileIsCreated) {
  fs::remove(file_);
  auto watcher = watch();
  ASSERT_TRUE(watcher);
  write(file_, "server: {}\n");
  run_until_change();
  EXPECT_EQ(changes_, 1);
}

TEST_F(ConfigWatcherTest, OtherFilesInTheFolderAreIgnored) {
  auto watcher = watch();
  ASSERT_TRUE(watcher);
  write(dir_ / "other.yaml", "x: 1\n");
  write(dir_ / "gateway.yaml.bak", "x: 1\n");
  // Then touch ours: the first change seen must be ours alone, and exactly one callback results
  // from the whole burst.
  write(file_, "server: {}\n");
  run_until_change();
  EXPECT_EQ(changes_, 1);
}

TEST_F(ConfigWatcherTest, BurstOfWritesIsDebouncedIntoOneCallback) {
  auto watcher = watch(1500ms);  // far longer than the three writes below take
  ASSERT_TRUE(watcher);
  for (int i = 0; i < 3; ++i) write(file_, "server: { workers: " + std::to_string(i) + " }\n");
  run_until_change();
  ioc_.run_for(300ms);  // a second callback would need another event; give one a chance
  EXPECT_EQ(changes_, 1);
}

TEST_F(ConfigWatcherTest, NoCallbackAfterDestruction) {
  auto watcher = watch(1500ms);
  ASSERT_TRUE(watcher);
  write(file_, "server: { workers: 2 }\n");
  // Let the event arrive and arm the debounce timer, then destroy before it expires.
  ioc_.run_for(100ms);
  watcher.reset();
  ioc_.run_for(2000ms);
  EXPECT_EQ(changes_, 0);
}

TEST(ConfigWatcherStart, MissingFolderIsAnError) {
  boost::asio::io_context ioc;
  auto watcher = ConfigWatcher::start(ioc, "/nonexistent-x402-dir/gateway.yaml", [] {});
  ASSERT_FALSE(watcher.ok());
  EXPECT_EQ(watcher.error().code, "watch_failed");
}

}  // namespace
}  // namespace x402
