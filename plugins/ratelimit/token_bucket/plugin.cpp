// The exported entry point of ratelimit-token-bucket.so.
#include <x402/plugin.hpp>

#include "token_bucket.hpp"
#include "token_bucket_config.hpp"

X402_PLUGIN("ratelimit-token-bucket", "1.0.0",
            "GCRA token bucket per client, global across nodes through one Redis script per check",
            x402::plugins::ratelimit_token_bucket::kConfigSchemaJson, void, void,
            x402::plugins::ratelimit_token_bucket::TokenBucketTier, void)
