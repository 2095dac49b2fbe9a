#pragma once
// The facilitator-http instance config: presets fill in the URL; secrets may come from the
// environment ("env:VAR") so they stay out of the YAML file.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace x402::plugins::facilitator_http {

enum class Preset { generic, x402_rs, payai, cdp };

struct HttpFacilitatorConfig {
  Preset preset = Preset::generic;
  std::string url;  // base URL without trailing '/'
  std::string api_key_id;
  std::string api_key_secret;  // resolved (env: already read)
  uint32_t timeout_ms = 0;     // 0 = host default
  uint32_t supported_ttl_seconds = 300;
  uint32_t max_429_retries = 2;
  uint32_t max_retry_after_ms = 2000;
};

// Reads an environment variable; returns nullptr when unset. Injected so tests need no real env.
using EnvLookup = std::function<const char*(const char*)>;

// Throws std::invalid_argument with a message naming the key, e.g.
// "config.preset: must be one of generic, x402-rs, payai, cdp".
HttpFacilitatorConfig parse_config(std::string_view config_json, const EnvLookup& getenv);

// The JSON Schema (subset) the host validates instance configs against before create().
extern const char* const kConfigSchemaJson;

}  // namespace x402::plugins::facilitator_http
