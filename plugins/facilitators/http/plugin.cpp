// The exported entry point of facilitator-http.so.
#include <x402/plugin.hpp>

#include "http_facilitator.hpp"

X402_PLUGIN("facilitator-http", "1.0.0",
            "Any facilitator speaking the standard x402 HTTP API (generic, x402-rs, payai, cdp)",
            x402::plugins::facilitator_http::kConfigSchemaJson,
            x402::plugins::facilitator_http::HttpFacilitator, void, void, void)
