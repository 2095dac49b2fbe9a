// What only the PostgreSQL backend has to prove: several nodes (one pool each) on one database,
// migrations racing at start, NUMERIC money, connection failures, and commits whose outcome the
// client did not hear. The Store contract itself runs against both backends in store_test.cpp.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <latch>
#include <map>
#include <mutex>
#include <optional>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sample_records.hpp"
#include "state/pg_schema.hpp"
#include "state/store.hpp"
#include "store_backends.hpp"

namespace x402 {
namespace {

using testing::make_payment;
using testing::make_usage;
using testing::open_or_fail;
using testing::Rows;
using testing::TestDatabase;

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = TestDatabase::create("postgres");
    ASSERT_NE(db_, nullptr);
  }
  void TearDown() override {
    nodes_.clear();
    db_.reset();
  }

  // A store with its own pool: one gateway node.
  Store* node(unsigned pool_size = 4) {
    auto store = open_or_fail(*db_, pool_size);
    if (store == nullptr) return nullptr;
    nodes_.push_back(std::move(store));
    return nodes_.back().get();
  }

  std::unique_ptr<TestDatabase> db_;
  std::vector<std::unique_ptr<Store>> nodes_;
};

// A loopback port nothing listens on (bound, read, released).
int unused_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return 0;
  }
  close(fd);
  return ntohs(addr.sin_port);
}

TEST_F(PostgresStoreTest, MigrationsAppliedBySeveralNodesStartingAtOnceApplyOnce) {
  constexpr int kNodes = 6;
  std::latch start(kNodes);
  std::vector<std::optional<Result<std::unique_ptr<Store>>>> opened(kNodes);
  std::vector<std::thread> threads;
  for (int i = 0; i < kNodes; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      opened[i] = db_->open(2);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kNodes; ++i) {
    ASSERT_TRUE(*opened[i]) << opened[i]->error().message;
  }
  Rows versions = db_->query("SELECT version FROM schema_migrations ORDER BY version");
  ASSERT_EQ(versions.size(), static_cast<size_t>(pg::latest_schema_version()));
  for (size_t i = 0; i < versions.size(); ++i) EXPECT_EQ(versions[i][0], std::to_string(i + 1));
  // Every node works on the one schema.
  for (int i = 0; i < kNodes; ++i) {
    auto claimed = opened[i]->value()->claim_payment(make_payment("p" + std::to_string(i), "0x01"));
    ASSERT_TRUE(claimed) << claimed.error().message;
    EXPECT_EQ(claimed->outcome, i == 0 ? ClaimOutcome::Claimed : ClaimOutcome::AlreadyClaimed);
  }
}

TEST_F(PostgresStoreTest, MoneyColumnsAreNumericAndAFullUint256RoundTrips) {
  Store* store = node();
  ASSERT_NE(store, nullptr);
  const std::string max =
      "115792089237316195423570985008687907853269984665640564039457584007913129639935";
  PaymentRecord payment = make_payment("p1", "0x01");
  payment.amount = max;
  ASSERT_TRUE(store->claim_payment(payment));
  UsageRecord usage = make_usage("u1");
  usage.amount = max;
  ASSERT_TRUE(store->complete_payment("p1", "cdp", "0xtx", usage));

  EXPECT_EQ(store->find_payment("p1").value()->amount, max);
  EXPECT_EQ(store->usage_for_merchant("acme", 1).value().at(0).amount, max);
  EXPECT_EQ(
      db_->query("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attname = "
                 "'amount' AND attrelid IN ('payments'::regclass, 'usage_records'::regclass)"),
      (Rows{{"numeric(78,0)"}, {"numeric(78,0)"}}));
  // Arithmetic in SQL is exact: max - (max - 1) = 1.
  EXPECT_EQ(db_->query("SELECT amount - (amount - 1) FROM payments WHERE id = 'p1'"),
            (Rows{{"1"}}));
}

TEST_F(PostgresStoreTest, AnAmountThatIsNotADecimalIntegerIsRefusedNamingTheField) {
  Store* store = node();
  ASSERT_NE(store, nullptr);
  PaymentRecord payment = make_payment("p1", "0x01");
  payment.amount = "1.5";
  auto claimed = store->claim_payment(payment);
  ASSERT_FALSE(claimed);
  EXPECT_EQ(claimed.error().code, "invalid_amount");
  EXPECT_EQ(claimed.error().field, "amount");

  UsageRecord usage = make_usage("u1");
  usage.amount = "";
  auto recorded = store->record_usage(usage);
  ASSERT_FALSE(recorded);
  EXPECT_EQ(recorded.error().field, "usage.amount");
  EXPECT_EQ(store->count_payments().value(), 0);
}

