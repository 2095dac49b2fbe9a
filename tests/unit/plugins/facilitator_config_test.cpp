// facilitator-http config: presets, required keys, secrets from the environment.
#include <gtest/gtest.h>

#include <map>
#include <stdexcept>

#include "config.hpp"

namespace x402::plugins::facilitator_http {
namespace {

std::string error_of(const std::string& json, const EnvLookup& env = {}) {
  try {
    parse_config(json, env);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

TEST(FacilitatorHttpConfig, PresetsProvideTheirUrls) {
  EXPECT_EQ(parse_config(R"({"preset":"x402-rs"})", {}).url, "https://facilitator.x402.rs");
  EXPECT_EQ(parse_config(R"({"preset":"payai"})", {}).url, "https://facilitator.payai.network");
  auto cdp = parse_config(R"({"preset":"cdp","api_key_id":"k","api_key_secret":"s"})", {});
  EXPECT_EQ(cdp.url, "https://api.cdp.coinbase.com/platform/v2/x402");
  EXPECT_EQ(parse_config(R"({"preset":"x402-rs","url":"http://127.0.0.1:9/"})", {}).url,
            "http://127.0.0.1:9");
}

TEST(FacilitatorHttpConfig, DefaultsMatchTheDocs) {
  auto c = parse_config(R"({"url":"http://127.0.0.1:8080"})", {});
  EXPECT_EQ(c.preset, Preset::generic);
  EXPECT_EQ(c.supported_ttl_seconds, 300u);
  EXPECT_EQ(c.max_429_retries, 2u);
  EXPECT_EQ(c.max_retry_after_ms, 2000u);
  EXPECT_EQ(c.timeout_ms, 0u);
}

TEST(FacilitatorHttpConfig, ErrorsNameTheKey) {
  EXPECT_EQ(error_of(R"({"preset":"acme"})"),
            "config.preset: must be one of generic, x402-rs, payai, cdp");
  EXPECT_EQ(error_of(R"({})"), "config.url: required for preset generic");
  EXPECT_EQ(error_of(R"({"url":"ftp://x"})"), "config.url: must start with http:// or https://");
  EXPECT_EQ(error_of(R"({"preset":"cdp"})"), "config.api_key_id: required for preset cdp");
  EXPECT_EQ(error_of(R"({"url":"http://x","timeout_ms":-5})"),
            "config.timeout_ms: must be a non-negative integer");
  EXPECT_EQ(error_of(R"({"url":"http://x","colour":"red"})"), "config.colour: unknown key");
  EXPECT_EQ(error_of(R"({"url":"http://x","api_key_id":"k","api_key_secret":"s"})"),
            "config.api_key_id: only used by presets cdp and payai");
}

TEST(FacilitatorHttpConfig, SecretsComeFromTheEnvironmentWhenAskedTo) {
  std::map<std::string, std::string> env{{"CDP_SECRET", "from-env"}};
  EnvLookup lookup = [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  auto c = parse_config(R"({"preset":"cdp","api_key_id":"k","api_key_secret":"env:CDP_SECRET"})",
                        lookup);
  EXPECT_EQ(c.api_key_secret, "from-env");
  EXPECT_EQ(error_of(R"({"preset":"cdp","api_key_id":"k","api_key_secret":"env:NOPE"})", lookup),
            "config.api_key_secret: environment variable NOPE is not set");
}

}  // namespace
}  // namespace x402::plugins::facilitator_http
