// Merchants never share a state: what one policy does to its globals or libraries is invisible
// to another's, on the same thread.
#include <gtest/gtest.h>

#include "policy/policy_runtime.hpp"
#include "policy_test_support.hpp"

namespace x402::policy {
namespace {

using testing::sample_request;
using testing::spec_for;
using testing::usdc_offer;

constexpr const char* kTamperer = R"lua(
secret = "tamperer-secret"
function price(req)
  shared_counter = (shared_counter or 0) + 1
  _G.leaked = "from tamperer"
  pcall(function() string.upper = function() return "HIJACKED" end end)
  pcall(function() table.concat = nil end)
  return { amount = shared_counter }
end
)lua";

constexpr const char* kObserver = R"lua(
function price(req)
  local seen = table.concat({ tostring(secret), tostring(shared_counter), tostring(leaked),
                              ("abc"):upper(), type(table.concat) }, ",")
  return { amount = "1", description = seen }
end
)lua";

TEST(PolicyIsolation, OneMerchantsGlobalsAndLibrariesAreInvisibleToAnother) {
  PolicyRuntime runtime;
  const auto tamperer = spec_for(kTamperer, {}, "tamperer");
  const auto observer = spec_for(kObserver, {}, "observer");
  for (int i = 1; i <= 3; ++i) {
    auto tampered = runtime.price(tamperer, sample_request(), usdc_offer());
    ASSERT_TRUE(tampered.ok()) << tampered.error().message;
    EXPECT_EQ(tampered->amount, std::to_string(i));  // its own globals persist in its own state
    auto observed = runtime.price(observer, sample_request(), usdc_offer());
    ASSERT_TRUE(observed.ok()) << observed.error().message;
    EXPECT_EQ(observed->description, "nil,nil,nil,ABC,function");
  }
  EXPECT_EQ(runtime.size(), 2u);
}

TEST(PolicyIsolation, TheSameSourceForTwoMerchantsGetsTwoStates) {
  PolicyRuntime runtime;
  const char* counter = "n = 0 function price(req) n = n + 1 return { amount = n } end";
  EXPECT_EQ(runtime.price(spec_for(counter, {}, "a"), sample_request(), usdc_offer())->amount, "1");
  EXPECT_EQ(runtime.price(spec_for(counter, {}, "a"), sample_request(), usdc_offer())->amount, "2");
  EXPECT_EQ(runtime.price(spec_for(counter, {}, "b"), sample_request(), usdc_offer())->amount, "1");
}

}  // namespace
}  // namespace x402::policy
