#pragma once
// Structured logging: one JSON object per line on stderr, so log shippers need no parser rules.
#include <boost/json/object.hpp>
#include <string_view>

namespace x402::log {

enum class Level { Debug, Info, Warn, Error };

// Writes {"ts":"2026-11-21T01:02:03.456Z","level":"info","msg":..., ...fields} atomically.
void write(Level level, std::string_view message, boost::json::object fields = {});
inline void info(std::string_view m, boost::json::object f = {}) {
  write(Level::Info, m, std::move(f));
}
inline void warn(std::string_view m, boost::json::object f = {}) {
  write(Level::Warn, m, std::move(f));
}
inline void error(std::string_view m, boost::json::object f = {}) {
  write(Level::Error, m, std::move(f));
}

// An access line (one per request): written with the others of the next 50 ms in one write, so
// it may reach stderr up to 50 ms after it was made. Info level. Other lines are written at once,
// after any access lines made before them.
void access(std::string_view message, boost::json::object fields);
// Writes the access lines still held. Runs at exit too.
void flush();

void set_min_level(Level level);
// ISO-8601 UTC with milliseconds, for logs and JSON bodies.
std::string now_iso8601();

}  // namespace x402::log
