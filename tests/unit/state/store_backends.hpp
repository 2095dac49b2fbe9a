#pragma once
// The store tests run against every backend: each test gets an empty database of the backend
// under test ("sqlite": a file in a fresh directory; "postgres": a fresh database on the test
// server, dropped afterwards) and reads it back through a raw side connection of its own.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "state/store.hpp"

namespace x402::testing {

using Rows = std::vector<std::vector<std::string>>;

// The test server's URL: $X402_TEST_POSTGRES_URL, else the contents of the file named by
// $X402_TEST_POSTGRES_URL_FILE (written by tests/support/postgres-server.sh). The error says how
// to start one.
Result<std::string> postgres_test_url();

// `url` with its database name replaced by `database`.
std::string with_database(const std::string& url, const std::string& database);

class TestDatabase {
 public:
  // nullptr (after a test failure saying why) when the backend cannot provide a database.
  static std::unique_ptr<TestDatabase> create(const std::string& backend);
  virtual ~TestDatabase() = default;

  // Another Store on this database: a second one stands in for a second gateway node.
  virtual Result<std::unique_ptr<Store>> open(unsigned pool_size = 8) = 0;
  // Runs `sql` through a side connection; every value as text, NULL as "<null>".
  virtual Rows query(const std::string& sql) = 0;
  // The SQLite file path or the PostgreSQL URL.
  virtual std::string location() const = 0;
};

// Opens a store or fails the test with the store's error.
std::unique_ptr<Store> open_or_fail(TestDatabase& db, unsigned pool_size = 8);

// Base fixture for tests parameterized by backend name.
class StoreBackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = TestDatabase::create(GetParam());
    ASSERT_NE(db_, nullptr);
    store_ = open_or_fail(*db_);
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    store_.reset();  // close its connections before the database is dropped
    db_.reset();
  }

  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<Store> store_;
};

inline std::string backend_name(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

}  // namespace x402::testing

// Runs the fixture's tests once per backend: Backends/StoreTest.Foo/sqlite, .../postgres.
#define X402_INSTANTIATE_FOR_EVERY_BACKEND(fixture)                                    \
  INSTANTIATE_TEST_SUITE_P(Backends, fixture, ::testing::Values("sqlite", "postgres"), \
                           ::x402::testing::backend_name)
