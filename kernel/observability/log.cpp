#include "observability/log.hpp"

#include <atomic>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace x402::log {

namespace {
std::atomic<Level> g_min_level{Level::Info};
std::mutex g_write_mutex;

std::string_view level_name(Level l) {
  switch (l) {
    case Level::Debug:
      return "debug";
    case Level::Info:
      return "info";
    case Level::Warn:
      return "warn";
    case Level::Error:
      return "error";
  }
  return "info";
}
}  // namespace

void set_min_level(Level level) {
  g_min_level = level;
}

std::string now_iso8601() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

void write(Level level, std::string_view message, boost::json::object fields) {
  if (level < g_min_level.load(std::memory_order_relaxed)) return;
  boost::json::object line;
  line["ts"] = now_iso8601();
  line["level"] = level_name(level);
  line["msg"] = message;
  for (auto& [k, v] : fields) line[k] = std::move(v);
  auto text = boost::json::serialize(line);
  text += '\n';
  std::lock_guard lock(g_write_mutex);
  std::fwrite(text.data(), 1, text.size(), stderr);
}

}  // namespace x402::log
