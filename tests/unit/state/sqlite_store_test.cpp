// What only the SQLite backend has: in-memory databases, the file and its WAL, busy_timeout.
// The Store contract itself is tested against both backends in store_test.cpp.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

#include "sample_records.hpp"
#include "state/store.hpp"
#include "store_backends.hpp"
#include "temp_dir.hpp"

namespace x402 {
namespace {

using testing::make_payment;
using testing::Rows;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::create("sqlite");
    ASSERT_NE(db_, nullptr);
    store_ = testing::open_or_fail(*db_);
    ASSERT_NE(store_, nullptr);
  }

  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<Store> store_;
};

TEST(SqliteStore, OpensInMemory) {
  auto store = open_sqlite_store(":memory:");
  ASSERT_TRUE(store) << store.error().message;
  auto claimed = (*store)->claim_payment(make_payment("p1", "0x01"));
  ASSERT_TRUE(claimed) << claimed.error().message;
  EXPECT_EQ(claimed->outcome, ClaimOutcome::Claimed);
}

TEST_F(SqliteStoreTest, FileDatabaseUsesWal) {
  EXPECT_EQ(db_->query("PRAGMA journal_mode"), (Rows{{"wal"}}));
}

TEST(SqliteStore, OpeningInAMissingDirectoryIsAStoreError) {
  testing::TempDir dir;
  auto store = open_sqlite_store(dir.file("no/such/dir/x402.db"));
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, "store_error");
  EXPECT_NE(store.error().message.find("sqlite"), std::string::npos);
}

// A writer that holds the lock longer than busy_timeout must surface as an error, never be
// treated as "not claimed" or dropped.
TEST_F(SqliteStoreTest, LockHeldPastBusyTimeoutIsAnError) {
  sqlite3* blocker = nullptr;
  ASSERT_EQ(sqlite3_open(db_->location().c_str(), &blocker), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);

  auto claimed = store_->claim_payment(make_payment("p1", "0x01"));
  ASSERT_FALSE(claimed);
  EXPECT_EQ(claimed.error().code, "store_error");
  EXPECT_NE(claimed.error().message.find("locked"), std::string::npos) << claimed.error().message;

  sqlite3_exec(blocker, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(blocker);
  EXPECT_EQ(store_->claim_payment(make_payment("p1", "0x01")).value().outcome,
            ClaimOutcome::Claimed);
}

}  // namespace
}  // namespace x402
