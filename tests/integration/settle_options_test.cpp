// Settle options (plugin ABI 1.1): the kernel's facilitator adapter hands a route's settle mode and
// the payment id to settle_with_options when the plugin's vtable has it, and falls back to plain
// settle() for a 1.0 plugin — without reading past the table the plugin declared.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cstddef>
#include <mutex>

#include "gateway/facilitator.hpp"
#include "gateway/facilitator_chain.hpp"

namespace x402 {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// What the hand-made plugin saw. It is the plugin instance pointer.
struct Recorder {
  std::mutex mu;
  int plain_settles = 0;
  int option_settles = 0;
  uint32_t options_struct_size = 0;
  x402_settle_wait wait = X402_SETTLE_CONFIRMED;
  std::string payment_id;
  std::string request;
};

constexpr std::string_view kVerdict =
    R"({"success":true,"transaction":"0xabc","network":"eip155:84532","payer":"0x1"})";

void answer(x402_facilitator_callback callback, void* user) {
  x402_facilitator_result result{};
  result.outcome = X402_FAC_ANSWERED;
  result.http_status = 200;
  result.body = {kVerdict.data(), kVerdict.size()};
  callback(user, &result);
}

void plain_settle(void* instance, x402_str request, x402_facilitator_callback callback,
                  void* user) {
  auto* r = static_cast<Recorder*>(instance);
  {
    std::lock_guard lock(r->mu);
    ++r->plain_settles;
    r->request.assign(request.data, request.len);
  }
  answer(callback, user);
}

void settle_with_options(void* instance, x402_str request, const x402_settle_options* options,
                         x402_facilitator_callback callback, void* user) {
  auto* r = static_cast<Recorder*>(instance);
  {
    std::lock_guard lock(r->mu);
    ++r->option_settles;
    r->options_struct_size = options->struct_size;
    r->wait = options->wait;
    r->payment_id.assign(options->payment_id.data, options->payment_id.len);
    r->request.assign(request.data, request.len);
  }
  answer(callback, user);
}

x402_facilitator_vtable make_vtable() {
  x402_facilitator_vtable vt{};
  vt.struct_size = sizeof(x402_facilitator_vtable);
  vt.destroy = [](void*) {};
  vt.settle = plain_settle;
  vt.settle_with_options = settle_with_options;
  return vt;
}

std::shared_ptr<Facilitator> facilitator_over(const x402_facilitator_vtable* vt, Recorder& r) {
  auto instance = std::make_unique<plugin_host::FacilitatorInstance>(nullptr, vt, &r, "hand-made");
  return std::make_shared<Facilitator>(std::move(instance), 0, 1000ms);
}

template <typename T>
T run(asio::awaitable<T> work) {
  asio::io_context ioc;
  auto result = asio::co_spawn(ioc, std::move(work), asio::use_future);
  ioc.run();
  return result.get();
}

TEST(SettleOptions, BroadcastAndThePaymentIdReachSettleWithOptions) {
  Recorder r;
  const auto vt = make_vtable();
  auto facilitator = facilitator_over(&vt, r);
  auto answer =
      run(facilitator->settle(R"({"x402Version":2})", 1000ms, {X402_SETTLE_BROADCAST, "pay-123"}));
  EXPECT_EQ(answer.outcome, X402_FAC_ANSWERED);
  EXPECT_EQ(r.option_settles, 1);
  EXPECT_EQ(r.plain_settles, 0);
  EXPECT_EQ(r.wait, X402_SETTLE_BROADCAST);
  EXPECT_EQ(r.payment_id, "pay-123");
  EXPECT_EQ(r.options_struct_size, sizeof(x402_settle_options));
  EXPECT_EQ(r.request, R"({"x402Version":2})");
}

TEST(SettleOptions, TheDefaultIsToWaitForConfirmation) {
  Recorder r;
  const auto vt = make_vtable();
  auto facilitator = facilitator_over(&vt, r);
  run(facilitator->settle("{}", 1000ms, SettleCallOptions{}));
  EXPECT_EQ(r.option_settles, 1);
  EXPECT_EQ(r.wait, X402_SETTLE_CONFIRMED);
  EXPECT_EQ(r.payment_id, "");
}

TEST(SettleOptions, APluginBuiltForAbi10GetsPlainSettle) {
  Recorder r;
  auto vt = make_vtable();
  // A 1.0 table ends before settle_with_options; whatever lies beyond must not be called.
  vt.struct_size = offsetof(x402_facilitator_vtable, settle_with_options);
  auto facilitator = facilitator_over(&vt, r);
  auto answer = run(facilitator->settle("{}", 1000ms, {X402_SETTLE_BROADCAST, "pay-1"}));
  EXPECT_EQ(answer.outcome, X402_FAC_ANSWERED);
  EXPECT_EQ(r.plain_settles, 1);
  EXPECT_EQ(r.option_settles, 0);
}

TEST(SettleOptions, ANullSettleWithOptionsFallsBackToPlainSettle) {
  Recorder r;
  auto vt = make_vtable();
  vt.settle_with_options = nullptr;
  auto facilitator = facilitator_over(&vt, r);
  run(facilitator->settle("{}", 1000ms, {X402_SETTLE_BROADCAST, "pay-1"}));
  EXPECT_EQ(r.plain_settles, 1);
  EXPECT_EQ(r.option_settles, 0);
}

TEST(SettleOptions, TheChainPassesTheOptionsToTheFacilitatorItAsks) {
  Recorder r;
  const auto vt = make_vtable();
  std::vector<ChainMember> members{
      {facilitator_over(&vt, r), std::make_shared<CircuitBreaker>(3, 30000ms)}};
  FacilitatorChain chain(std::move(members), RoutingStrategy{}, FacilitatorChain::Timing{});
  VerifyResult verified;
  verified.kind = VerifyResult::Kind::Valid;
  verified.member = 0;
  verified.order = {0};
  auto settled = run(chain.settle(verified, R"({"x":1})", {X402_SETTLE_BROADCAST, "pay-9"}));
  EXPECT_EQ(settled.kind, SettleResult::Kind::Settled);
  EXPECT_EQ(settled.transaction, "0xabc");
  EXPECT_EQ(r.option_settles, 1);
  EXPECT_EQ(r.wait, X402_SETTLE_BROADCAST);
  EXPECT_EQ(r.payment_id, "pay-9");
}

}  // namespace
}  // namespace x402
