#include "state/sqlite_db.hpp"

namespace x402::sqlite {

Error error_from(sqlite3* db, std::string_view doing) {
  std::string message = "sqlite: ";
  message += doing;
  message += ": ";
  message += db ? sqlite3_errmsg(db) : "out of memory";
  if (db) {
    message += " (code " + std::to_string(sqlite3_extended_errcode(db)) + ")";
  }
  return make_error("store_error", "", std::move(message));
}

Result<DbHandle> open(const std::string& path) {
  sqlite3* raw = nullptr;
  // NOMUTEX: the store serialises access to its connection itself.
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  DbHandle db(raw);  // sqlite3_open_v2 may hand back a handle even on failure; close it either way
  if (rc != SQLITE_OK) {
    return error_from(db.get(), "opening " + path);
  }
  sqlite3_extended_result_codes(db.get(), 1);
  return db;
}

Status exec(sqlite3* db, const std::string& sql) {
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    return error_from(db, "executing \"" + sql.substr(0, 60) + "\"");
  }
  return Ok{};
}

Result<Statement> Statement::prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) !=
      SQLITE_OK) {
    return error_from(db, "preparing \"" + std::string(sql.substr(0, 60)) + "\"");
  }
  return Statement(db, stmt);
}

void Statement::note_bind(int rc) {
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

Statement& Statement::bind(int index, std::string_view text) {
  note_bind(sqlite3_bind_text(stmt_.get(), index, text.data(), static_cast<int>(text.size()),
                              SQLITE_TRANSIENT));
  return *this;
}

Statement& Statement::bind(int index, int64_t number) {
  note_bind(sqlite3_bind_int64(stmt_.get(), index, number));
  return *this;
}

Statement& Statement::bind_null(int index) {
  note_bind(sqlite3_bind_null(stmt_.get(), index));
  return *this;
}

Result<bool> Statement::step() {
  if (bind_rc_ != SQLITE_OK) {
    return make_error("store_error", "",
                      std::string("sqlite: binding parameters: ") + sqlite3_errstr(bind_rc_));
  }
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // SQLITE_BUSY lands here once busy_timeout has run out: it is reported, never retried silently.
  return error_from(db_,
                    "executing \"" + std::string(sqlite3_sql(stmt_.get())).substr(0, 60) + "\"");
}

Status Statement::run() {
  auto stepped = step();
  if (!stepped) return stepped.error();
  if (*stepped) {
    return make_error("store_error", "", "sqlite: statement unexpectedly returned rows");
  }
  return Ok{};
}

std::string Statement::column_text(int index) const {
  const unsigned char* text = sqlite3_column_text(stmt_.get(), index);
  if (!text) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), index)));
}

int64_t Statement::column_int(int index) const {
  return sqlite3_column_int64(stmt_.get(), index);
}

bool Statement::column_is_null(int index) const {
  return sqlite3_column_type(stmt_.get(), index) == SQLITE_NULL;
}

Result<WriteTransaction> WriteTransaction::begin(sqlite3* db) {
  auto begun = exec(db, "BEGIN IMMEDIATE");
  if (!begun) return begun.error();
  return WriteTransaction(db);
}

WriteTransaction::~WriteTransaction() {
  if (open_) {
    // Best effort: if ROLLBACK itself fails SQLite has already rolled back (e.g. on I/O error).
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

Status WriteTransaction::commit() {
  auto committed = exec(db_, "COMMIT");
  if (committed) open_ = false;
  return committed;
}

}  // namespace x402::sqlite
