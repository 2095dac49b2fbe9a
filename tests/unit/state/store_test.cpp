// The Store contract, run against every backend (SQLite and PostgreSQL): claims, transitions and
// their audit trail, completion with usage, release, and reads.
#include "state/store.hpp"

#include <gtest/gtest.h>

#include <latch>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sample_records.hpp"
#include "state/pg_schema.hpp"
#include "state/sqlite_schema.hpp"
#include "store_backends.hpp"

namespace x402 {
namespace {

using testing::make_payment;
using testing::make_usage;
using testing::open_or_fail;
using testing::Rows;

class StoreTest : public testing::StoreBackendTest {
 protected:
  Rows events(const std::string& payment_id) {
    return db_->query(
        "SELECT from_status, to_status, facilitator, tx_hash, error_reason FROM "
        "payment_events WHERE payment_id = '" +
        payment_id + "' ORDER BY seq");
  }
};

X402_INSTANTIATE_FOR_EVERY_BACKEND(StoreTest);

TEST(SchemaVersions, BothBackendsKnowTheSameMigrations) {
  EXPECT_EQ(sqlite::latest_schema_version(), pg::latest_schema_version());
}

TEST_P(StoreTest, MigrationsApplyOnceWhenOpenedAgain) {
  ASSERT_TRUE(store_->claim_payment(make_payment("p1", "0x01")));
  auto second = open_or_fail(*db_);  // both open at once, as with two processes
  ASSERT_NE(second, nullptr);
  store_.reset();
  second.reset();
  auto third = open_or_fail(*db_);
  ASSERT_NE(third, nullptr);

  Rows versions = db_->query("SELECT version FROM schema_migrations ORDER BY version");
  ASSERT_EQ(versions.size(), static_cast<size_t>(sqlite::latest_schema_version()));
  for (size_t i = 0; i < versions.size(); ++i) {
    EXPECT_EQ(versions[i][0], std::to_string(i + 1));
  }
  auto count = third->count_payments();
  ASSERT_TRUE(count);
  EXPECT_EQ(*count, 1);
}

TEST_P(StoreTest, DuplicateClaimReturnsTheExistingRow) {
  PaymentRecord first = make_payment("p1", "0xaa");
  auto claimed = store_->claim_payment(first);
  ASSERT_TRUE(claimed) << claimed.error().message;
  EXPECT_EQ(claimed->outcome, ClaimOutcome::Claimed);
  EXPECT_FALSE(claimed->existing.has_value());

  PaymentRecord replay = make_payment("p2", "0xaa");
  replay.request_id = "req-other";
  auto again = store_->claim_payment(replay);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->outcome, ClaimOutcome::AlreadyClaimed);
  ASSERT_TRUE(again->existing.has_value());
  EXPECT_EQ(again->existing->id, "p1");
  EXPECT_EQ(again->existing->request_id, "req-p1");
  EXPECT_EQ(again->existing->amount, first.amount);
  EXPECT_EQ(again->existing->status, PaymentStatus::Pending);
  EXPECT_EQ(again->existing->payload_json, first.payload_json);

