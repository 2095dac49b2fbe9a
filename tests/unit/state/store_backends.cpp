#include "store_backends.hpp"

#include <sqlite3.h>

#include <cstdlib>
#include <fstream>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <random>

#include "temp_dir.hpp"

namespace x402::testing {
namespace {

class SqliteDatabase final : public TestDatabase {
 public:
  Result<std::unique_ptr<Store>> open(unsigned) override { return open_sqlite_store(path_); }

  Rows query(const std::string& sql) override {
    Rows rows;
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      sqlite3_close(db);
      ADD_FAILURE() << "cannot open " << path_;
      return rows;
    }
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sqlite3_errmsg(db);
      sqlite3_close(db);
      return rows;
    }
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        const unsigned char* text = sqlite3_column_text(stmt, i);
        row.emplace_back(text ? reinterpret_cast<const char*>(text) : "<null>");
      }
      rows.push_back(std::move(row));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return rows;
  }

  std::string location() const override { return path_; }

 private:
  TempDir dir_;
  std::string path_ = dir_.file("x402.db");
};

std::string random_suffix() {
  std::random_device rd;
  std::mt19937_64 rng(rd());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) out += kHex[rng() % 16];
  return out;
}

class PostgresDatabase final : public TestDatabase {
 public:
  PostgresDatabase(std::string admin_url, std::string name)
      : admin_url_(std::move(admin_url)),
        name_(std::move(name)),
        url_(with_database(admin_url_, name_)) {}

  ~PostgresDatabase() override {
    try {
      pqxx::connection admin(admin_url_);
      pqxx::nontransaction tx(admin);
      tx.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cannot drop test database " << name_ << ": " << e.what();
    }
  }

  Result<std::unique_ptr<Store>> open(unsigned pool_size) override {
    PostgresOptions options;
    options.url = url_;
    options.pool_size = pool_size;
    return open_postgres_store(options);
  }

  Rows query(const std::string& sql) override {
    Rows rows;
    try {
      pqxx::connection side(url_);
      pqxx::nontransaction tx(side);
      for (const auto& r : tx.exec(sql)) {
        std::vector<std::string> row;
        for (const auto& f : r) row.emplace_back(f.is_null() ? "<null>" : f.c_str());
        rows.push_back(std::move(row));
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "query failed: " << e.what() << "\n" << sql;
    }
    return rows;
  }

  std::string location() const override { return url_; }

 private:
  std::string admin_url_;
  std::string name_;
  std::string url_;
};

std::unique_ptr<TestDatabase> create_postgres() {
  auto admin = postgres_test_url();
  if (!admin) {
    ADD_FAILURE() << admin.error().message;
    return nullptr;
  }
  const std::string name = "x402_test_" + random_suffix();
  try {
    pqxx::connection connection(*admin);
    pqxx::nontransaction tx(connection);
    tx.exec("CREATE DATABASE " + name);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "cannot create a test database on " << *admin << ": " << e.what();
    return nullptr;
  }
  return std::make_unique<PostgresDatabase>(*admin, name);
}

}  // namespace

Result<std::string> postgres_test_url() {
  if (const char* url = std::getenv("X402_TEST_POSTGRES_URL"); url != nullptr && *url != '\0') {
    return std::string(url);
  }
  const std::string how =
      " Start a throwaway server with `tests/support/postgres-server.sh start <dir>` and set "
      "X402_TEST_POSTGRES_URL_FILE=<dir>/url (ctest does this through its postgres_server "
      "fixture), or set X402_TEST_POSTGRES_URL to a database whose role may CREATE DATABASE.";
  const char* file = std::getenv("X402_TEST_POSTGRES_URL_FILE");
  if (file == nullptr || *file == '\0') {
    return make_error("postgres_test_server", "",
                      "PostgreSQL tests need a server: neither X402_TEST_POSTGRES_URL nor "
                      "X402_TEST_POSTGRES_URL_FILE is set." +
                          how);
  }
  std::ifstream in(file);
  std::string url;
  if (!in || !std::getline(in, url) || url.empty()) {
    return make_error(
        "postgres_test_server", "",
        std::string("PostgreSQL tests need a server: cannot read a URL from ") + file + "." + how);
  }
  return url;
}

std::string with_database(const std::string& url, const std::string& database) {
  const size_t scheme = url.find("://");
  const size_t path = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  const size_t query = url.find('?');
  const std::string tail = query == std::string::npos ? "" : url.substr(query);
  const std::string head = url.substr(0, path == std::string::npos ? query : path);
  return head + "/" + database + tail;
}

std::unique_ptr<TestDatabase> TestDatabase::create(const std::string& backend) {
  if (backend == "sqlite") return std::make_unique<SqliteDatabase>();
  if (backend == "postgres") return create_postgres();
  ADD_FAILURE() << "unknown backend " << backend;
  return nullptr;
}

std::unique_ptr<Store> open_or_fail(TestDatabase& db, unsigned pool_size) {
  auto store = db.open(pool_size);
  if (!store) {
    ADD_FAILURE() << store.error().code << ": " << store.error().message;
    return nullptr;
  }
  return std::move(*store);
}

}  // namespace x402::testing
