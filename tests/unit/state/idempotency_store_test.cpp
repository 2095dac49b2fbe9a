// The Store's idempotency keys, run against every backend (SQLite and PostgreSQL): begin reports
// Started / Replay / InFlight / Mismatch, expired and abandoned rows are taken over, finish and
// abandon touch only their owner's row, the purge drops expired rows, and concurrent begins on
// one key (threads; for PostgreSQL also two stores standing in for two nodes) start exactly one.
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "state/store.hpp"
#include "store_backends.hpp"

namespace x402 {
namespace {

using testing::open_or_fail;
using testing::Rows;

constexpr int64_t kNow = 1'700'000'000'000;
constexpr int64_t kDay = 24 * 3600 * 1000;

class IdempotencyStoreTest : public testing::StoreBackendTest {
 protected:
  static IdempotencyRecord request(const std::string& owner, const std::string& fingerprint = "fp1",
                                   int64_t now = kNow) {
    IdempotencyRecord r;
    r.scope = "admin:abc";
    r.key = "key-1";
    r.fingerprint = fingerprint;
    r.owner = owner;
    r.created_ms = now;
    r.expires_ms = now + kDay;
    return r;
  }

  static IdempotencyRecord response_of(IdempotencyRecord r) {
    r.response_status = 201;
    r.response_headers = R"({"content-type":"application/json"})";
    r.response_body = "eyJ2ZXJzaW9uIjoxfQ==";
    r.expires_ms = kNow + 2 * kDay;
    return r;
  }

  IdempotencyOutcome begin(const IdempotencyRecord& r, int64_t stale_before = 0) {
    auto began = store_->idempotency_begin(r, stale_before);
    EXPECT_TRUE(began) << began.error().message;
    return began ? began->outcome : IdempotencyOutcome::Started;
  }
};

X402_INSTANTIATE_FOR_EVERY_BACKEND(IdempotencyStoreTest);

TEST_P(IdempotencyStoreTest, FirstBeginStartsAndStoresAnInFlightRow) {
  EXPECT_EQ(begin(request("req-a")), IdempotencyOutcome::Started);
  Rows rows = db_->query(
      "SELECT scope, idempotency_key, fingerprint, owner, state, created_ms, expires_ms"
      " FROM idempotency_keys");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"admin:abc", "key-1", "fp1", "req-a", "in_flight",
                                               std::to_string(kNow), std::to_string(kNow + kDay)}));
}

TEST_P(IdempotencyStoreTest, SecondBeginWhileInFlightReportsInFlightOrMismatch) {
  ASSERT_EQ(begin(request("req-a")), IdempotencyOutcome::Started);

  auto same = store_->idempotency_begin(request("req-b", "fp1", kNow + 5), 0);
  ASSERT_TRUE(same) << same.error().message;
  EXPECT_EQ(same->outcome, IdempotencyOutcome::InFlight);
  ASSERT_TRUE(same->stored.has_value());
  EXPECT_EQ(same->stored->owner, "req-a");
  EXPECT_FALSE(same->stored->done);

  EXPECT_EQ(begin(request("req-c", "fp2", kNow + 5)), IdempotencyOutcome::Mismatch);
  // Neither changed the row.
  Rows rows = db_->query("SELECT owner, fingerprint FROM idempotency_keys");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"req-a", "fp1"}));
}

TEST_P(IdempotencyStoreTest, FinishedKeyReplaysTheStoredResponse) {
  ASSERT_EQ(begin(request("req-a")), IdempotencyOutcome::Started);
  auto finished = store_->idempotency_finish(response_of(request("req-a")));
  ASSERT_TRUE(finished) << finished.error().message;
  EXPECT_TRUE(*finished);

  auto again = store_->idempotency_begin(request("req-b", "fp1", kNow + 10), 0);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->outcome, IdempotencyOutcome::Replay);
  ASSERT_TRUE(again->stored.has_value());
  EXPECT_TRUE(again->stored->done);
  EXPECT_EQ(again->stored->response_status, 201);
  EXPECT_EQ(again->stored->response_headers, R"({"content-type":"application/json"})");
  EXPECT_EQ(again->stored->response_body, "eyJ2ZXJzaW9uIjoxfQ==");
  EXPECT_EQ(again->stored->expires_ms, kNow + 2 * kDay);

  auto other = store_->idempotency_begin(request("req-c", "fp-other", kNow + 10), 0);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->outcome, IdempotencyOutcome::Mismatch);
  ASSERT_TRUE(other->stored.has_value());
  EXPECT_EQ(other->stored->fingerprint, "fp1");
}

