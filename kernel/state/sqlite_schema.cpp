#include "state/sqlite_schema.hpp"

#include <chrono>
#include <string>
#include <vector>

#include "state/sqlite_db.hpp"

namespace x402::sqlite {
namespace {

// The SQL is kept to what PostgreSQL also accepts so the later PostgreSQL backend can share it:
// BIGINT millisecond timestamps, TEXT money (decimal strings of atomic units; PostgreSQL will
// declare those columns NUMERIC(78,0), which holds any uint256), no AUTOINCREMENT / rowid reliance.
// Append new migrations; never edit one that has shipped.
struct Migration {
  int version;
  const char* sql;
};

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> all = {
      {1, R"sql(
CREATE TABLE payments (
  id                TEXT PRIMARY KEY,
  chain_id          BIGINT NOT NULL,
  asset             TEXT NOT NULL,
  payer             TEXT NOT NULL,
  nonce             TEXT NOT NULL,
  request_id        TEXT NOT NULL,
  merchant_id       TEXT NOT NULL,
  route             TEXT NOT NULL,
  x402_version      INTEGER NOT NULL,
  network           TEXT NOT NULL,
  pay_to            TEXT NOT NULL,
  amount            TEXT NOT NULL,
  status            TEXT NOT NULL,
  facilitator       TEXT NOT NULL,
  tx_hash           TEXT NOT NULL,
  error_reason      TEXT NOT NULL,
  payload_json      TEXT NOT NULL,
  requirements_json TEXT NOT NULL,
  created_ms        BIGINT NOT NULL,
  updated_ms        BIGINT NOT NULL,
  UNIQUE (chain_id, asset, payer, nonce)
);
CREATE INDEX payments_status_created_idx ON payments (status, created_ms);

-- The audit trail. No foreign key to payments: a released claim's row is deleted but its history
-- must stay. seq orders events of one payment without relying on clocks or SQLite's rowid.
CREATE TABLE payment_events (
  payment_id   TEXT NOT NULL,
  seq          BIGINT NOT NULL,
  from_status  TEXT NOT NULL,
  to_status    TEXT NOT NULL,
  at_ms        BIGINT NOT NULL,
  facilitator  TEXT NOT NULL,
  tx_hash      TEXT NOT NULL,
  error_reason TEXT NOT NULL,
  PRIMARY KEY (payment_id, seq)
);

-- payment_id is NULL for free requests. The foreign key also stops a claim that already has usage
-- (so money moved) from being released.
CREATE TABLE usage_records (
  id              TEXT PRIMARY KEY,
  payment_id      TEXT REFERENCES payments (id),
  request_id      TEXT NOT NULL,
  merchant_id     TEXT NOT NULL,
  route           TEXT NOT NULL,
  payer           TEXT NOT NULL,
  amount          TEXT NOT NULL,
  asset           TEXT NOT NULL,
  network         TEXT NOT NULL,
  billing_mode    TEXT NOT NULL,
  upstream_status INTEGER NOT NULL,
  created_ms      BIGINT NOT NULL
);
CREATE INDEX usage_records_merchant_created_idx ON usage_records (merchant_id, created_ms);
CREATE INDEX usage_records_payment_idx ON usage_records (payment_id);
)sql"},
      {2, R"sql(
-- Durable job queues of plugin instances (plugin ABI 1.1); the self-hosted facilitator keeps its
-- settlements here. state and data belong to the plugin; the kernel only stores and moves them.
CREATE TABLE settlement_queue (
  instance   TEXT NOT NULL,
  id         TEXT NOT NULL,
  lane       TEXT NOT NULL,
  state      TEXT NOT NULL,
  data       TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  PRIMARY KEY (instance, id)
);
CREATE INDEX settlement_queue_state_created_idx ON settlement_queue (instance, state, created_ms);

-- The operator event outbox that webhook sinks deliver from. seq is the delivery order, assigned
-- inside the appending write transaction (PostgreSQL: a sequence) rather than from clocks.
CREATE TABLE events (
  id         TEXT PRIMARY KEY,
  seq        BIGINT NOT NULL UNIQUE,
  type       TEXT NOT NULL,
  json       TEXT NOT NULL,
  source     TEXT NOT NULL,
  created_ms BIGINT NOT NULL
);
)sql"},
      {3, R"sql(
-- Merchant pricing policies (docs/policies.md): every uploaded version is kept; merchant_policy
-- says which one serves. Its updated_ms is strictly increasing across rows, so one MAX() tells a
-- node (polling a shared database) whether any activation changed.
CREATE TABLE policies (
  merchant_id TEXT NOT NULL,
  version     BIGINT NOT NULL,
  source      TEXT NOT NULL,
  limits_json TEXT NOT NULL,
  created_ms  BIGINT NOT NULL,
  PRIMARY KEY (merchant_id, version)
);
CREATE TABLE merchant_policy (
  merchant_id      TEXT PRIMARY KEY,
  active_version   BIGINT NOT NULL,
  previous_version BIGINT NOT NULL,
  updated_ms       BIGINT NOT NULL
);
-- Time passes and prepaid packages. The package balance is decremented in place with a guarded
-- UPDATE (calls_remaining > 0 AND expires_ms > now), the atomic step both backends share.
CREATE TABLE credentials (
  id              TEXT PRIMARY KEY,
  merchant_id     TEXT NOT NULL,
  payer           TEXT NOT NULL,
  scope           TEXT NOT NULL,
  mode            TEXT NOT NULL,
  expires_ms      BIGINT NOT NULL,
  calls_total     BIGINT NOT NULL,
  calls_remaining BIGINT NOT NULL,
  payment_id      TEXT NOT NULL,
  created_ms      BIGINT NOT NULL
);
CREATE INDEX credentials_merchant_payer_idx ON credentials (merchant_id, payer, expires_ms);
ALTER TABLE usage_records ADD COLUMN policy_version TEXT NOT NULL DEFAULT '';
CREATE INDEX usage_records_merchant_payer_created_idx
  ON usage_records (merchant_id, payer, created_ms);
)sql"},
      {4, R"sql(
-- Idempotency keys (docs/idempotency.md): one row per (tenant scope, key). state is
-- in_flight while the first request runs, then done with the response kept for replay.
-- owner is the request holding the row; expires_ms ends the retention (purged periodically).
CREATE TABLE idempotency_keys (
  scope            TEXT NOT NULL,
  idempotency_key  TEXT NOT NULL,
  fingerprint      TEXT NOT NULL,
  owner            TEXT NOT NULL,
  state            TEXT NOT NULL,
  response_status  INTEGER NOT NULL,
  response_headers TEXT NOT NULL,
  response_body    TEXT NOT NULL,
  created_ms       BIGINT NOT NULL,
  expires_ms       BIGINT NOT NULL,
  PRIMARY KEY (scope, idempotency_key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_ms);
)sql"},
      {5, R"sql(
-- The books (docs/books.md) list and sum one merchant's payments by time.
CREATE INDEX payments_merchant_created_idx ON payments (merchant_id, created_ms);
)sql"},
  };
  return all;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status apply_one(sqlite3* db, const Migration& migration) {
  auto tx = WriteTransaction::begin(db);
  if (!tx) return tx.error();

  // Checked inside the write transaction: another process may have applied it since we looked.
  auto applied = Statement::prepare(db, "SELECT 1 FROM schema_migrations WHERE version = ?");
  if (!applied) return applied.error();
  auto found = applied->bind(1, int64_t{migration.version}).step();
  if (!found) return found.error();
  if (*found) return Ok{};  // the transaction rolls back: nothing was written

  auto created = exec(db, migration.sql);
  if (!created) {
    Error error = created.error();
    error.message = "migration " + std::to_string(migration.version) + ": " + error.message;
    return error;
  }
  auto record =
      Statement::prepare(db, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)");
  if (!record) return record.error();
  auto recorded = record->bind(1, int64_t{migration.version}).bind(2, now_ms()).run();
  if (!recorded) return recorded.error();
  return tx->commit();
}

}  // namespace

int latest_schema_version() {
  return migrations().back().version;
}

Status apply_migrations(sqlite3* db) {
  auto bootstrapped = exec(db,
                           "CREATE TABLE IF NOT EXISTS schema_migrations ("
                           "version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)");
  if (!bootstrapped) return bootstrapped.error();
  for (const Migration& migration : migrations()) {
    auto applied = apply_one(db, migration);
    if (!applied) return applied;
  }
  return Ok{};
}

}  // namespace x402::sqlite
