// Creating instances through the real C ABI: config errors name the file entry, the plugin and
// the key; the SDK adapters contain misbehaving plugins (sdk-probe fixture).
#include "plugin_host/instance.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "test_paths.hpp"

namespace x402::plugin_host {
namespace {

using test::built_plugin;
using test::fixture_plugin;

std::shared_ptr<const LoadedPlugin> load(const std::string& path) {
  auto plugin = load_plugin(path);
  EXPECT_TRUE(plugin.ok()) << plugin.error().message;
  return plugin.ok() ? plugin.value() : nullptr;
}

boost::json::object config(const char* json) {
  return boost::json::parse(json).as_object();
}

// These plugins never call the host during the calls made here.
const x402_host_api* no_host() {
  static x402_host_api api{sizeof(x402_host_api), X402_ABI_MINOR};
  return &api;
}

struct Answer {
  int calls = 0;
  x402_facilitator_outcome outcome{};
  std::string body, error;
};

void record(void* user, const x402_facilitator_result* r) {
  auto* a = static_cast<Answer*>(user);
  ++a->calls;
  a->outcome = r->outcome;
  a->body.assign(r->body.data, r->body.len);
  a->error.assign(r->error.data, r->error.len);
}

TEST(PluginInstance, SchemaErrorsNameTheEntryThePluginAndTheKey) {
  auto plugin = load(built_plugin("facilitator-http"));
  ASSERT_TRUE(plugin);
  auto created = create_facilitator(plugin, no_host(), "fac-b", config(R"({"preset":"acme"})"),
                                    "facilitators[1]");
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().message,
            "facilitators[1] (facilitator-http): config.preset: must be one of generic, x402-rs, "
            "payai, cdp");
  EXPECT_EQ(created.error().field, "facilitators[1].config.preset");
}

TEST(PluginInstance, CreateErrorsFromThePluginArePrefixedToo) {
  auto plugin = load(built_plugin("facilitator-http"));
  ASSERT_TRUE(plugin);
  auto created = create_facilitator(plugin, no_host(), "fac-a", config("{}"), "facilitators[0]");
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().message,
            "facilitators[0] (facilitator-http): config.url: required for preset generic");
}

TEST(PluginInstance, CreatesAFacilitatorHttpInstance) {
  auto plugin = load(built_plugin("facilitator-http"));
  ASSERT_TRUE(plugin);
  auto created = create_facilitator(plugin, no_host(), "x402-rs", config(R"({"preset":"x402-rs"})"),
                                    "facilitators[0]");
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_NE((*created)->get(), nullptr);
  EXPECT_EQ((*created)->name(), "x402-rs");
}

TEST(PluginInstance, RefusesAPluginOfTheWrongKind) {
  auto plugin = load(built_plugin("routing-priority"));
  ASSERT_TRUE(plugin);
  auto created = create_facilitator(plugin, no_host(), "f", config("{}"), "facilitators[0]");
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.error().message.find("is not a facilitator plugin"), std::string::npos);
}

TEST(SdkAdapters, ExceptionFromAConstructorBecomesTheCreateError) {
  auto plugin = load(fixture_plugin("sdk-probe"));
  ASSERT_TRUE(plugin);
  auto created =
      create_facilitator(plugin, no_host(), "p",
                         config(R"({"refuse":"config.colour: not a colour"})"), "facilitators[2]");
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().message, "facilitators[2] (sdk-probe): config.colour: not a colour");
}

