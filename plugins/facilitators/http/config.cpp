#include "config.hpp"

#include <boost/json.hpp>
#include <limits>
#include <stdexcept>

namespace x402::plugins::facilitator_http {

const char* const kConfigSchemaJson = R"({
  "type": "object",
  "properties": {
    "preset": {"type": "string", "enum": ["generic", "x402-rs", "payai", "cdp"]},
    "url": {"type": "string"},
    "api_key_id": {"type": "string"},
    "api_key_secret": {"type": "string"},
    "timeout_ms": {"type": "integer"},
    "supported_ttl_seconds": {"type": "integer"},
    "max_429_retries": {"type": "integer"},
    "max_retry_after_ms": {"type": "integer"}
  },
  "additionalProperties": false
})";

namespace {

[[noreturn]] void fail(std::string_view key, std::string_view what) {
  throw std::invalid_argument("config." + std::string(key) + ": " + std::string(what));
}

std::string string_field(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v) return {};
  if (!v->is_string()) fail(key, "must be a string");
  return std::string(v->get_string());
}

uint32_t uint_field(const boost::json::object& o, std::string_view key, uint32_t fallback) {
  const auto* v = o.if_contains(key);
  if (!v) return fallback;
  if (v->is_int64() && v->get_int64() >= 0 &&
      v->get_int64() <= std::numeric_limits<uint32_t>::max())
    return static_cast<uint32_t>(v->get_int64());
  if (v->is_uint64() && v->get_uint64() <= std::numeric_limits<uint32_t>::max())
    return static_cast<uint32_t>(v->get_uint64());
  fail(key, "must be a non-negative integer");
}

std::string resolve_secret(std::string value, std::string_view key, const EnvLookup& getenv) {
  constexpr std::string_view kEnv = "env:";
  if (value.rfind(kEnv, 0) != 0) return value;
  std::string var = value.substr(kEnv.size());
  if (var.empty()) fail(key, "\"env:\" needs a variable name, e.g. env:CDP_API_KEY_SECRET");
  const char* found = getenv ? getenv(var.c_str()) : nullptr;
  if (!found || !*found) fail(key, "environment variable " + var + " is not set");
  return found;
}

}  // namespace

HttpFacilitatorConfig parse_config(std::string_view config_json, const EnvLookup& getenv) {
  boost::system::error_code ec;
  auto parsed = boost::json::parse(config_json.empty() ? "{}" : config_json, ec);
  if (ec || !parsed.is_object()) throw std::invalid_argument("config: must be a JSON object");
  const auto& o = parsed.get_object();
  for (const auto& kv : o) {
    static constexpr std::string_view known[] = {"preset",          "url",
                                                 "api_key_id",      "api_key_secret",
                                                 "timeout_ms",      "supported_ttl_seconds",
                                                 "max_429_retries", "max_retry_after_ms"};
    bool ok = false;
    for (auto k : known) ok = ok || kv.key() == k;
    if (!ok) fail(kv.key(), "unknown key");
  }

  HttpFacilitatorConfig c;
  std::string preset = string_field(o, "preset");
  std::string default_url;
  if (preset.empty() || preset == "generic") {
    c.preset = Preset::generic;
  } else if (preset == "x402-rs") {
    c.preset = Preset::x402_rs;
    default_url = "https://facilitator.x402.rs";
  } else if (preset == "payai") {
    c.preset = Preset::payai;
    default_url = "https://facilitator.payai.network";
  } else if (preset == "cdp") {
    c.preset = Preset::cdp;
    default_url = "https://api.cdp.coinbase.com/platform/v2/x402";
  } else {
    fail("preset", "must be one of generic, x402-rs, payai, cdp");
  }

  c.url = string_field(o, "url");
  if (c.url.empty()) c.url = default_url;
  if (c.url.empty()) fail("url", "required for preset generic");
  if (c.url.rfind("http://", 0) != 0 && c.url.rfind("https://", 0) != 0)
    fail("url", "must start with http:// or https://");
  while (!c.url.empty() && c.url.back() == '/') c.url.pop_back();

  c.api_key_id = string_field(o, "api_key_id");
  c.api_key_secret = resolve_secret(string_field(o, "api_key_secret"), "api_key_secret", getenv);
  bool wants_keys = c.preset == Preset::cdp || c.preset == Preset::payai;
  if (!wants_keys && (!c.api_key_id.empty() || !c.api_key_secret.empty()))
    fail(c.api_key_id.empty() ? "api_key_secret" : "api_key_id",
         "only used by presets cdp and payai");
  if (c.preset == Preset::cdp) {
    if (c.api_key_id.empty()) fail("api_key_id", "required for preset cdp");
    if (c.api_key_secret.empty()) fail("api_key_secret", "required for preset cdp");
  }
  if (c.api_key_id.empty() != c.api_key_secret.empty())
    fail(c.api_key_id.empty() ? "api_key_id" : "api_key_secret",
         "api_key_id and api_key_secret go together");

  c.timeout_ms = uint_field(o, "timeout_ms", c.timeout_ms);
  c.supported_ttl_seconds = uint_field(o, "supported_ttl_seconds", c.supported_ttl_seconds);
  c.max_429_retries = uint_field(o, "max_429_retries", c.max_429_retries);
  c.max_retry_after_ms = uint_field(o, "max_retry_after_ms", c.max_retry_after_ms);
  if (c.max_429_retries > 10) fail("max_429_retries", "at most 10");
  return c;
}

}  // namespace x402::plugins::facilitator_http