  auto count = store_->count_payments();
  ASSERT_TRUE(count);
  EXPECT_EQ(*count, 1);
  EXPECT_FALSE(store_->find_payment("p2").value().has_value());
}

TEST_P(StoreTest, EachPartOfTheKeyDistinguishesClaims) {
  PaymentRecord base = make_payment("p1", "0xaa");
  ASSERT_EQ(store_->claim_payment(base).value().outcome, ClaimOutcome::Claimed);

  PaymentRecord other_nonce = make_payment("p2", "0xab");
  PaymentRecord other_chain = make_payment("p3", "0xaa");
  other_chain.key.chain_id = 84532;
  PaymentRecord other_payer = make_payment("p4", "0xaa");
  other_payer.key.payer = "0x3333333333333333333333333333333333333333";
  PaymentRecord other_asset = make_payment("p5", "0xaa");
  other_asset.key.asset = "0x036cbd53842c5426634e7929541ec2318f3dcf7e";
  for (const PaymentRecord& r : {other_nonce, other_chain, other_payer, other_asset}) {
    auto claimed = store_->claim_payment(r);
    ASSERT_TRUE(claimed) << claimed.error().message;
    EXPECT_EQ(claimed->outcome, ClaimOutcome::Claimed) << r.id;
  }
  EXPECT_EQ(store_->count_payments().value(), 5);
}

TEST_P(StoreTest, MixedCaseAddressesAndNonceClaimOnce) {
  PaymentRecord upper = make_payment("p1", "0xABCDEF");
  upper.key.asset = "0x833589FCD6EDB6E08F4C7C32D4F71B54BDA02913";
  upper.key.payer = "0x1111111111111111111111111111111111AbCdEf";
  ASSERT_EQ(store_->claim_payment(upper).value().outcome, ClaimOutcome::Claimed);

  PaymentRecord lower = make_payment("p2", "0xabcdef");
  lower.key.payer = "0x1111111111111111111111111111111111abcdef";
  auto again = store_->claim_payment(lower);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->outcome, ClaimOutcome::AlreadyClaimed);
  ASSERT_TRUE(again->existing.has_value());
  EXPECT_EQ(again->existing->id, "p1");
  EXPECT_EQ(again->existing->key.payer, "0x1111111111111111111111111111111111abcdef");
  EXPECT_EQ(again->existing->key.asset, "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913");
  EXPECT_EQ(again->existing->key.nonce, "0xabcdef");

  auto found = store_->find_payment_by_key(upper.key);
  ASSERT_TRUE(found);
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->id, "p1");
}

TEST_P(StoreTest, ReusedIdForAnotherKeyIsAnErrorNotAReplay) {
  ASSERT_EQ(store_->claim_payment(make_payment("p1", "0x01")).value().outcome,
            ClaimOutcome::Claimed);
  auto clash = store_->claim_payment(make_payment("p1", "0x02"));
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().code, "store_error");
}

// Many threads racing on one key through one store: exactly one wins, the rest see its row.
TEST_P(StoreTest, ConcurrentClaimsOfOneKeyYieldExactlyOneWinner) {
  constexpr int kThreads = 50;
  std::latch start(kThreads);
  std::vector<std::optional<Result<ClaimResult>>> results(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      results[i] = store_->claim_payment(make_payment("p" + std::to_string(i), "0xfeed"));
    });
  }
  for (auto& t : threads) t.join();

  std::string winner;
  int claimed = 0;
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_TRUE(*results[i]) << results[i]->error().message;
    if ((*results[i])->outcome == ClaimOutcome::Claimed) {
      ++claimed;
      winner = "p" + std::to_string(i);
    }
  }
  ASSERT_EQ(claimed, 1);
  for (int i = 0; i < kThreads; ++i) {
    const ClaimResult& r = results[i]->value();
    if (r.outcome == ClaimOutcome::AlreadyClaimed) {
      ASSERT_TRUE(r.existing.has_value());
      EXPECT_EQ(r.existing->id, winner);
    }
  }
  EXPECT_EQ(store_->count_payments().value(), 1);
}

// Two stores on one database stand in for two gateway processes (SQLite: two connections to
// one file; PostgreSQL: two pools): the UNIQUE key, not an in-process mutex, must decide.
TEST_P(StoreTest, ConcurrentClaimsThroughTwoConnectionsYieldExactlyOneWinner) {
  auto other = open_or_fail(*db_);
  ASSERT_NE(other, nullptr);
  constexpr int kThreads = 20;
  std::latch start(kThreads);
  std::vector<std::optional<Result<ClaimResult>>> results(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    Store* store = (i % 2 == 0) ? store_.get() : other.get();
    threads.emplace_back([&, i, store] {
      start.arrive_and_wait();
      results[i] = store->claim_payment(make_payment("p" + std::to_string(i), "0xbeef"));
    });
  }
  for (auto& t : threads) t.join();

  int claimed = 0;
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_TRUE(*results[i]) << results[i]->error().message;
    if ((*results[i])->outcome == ClaimOutcome::Claimed) ++claimed;
  }
  EXPECT_EQ(claimed, 1);
  EXPECT_EQ(other->count_payments().value(), 1);
}

