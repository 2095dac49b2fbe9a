// A hostile merchant policy (infinite loop, allocation bomb, pattern bomb) running flat out for
// merchant acme while merchant beta serves normal traffic: beta stays at normal latency and every
// beta request succeeds; acme is answered with its route's fallback (503), never served.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "policy_test_support.hpp"

namespace x402::testing {
namespace {

constexpr const char* kHostile = R"(
  function price(req)
    local attack = req.query.a
    if attack == "loop" then
      while true do end
    elseif attack == "alloc" then
      local hoard = {}
      local i = 0
      while true do i = i + 1; hoard[i] = ("x"):rep(1000) .. i end
    elseif attack == "pattern" then
      string.find(("a"):rep(4000), ("a*"):rep(60) .. "b")
    end
    return { amount = "1" }
  end)";

double median_ms(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

TEST(HostilePolicyTraffic, OtherMerchantsKeepTheirLatencyAndTheAttackerGetsItsFallback) {
  FakeFacilitator facilitator;
  FakeUpstream upstream;
  GatewayHarness gateway(policy_gateway_yaml(facilitator.url(), upstream.port()));
  install_policy(gateway, "acme", kHostile);
  install_policy(gateway, "beta", R"(
    function price(req)
      if req.path:match("^/api/") then return { mode = "free" } end
      return { amount = "1000" }
    end)");

  std::atomic<int> beta_failures{0};
  auto beta_round = [&](int n) {
    std::vector<double> latencies;
    for (int i = 0; i < n; ++i) {
      const auto started = std::chrono::steady_clock::now();
      auto res = gateway.get("/beta/api/quote?i=" + std::to_string(i));
      latencies.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
              .count());
      if (res.result_int() != 200 || res.body().find("sunny") == std::string::npos) ++beta_failures;
    }
    return latencies;
  };

  beta_round(10);  // warm-up: connections, states, page cache
  const double baseline = median_ms(beta_round(40));

  std::atomic<bool> stop{false};
  std::atomic<int> attacks{0};
  std::atomic<int> attack_not_fallback{0};
  std::vector<std::thread> attackers;
  for (int t = 0; t < 2; ++t) {
    attackers.emplace_back([&, t] {
      const char* kinds[] = {"loop", "alloc", "pattern"};
      for (int i = t; !stop.load(); ++i) {
        auto res = gateway.get(std::string("/acme/strict/x?a=") + kinds[i % 3]);
        ++attacks;
        if (res.result_int() != 503 || res.body().find("pricing_unavailable") == std::string::npos)
          ++attack_not_fallback;
      }
    });
  }
  // Under attack for sure before measuring.
  while (attacks.load() < 30) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const double under_attack = median_ms(beta_round(40));
  stop = true;
  for (auto& a : attackers) a.join();

  EXPECT_EQ(beta_failures.load(), 0);
  EXPECT_LT(under_attack, 3 * baseline + 20.0)
      << "beta median " << under_attack << " ms under attack vs " << baseline << " ms baseline";
  EXPECT_GE(attacks.load(), 30);
  EXPECT_EQ(attack_not_fallback.load(), 0);
  EXPECT_EQ(upstream.hits(), 50 + 40);  // beta's requests only: acme was never served

  auto& metrics = gateway.gateway().metrics();
  EXPECT_GT(
      metrics.counter("x402_policy_failures_total", "merchant=acme,code=policy_instruction_limit"),
      0u);
  EXPECT_GT(metrics.counter("x402_policy_failures_total", "merchant=acme,code=policy_memory_limit"),
            0u);
  EXPECT_EQ(metrics.counter("x402_policy_evaluations_total", "merchant=beta,outcome=error"), 0u);
  std::printf("beta median: %.2f ms baseline, %.2f ms under attack (%d attack requests)\n",
              baseline, under_attack, attacks.load());
}

}  // namespace
}  // namespace x402::testing