TEST(SdkAdapters, EveryCallGetsExactlyOneAnswer) {
  auto plugin = load(fixture_plugin("sdk-probe"));
  ASSERT_TRUE(plugin);
  auto created = create_facilitator(plugin, no_host(), "p", config("{}"), "facilitators[0]");
  ASSERT_TRUE(created.ok()) << created.error().message;
  const auto& vt = (*created)->vtable();
  void* self = (*created)->get();

  Answer verify;  // answers twice: the host sees the first only
  const std::string request = R"({"x402Version":2})";
  vt.verify(self, x402_str{request.data(), request.size()}, &record, &verify);
  EXPECT_EQ(verify.calls, 1);
  EXPECT_EQ(verify.outcome, X402_FAC_ANSWERED);
  EXPECT_EQ(verify.body, request);

  Answer settle;  // throws
  vt.settle(self, x402_str{request.data(), request.size()}, &record, &settle);
  EXPECT_EQ(settle.calls, 1);
  EXPECT_EQ(settle.outcome, X402_FAC_UNAVAILABLE);
  EXPECT_EQ(settle.error, "plugin error: settle exploded");

  Answer supported;  // drops its handler
  vt.supported(self, &record, &supported);
  EXPECT_EQ(supported.calls, 1);
  EXPECT_EQ(supported.outcome, X402_FAC_UNAVAILABLE);
  EXPECT_EQ(supported.error, "plugin dropped the request without an answer");
}

TEST(SdkAdapters, RoutingOrderIsSanitisedAndExceptionsFallBackToYamlOrder) {
  auto plugin = load(fixture_plugin("sdk-probe"));
  ASSERT_TRUE(plugin);
  auto created = create_routing(plugin, no_host(), "r", config("{}"), "routing");
  ASSERT_TRUE(created.ok()) << created.error().message;
  x402_routing_candidate candidates[3] = {};
  for (uint32_t i = 0; i < 3; ++i) candidates[i].priority = i;
  uint32_t out[3] = {};

  x402_payment_kind kind{2, {"exact", 5}, {"eip155:8453", 11}};
  size_t n = (*created)->vtable().order((*created)->get(), &kind, candidates, 3, out);
  ASSERT_EQ(n, 3u);  // the probe returned 5 indexes: 99 and a duplicate are dropped
  EXPECT_EQ(out[0], 2u);
  EXPECT_EQ(out[1], 1u);
  EXPECT_EQ(out[2], 0u);

  x402_payment_kind throwing{2, {"throw", 5}, {"eip155:8453", 11}};
  n = (*created)->vtable().order((*created)->get(), &throwing, candidates, 3, out);
  ASSERT_EQ(n, 3u);
  EXPECT_EQ(out[0], 0u);
  EXPECT_EQ(out[1], 1u);
  EXPECT_EQ(out[2], 2u);
}

struct Decisions {
  int calls = 0;
  x402_ratelimit_decision last{};
};

void record_decision(void* user, const x402_ratelimit_decision* d) {
  auto* decisions = static_cast<Decisions*>(user);
  ++decisions->calls;
  decisions->last = *d;
}

TEST(SdkAdapters, EveryRateLimitCheckGetsExactlyOneDecision) {
  auto plugin = load(fixture_plugin("sdk-probe"));
  ASSERT_TRUE(plugin);
  auto created = create_ratelimit(plugin, no_host(), "t", config("{}"), "rate_limits[0]");
  ASSERT_TRUE(created.ok()) << created.error().message;
  const auto& vt = (*created)->vtable();
  const auto admit = [&](std::string_view key) {
    Decisions decisions;
    vt.admit((*created)->get(), {key.data(), key.size()}, {"acme", 4}, &record_decision,
             &decisions);
    return decisions;
  };

  Decisions twice = admit("twice");  // the host sees the first decision only
  EXPECT_EQ(twice.calls, 1);
  EXPECT_EQ(twice.last.allowed, 0);
  EXPECT_EQ(twice.last.retry_after_ms, 1500u);

  // A tier bug admits the request and says the decision was not the tier's.
  for (std::string_view key : {"throw", "drop"}) {
    Decisions broken = admit(key);
    EXPECT_EQ(broken.calls, 1) << key;
    EXPECT_EQ(broken.last.allowed, 1) << key;
    EXPECT_EQ(broken.last.degraded, 1) << key;
  }
}

}  // namespace
}  // namespace x402::plugin_host