TEST_P(StoreTest, StatusTransitionsAreRecordedInTheAuditTrail) {
  ASSERT_TRUE(store_->claim_payment(make_payment("p1", "0x01")));
  ASSERT_TRUE(store_->update_payment("p1", PaymentStatus::Verified, "cdp", "", ""));
  ASSERT_TRUE(store_->update_payment("p1", PaymentStatus::Settling, "cdp", "", ""));
  ASSERT_TRUE(store_->update_payment("p1", PaymentStatus::Failed, "", "", "insufficient_funds"));

  auto found = store_->find_payment("p1");
  ASSERT_TRUE(found);
  ASSERT_TRUE(found->has_value());
  const PaymentRecord& row = **found;
  EXPECT_EQ(row.status, PaymentStatus::Failed);
  EXPECT_EQ(row.facilitator, "cdp");  // an empty facilitator on a later step keeps the earlier one
  EXPECT_EQ(row.error_reason, "insufficient_funds");
  EXPECT_EQ(row.created_ms, 1700000000000);
  EXPECT_GT(row.updated_ms, row.created_ms);

  EXPECT_EQ(events("p1"), (Rows{{"", "PENDING", "", "", ""},
                                {"PENDING", "VERIFIED", "cdp", "", ""},
                                {"VERIFIED", "SETTLING", "cdp", "", ""},
                                {"SETTLING", "FAILED", "", "", "insufficient_funds"}}));
}

TEST_P(StoreTest, UpdatingAnUnknownPaymentIsNotFound) {
  auto updated = store_->update_payment("missing", PaymentStatus::Verified, "cdp", "", "");
  ASSERT_FALSE(updated);
  EXPECT_EQ(updated.error().code, "payment_not_found");
  EXPECT_TRUE(events("missing").empty());
}

TEST_P(StoreTest, CompletePaymentSettlesAndWritesUsage) {
  ASSERT_TRUE(store_->claim_payment(make_payment("p1", "0x01")));
  ASSERT_TRUE(store_->update_payment("p1", PaymentStatus::Settling, "cdp", "", ""));
  auto completed = store_->complete_payment("p1", "cdp", "0xtx1", make_usage("u1"));
  ASSERT_TRUE(completed) << completed.error().message;

  auto row = store_->find_payment("p1").value();
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->status, PaymentStatus::Settled);
  EXPECT_EQ(row->tx_hash, "0xtx1");

  auto usage = store_->usage_for_merchant("acme", 10);
  ASSERT_TRUE(usage);
  ASSERT_EQ(usage->size(), 1u);
  const UsageRecord& u = usage->front();
  EXPECT_EQ(u.id, "u1");
  EXPECT_EQ(u.payment_id, "p1");
  EXPECT_EQ(u.amount, "10000");
  EXPECT_EQ(u.billing_mode, "per_request");
  EXPECT_EQ(u.upstream_status, 200);
  EXPECT_EQ(u.created_ms, 1700000000500);
  EXPECT_TRUE(store_->usage_for_merchant("other", 10).value().empty());

  Rows audit = events("p1");
  ASSERT_FALSE(audit.empty());
  EXPECT_EQ(audit.back(), (std::vector<std::string>{"SETTLING", "SETTLED", "cdp", "0xtx1", ""}));
}

TEST_P(StoreTest, FailedUsageInsertLeavesThePaymentUnsettled) {
  ASSERT_TRUE(store_->claim_payment(make_payment("p1", "0x01")));
  ASSERT_TRUE(store_->complete_payment("p1", "cdp", "0xtx1", make_usage("u1")));

  ASSERT_TRUE(store_->claim_payment(make_payment("p2", "0x02")));
  ASSERT_TRUE(store_->update_payment("p2", PaymentStatus::Settling, "cdp", "", ""));
  // The usage id collides with p1's, so the usage insert fails after the status update ran.
  auto completed = store_->complete_payment("p2", "cdp", "0xtx2", make_usage("u1"));
  ASSERT_FALSE(completed);
  EXPECT_EQ(completed.error().code, "store_error");

  auto row = store_->find_payment("p2").value();
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->status, PaymentStatus::Settling);
  EXPECT_EQ(row->tx_hash, "");
  EXPECT_EQ(events("p2").back()[1], "SETTLING");
  EXPECT_EQ(store_->usage_for_merchant("acme", 10).value().size(), 1u);
}

