// The store's policy versions and credentials: numbering, activation and rollback, the change
// stamp, and the package balance that never goes below zero or past its expiry.
#include <gtest/gtest.h>

#include "state/store.hpp"
#include "store_backends.hpp"

namespace x402 {
namespace {

class PolicyStoreTest : public testing::StoreBackendTest {};

X402_INSTANTIATE_FOR_EVERY_BACKEND(PolicyStoreTest);

TEST_P(PolicyStoreTest, VersionsActivateAndRollBack) {
  Store* store = store_.get();
  auto stamp0 = store->policy_change_stamp();
  ASSERT_TRUE(stamp0.ok());
  auto v1 = store->add_policy("acme", "function price() end", "{}");
  auto v2 = store->add_policy("acme", "function price() end -- 2", "{}");
  auto other = store->add_policy("beta", "x", "{}");
  ASSERT_TRUE(v1.ok() && v2.ok() && other.ok());
  EXPECT_EQ(v1->version, 1);
  EXPECT_EQ(v2->version, 2);
  EXPECT_EQ(other->version, 1);  // numbered per merchant
  EXPECT_TRUE(store->active_policies()->empty());

  EXPECT_EQ(store->activate_policy("acme", 9).error().code, "policy_not_found");
  EXPECT_EQ(store->rollback_policy("acme").error().code, "no_previous_policy");
  auto a1 = store->activate_policy("acme", 1);
  ASSERT_TRUE(a1.ok());
  auto a2 = store->activate_policy("acme", 2);
  ASSERT_TRUE(a2.ok());
  EXPECT_EQ(a2->active_version, 2);
  EXPECT_EQ(a2->previous_version, 1);
  EXPECT_GT(a2->updated_ms, a1->updated_ms);  // strictly increasing, even within a millisecond
  EXPECT_EQ(*store->policy_change_stamp(), a2->updated_ms);

  auto active = store->active_policies();
  ASSERT_EQ(active->size(), 1u);
  EXPECT_EQ(active->at(0).source, "function price() end -- 2");

  auto back = store->rollback_policy("acme");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->active_version, 1);
  EXPECT_EQ(back->previous_version, 2);
  EXPECT_EQ(store->active_policies()->at(0).version, 1);
  EXPECT_EQ(store->list_policies("acme")->size(), 2u);
}

TEST_P(PolicyStoreTest, PackageBalanceIsBoundedAndExpires) {
  Store* store = store_.get();
  PaymentRecord payment;
  payment.id = "pay-1";
  payment.key = {84532, "0xasset", "0xpayer", "0xnonce"};
  payment.merchant_id = "acme";
  payment.amount = "20000";
  ASSERT_TRUE(store->claim_payment(payment).ok());
  UsageRecord usage;
  usage.merchant_id = "acme";
  usage.payer = "0xpayer";
  usage.amount = "20000";
  usage.billing_mode = "package";
  Credential credential{"cred-1", "acme", "0xPAYER", "/api/**", "package",
                        10'000,   2,      2,         "pay-1",   1};
  ASSERT_TRUE(
      store->complete_payment_with_credential("pay-1", "f", "0xtx", usage, credential).ok());

  UsageRecord call = usage;
  call.amount = "0";
  for (int i = 0; i < 2; ++i) {
    call.id = "use-" + std::to_string(i);
    auto taken = store->consume_package_call("cred-1", 5'000, call);
    ASSERT_TRUE(taken.ok());
    EXPECT_TRUE(*taken);
  }
  call.id = "use-x";
  EXPECT_FALSE(*store->consume_package_call("cred-1", 5'000, call));
  ASSERT_TRUE(store->refund_package_call("cred-1", "use-1").ok());
  EXPECT_EQ(store->find_credential("cred-1")->value().calls_remaining, 1);
  EXPECT_FALSE(*store->consume_package_call("cred-1", 10'000, call));  // expired
  auto history = store->payer_usage("acme", "0xpayer", 0, 5'000);
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->calls_this_period, 2u);  // the purchase and the call not refunded
  EXPECT_EQ(history->package_balance, 1u);
  EXPECT_EQ(store->find_credential("cred-1")->value().payer, "0xpayer");
}

}  // namespace
}  // namespace x402
