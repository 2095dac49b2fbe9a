#pragma once
// The ratelimit-token-bucket instance config:
//   requests: 100        # requests per window (required)
//   window_ms: 60000     # the window (required, up to 30 days)
//   burst: 20            # requests a client may make at once (default: requests)
//   fallback_nodes: 4    # while Redis is unreachable each node allows requests / fallback_nodes
#include <cstdint>
#include <string_view>

namespace x402::plugins::ratelimit_token_bucket {

struct TokenBucketConfig {
  uint64_t requests = 0;
  uint64_t window_ms = 0;
  uint64_t burst = 0;
  uint64_t fallback_nodes = 1;
};

// Throws std::invalid_argument with a message naming the key, e.g.
// "config.requests: must be an integer from 1 to 1000000000".
TokenBucketConfig parse_config(std::string_view config_json);

// The JSON Schema (subset) the host validates instance configs against before create().
extern const char* const kConfigSchemaJson;

}  // namespace x402::plugins::ratelimit_token_bucket
