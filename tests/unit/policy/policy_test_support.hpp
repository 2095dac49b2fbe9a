#pragma once
// Helpers shared by the policy tests: compile a source, build a request, read an example file.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "policy/compiled_policy.hpp"

namespace x402::policy::testing {

inline PolicySpec spec_for(std::string source, PolicyLimits limits = {},
                           std::string merchant = "acme") {
  return PolicySpec{std::move(merchant), "1", std::move(source), std::move(limits)};
}

inline std::unique_ptr<CompiledPolicy> compile_ok(std::string source, PolicyLimits limits = {}) {
  auto compiled = CompiledPolicy::compile(spec_for(std::move(source), std::move(limits)));
  EXPECT_TRUE(compiled.ok()) << (compiled.ok()
                                     ? ""
                                     : compiled.error().code + ": " + compiled.error().message);
  return compiled.ok() ? std::move(*compiled) : nullptr;
}

inline PolicyRequest sample_request() {
  PolicyRequest request;
  request.method = "GET";
  request.path = "/weather";
  request.merchant = "acme";
  request.route = "/weather";
  request.now = 1735689600;
  request.headers = {{"Host", "api.example.com"}};
  return request;
}

inline RouteOffer usdc_offer() {
  return RouteOffer{{"0x036CbD53842c5426634e7929541eC2318f3dCF7e"},
                    {"base-sepolia", "eip155:84532"}};
}

inline std::string read_example(const std::string& name) {
  std::ifstream in(std::string(X402_SOURCE_DIR) + "/policies/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A policy that always answers the same valid price; used to prove a state still works.
inline constexpr const char* kSimplePolicy = "function price(req) return { amount = '10000' } end";

}  // namespace x402::policy::testing