// Three nodes, many threads, many contested authorizations: each is claimed exactly once.
TEST_F(PostgresStoreTest, NodesRacingOnTheSameAuthorizationsClaimEachExactlyOnce) {
  std::vector<Store*> nodes = {node(3), node(3), node(3)};
  for (Store* n : nodes) ASSERT_NE(n, nullptr);
  constexpr int kKeys = 10;
  constexpr int kThreads = 12;
  std::latch start(kThreads);
  std::mutex mu;
  std::map<std::string, int> winners;  // nonce -> Claimed count
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int k = 0; k < kKeys; ++k) {
        const std::string nonce = "0x" + std::to_string(100 + k);
        auto r = nodes[t % nodes.size()]->claim_payment(
            make_payment("t" + std::to_string(t) + "k" + std::to_string(k), nonce));
        std::lock_guard lock(mu);
        if (!r) {
          errors.push_back(r.error().message);
        } else if (r->outcome == ClaimOutcome::Claimed) {
          ++winners[nonce];
        } else if (!r->existing) {
          errors.push_back("AlreadyClaimed without the existing row");
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(errors.empty()) << errors.front();
  ASSERT_EQ(winners.size(), static_cast<size_t>(kKeys));
  for (const auto& [nonce, count] : winners) EXPECT_EQ(count, 1) << nonce;
  EXPECT_EQ(nodes[0]->count_payments().value(), kKeys);
}

// Activations from two nodes at once: every stamp distinct, and the change stamp is the newest.
TEST_F(PostgresStoreTest, ConcurrentActivationsOnTwoNodesGetStrictlyIncreasingStamps) {
  Store* a = node(2);
  Store* b = node(2);
  ASSERT_TRUE(a && b);
  constexpr int kMerchants = 8;
  for (int m = 0; m < kMerchants; ++m) {
    ASSERT_TRUE(a->add_policy("m" + std::to_string(m), "function price() end", "{}"));
  }
  std::latch start(kMerchants);
  std::mutex mu;
  std::vector<int64_t> stamps;
  std::vector<std::thread> threads;
  for (int m = 0; m < kMerchants; ++m) {
    threads.emplace_back([&, m] {
      start.arrive_and_wait();
      auto state = (m % 2 == 0 ? a : b)->activate_policy("m" + std::to_string(m), 1);
      std::lock_guard lock(mu);
      EXPECT_TRUE(state) << state.error().message;
      if (state) stamps.push_back(state->updated_ms);
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(stamps.size(), static_cast<size_t>(kMerchants));
  EXPECT_EQ(std::set<int64_t>(stamps.begin(), stamps.end()).size(), stamps.size());
  EXPECT_EQ(b->policy_change_stamp().value(), *std::max_element(stamps.begin(), stamps.end()));
}

// A consumer paging through the outbox while two nodes append must see every event: seq order is
// commit order, so nothing commits behind a position the consumer already passed.
TEST_F(PostgresStoreTest, AConsumerPagingDuringConcurrentAppendsMissesNothing) {
  Store* a = node(3);
  Store* b = node(3);
  Store* reader = node(1);
  ASSERT_TRUE(a && b && reader);
  StoredEvent first;
  first.type = "start";
  first.json = "{}";
  first.source = "test";
  auto head = a->append_event(first);
  ASSERT_TRUE(head) << head.error().message;

  constexpr int kWriters = 6;
  constexpr int kEach = 25;
  std::atomic<int> writers_done{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kEach; ++i) {
        StoredEvent e;
        e.type = "w" + std::to_string(w);
        e.json = "{}";
        e.source = "test";
        EXPECT_TRUE((w % 2 == 0 ? a : b)->append_event(e));
      }
      ++writers_done;
    });
  }
  std::vector<std::string> seen;
  std::string cursor = head->id;
  while (true) {
    const bool finished = writers_done.load() == kWriters;  // read before the page
    auto page = reader->list_events(7, cursor);
    ASSERT_TRUE(page) << page.error().message;
    for (const auto& e : *page) seen.push_back(e.id);
    if (!page->empty()) cursor = page->back().id;
    if (finished && page->empty()) break;
  }
  for (auto& w : writers) w.join();

  auto all = reader->list_events(10'000, head->id);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), static_cast<size_t>(kWriters * kEach));
  std::vector<std::string> expected;
  for (const auto& e : *all) expected.push_back(e.id);
  EXPECT_EQ(seen, expected);
}

TEST_F(PostgresStoreTest, ConnectionsKilledByTheServerAreReplacedTransparently) {
  Store* store = node(2);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->claim_payment(make_payment("p1", "0x01")));
  ASSERT_TRUE(store->find_payment("p1"));  // both pooled connections may now be open
  Rows killed = db_->query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
      " WHERE datname = current_database() AND pid <> pg_backend_pid()");
  ASSERT_FALSE(killed.empty());
  for (int i = 2; i < 6; ++i) {
    auto claimed =
        store->claim_payment(make_payment("p" + std::to_string(i), "0x0" + std::to_string(i)));
    ASSERT_TRUE(claimed) << claimed.error().message;
    EXPECT_EQ(claimed->outcome, ClaimOutcome::Claimed);
  }
  EXPECT_EQ(store->count_payments().value(), 5);
}

