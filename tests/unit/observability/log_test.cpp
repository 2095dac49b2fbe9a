// The structured log on stderr: access lines are held and written in batches, every other line at
// once after them; each line is one complete JSON object, whatever the threads, and nothing held is
// lost at exit. stderr (fd 2) is pointed at a temp file for each test.
#include "observability/log.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace x402::log {
namespace {

namespace json = boost::json;

// Points fd 2 at a fresh temp file until destroyed. Flushes the log on both edges so no line of
// another test lands in this file, and none of this test's lands on the real stderr.
class StderrCapture {
 public:
  StderrCapture() {
    flush();
    std::fflush(stderr);
    char name[] = "/tmp/x402-log-test-XXXXXX";
    const int fd = ::mkstemp(name);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    path_ = name;
    saved_ = ::dup(2);
    ::dup2(fd, 2);
    ::close(fd);
  }

  ~StderrCapture() {
    flush();
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    ::unlink(path_.c_str());
  }

  std::string text() const {
    std::ifstream in(path_, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    std::istringstream in(text());
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

 private:
  std::string path_;
  int saved_ = -1;
};

// A message no other test (or run) writes, so a test finds its own lines.
std::string unique_marker(const std::string& what) {
  static std::mt19937_64 rng{std::random_device{}()};
  return what + "-" + std::to_string(rng());
}

// Every line of `capture` whose msg is `marker`, parsed. Only log lines reach the file, so a line
// that is not one whole JSON object (torn, interleaved, unescaped) fails the test.
std::vector<json::object> lines_with(const StderrCapture& capture, const std::string& marker) {
  std::vector<json::object> out;
  for (const auto& line : capture.lines()) {
    json::error_code ec;
    auto value = json::parse(line, ec);
    if (ec || !value.is_object() || !value.as_object().contains("msg")) {
      ADD_FAILURE() << "not one JSON log line: " << line;
      continue;
    }
    if (value.as_object().at("msg") == json::string_view(marker)) out.push_back(value.as_object());
  }
  return out;
}

class MinLevel {
 public:
  explicit MinLevel(Level level) { set_min_level(level); }
  ~MinLevel() { set_min_level(Level::Info); }
};

TEST(LogTest, AnAccessLineComesBeforeTheWarningMadeAfterIt) {
  StderrCapture capture;
  const auto marker = unique_marker("order");
  access(marker, {{"step", 1}});
  warn(marker, {{"step", 2}});
  // No flush: the warning is written at once, with the held access line before it.
  auto lines = lines_with(capture, marker);
  ASSERT_EQ(lines.size(), 2u) << capture.text();
  EXPECT_EQ(lines[0].at("step").as_int64(), 1);
  EXPECT_EQ(lines[0].at("level").as_string(), "info");
  EXPECT_EQ(lines[1].at("step").as_int64(), 2);
  EXPECT_EQ(lines[1].at("level").as_string(), "warn");
}

TEST(LogTest, InfoAndErrorAlsoWriteAtOnceAfterHeldAccessLines) {
  StderrCapture capture;
  const auto marker = unique_marker("order2");
  access(marker, {{"step", 1}});
  access(marker, {{"step", 2}});
  info(marker, {{"step", 3}});
  access(marker, {{"step", 4}});
  error(marker, {{"step", 5}});
  auto lines = lines_with(capture, marker);
  ASSERT_EQ(lines.size(), 5u) << capture.text();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(lines[i].at("step").as_int64(), i + 1);
  EXPECT_EQ(lines[4].at("level").as_string(), "error");
}

TEST(LogTest, AnAccessLineAloneIsWrittenByFlush) {
  StderrCapture capture;
  const auto marker = unique_marker("flushed");
  access(marker, {{"status", 200}});
  flush();
  EXPECT_EQ(lines_with(capture, marker).size(), 1u) << capture.text();
}

TEST(LogTest, AnAccessLineAloneIsWrittenEventuallyWithoutFlush) {
  StderrCapture capture;
  const auto marker = unique_marker("eventually");
  access(marker, {{"status", 200}});
  // Only that it arrives is asserted; the deadline is generous and not a claim about latency.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (capture.text().find(marker) == std::string::npos &&  // the marker needs no escaping
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(lines_with(capture, marker).size(), 1u) << capture.text();
}

TEST(LogTest, HeldLinesAreWrittenOnceTheyPileUpWithoutWaitingForTheTimer) {
  StderrCapture capture;
  const auto marker = unique_marker("pileup");
  const std::string pad(1000, 'p');
  constexpr int kLines = 512;  // about 512 KiB
  for (int i = 0; i < kLines; ++i) access(marker, {{"seq", i}, {"pad", pad}});
  // Without flush or waiting, at most what is held (< 64 KiB) plus one batch being written
  // (< 64 KiB) can be missing: a slow machine only makes more of them present.
  const auto present = lines_with(capture, marker).size();
  EXPECT_GE(present, static_cast<size_t>(kLines - 2 * 64)) << "present: " << present;
  flush();
  EXPECT_EQ(lines_with(capture, marker).size(), static_cast<size_t>(kLines));
}

TEST(LogTest, ConcurrentLinesArriveWholeOnceEachAndInEachThreadsOrder) {
  StderrCapture capture;
  const auto marker = unique_marker("threads");
  constexpr int kThreads = 4;
  constexpr int kPerThread = 600;  // 4 x 600 x ~300 bytes: several 64 KiB batches
  const std::string pad(200, 'x');
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        json::object fields{{"thread", t}, {"seq", i}, {"pad", pad}};
        // Every 50th is a warning: written at once, it must not overtake this thread's access
        // lines made before it.
        if (i % 50 == 49) {
          warn(marker, std::move(fields));
        } else {
          access(marker, std::move(fields));
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  flush();

  std::map<int64_t, std::vector<int64_t>> seen;  // thread -> seq in file order
  for (const auto& line : lines_with(capture, marker)) {
    EXPECT_EQ(line.at("pad").as_string(), pad);
    seen[line.at("thread").as_int64()].push_back(line.at("seq").as_int64());
  }
  ASSERT_EQ(seen.size(), static_cast<size_t>(kThreads));
  for (const auto& [thread, seqs] : seen) {
    ASSERT_EQ(seqs.size(), static_cast<size_t>(kPerThread)) << "thread " << thread;
    for (int i = 0; i < kPerThread; ++i) {
      ASSERT_EQ(seqs[i], i) << "thread " << thread << " line " << i << " out of order";
    }
  }
}

TEST(LogTest, LinesCarryTimestampLevelMessageAndEveryField) {
  StderrCapture capture;
  const auto marker = unique_marker("fields");
  access(marker, {{"method", "GET"},
                  {"status", 402},
                  {"ms", 1.5},
                  {"paid", false},
                  {"none", nullptr},
                  {"nested", {{"a", 1}, {"b", json::array{1, 2}}}}});
  flush();
  auto lines = lines_with(capture, marker);
  ASSERT_EQ(lines.size(), 1u) << capture.text();
  const auto& line = lines[0];
  EXPECT_TRUE(std::regex_match(std::string(line.at("ts").as_string()),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << line.at("ts");
  EXPECT_EQ(line.at("level").as_string(), "info");
  EXPECT_EQ(line.at("method").as_string(), "GET");
  EXPECT_EQ(line.at("status").as_int64(), 402);
  EXPECT_DOUBLE_EQ(line.at("ms").as_double(), 1.5);
  EXPECT_EQ(line.at("paid").as_bool(), false);
  EXPECT_TRUE(line.at("none").is_null());
  EXPECT_EQ(line.at("nested").at("b").as_array().size(), 2u);
  EXPECT_EQ(line.size(), 3u + 6u);  // ts, level, msg and the six fields, nothing else
}

TEST(LogTest, MessagesAndFieldsAreJsonEscaped) {
  StderrCapture capture;
  const std::string tricky = "say \"hi\" \\ back\nnext\tline \x01 caf\xc3\xa9 \xe2\x82\xac";
  const auto marker = unique_marker("escape") + tricky;
  access(marker, {{"value", tricky}, {"key \"quoted\"\n", "v"}});
  warn(marker, {{"value", tricky}});
  flush();
  const auto text = capture.text();
  auto lines = lines_with(capture, marker);
  ASSERT_EQ(lines.size(), 2u) << text;
  for (const auto& line : lines) {
    EXPECT_EQ(line.at("msg").as_string(), marker);
    EXPECT_EQ(line.at("value").as_string(), tricky);
  }
  EXPECT_EQ(lines[0].at("key \"quoted\"\n").as_string(), "v");
}

TEST(LogTest, MinLevelWarnSuppressesAccessAndInfoLines) {
  StderrCapture capture;
  const auto marker = unique_marker("quiet");
  {
    MinLevel quiet(Level::Warn);
    access(marker, {{"kind", "access"}});
    info(marker, {{"kind", "info"}});
    warn(marker, {{"kind", "warn"}});
    flush();
  }
  auto lines = lines_with(capture, marker);
  ASSERT_EQ(lines.size(), 1u) << capture.text();
  EXPECT_EQ(lines[0].at("kind").as_string(), "warn");

  access(marker, {{"kind", "access again"}});  // Info is back
  flush();
  EXPECT_EQ(lines_with(capture, marker).size(), 2u);
}

TEST(LogExitTest, HeldAccessLinesAreWrittenAtNormalExit) {
  // A fresh process (threadsafe style re-runs the binary) whose stderr gtest captures: the line
  // is still held when exit() runs, and only the exit handler can write it.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        access("held-until-exit", {{"marker", "exit-7f3a"}});
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "held-until-exit.*exit-7f3a");
}

}  // namespace
}  // namespace x402::log
