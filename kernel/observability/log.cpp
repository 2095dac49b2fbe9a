#include "observability/log.hpp"

#include <atomic>
#include <boost/json/serialize.hpp>
#include <boost/json/serializer.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <string>
#include <thread>

namespace x402::log {

namespace {

std::atomic<Level> g_min_level{Level::Info};

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

// ISO-8601 UTC with milliseconds. The date and time change once a second; they are formatted
// only then.
void append_iso8601(std::string& out) {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto secs = system_clock::to_time_t(now);
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  thread_local std::time_t cached_secs = -1;
  thread_local char cached[64];
  if (secs != cached_secs) {
    std::tm tm{};
    gmtime_r(&secs, &tm);
    std::snprintf(cached, sizeof cached, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_secs = secs;
  }
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03dZ", static_cast<int>(ms));
  out += cached;
  out += millis;
}

// {"ts":...,"level":...,"msg":...,<fields>}\n into `out`: the fields object is serialized as it
// is, straight into the line, after the three fixed members.
void render(std::string& out, Level level, std::string_view message,
            const boost::json::object& fields) {
  out += "{\"ts\":\"";
  append_iso8601(out);
  out += "\",\"level\":\"";
  out += level_name(level);
  out += "\",\"msg\":";
  out += boost::json::serialize(boost::json::string_view(message.data(), message.size()));
  if (fields.empty()) {
    out += "}\n";
    return;
  }
  boost::json::serializer serializer;
  serializer.reset(&fields);
  char chunk[4096];
  std::string_view piece = serializer.read(chunk);
  out += ',';
  out += piece.substr(1);  // past the object's "{"
  while (!serializer.done()) out += serializer.read(chunk);
  out += '\n';
}

// The stderr writer. Access lines (one per request) are collected and written together, at the
// latest kFlushAfter after the first of them, or at once when kFlushAtBytes pile up: one write(2)
// per request was a large share of a request's cost. Every other line is written at once, after
// the access lines before it, so the log keeps the order in which lines were made.
class Writer {
 public:
  static constexpr auto kFlushAfter = std::chrono::milliseconds(50);
  static constexpr size_t kFlushAtBytes = 64 * 1024;

  void write_now(const std::string& line) {
    std::unique_lock pending(pending_mutex_);
    std::string batch;
    batch.swap(pending_);
    batch += line;
    output(pending, batch);
  }

  void write_later(const std::string& line) {
    std::unique_lock pending(pending_mutex_);
    const bool was_empty = pending_.empty();
    pending_ += line;
    if (pending_.size() >= kFlushAtBytes) {
      std::string batch;
      batch.swap(pending_);
      output(pending, batch);
      return;
    }
    if (!flusher_.joinable()) flusher_ = std::thread([this] { flush_loop(); });
    if (was_empty) wake_.notify_one();
  }

  void flush() { write_now({}); }

 private:
  // Hand-over-hand: the output lock is taken before the pending lock is let go, so batches reach
  // stderr in the order they were taken.
  void output(std::unique_lock<std::mutex>& pending, const std::string& batch) {
    std::lock_guard out(output_mutex_);
    pending.unlock();
    if (!batch.empty()) std::fwrite(batch.data(), 1, batch.size(), stderr);
  }

  // Sleeps until an access line arrives, lets kFlushAfter pass to gather its followers, writes.
  // The two buffers trade places each time, so neither is reallocated once grown.
  void flush_loop() {
    std::string batch;
    std::unique_lock pending(pending_mutex_);
    for (;;) {
      wake_.wait(pending, [this] { return !pending_.empty(); });
      pending.unlock();
      std::this_thread::sleep_for(kFlushAfter);
      pending.lock();
      batch.clear();
      batch.swap(pending_);
      output(pending, batch);
      pending.lock();
    }
  }

  std::mutex pending_mutex_;
  std::mutex output_mutex_;
  std::condition_variable wake_;
  std::string pending_;
  std::thread flusher_;
};

// Never destroyed, so threads still logging while the process exits find it alive; what it holds
// is written by the exit handler.
Writer& writer() {
  static Writer* instance = [] {
    auto* w = new Writer;
    std::atexit([] { writer().flush(); });
    return w;
  }();
  return *instance;
}

}  // namespace

void set_min_level(Level level) {
  g_min_level = level;
}

std::string now_iso8601() {
  std::string text;
  append_iso8601(text);
  return text;
}

void write(Level level, std::string_view message, boost::json::object fields) {
  if (level < g_min_level.load(std::memory_order_relaxed)) return;
  std::string line;
  render(line, level, message, fields);
  writer().write_now(line);
}

void access(std::string_view message, boost::json::object fields) {
  if (Level::Info < g_min_level.load(std::memory_order_relaxed)) return;
  thread_local std::string line;  // its capacity is kept from one request to the next
  line.clear();
  render(line, Level::Info, message, fields);
  writer().write_later(line);
}

void flush() {
  writer().flush();
}

}  // namespace x402::log
