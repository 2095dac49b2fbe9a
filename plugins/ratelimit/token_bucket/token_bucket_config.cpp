#include "token_bucket_config.hpp"

#include <boost/json.hpp>
#include <stdexcept>
#include <string>

namespace x402::plugins::ratelimit_token_bucket {

const char* const kConfigSchemaJson = R"({
  "type": "object",
  "properties": {
    "requests": {"type": "integer", "minimum": 1, "maximum": 1000000000},
    "window_ms": {"type": "integer", "minimum": 1, "maximum": 2592000000},
    "burst": {"type": "integer", "minimum": 1, "maximum": 1000000000},
    "fallback_nodes": {"type": "integer", "minimum": 1, "maximum": 1000}
  },
  "required": ["requests", "window_ms"],
  "additionalProperties": false
})";

namespace {

constexpr uint64_t kMaxRequests = 1'000'000'000;
constexpr uint64_t kMaxWindowMs = 2'592'000'000;  // 30 days
constexpr uint64_t kMaxFallbackNodes = 1'000;
// The Redis script computes in Lua doubles, exact only up to 2^53 µs; the TAT runs at most
// tolerance ahead of Redis' clock (~1.7e15 µs since 1970), so a century keeps it well inside.
constexpr int64_t kMaxToleranceUs = 100LL * 365 * 24 * 3600 * 1'000'000;

[[noreturn]] void fail(std::string_view key, std::string_view what) {
  throw std::invalid_argument("config." + std::string(key) + ": " + std::string(what));
}

// An absent optional key takes `fallback`; YAML integers arrive as int64 or uint64.
uint64_t integer_field(const boost::json::object& o, std::string_view key, uint64_t max,
                       uint64_t fallback, bool required) {
  const auto* v = o.if_contains(key);
  if (!v) {
    if (required) fail(key, "required, an integer from 1 to " + std::to_string(max));
    return fallback;
  }
  uint64_t n = 0;
  bool ok = false;
  if (v->is_int64() && v->get_int64() >= 1) {
    n = static_cast<uint64_t>(v->get_int64());
    ok = true;
  } else if (v->is_uint64()) {
    n = v->get_uint64();
    ok = true;
  }
  if (!ok || n < 1 || n > max) fail(key, "must be an integer from 1 to " + std::to_string(max));
  return n;
}

}  // namespace

TokenBucketConfig parse_config(std::string_view config_json) {
  boost::system::error_code ec;
  auto parsed = boost::json::parse(config_json.empty() ? "{}" : config_json, ec);
  if (ec || !parsed.is_object()) throw std::invalid_argument("config: must be a JSON object");
  const auto& o = parsed.get_object();
  for (const auto& kv : o) {
    static constexpr std::string_view known[] = {"requests", "window_ms", "burst",
                                                 "fallback_nodes"};
    bool ok = false;
    for (auto k : known) ok = ok || kv.key() == k;
    if (!ok) fail(kv.key(), "unknown key (expected requests, window_ms, burst, fallback_nodes)");
  }

  TokenBucketConfig c;
  c.requests = integer_field(o, "requests", kMaxRequests, 0, true);
  c.window_ms = integer_field(o, "window_ms", kMaxWindowMs, 0, true);
  if (c.window_ms * 1000 < c.requests)
    fail("requests",
         "more than one request per microsecond (requests must be at most window_ms * "
         "1000 = " +
             std::to_string(c.window_ms * 1000) + ")");
  c.burst = integer_field(o, "burst", kMaxRequests, c.requests, false);
  c.fallback_nodes = integer_field(o, "fallback_nodes", kMaxFallbackNodes, 1, false);

  // interval * burst is the bucket's depth in time; bounded so it stays exact everywhere.
  int64_t interval_us = static_cast<int64_t>(c.window_ms * 1000 / c.requests);
  if (static_cast<int64_t>(c.burst) > kMaxToleranceUs / interval_us)
    fail("burst",
         "too large for this rate: burst * (window_ms / requests) must stay under 100 "
         "years");
  return c;
}

}  // namespace x402::plugins::ratelimit_token_bucket
