// The per-facilitator circuit breaker through a real x402d (DESIGN.md §5 "Health"): consecutive
// failures open it, after which a dead facilitator costs requests nothing; only the prober talks
// to it until it answers again; and a config reload does not forget what the breaker learned.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "support/fake_facilitator.hpp"
#include "support/gateway_harness.hpp"

namespace x402::testing {
namespace {

using Behaviour = FakeFacilitator::Behaviour;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

class BreakerTest : public ::testing::Test {
 protected:
  // alpha comes first in YAML order, so it is preferred whenever its breaker is closed.
  void start(ConfigOptions options) {
    options.facilitators = {{"alpha", alpha.url()}, {"beta", beta.url()}};
    options.upstream_port = upstream.port();
    options.breaker_threshold = 2;
    options_ = options;
    gateway = std::make_unique<GatewayHarness>(gateway_yaml(options));
    // Routing puts facilitators known (from /supported) to handle the payment before those still
    // unknown; wait for the startup refresh so that YAML order decides.
    const auto deadline = Clock::now() + 5s;
    for (const auto& member : gateway->gateway().snapshot()->chain->members()) {
      while (!member.facilitator->supported_kinds()) {
        ASSERT_LT(Clock::now(), deadline) << member.facilitator->name() << " /supported unknown";
        std::this_thread::sleep_for(10ms);
      }
    }
  }

  http::Response pay_once() {
    auto offer = gateway->get("/acme/api/signal");
    return gateway->get("/acme/api/signal", {{"PAYMENT-SIGNATURE", pay_v2(offer)}});
  }

  bool alpha_breaker_open() {
    return gateway->gateway().snapshot()->chain->members().at(0).breaker->is_open();
  }

  // Two payments while alpha hangs on verify: each costs one attempt timeout, then beta serves.
  void open_alphas_breaker() {
    alpha.verify_behaviour = Behaviour::Hang;
    for (int i = 0; i < 2; ++i) {
      auto res = pay_once();
      ASSERT_EQ(res.result_int(), 200) << res.body();
    }
    ASSERT_EQ(alpha.verify_calls.load(), 2);
    ASSERT_EQ(
        gateway->gateway().metrics().counter("x402_facilitator_attempts_total",
                                             "facilitator=alpha,operation=verify,outcome=timeout"),
        2u);
    ASSERT_TRUE(alpha_breaker_open());
  }

  FakeFacilitator alpha;
  FakeFacilitator beta;
  FakeUpstream upstream;
  ConfigOptions options_;
  std::unique_ptr<GatewayHarness> gateway;  // last: stops before the peers it talks to
};

TEST_F(BreakerTest, AnOpenBreakerSkipsTheDeadFacilitatorAtNoCost) {
  ConfigOptions options;
  options.attempt_timeout_ms = 1000;
  options.breaker_open_ms = 60000;  // no probe during this test
  start(options);
  open_alphas_breaker();

  auto started = Clock::now();
  auto res = pay_once();
  auto took = Clock::now() - started;

  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(alpha.verify_calls.load(), 2);  // not asked at all
  EXPECT_EQ(beta.verify_calls.load(), 3);
  EXPECT_EQ(beta.settle_calls.load(), 3);
  // Loose on purpose: the point is that no attempt timeout (1000 ms) was spent on alpha.
  EXPECT_LT(took, 500ms);
}

TEST_F(BreakerTest, TheProberClosesTheBreakerOnceTheFacilitatorAnswersAgain) {
  ConfigOptions options;
  options.attempt_timeout_ms = 300;
  options.breaker_open_ms = 300;
  start(options);
  alpha.supported_behaviour = Behaviour::Hang;  // dead for the prober too, at first
  open_alphas_breaker();

  // While it is dead, probes fail and requests keep skipping it.
  std::this_thread::sleep_for(800ms);
  ASSERT_EQ(pay_once().result_int(), 200);
  EXPECT_EQ(alpha.verify_calls.load(), 2);
  EXPECT_TRUE(alpha_breaker_open());
  const int probes_while_dead = alpha.supported_calls.load();

  alpha.verify_behaviour = Behaviour::Answer;
  alpha.supported_behaviour = Behaviour::Answer;
  const auto deadline = Clock::now() + 8s;
  while (alpha.verify_calls.load() == 2 && Clock::now() < deadline) {
    ASSERT_EQ(pay_once().result_int(), 200);
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(alpha.verify_calls.load(), 3) << "alpha was never preferred again";
  EXPECT_GT(alpha.supported_calls.load(), probes_while_dead);  // the prober found it alive
  EXPECT_FALSE(alpha_breaker_open());
  auto settled = gateway->store().payments_with_status(PaymentStatus::Settled, 100);
  ASSERT_TRUE(settled.ok());
  EXPECT_EQ(std::count_if(settled->begin(), settled->end(),
                          [](const PaymentRecord& p) { return p.facilitator == "alpha"; }),
            1);
}

TEST_F(BreakerTest, TheBreakerSurvivesAConfigReload) {
  ConfigOptions options;
  options.attempt_timeout_ms = 300;
  options.breaker_open_ms = 60000;
  start(options);
  open_alphas_breaker();
  const auto generation = gateway->gateway().snapshot()->generation;

  // The same facilitators, a harmless change elsewhere.
  auto yaml = gateway_yaml(options_);
  const std::string from = "description: Trading signal";
  auto at = yaml.find(from);
  ASSERT_NE(at, std::string::npos);
  yaml.replace(at, from.size(), "description: Trading signal, reloaded");
  gateway->write_config(yaml);
  ASSERT_TRUE(gateway->gateway().reload().ok());
  ASSERT_GT(gateway->gateway().snapshot()->generation, generation);

  EXPECT_TRUE(alpha_breaker_open());
  auto res = pay_once();
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(alpha.verify_calls.load(), 2);  // still skipped under the new snapshot
  EXPECT_EQ(beta.verify_calls.load(), 3);
}

}  // namespace
}  // namespace x402::testing
