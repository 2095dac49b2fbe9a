#include "state/pg_schema.hpp"

#include <chrono>
#include <pqxx/transaction>
#include <string>
#include <vector>

namespace x402::pg {
namespace {

// Mirrors sqlite_schema.cpp version for version; append new migrations to both, never edit one
// that has shipped. Differences from SQLite: money columns are NUMERIC(78,0), which holds any
// uint256 exactly (the store writes and reads them as decimal text), and events.seq draws from a
// sequence.
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
  amount            NUMERIC(78,0) NOT NULL,
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

CREATE TABLE usage_records (
  id              TEXT PRIMARY KEY,
  payment_id      TEXT REFERENCES payments (id),
  request_id      TEXT NOT NULL,
  merchant_id     TEXT NOT NULL,
  route           TEXT NOT NULL,
  payer           TEXT NOT NULL,
  amount          NUMERIC(78,0) NOT NULL,
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

-- seq is the delivery order. A sequence alone hands out values in call order, not commit order,
-- so the store also takes an EXCLUSIVE lock on events while appending (see pg_store.cpp).
CREATE SEQUENCE events_seq;
CREATE TABLE events (
  id         TEXT PRIMARY KEY,
  seq        BIGINT NOT NULL UNIQUE DEFAULT nextval('events_seq'),
  type       TEXT NOT NULL,
  json       TEXT NOT NULL,
  source     TEXT NOT NULL,
  created_ms BIGINT NOT NULL
);
ALTER SEQUENCE events_seq OWNED BY events.seq;
)sql"},
      {3, R"sql(
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

// Any constant shared by every x402 node works; this one spells "x402mig" in ASCII.
constexpr long long kMigrationLockKey = 0x783430326d6967LL;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int latest_schema_version() {
  return migrations().back().version;
}

Status apply_migrations(pqxx::connection& connection) {
  for (const Migration& migration : migrations()) {
    pqxx::work tx(connection);
    // Taken before anything else, the bootstrap CREATE TABLE IF NOT EXISTS included: two sessions
    // running that statement at once can otherwise fail on the catalog's unique index.
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
    tx.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)");
    // Checked under the lock: another node may have applied it since we started.
    if (!tx.exec_params("SELECT 1 FROM schema_migrations WHERE version = $1", migration.version)
             .empty()) {
      tx.abort();
      continue;
    }
    try {
      tx.exec(migration.sql);
    } catch (const pqxx::sql_error& e) {
      return make_error(
          "store_error", "",
          "postgres migration " + std::to_string(migration.version) + ": " + e.what());
    }
    tx.exec_params("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                   migration.version, now_ms());
    tx.commit();
  }
  return Ok{};
}

}  // namespace x402::pg