// Makes the next COMMIT that inserted into `table` stall in a deferred trigger (once: a sequence
// is not rolled back), and kills that server session from another connection while it sits in
// COMMIT: the client loses its connection with the outcome unknown. Returns the killed pid.
class CommitKiller {
 public:
  CommitKiller(TestDatabase& db, const std::string& table) : db_(db) {
    db_.query(
        "CREATE SEQUENCE x402_test_stall_once;"
        "CREATE FUNCTION x402_test_stall() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF nextval('x402_test_stall_once') = 1 THEN PERFORM pg_sleep(120); END IF;"
        " RETURN NULL; END $$;"
        "CREATE CONSTRAINT TRIGGER x402_test_stall AFTER INSERT ON " +
        table + " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION x402_test_stall()");
    thread_ = std::thread([this] { killed_ = kill_when_stalled(); });
  }
  ~CommitKiller() {
    if (thread_.joinable()) thread_.join();
  }
  int killed() {
    if (thread_.joinable()) thread_.join();
    return killed_;
  }

 private:
  int kill_when_stalled() {
    try {
      pqxx::connection side(db_.location());
      pqxx::nontransaction tx(side);
      for (int i = 0; i < 6000; ++i) {  // 10 ms apart: gives up after a minute or more
        auto rows = tx.exec(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query = 'COMMIT'"
            " AND wait_event = 'PgSleep'");
        if (!rows.empty()) return rows[0][0].as<int>();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "commit killer: " << e.what();
    }
    return 0;
  }

  TestDatabase& db_;
  std::thread thread_;
  int killed_ = 0;
};

// The commit was killed before it took effect: the store must find nothing when it reads back,
// and only then run the transaction again, so the call succeeds with exactly one row written.
TEST_F(PostgresStoreTest, AClaimWhoseCommitWasCutOffIsResolvedByReadingBack) {
  Store* store = node(1);
  ASSERT_NE(store, nullptr);
  CommitKiller killer(*db_, "payments");
  auto claimed = store->claim_payment(make_payment("p1", "0x01"));
  EXPECT_NE(killer.killed(), 0) << "the COMMIT never stalled, so nothing was tested";
  ASSERT_TRUE(claimed) << claimed.error().message;
  EXPECT_EQ(claimed->outcome, ClaimOutcome::Claimed);
  EXPECT_EQ(db_->query("SELECT id FROM payments"), (Rows{{"p1"}}));
  EXPECT_EQ(db_->query("SELECT to_status FROM payment_events WHERE payment_id = 'p1'"),
            (Rows{{"PENDING"}}));
}

TEST_F(PostgresStoreTest, AUsageRecordWhoseCommitWasCutOffIsWrittenExactlyOnce) {
  Store* store = node(1);
  ASSERT_NE(store, nullptr);
  CommitKiller killer(*db_, "usage_records");
  auto recorded = store->record_usage(make_usage("u1"));
  EXPECT_NE(killer.killed(), 0) << "the COMMIT never stalled, so nothing was tested";
  ASSERT_TRUE(recorded) << recorded.error().message;
  EXPECT_EQ(db_->query("SELECT id FROM usage_records"), (Rows{{"u1"}}));
}

TEST(PostgresStoreOpen, ARefusedPortIsStoreUnavailableNamingTheServer) {
  const int port = unused_port();
  ASSERT_NE(port, 0);
  PostgresOptions options;
  options.url = "postgresql://x402@127.0.0.1:" + std::to_string(port) + "/x402";
  options.connect_timeout = std::chrono::milliseconds(2000);
  const auto started = std::chrono::steady_clock::now();
  auto store = open_postgres_store(options);
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, "store_unavailable");
  EXPECT_NE(store.error().message.find("cannot connect"), std::string::npos)
      << store.error().message;
  EXPECT_NE(store.error().message.find(std::to_string(port)), std::string::npos)
      << store.error().message;
  EXPECT_NE(store.error().message.find("refused"), std::string::npos) << store.error().message;
  // A refused connection fails at once; only a hang (minutes) could trip this generous bound.
  EXPECT_LT(took, std::chrono::seconds(30));
}

TEST(PostgresStoreOpen, AMalformedOrEmptyUrlIsStoreUnavailable) {
  PostgresOptions options;
  options.url = "postgresql://x402@127.0.0.1:notaport/x402";
  auto bad = open_postgres_store(options);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, "store_unavailable");
  EXPECT_NE(bad.error().message.find("port"), std::string::npos) << bad.error().message;

  options.url = "";
  auto empty = open_postgres_store(options);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, "store_unavailable");
  EXPECT_EQ(empty.error().field, "url");
}

TEST(PostgresStoreOpen, AMissingDatabaseIsStoreUnavailable) {
  auto url = testing::postgres_test_url();
  ASSERT_TRUE(url) << url.error().message;
  PostgresOptions options;
  options.url = testing::with_database(*url, "x402_no_such_database");
  auto store = open_postgres_store(options);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, "store_unavailable");
  EXPECT_NE(store.error().message.find("x402_no_such_database"), std::string::npos)
      << store.error().message;
}

}  // namespace
}  // namespace x402