TEST_P(IdempotencyStoreTest, FinishAndAbandonTouchOnlyTheirOwnersRow) {
  ASSERT_EQ(begin(request("req-a")), IdempotencyOutcome::Started);
  auto stranger = store_->idempotency_finish(response_of(request("req-x")));
  ASSERT_TRUE(stranger) << stranger.error().message;
  EXPECT_FALSE(*stranger);
  ASSERT_TRUE(store_->idempotency_abandon("admin:abc", "key-1", "req-x"));
  EXPECT_EQ(db_->query("SELECT state FROM idempotency_keys"), (Rows{{"in_flight"}}));

  ASSERT_TRUE(store_->idempotency_abandon("admin:abc", "key-1", "req-a"));
  EXPECT_TRUE(db_->query("SELECT 1 FROM idempotency_keys").empty());
  // Abandoned: the client may retry with the same key, even with a corrected payload.
  EXPECT_EQ(begin(request("req-b", "fp2", kNow + 1)), IdempotencyOutcome::Started);
  // A finished row is never abandoned.
  ASSERT_TRUE(store_->idempotency_finish(response_of(request("req-b", "fp2"))));
  ASSERT_TRUE(store_->idempotency_abandon("admin:abc", "key-1", "req-b"));
  EXPECT_EQ(db_->query("SELECT state FROM idempotency_keys"), (Rows{{"done"}}));
  auto late = store_->idempotency_finish(response_of(request("req-b", "fp2")));
  ASSERT_TRUE(late);
  EXPECT_FALSE(*late);  // already done
}

TEST_P(IdempotencyStoreTest, ExpiredKeyIsTreatedAsNew) {
  ASSERT_EQ(begin(request("req-a")), IdempotencyOutcome::Started);
  ASSERT_TRUE(store_->idempotency_finish(response_of(request("req-a"))));
  const int64_t later = kNow + 2 * kDay;  // == expires_ms: expired
  auto found = store_->idempotency_find("admin:abc", "key-1", later);
  ASSERT_TRUE(found);
  EXPECT_FALSE(found->has_value());

  EXPECT_EQ(begin(request("req-b", "fp-new", later)), IdempotencyOutcome::Started);
  Rows rows = db_->query(
      "SELECT owner, fingerprint, state, response_status, response_body FROM idempotency_keys");
  EXPECT_EQ(rows, (Rows{{"req-b", "fp-new", "in_flight", "0", ""}}));
}

TEST_P(IdempotencyStoreTest, StaleInFlightRowIsTakenOverButAFreshOneIsNot) {
  ASSERT_EQ(begin(request("req-a")), IdempotencyOutcome::Started);
  // The lease ends at kNow + 1000: before that the row is someone's live request.
  EXPECT_EQ(begin(request("req-b", "fp1", kNow + 500), kNow), IdempotencyOutcome::InFlight);
  EXPECT_EQ(begin(request("req-b", "fp1", kNow + 1500), kNow + 1), IdempotencyOutcome::Started);
  EXPECT_EQ(db_->query("SELECT owner FROM idempotency_keys"), (Rows{{"req-b"}}));
  // The node that lost its lease cannot finish over the new owner.
  auto lost = store_->idempotency_finish(response_of(request("req-a")));
  ASSERT_TRUE(lost);
  EXPECT_FALSE(*lost);
  // A done row is never stale.
  ASSERT_TRUE(store_->idempotency_finish(response_of(request("req-b"))));
  EXPECT_EQ(begin(request("req-c", "fp1", kNow + 9000), kNow + 8000), IdempotencyOutcome::Replay);
}

TEST_P(IdempotencyStoreTest, KeysAreScoped) {
  ASSERT_EQ(begin(request("req-a")), IdempotencyOutcome::Started);
  IdempotencyRecord other_tenant = request("req-b", "fp2");
  other_tenant.scope = "merchant:acme";
  EXPECT_EQ(begin(other_tenant), IdempotencyOutcome::Started);
  EXPECT_EQ(db_->query("SELECT COUNT(*) FROM idempotency_keys"), (Rows{{"2"}}));
}

TEST_P(IdempotencyStoreTest, PurgeDropsOnlyExpiredRows) {
  for (int i = 0; i < 3; ++i) {
    IdempotencyRecord r = request("req-" + std::to_string(i));
    r.key = "key-" + std::to_string(i);
    r.expires_ms = kNow + i * 1000;
    ASSERT_EQ(begin(r), IdempotencyOutcome::Started);
  }
  auto purged = store_->idempotency_purge_expired(kNow + 1000);
  ASSERT_TRUE(purged) << purged.error().message;
  EXPECT_EQ(*purged, 2);
  EXPECT_EQ(db_->query("SELECT idempotency_key FROM idempotency_keys"), (Rows{{"key-2"}}));
  auto none = store_->idempotency_purge_expired(kNow + 1000);
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, 0);
}

TEST_P(IdempotencyStoreTest, ConcurrentBeginsStartExactlyOne) {
  // Two stores on one database: two processes (SQLite) or two gateway nodes (PostgreSQL).
  auto second = open_or_fail(*db_, 4);
  ASSERT_NE(second, nullptr);
  constexpr int kThreads = 8;
  std::atomic<int> started{0};
  std::atomic<int> in_flight{0};
  std::atomic<int> failed{0};
  std::latch go(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      Store& store = i % 2 == 0 ? *store_ : *second;
      go.arrive_and_wait();
      auto began = store.idempotency_begin(request("req-" + std::to_string(i)), 0);
      if (!began) {
        ++failed;
      } else if (began->outcome == IdempotencyOutcome::Started) {
        ++started;
      } else if (began->outcome == IdempotencyOutcome::InFlight) {
        ++in_flight;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(started.load(), 1);
  EXPECT_EQ(in_flight.load(), kThreads - 1);
  EXPECT_EQ(db_->query("SELECT COUNT(*) FROM idempotency_keys"), (Rows{{"1"}}));
}

}  // namespace
}  // namespace x402
