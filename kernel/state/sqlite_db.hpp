#pragma once
// A thin RAII layer over the SQLite C API that turns its return codes into Error values, so the
// store reads as SQL plus control flow instead of rc checks. Internal to the state module.
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "common/result.hpp"

namespace x402::sqlite {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbHandle = std::unique_ptr<sqlite3, DbCloser>;

// Every SQLite failure surfaces as code "store_error" carrying SQLite's own message (which names
// the constraint, the locked database, the disk error ...), prefixed with what we were doing.
Error error_from(sqlite3* db, std::string_view doing);

Result<DbHandle> open(const std::string& path);

// Runs SQL that returns no rows (pragmas, DDL, BEGIN/COMMIT).
Status exec(sqlite3* db, const std::string& sql);

class Statement {
 public:
  static Result<Statement> prepare(sqlite3* db, std::string_view sql);

  Statement(Statement&&) = default;
  Statement& operator=(Statement&&) = default;

  // Binds are 1-based like SQLite's. A failing bind is remembered and reported by step(), so
  // call sites can bind a whole row without checking each one.
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, int64_t number);
  Statement& bind_null(int index);

  // true: a row is available; false: the statement has finished.
  Result<bool> step();
  // Steps a statement that must not return rows (INSERT/UPDATE/DELETE).
  Status run();

  std::string column_text(int index) const;
  int64_t column_int(int index) const;
  bool column_is_null(int index) const;

 private:
  struct StmtFinalizer {
    void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
  };

  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  void note_bind(int rc);

  sqlite3* db_;
  std::unique_ptr<sqlite3_stmt, StmtFinalizer> stmt_;
  int bind_rc_ = SQLITE_OK;
};

// BEGIN IMMEDIATE takes the write lock up front. A deferred transaction that reads first and
// writes later can fail with SQLITE_BUSY without the busy handler ever running (the lock upgrade
// would deadlock against another writer); taking the lock at BEGIN makes busy_timeout apply.
// Rolls back on destruction unless commit() succeeded.
class WriteTransaction {
 public:
  static Result<WriteTransaction> begin(sqlite3* db);

  WriteTransaction(WriteTransaction&& other) noexcept
      : db_(other.db_), open_(std::exchange(other.open_, false)) {}
  WriteTransaction& operator=(WriteTransaction&&) = delete;
  ~WriteTransaction();

  Status commit();

 private:
  explicit WriteTransaction(sqlite3* db) : db_(db), open_(true) {}

  sqlite3* db_;
  bool open_;
};

}  // namespace x402::sqlite