TEST_P(StoreTest, ReleaseAllowsTheSameAuthorizationToBeClaimedAgain) {
  ASSERT_TRUE(store_->claim_payment(make_payment("p1", "0x01")));
  ASSERT_TRUE(store_->update_payment("p1", PaymentStatus::Failed, "cdp", "", "invalid_signature"));
  auto released = store_->release_payment("p1");
  ASSERT_TRUE(released) << released.error().message;

  EXPECT_FALSE(store_->find_payment("p1").value().has_value());
  EXPECT_EQ(events("p1").back(), (std::vector<std::string>{"FAILED", "RELEASED", "", "", ""}));

  auto again = store_->claim_payment(make_payment("p2", "0x01"));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->outcome, ClaimOutcome::Claimed);
}

TEST_P(StoreTest, ReleaseIsRefusedOnceMoneyMoved) {
  ASSERT_TRUE(store_->claim_payment(make_payment("p1", "0x01")));
  ASSERT_TRUE(store_->complete_payment("p1", "cdp", "0xtx1", make_usage("u1")));
  auto released = store_->release_payment("p1");
  ASSERT_FALSE(released);
  EXPECT_EQ(released.error().code, "release_refused");
  EXPECT_TRUE(store_->find_payment("p1").value().has_value());
  EXPECT_EQ(store_->claim_payment(make_payment("p2", "0x01")).value().outcome,
            ClaimOutcome::AlreadyClaimed);
}

TEST_P(StoreTest, ReleasingAnUnknownPaymentIsNotFound) {
  auto released = store_->release_payment("missing");
  ASSERT_FALSE(released);
  EXPECT_EQ(released.error().code, "payment_not_found");
}

TEST_P(StoreTest, DataSurvivesReopen) {
  PaymentRecord original = make_payment("p1", "0x01");
  ASSERT_TRUE(store_->claim_payment(original));
  ASSERT_TRUE(store_->complete_payment("p1", "cdp", "0xtx1", make_usage("u1")));
  store_.reset();

  auto reopened = open_or_fail(*db_);
  ASSERT_NE(reopened, nullptr);
  auto row = reopened->find_payment("p1").value();
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->key.chain_id, original.key.chain_id);
  EXPECT_EQ(row->key.asset, original.key.asset);
  EXPECT_EQ(row->key.payer, original.key.payer);
  EXPECT_EQ(row->key.nonce, original.key.nonce);
  EXPECT_EQ(row->merchant_id, original.merchant_id);
  EXPECT_EQ(row->route, original.route);
  EXPECT_EQ(row->network, original.network);
  EXPECT_EQ(row->pay_to, original.pay_to);
  EXPECT_EQ(row->amount, original.amount);  // a full uint256 survives as text
  EXPECT_EQ(row->requirements_json, original.requirements_json);
  EXPECT_EQ(row->status, PaymentStatus::Settled);
  EXPECT_EQ(row->facilitator, "cdp");
  EXPECT_EQ(row->tx_hash, "0xtx1");
  EXPECT_EQ(reopened->usage_for_merchant("acme", 10).value().size(), 1u);
  EXPECT_EQ(reopened->claim_payment(make_payment("p2", "0x01")).value().outcome,
            ClaimOutcome::AlreadyClaimed);
}

TEST_P(StoreTest, PaymentsWithStatusFiltersAndLimits) {
  for (int i = 0; i < 4; ++i) {
    PaymentRecord r = make_payment("p" + std::to_string(i), "0x0" + std::to_string(i));
    r.created_ms += i;
    ASSERT_TRUE(store_->claim_payment(r));
  }
  ASSERT_TRUE(store_->update_payment("p1", PaymentStatus::Unknown, "cdp", "", "timeout"));
  ASSERT_TRUE(store_->update_payment("p3", PaymentStatus::Unknown, "cdp", "", "timeout"));

  auto unknown = store_->payments_with_status(PaymentStatus::Unknown, 10);
  ASSERT_TRUE(unknown);
  ASSERT_EQ(unknown->size(), 2u);
  EXPECT_EQ((*unknown)[0].id, "p1");  // oldest first: the reconciler works through a backlog
  EXPECT_EQ((*unknown)[1].id, "p3");

  auto limited = store_->payments_with_status(PaymentStatus::Pending, 1);
  ASSERT_TRUE(limited);
  ASSERT_EQ(limited->size(), 1u);
  EXPECT_EQ(limited->front().id, "p0");
}

}  // namespace
}  // namespace x402
