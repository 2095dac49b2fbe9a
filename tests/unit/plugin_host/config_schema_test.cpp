// JSON-schema-lite validation of plugin instance configs.
#include "plugin_host/config_schema.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace x402::plugin_host {
namespace {

constexpr const char* kSchema = R"({
  "type": "object",
  "properties": {
    "preset": {"type": "string", "enum": ["generic", "x402-rs", "payai", "cdp"]},
    "timeout_ms": {"type": "integer"},
    "auth": {"type": "object", "properties": {"key_id": {"type": "string"}},
             "required": ["key_id"]},
    "labels": {"type": "object", "additionalProperties": {"type": "string"}}
  },
  "required": ["preset"],
  "additionalProperties": false
})";

std::string error_of(const std::string& config, const char* schema = kSchema) {
  auto status = validate_plugin_config(schema, boost::json::parse(config));
  return status.ok() ? "ok" : status.error().message;
}

TEST(PluginConfigSchema, AcceptsAValidConfig) {
  EXPECT_EQ(error_of(R"({"preset":"cdp","timeout_ms":5,"auth":{"key_id":"k"},"labels":{"a":"b"}})"),
            "ok");
}

TEST(PluginConfigSchema, NamesTheKeyAndTheAllowedValues) {
  auto status = validate_plugin_config(kSchema, boost::json::parse(R"({"preset":"acme"})"));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().field, "config.preset");
  EXPECT_EQ(status.error().message, "config.preset: must be one of generic, x402-rs, payai, cdp");
}

TEST(PluginConfigSchema, ChecksTypes) {
  EXPECT_EQ(error_of(R"({"preset":"cdp","timeout_ms":"5"})"),
            "config.timeout_ms: must be integer, not a string");
  EXPECT_EQ(error_of(R"({"preset":"cdp","timeout_ms":1.5})"),
            "config.timeout_ms: must be integer, not a number");
  EXPECT_EQ(error_of(R"([])"), "config: must be object, not an array");
}

TEST(PluginConfigSchema, ChecksRequiredKeysAtEveryLevel) {
  EXPECT_EQ(error_of(R"({})"), "config.preset: required");
  EXPECT_EQ(error_of(R"({"preset":"cdp","auth":{}})"), "config.auth.key_id: required");
}

TEST(PluginConfigSchema, RefusesUnknownKeysWhenTheSchemaSaysSo) {
  EXPECT_EQ(error_of(R"({"preset":"cdp","presett":1})"),
            "config.presett: unknown key (known: preset, timeout_ms, auth, labels)");
  EXPECT_EQ(error_of(R"({"preset":"cdp","labels":{"a":1}})"),
            "config.labels.a: must be string, not a number");
}

TEST(PluginConfigSchema, NoSchemaAcceptsAnythingAndABrokenSchemaIsReported) {
  EXPECT_EQ(error_of(R"({"anything":[1,2]})", ""), "ok");
  auto status = validate_plugin_config("{not json", boost::json::parse("{}"));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, "plugin_schema");
}

}  // namespace
}  // namespace x402::plugin_host
