// What pricing costs per request (docs/BENCHMARKS.md, "Policy evaluation"): a static route looks
// up the plan computed when the config was applied; a policy route evaluates the merchant's Lua
// policy in its sandbox on the worker's PolicyRuntime. Same request view for every policy case.
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>
#include <unordered_map>

#include "gateway/snapshot.hpp"
#include "policy/policy_runtime.hpp"

namespace {

using namespace x402;

std::string read_policy(const char* name) {
  std::ifstream in(std::string(X402_SOURCE_DIR) + "/policies/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

policy::PolicyRequest typical_request(const std::string& path) {
  policy::PolicyRequest r;
  r.method = "GET";
  r.path = path;
  r.query = {{"limit", "25"}, {"lang", "en"}};
  r.headers = {{"host", "gw.example"},         {"user-agent", "bench/1.0"},
               {"accept", "application/json"}, {"accept-encoding", "gzip"},
               {"x-request-id", "abc123"},     {"content-type", "application/json"}};
  r.body_size = 2048;
  r.merchant = "acme";
  r.route = "/**";
  r.now = 1'800'000'000;
  r.payer.address = "0x857b06519e91e3a54538791bdbb0e22373e36b66";
  r.payer.calls_this_period = 1500;
  return r;
}

const policy::RouteOffer kOffer{{"USDC"}, {"base-sepolia", "eip155:84532"}};

// Static price: the plan was built when the config was applied; the request path looks it up.
void BM_StaticPrice(benchmark::State& state) {
  AssetConfig asset{"USDC",
                    Network{"base-sepolia", 84532},
                    "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
                    6,
                    "USDC",
                    "2"};
  MerchantConfig merchant;
  merchant.pay_to = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";
  RouteConfig route;
  route.path = "/**";
  route.accepts.push_back(PriceOption{&asset, *Amount::parse_atomic("10000"), "0.01"});
  std::unordered_map<const RouteConfig*, RoutePlan> plans;
  plans.emplace(&route, plan_route(merchant, route));
  for (auto _ : state) {
    auto it = plans.find(&route);
    benchmark::DoNotOptimize(it->second.requirements.front().amount);
  }
}
BENCHMARK(BM_StaticPrice);

void run_policy(benchmark::State& state, const char* file, const std::string& path) {
  policy::PolicyRuntime runtime;
  policy::PolicySpec spec{"acme", "1", read_policy(file), {}};
  const auto request = typical_request(path);
  auto first = runtime.price(spec, request, kOffer);
  if (!first) {
    state.SkipWithError(first.error().message.c_str());
    return;
  }
  for (auto _ : state) {
    auto decision = runtime.price(spec, request, kOffer);
    benchmark::DoNotOptimize(decision);
  }
}

void BM_PolicyConstant(benchmark::State& state) {
  run_policy(state, "per_request_static.lua", "/v1/data");
}
BENCHMARK(BM_PolicyConstant);

void BM_PolicyDynamic(benchmark::State& state) {
  run_policy(state, "dynamic_pricing.lua", "/search");
}
BENCHMARK(BM_PolicyDynamic);

void BM_PolicyVolumeTiers(benchmark::State& state) {
  run_policy(state, "volume_tiers.lua", "/v1/data");
}
BENCHMARK(BM_PolicyVolumeTiers);

}  // namespace

BENCHMARK_MAIN();
