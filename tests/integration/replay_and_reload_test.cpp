// One payment is served at most once, however many copies arrive at once; and the config can be
// replaced under load (facilitator order and all) without a failed request.
#include <gtest/gtest.h>

#include <thread>

#include "support/fake_facilitator.hpp"
#include "support/gateway_harness.hpp"

namespace x402::testing {
namespace {

TEST(ReplayTest, FiftyConcurrentCopiesOfOnePaymentAreServedOnce) {
  FakeFacilitator facilitator;
  FakeUpstream upstream;
  ConfigOptions options;
  options.facilitators = {{"primary", facilitator.url()}};
  options.upstream_port = upstream.port();
  GatewayHarness gateway(gateway_yaml(options));

  const auto payment = pay_v2(gateway.get("/acme/api/signal"));
  constexpr int kCopies = 50;
  std::vector<unsigned> statuses(kCopies);
  std::vector<std::string> bodies(kCopies);
  std::vector<std::thread> clients;
  for (int i = 0; i < kCopies; ++i) {
    clients.emplace_back([&, i] {
      auto res = gateway.get("/acme/api/signal", {{"PAYMENT-SIGNATURE", payment}});
      statuses[i] = res.result_int();
      bodies[i] = res.body();
    });
  }
  for (auto& c : clients) c.join();

  int served = 0;
  for (int i = 0; i < kCopies; ++i) {
    if (statuses[i] == 200) {
      ++served;
      continue;
    }
    EXPECT_EQ(statuses[i], 402u) << bodies[i];
    EXPECT_NE(bodies[i].find("payment_already_used"), std::string::npos) << bodies[i];
  }
  EXPECT_EQ(served, 1);
  EXPECT_EQ(upstream.hits(), 1);
  EXPECT_EQ(facilitator.settle_calls.load(), 1);
  EXPECT_EQ(gateway.store().count_payments().value(), 1);

  // Later copies are refused too, from the database once the cache forgets.
  auto late = gateway.get("/acme/api/signal", {{"PAYMENT-SIGNATURE", payment}});
  EXPECT_EQ(late.result_int(), 402);
  EXPECT_EQ(upstream.hits(), 1);
}

TEST(ReplayTest, SameNonceInAnotherCaseIsTheSamePayment) {
  FakeFacilitator facilitator;
  FakeUpstream upstream;
  ConfigOptions options;
  options.facilitators = {{"primary", facilitator.url()}};
  options.upstream_port = upstream.port();
  GatewayHarness gateway(gateway_yaml(options));

  auto offer = gateway.get("/acme/api/signal");
  Authorization a;
  a.nonce = "0x" + std::string(64, 'a');
  ASSERT_EQ(gateway.get("/acme/api/signal", {{"PAYMENT-SIGNATURE", pay_v2(offer, a)}}).result_int(),
            200);
  a.nonce = "0x" + std::string(64, 'A');
  auto again = gateway.get("/acme/api/signal", {{"PAYMENT-SIGNATURE", pay_v2(offer, a)}});
  EXPECT_EQ(again.result_int(), 402);
  EXPECT_EQ(upstream.hits(), 1);
}

class ReloadTest : public ::testing::Test {
 protected:
  std::string yaml(bool a_first) {
    ConfigOptions options;
    options.facilitators = {{"alpha", alpha.url()}, {"beta", beta.url()}};
    if (!a_first) std::swap(options.facilitators[0], options.facilitators[1]);
    options.upstream_port = upstream.port();
    return gateway_yaml(options);
  }

  // Waits until the gateway runs a config generation newer than `than`.
  bool wait_for_generation(GatewayHarness& gw, uint64_t than) {
    for (int i = 0; i < 100; ++i) {
      if (gw.gateway().snapshot()->generation > than) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  FakeFacilitator alpha, beta;
  FakeUpstream upstream;
};

TEST_F(ReloadTest, ReorderingFacilitatorsUnderLoadFailsNoRequestAndTakesEffect) {
  GatewayHarness gateway(yaml(true));
  std::atomic<bool> running{true};
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      while (running) {
        auto offer = gateway.get("/acme/api/signal");
        auto res = gateway.get("/acme/api/signal", {{"PAYMENT-SIGNATURE", pay_v2(offer)}});
        (res.result_int() == 200 ? ok : failed)++;
      }
    });
  }
  while (ok < 20) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GT(alpha.verify_calls.load(), 0);
  EXPECT_EQ(beta.verify_calls.load(), 0);

  // Save the file the way an operator would; the watcher picks it up.
  const auto generation = gateway.gateway().snapshot()->generation;
  gateway.write_config(yaml(false));
  ASSERT_TRUE(wait_for_generation(gateway, generation));
  const int alpha_after_swap = alpha.verify_calls.load();
  const int ok_at_swap = ok.load();
  while (ok < ok_at_swap + 20) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  running = false;
  for (auto& c : clients) c.join();

  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(beta.verify_calls.load(), 0);
  // Requests already in flight at the swap may finish on alpha; none start there afterwards.
  EXPECT_LE(alpha.verify_calls.load(), alpha_after_swap + 4);
}

TEST_F(ReloadTest, BrokenEditIsRejectedAndTheOldConfigKeepsServing) {
  GatewayHarness gateway(yaml(false));  // beta first
  const auto generation = gateway.gateway().snapshot()->generation;

  gateway.write_config(yaml(true) + "merchants_typo: [\n");  // not even YAML
  auto rejected = gateway.gateway().reload();
  ASSERT_FALSE(rejected.ok());
  EXPECT_NE(rejected.error().message.find("gateway.yaml"), std::string::npos)
      << rejected.error().message;

  std::string bad_price = yaml(true);
  auto at = bad_price.find("\"0.01\"");
  bad_price.replace(at, 6, "\"0.0000001\"");
  gateway.write_config(bad_price);
  rejected = gateway.gateway().reload();
  ASSERT_FALSE(rejected.ok());
  EXPECT_NE(rejected.error().message.find("price"), std::string::npos) << rejected.error().message;

  EXPECT_EQ(gateway.gateway().snapshot()->generation, generation);
  auto offer = gateway.get("/acme/api/signal");
  auto res = gateway.get("/acme/api/signal", {{"PAYMENT-SIGNATURE", pay_v2(offer)}});
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(beta.verify_calls.load(), 1);
  EXPECT_EQ(alpha.verify_calls.load(), 0);
  EXPECT_GE(gateway.gateway().metrics().counter("x402_config_reloads_total", "result=rejected"),
            2u);
}

TEST_F(ReloadTest, PluginErrorsRejectTheReloadToo) {
  GatewayHarness gateway(yaml(true));
  std::string bad = yaml(true);
  bad.replace(bad.find("preset: generic"), 15, "preset: nonsense");
  gateway.write_config(bad);
  auto rejected = gateway.gateway().reload();
  ASSERT_FALSE(rejected.ok());
  EXPECT_NE(rejected.error().message.find("config.preset"), std::string::npos)
      << rejected.error().message;
  EXPECT_EQ(gateway.gateway().snapshot()->generation, 1u);
}

}  // namespace
}  // namespace x402::testing
