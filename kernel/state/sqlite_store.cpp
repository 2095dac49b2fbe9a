// The SQLite backend of Store: one file, durable, zero set-up (DESIGN.md §7).
//
// Concurrency: one connection guarded by a mutex. SQLite admits one writer at a time anyway, and
// every write here is a short transaction, so a pool would add complexity without throughput.
// Serialising on the mutex alone would already make claims exclusive inside this process; the
// UNIQUE key plus BEGIN IMMEDIATE + busy_timeout is what keeps them exclusive across processes
// sharing the file.
#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <exception>
#include <limits>
#include <mutex>
#include <random>

#include "state/books.hpp"
#include "state/sqlite_db.hpp"
#include "state/sqlite_schema.hpp"
#include "state/store.hpp"
#include "state/store_columns.hpp"
#include "state/store_helpers.hpp"

namespace x402 {
namespace {

using namespace store_columns;  // NOLINT(google-build-using-namespace): SQL fragments
using namespace store_helpers;  // NOLINT(google-build-using-namespace)

using sqlite::Statement;
using sqlite::WriteTransaction;

// How long a writer waits for another connection's write lock before the call fails with
// "database is locked". Writes are short, so hitting this means something is wrong.
constexpr int kBusyTimeoutMs = 5000;

Error not_found(const std::string& payment_id) {
  return make_error("payment_not_found", "payment_id", "no payment with id " + payment_id);
}

// Reads the columns listed in kPaymentColumns, in that order.
Result<PaymentRecord> read_payment(const Statement& row) {
  PaymentRecord r;
  r.id = row.column_text(0);
  // chain_id is stored as a signed 64-bit integer; the cast round-trips every uint64_t.
  r.key.chain_id = static_cast<uint64_t>(row.column_int(1));
  r.key.asset = row.column_text(2);
  r.key.payer = row.column_text(3);
  r.key.nonce = row.column_text(4);
  r.request_id = row.column_text(5);
  r.merchant_id = row.column_text(6);
  r.route = row.column_text(7);
  r.x402_version = static_cast<int>(row.column_int(8));
  r.network = row.column_text(9);
  r.pay_to = row.column_text(10);
  r.amount = row.column_text(11);
  std::string status = row.column_text(12);
  auto parsed = parse_payment_status(status);
  if (!parsed) {
    return make_error("store_error", "status",
                      "payment " + r.id + " has unrecognised status '" + status + "'");
  }
  r.status = *parsed;
  r.facilitator = row.column_text(13);
  r.tx_hash = row.column_text(14);
  r.error_reason = row.column_text(15);
  r.payload_json = row.column_text(16);
  r.requirements_json = row.column_text(17);
  r.created_ms = row.column_int(18);
  r.updated_ms = row.column_int(19);
  return r;
}

UsageRecord read_usage(const Statement& row) {
  UsageRecord u;
  u.id = row.column_text(0);
  u.payment_id = row.column_text(1);  // NULL reads back as ""
  u.request_id = row.column_text(2);
  u.merchant_id = row.column_text(3);
  u.route = row.column_text(4);
  u.payer = row.column_text(5);
  u.amount = row.column_text(6);
  u.asset = row.column_text(7);
  u.network = row.column_text(8);
  u.billing_mode = row.column_text(9);
  u.upstream_status = static_cast<int>(row.column_int(10));
  u.created_ms = row.column_int(11);
  u.policy_version = row.column_text(12);
  return u;
}

StoredPolicy read_policy(const Statement& row) {
  StoredPolicy p;
  p.merchant_id = row.column_text(0);
  p.version = row.column_int(1);
  p.source = row.column_text(2);
  p.limits_json = row.column_text(3);
  p.created_ms = row.column_int(4);
  return p;
}

Credential read_credential(const Statement& row) {
  Credential c;
  c.id = row.column_text(0);
  c.merchant_id = row.column_text(1);
  c.payer = row.column_text(2);
  c.scope = row.column_text(3);
  c.mode = row.column_text(4);
  c.expires_ms = row.column_int(5);
  c.calls_total = row.column_int(6);
  c.calls_remaining = row.column_int(7);
  c.payment_id = row.column_text(8);
  c.created_ms = row.column_int(9);
  return c;
}

// Reads the columns listed in kJobColumns, in that order.
QueueJob read_job(const Statement& row) {
  QueueJob j;
  j.id = row.column_text(0);
  j.lane = row.column_text(1);
  j.state = row.column_text(2);
  j.data = row.column_text(3);
  j.created_ms = row.column_int(4);
  j.updated_ms = row.column_int(5);
  return j;
}

Result<std::vector<QueueJob>> read_jobs(Statement& stmt) {
  std::vector<QueueJob> out;
  while (true) {
    auto row = stmt.step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back(read_job(stmt));
  }
  return out;
}

// Reads the columns listed in kEventColumns, in that order.
StoredEvent read_event(const Statement& row) {
  StoredEvent e;
  e.id = row.column_text(0);
  e.seq = row.column_int(1);
  e.type = row.column_text(2);
  e.json = row.column_text(3);
  e.source = row.column_text(4);
  e.created_ms = row.column_int(5);
  return e;
}

// 128 random bits in the 8-4-4-4-12 layout. Event ids are only unique keys (seq orders them), so
// no UUID version semantics are needed.
std::string uuid_like() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  uint64_t bits[2] = {rng(), rng()};
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out += '-';
    out += kHex[(bits[i / 16] >> ((i % 16) * 4)) & 0xf];
  }
  return out;
}

// Store methods are the module boundary: nothing thrown inside (bad_alloc, a failing mutex) may
// escape to the request path.
template <typename Fn>
auto guarded(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return make_error("store_error", "", std::string("store: ") + e.what());
  }
}

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(sqlite::DbHandle db) : db_(std::move(db)) {}

  Result<ClaimResult> claim_payment(const PaymentRecord& record) override {
    return guarded([&]() -> Result<ClaimResult> {
      std::lock_guard lock(mutex_);
      return claim_locked(record);
    });
  }

  Status update_payment(const std::string& payment_id, PaymentStatus status,
                        const std::string& facilitator, const std::string& tx_hash,
                        const std::string& error_reason) override {
    return guarded([&]() -> Status {
      std::lock_guard lock(mutex_);
      auto tx = WriteTransaction::begin(db());
      if (!tx) return tx.error();
      auto moved = transition_locked(payment_id, status, facilitator, tx_hash, error_reason);
      if (!moved) return moved;
      return tx->commit();
    });
  }

  Status complete_payment(const std::string& payment_id, const std::string& facilitator,
                          const std::string& tx_hash, const UsageRecord& usage) override {
    return guarded([&]() -> Status {
      std::lock_guard lock(mutex_);
      auto tx = WriteTransaction::begin(db());
      if (!tx) return tx.error();
      auto moved = transition_locked(payment_id, PaymentStatus::Settled, facilitator, tx_hash, "");
      if (!moved) return moved;
      auto recorded = insert_usage_locked(payment_id, usage);
      if (!recorded) return recorded;
      return tx->commit();
    });
  }

  Result<bool> redeem_settled_payment(const std::string& payment_id, const UsageRecord& usage,
                                      const std::optional<Credential>& credential) override {
    return guarded([&]() -> Result<bool> {
      std::lock_guard lock(mutex_);
      // BEGIN IMMEDIATE: the check and the insert cannot interleave with another redeemer.
      auto tx = WriteTransaction::begin(db());
      if (!tx) return tx.error();
      auto payment = find_by_id_locked(payment_id);
      if (!payment) return payment.error();
      if (!payment->has_value() || (*payment)->status != PaymentStatus::Settled) return false;
      auto used = Statement::prepare(db(), "SELECT 1 FROM usage_records WHERE payment_id = ?");
      if (!used) return used.error();
      auto found = used->bind(1, payment_id).step();
      if (!found) return found.error();
      if (found.value()) return false;
      UsageRecord first = usage;
      first.id = payment_id;
      auto recorded = insert_usage_locked(payment_id, first);
      if (!recorded) return recorded.error();
      if (credential) {
        // Same transaction as the usage row: the usage check above makes this run once per
        // payment, so a late pass or package is issued exactly once.
        auto insert =
            Statement::prepare(db(), std::string("INSERT INTO credentials (") + kCredentialColumns +
                                         ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        if (!insert) return insert.error();
        auto stored = insert->bind(1, credential->id)
                          .bind(2, credential->merchant_id)
                          .bind(3, lower_ascii(credential->payer))
                          .bind(4, credential->scope)
                          .bind(5, credential->mode)
                          .bind(6, credential->expires_ms)
                          .bind(7, credential->calls_total)
                          .bind(8, credential->calls_remaining)
                          .bind(9, credential->payment_id)
                          .bind(10, credential->created_ms == 0 ? now_ms() : credential->created_ms)
                          .run();
        if (!stored) return stored.error();
      }
      auto committed = tx->commit();
      if (!committed) return committed.error();
      return true;
    });
  }

  Status complete_payment_with_credential(const std::string& payment_id,
                                          const std::string& facilitator,
                                          const std::string& tx_hash, const UsageRecord& usage,
                                          const Credential& credential) override {
    return guarded([&]() -> Status {
      std::lock_guard lock(mutex_);
      auto tx = WriteTransaction::begin(db());
      if (!tx) return tx.error();
      auto moved = transition_locked(payment_id, PaymentStatus::Settled, facilitator, tx_hash, "");
      if (!moved) return moved;
      auto recorded = insert_usage_locked(payment_id, usage);
      if (!recorded) return recorded;
      auto insert =
          Statement::prepare(db(), std::string("INSERT INTO credentials (") + kCredentialColumns +
                                       ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      if (!insert) return insert.error();
      auto stored = insert->bind(1, credential.id)
                        .bind(2, credential.merchant_id)
                        .bind(3, lower_ascii(credential.payer))
                        .bind(4, credential.scope)
                        .bind(5, credential.mode)
                        .bind(6, credential.expires_ms)
                        .bind(7, credential.calls_total)
                        .bind(8, credential.calls_remaining)
                        .bind(9, credential.payment_id)
                        .bind(10, credential.created_ms == 0 ? now_ms() : credential.created_ms)
                        .run();
      if (!stored) return stored;
      return tx->commit();
    });
  }

  Status record_usage(const UsageRecord& usage) override {
    return guarded([&]() -> Status {
      std::lock_guard lock(mutex_);
      return insert_usage_locked("", usage, /*if_new=*/true);
    });
  }

  Result<StoredPolicy> add_policy(const std::string& merchant_id, const std::string& source,
                                  const std::string& limits_json) override {
    return guarded([&]() -> Result<StoredPolicy> {
      std::lock_guard lock(mutex_);
      auto tx = WriteTransaction::begin(db());
      if (!tx) return tx.error();
      auto insert = Statement::prepare(
          db(), std::string("INSERT INTO policies (") + kPolicyColumns +
                    ") VALUES (?, (SELECT COALESCE(MAX(version), 0) + 1 FROM policies"
                    " WHERE merchant_id = ?), ?, ?, ?) RETURNING " +
                    kPolicyColumns);
      if (!insert) return insert.error();
      insert->bind(1, merchant_id)
          .bind(2, merchant_id)
          .bind(3, source)
          .bind(4, limits_json)
          .bind(5, now_ms());
      auto row = insert->step();
      if (!row) return row.error();
      if (!*row) return make_error("store_error", "", "policy insert returned no row");
      StoredPolicy stored = read_policy(*insert);
      auto finished = insert->step();
      if (!finished) return finished.error();
      auto done = tx->commit();
      if (!done) return done.error();
      return stored;
    });
  }

  Result<std::vector<StoredPolicy>> list_policies(const std::string& merchant_id) override {
    return guarded([&]() -> Result<std::vector<StoredPolicy>> {
      std::lock_guard lock(mutex_);
      auto stmt = Statement::prepare(db(), std::string("SELECT ") + kPolicyColumns +
                                               " FROM policies WHERE merchant_id = ?"
                                               " ORDER BY version DESC");
      if (!stmt) return stmt.error();
      stmt->bind(1, merchant_id);
      return read_policies(*stmt);
    });
  }

  Result<std::optional<StoredPolicy>> find_policy(const std::string& merchant_id,
                                                  int64_t version) override {
    return guarded([&]() -> Result<std::optional<StoredPolicy>> {
      std::lock_guard lock(mutex_);
      return find_policy_locked(merchant_id, version);
    });
  }

  Result<MerchantPolicyState> policy_state(const std::string& merchant_id) override {
    return guarded([&]() -> Result<MerchantPolicyState> {
      std::lock_guard lock(mutex_);
      return policy_state_locked(merchant_id);
    });
  }

  Result<MerchantPolicyState> activate_policy(const std::string& merchant_id,
                                              int64_t version) override {
    return guarded([&]() -> Result<MerchantPolicyState> {
      std::lock_guard lock(mutex_);
      auto tx = WriteTransaction::begin(db());
      if (!tx) return tx.error();
      auto exists = find_policy_locked(merchant_id, version);
      if (!exists) return exists.error();
      if (!*exists) {
        return make_error(
            "policy_not_found", "version",
            "merchant " + merchant_id + " has no policy version " + std::to_string(version));
      }
      auto current = policy_state_locked(merchant_id);
      if (!current) return current.error();
      MerchantPolicyState next = *current;
      if (current->active_version != version) {
        next.previous_version = current->active_version;
        next.active_version = version;
      }
      return write_policy_state_locked(std::move(*tx), next);
    });
  }

  Result<MerchantPolicyState> rollback_policy(const std::string& merchant_id) override {
    return guarded([&]() -> Result<MerchantPolicyState> {
      std::lock_guard lock(mutex_);
      auto tx = WriteTransaction::begin(db());
      if (!tx) return tx.error();
      auto current = policy_state_locked(merchant_id);
      if (!current) return current.error();
      if (current->previous_version == 0) {
        return make_error("no_previous_policy", "merchant_id",
                          "merchant " + merchant_id + " has no previous policy to roll back to");
      }
      MerchantPolicyState next = *current;
      std::swap(next.active_version, next.previous_version);
      return write_policy_state_locked(std::move(*tx), next);
    });
  }

  Result<int64_t> policy_change_stamp() override {
    return guarded([&]() -> Result<int64_t> {
      std::lock_guard lock(mutex_);
      auto stmt =
          Statement::prepare(db(), "SELECT COALESCE(MAX(updated_ms), 0) FROM merchant_policy");
      if (!stmt) return stmt.error();
      auto row = stmt->step();
      if (!row) return row.error();
      return stmt->column_int(0);
    });
  }

  Result<std::vector<StoredPolicy>> active_policies() override {
    return guarded([&]() -> Result<std::vector<StoredPolicy>> {
      std::lock_guard lock(mutex_);
      auto stmt = Statement::prepare(
          db(),
          "SELECT p.merchant_id, p.version, p.source, p.limits_json, p.created_ms"
          " FROM merchant_policy m JOIN policies p"
          " ON p.merchant_id = m.merchant_id AND p.version = m.active_version"
          " ORDER BY p.merchant_id");
      if (!stmt) return stmt.error();
      return read_policies(*stmt);
    });
  }

  Result<std::optional<Credential>> find_credential(const std::string& id) override {
    return guarded([&]() -> Result<std::optional<Credential>> {
      std::lock_guard lock(mutex_);
      auto stmt = Statement::prepare(
          db(), std::string("SELECT ") + kCredentialColumns + " FROM credentials WHERE id = ?");
      if (!stmt) return stmt.error();
      auto row = stmt->bind(1, id).step();
      if (!row) return row.error();
      if (!*row) return std::optional<Credential>{};
      return std::optional<Credential>(read_credential(*stmt));
    });
  }

  Result<bool> consume_package_call(const std::string& id, int64_t now,
                                    const UsageRecord& usage) override {
    return guarded([&]() -> Result<bool> {
      std::lock_guard lock(mutex_);
      auto tx = WriteTransaction::begin(db());
      if (!tx) return tx.error();
      auto take = Statement::prepare(db(),
                                     "UPDATE credentials SET calls_remaining = calls_remaining - 1"
                                     " WHERE id = ? AND mode = 'package' AND calls_remaining > 0"
                                     " AND expires_ms > ?");
      if (!take) return take.error();
      auto taken = take->bind(1, id).bind(2, now).run();
      if (!taken) return taken.error();
      if (sqlite3_changes(db()) == 0) return false;
      auto recorded = insert_usage_locked("", usage);
      if (!recorded) return recorded.error();
      auto done = tx->commit();
      if (!done) return done.error();
      return true;
    });
  }

  Status refund_package_call(const std::string& id, const std::string& usage_id) override {
    return guarded([&]() -> Status {
      std::lock_guard lock(mutex_);
      auto tx = WriteTransaction::begin(db());
      if (!tx) return tx.error();
      auto give = Statement::prepare(db(),
                                     "UPDATE credentials SET calls_remaining = calls_remaining + 1"
                                     " WHERE id = ? AND calls_remaining < calls_total");
      if (!give) return give.error();
      auto given = give->bind(1, id).run();
      if (!given) return given;
      auto forget =
          Statement::prepare(db(), "DELETE FROM usage_records WHERE id = ? AND payment_id IS NULL");
      if (!forget) return forget.error();
      auto forgotten = forget->bind(1, usage_id).run();
      if (!forgotten) return forgotten;
      return tx->commit();
    });
  }

  Result<PayerUsage> payer_usage(const std::string& merchant_id, const std::string& payer,
                                 int64_t period_start_ms, int64_t now) override {
    return guarded([&]() -> Result<PayerUsage> {
      std::lock_guard lock(mutex_);
      const std::string who = lower_ascii(payer);
      auto stmt = Statement::prepare(
          db(),
          "SELECT (SELECT COUNT(*) FROM usage_records WHERE merchant_id = ? AND payer = ?"
          "        AND created_ms >= ?),"
          "       (SELECT COUNT(*) FROM credentials WHERE merchant_id = ? AND payer = ?"
          "        AND mode = 'time_pass' AND expires_ms > ?),"
          "       (SELECT COALESCE(SUM(calls_remaining), 0) FROM credentials"
          "        WHERE merchant_id = ? AND payer = ? AND mode = 'package' AND expires_ms > ?)");
      if (!stmt) return stmt.error();
      stmt->bind(1, merchant_id)
          .bind(2, who)
          .bind(3, period_start_ms)
          .bind(4, merchant_id)
          .bind(5, who)
          .bind(6, now)
          .bind(7, merchant_id)
          .bind(8, who)
          .bind(9, now);
      auto row = stmt->step();
      if (!row) return row.error();
      PayerUsage usage;
      usage.calls_this_period = static_cast<uint64_t>(std::max<int64_t>(0, stmt->column_int(0)));
      usage.active_passes = static_cast<uint64_t>(std::max<int64_t>(0, stmt->column_int(1)));
      usage.package_balance = static_cast<uint64_t>(std::max<int64_t>(0, stmt->column_int(2)));
      return usage;
    });
  }

  Result<MerchantUsage> merchant_usage(const std::string& merchant_id, int64_t period_start_ms,
                                       int64_t now) override {
    return guarded([&]() -> Result<MerchantUsage> {
      std::lock_guard lock(mutex_);
      auto stmt = Statement::prepare(
          db(),
          "SELECT (SELECT COUNT(*) FROM usage_records WHERE merchant_id = ? AND created_ms >= ?),"
          "       (SELECT COUNT(*) FROM usage_records WHERE merchant_id = ? AND created_ms >= ?)");
      if (!stmt) return stmt.error();
      stmt->bind(1, merchant_id)
          .bind(2, period_start_ms)
          .bind(3, merchant_id)
          .bind(4, now - 60'000);
      auto row = stmt->step();
      if (!row) return row.error();
      MerchantUsage usage;
      usage.calls_this_period = static_cast<uint64_t>(std::max<int64_t>(0, stmt->column_int(0)));
      usage.calls_last_minute = static_cast<uint64_t>(std::max<int64_t>(0, stmt->column_int(1)));
      return usage;
    });
  }

  Status release_payment(const std::string& payment_id) override {
    return guarded([&]() -> Status {
      std::lock_guard lock(mutex_);
      return release_locked(payment_id);
    });
  }

  Result<std::optional<PaymentRecord>> find_payment(const std::string& payment_id) override {
    return guarded([&]() -> Result<std::optional<PaymentRecord>> {
      std::lock_guard lock(mutex_);
      return find_by_id_locked(payment_id);
    });
  }

  Result<std::optional<PaymentRecord>> find_payment_by_key(const PaymentKey& key) override {
    return guarded([&]() -> Result<std::optional<PaymentRecord>> {
      std::lock_guard lock(mutex_);
      return find_by_key_locked(normalised(key));
    });
  }

  Result<std::vector<PaymentRecord>> payments_with_status(PaymentStatus status,
                                                          size_t limit) override {
    return guarded([&]() -> Result<std::vector<PaymentRecord>> {
      std::lock_guard lock(mutex_);
      auto stmt = Statement::prepare(db(), std::string("SELECT ") + kPaymentColumns +
                                               " FROM payments WHERE status = ?"
                                               " ORDER BY created_ms, id LIMIT ?");
      if (!stmt) return stmt.error();
      stmt->bind(1, to_string(status)).bind(2, sql_limit(limit));
      std::vector<PaymentRecord> out;
      while (true) {
        auto row = stmt->step();
        if (!row) return row.error();
        if (!*row) break;
        auto record = read_payment(*stmt);
        if (!record) return record.error();
        out.push_back(std::move(*record));
      }
      return out;
    });
  }

  Result<std::vector<UsageRecord>> usage_for_merchant(const std::string& merchant_id,
                                                      size_t limit) override {
    return guarded([&]() -> Result<std::vector<UsageRecord>> {
      std::lock_guard lock(mutex_);
      auto stmt = Statement::prepare(db(), std::string("SELECT ") + kUsageColumns +
                                               " FROM usage_records WHERE merchant_id = ?"
                                               " ORDER BY created_ms DESC, id DESC LIMIT ?");
      if (!stmt) return stmt.error();
      stmt->bind(1, merchant_id).bind(2, sql_limit(limit));
      std::vector<UsageRecord> out;
      while (true) {
        auto row = stmt->step();
        if (!row) return row.error();
        if (!*row) break;
        out.push_back(read_usage(*stmt));
      }
      return out;
    });
  }

  Result<int64_t> count_payments() override {
    return guarded([&]() -> Result<int64_t> {
      std::lock_guard lock(mutex_);
      auto stmt = Statement::prepare(db(), "SELECT COUNT(*) FROM payments");
      if (!stmt) return stmt.error();
      auto row = stmt->step();
      if (!row) return row.error();
      return stmt->column_int(0);
    });
  }

  Result<QueueJob> queue_put(const std::string& instance, const QueueJob& job) override {
    return guarded([&]() -> Result<QueueJob> {
      std::lock_guard lock(mutex_);
      int64_t now = now_ms();
      auto tx = WriteTransaction::begin(db());
      if (!tx) return tx.error();
      auto insert = Statement::prepare(
          db(), std::string("INSERT INTO settlement_queue (instance, ") + kJobColumns +
                    ") VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (instance, id) DO NOTHING");
      if (!insert) return insert.error();
      const int64_t created = job.created_ms != 0 ? job.created_ms : now;
      auto inserted = insert->bind(1, instance)
                          .bind(2, job.id)
                          .bind(3, job.lane)
                          .bind(4, job.state)
                          .bind(5, job.data)
                          .bind(6, created)
                          .bind(7, job.updated_ms != 0 ? job.updated_ms : created)
                          .run();
      if (!inserted) return inserted.error();
      auto stored = find_jobs_locked(instance, job.id, "", 1);
      if (!stored) return stored.error();
      if (stored->empty()) return make_error("store_error", "", "queued job vanished");
      auto done = tx->commit();
      if (!done) return done.error();
      return std::move(stored->front());
    });
  }

  Result<std::optional<QueueJob>> queue_update(const std::string& instance, const std::string& id,
                                               const std::string& expected_state,
                                               const std::string& new_state,
                                               const std::string& lane,
                                               const std::string& data) override {
    return guarded([&]() -> Result<std::optional<QueueJob>> {
      std::lock_guard lock(mutex_);
      auto update = Statement::prepare(
          db(), std::string("UPDATE settlement_queue SET state = ?, lane = ?, data = ?,"
                            " updated_ms = ? WHERE instance = ? AND id = ? AND state = ?"
                            " RETURNING ") +
                    kJobColumns);
      if (!update) return update.error();
      update->bind(1, new_state)
          .bind(2, lane)
          .bind(3, data)
          .bind(4, now_ms())
          .bind(5, instance)
          .bind(6, id)
          .bind(7, expected_state);
      auto jobs = read_jobs(*update);
      if (!jobs) return jobs.error();
      if (jobs->empty()) return std::optional<QueueJob>{};
      return std::optional<QueueJob>(std::move(jobs->front()));
    });
  }

  Result<std::vector<QueueJob>> queue_claim(const std::string& instance,
                                            const std::string& from_state,
                                            const std::string& to_state, size_t limit) override {
    return guarded([&]() -> Result<std::vector<QueueJob>> {
      std::lock_guard lock(mutex_);
      // BEGIN IMMEDIATE holds the write lock from the selection to the move, so another process
      // sharing the file cannot pick the same rows in between.
      auto tx = WriteTransaction::begin(db());
      if (!tx) return tx.error();
      auto claim = Statement::prepare(
          db(), std::string("UPDATE settlement_queue SET state = ?, updated_ms = ?"
                            " WHERE instance = ? AND id IN (SELECT id FROM settlement_queue"
                            " WHERE instance = ? AND state = ? ORDER BY created_ms, id LIMIT ?)"
                            " RETURNING ") +
                    kJobColumns);
      if (!claim) return claim.error();
      claim->bind(1, to_state)
          .bind(2, now_ms())
          .bind(3, instance)
          .bind(4, instance)
          .bind(5, from_state)
          .bind(6, sql_limit(limit));
      auto jobs = read_jobs(*claim);
      if (!jobs) return jobs.error();
      auto done = tx->commit();
      if (!done) return done.error();
      // RETURNING does not promise an order.
      std::sort(jobs->begin(), jobs->end(), [](const QueueJob& a, const QueueJob& b) {
        return a.created_ms != b.created_ms ? a.created_ms < b.created_ms : a.id < b.id;
      });
      return jobs;
    });
  }

  Result<std::vector<QueueJob>> queue_list(const std::string& instance, const std::string& id,
                                           const std::string& state, size_t limit) override {
    return guarded([&]() -> Result<std::vector<QueueJob>> {
      std::lock_guard lock(mutex_);
      return find_jobs_locked(instance, id, state, limit);
    });
  }

  Result<StoredEvent> append_event(const StoredEvent& input) override {
    return guarded([&]() -> Result<StoredEvent> {
      std::lock_guard lock(mutex_);
      StoredEvent event = input;
      if (event.id.empty()) event.id = uuid_like();
      if (event.created_ms == 0) event.created_ms = now_ms();
      auto tx = WriteTransaction::begin(db());
      if (!tx) return tx.error();
      auto insert = Statement::prepare(
          db(), std::string("INSERT INTO events (") + kEventColumns +
                    ") VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM events), ?, ?, ?, ?)"
                    " RETURNING seq");
      if (!insert) return insert.error();
      insert->bind(1, event.id)
          .bind(2, event.type)
          .bind(3, event.json)
          .bind(4, event.source)
          .bind(5, event.created_ms);
      auto row = insert->step();
      if (!row) return row.error();
      if (!*row) return make_error("store_error", "", "event insert returned no seq");
      event.seq = insert->column_int(0);
      // Finish the statement before COMMIT: a pending RETURNING statement keeps the write open.
      auto finished = insert->step();
      if (!finished) return finished.error();
      auto done = tx->commit();
      if (!done) return done.error();
      return event;
    });
  }

  Result<std::vector<StoredEvent>> list_events(
      size_t limit, const std::optional<std::string>& after_id) override {
    return guarded([&]() -> Result<std::vector<StoredEvent>> {
      std::lock_guard lock(mutex_);
      int64_t after_seq = 0;
      if (after_id) {
        auto cursor = Statement::prepare(db(), "SELECT seq FROM events WHERE id = ?");
        if (!cursor) return cursor.error();
        auto found = cursor->bind(1, *after_id).step();
        if (!found) return found.error();
        if (!*found) {
          return make_error("event_not_found", "after_id", "no event with id " + *after_id);
        }
        after_seq = cursor->column_int(0);
      }
      auto stmt = Statement::prepare(db(), std::string("SELECT ") + kEventColumns +
                                               " FROM events WHERE seq > ? ORDER BY seq LIMIT ?");
      if (!stmt) return stmt.error();
      stmt->bind(1, after_seq).bind(2, sql_limit(limit));
      std::vector<StoredEvent> out;
      while (true) {
        auto row = stmt->step();
        if (!row) return row.error();
        if (!*row) break;
        out.push_back(read_event(*stmt));
      }
      return out;
    });
  }

  // ---- Books ----

  Result<std::vector<PaymentRecord>> list_payments(const PaymentQuery& query) override {
    return guarded([&]() -> Result<std::vector<PaymentRecord>> {
      std::lock_guard lock(mutex_);
      auto stmt = Statement::prepare(
          db(), std::string("SELECT ") + kPaymentColumns +
                    " FROM payments WHERE merchant_id = ? AND created_ms >= ? AND created_ms < ?"
                    " AND (created_ms > ? OR (created_ms = ? AND id > ?))" +
                    (query.status ? " AND status = ?" : "") + " ORDER BY created_ms, id LIMIT ?");
      if (!stmt) return stmt.error();
      int next = bind_books_query(*stmt, query);
      if (query.status) stmt->bind(next++, to_string(*query.status));
      stmt->bind(next, sql_limit(query.limit));
      std::vector<PaymentRecord> out;
      while (true) {
        auto row = stmt->step();
        if (!row) return row.error();
        if (!*row) break;
        auto record = read_payment(*stmt);
        if (!record) return record.error();
        out.push_back(std::move(*record));
      }
      return out;
    });
  }

  Result<std::vector<PaymentEvent>> payment_events(const std::string& payment_id) override {
    return guarded([&]() -> Result<std::vector<PaymentEvent>> {
      std::lock_guard lock(mutex_);
      auto stmt = Statement::prepare(
          db(),
          "SELECT seq, from_status, to_status, at_ms, facilitator, tx_hash, error_reason"
          " FROM payment_events WHERE payment_id = ? ORDER BY seq");
      if (!stmt) return stmt.error();
      stmt->bind(1, payment_id);
      std::vector<PaymentEvent> out;
      while (true) {
        auto row = stmt->step();
        if (!row) return row.error();
        if (!*row) break;
        out.push_back(PaymentEvent{stmt->column_int(0), stmt->column_text(1), stmt->column_text(2),
                                   stmt->column_int(3), stmt->column_text(4), stmt->column_text(5),
                                   stmt->column_text(6)});
      }
      return out;
    });
  }

  Result<std::vector<UsageRecord>> list_usage(const BooksQuery& query) override {
    return guarded([&]() -> Result<std::vector<UsageRecord>> {
      std::lock_guard lock(mutex_);
      auto stmt = Statement::prepare(
          db(), std::string("SELECT ") + kUsageColumns +
                    " FROM usage_records WHERE merchant_id = ? AND created_ms >= ?"
                    " AND created_ms < ? AND (created_ms > ? OR (created_ms = ? AND id > ?))"
                    " ORDER BY created_ms, id LIMIT ?");
      if (!stmt) return stmt.error();
      stmt->bind(bind_books_query(*stmt, query), sql_limit(query.limit));
      std::vector<UsageRecord> out;
      while (true) {
        auto row = stmt->step();
        if (!row) return row.error();
        if (!*row) break;
        out.push_back(read_usage(*stmt));
      }
      return out;
    });
  }

  // amount is TEXT here, and SUM(CAST(amount AS INTEGER)) would be wrong twice over: CAST clamps
  // anything above 2^63-1 to 2^63-1, and the sum overflows at 2^63. So each amount is split into
  // nine 9-digit groups (81 digits cover any uint256) and every group summed on its own: a group
  // sum stays below 2^63 for up to 9.2 billion payments per day and asset, and beyond that
  // SQLite raises "integer overflow", which is reported — never a wrong number. C++ recombines
  // the groups exactly. Rows that are not 1..78 decimal digits are counted and refused.
  Result<std::vector<DailyRevenue>> daily_revenue(const std::string& merchant_id, int64_t from_ms,
                                                  int64_t to_ms) override {
    constexpr unsigned kGroups = 9;
    constexpr unsigned kGroupDigits = 9;
    return guarded([&]() -> Result<std::vector<DailyRevenue>> {
      if (from_ms < 0) return make_error("invalid_range", "from", "from must not be before 1970");
      std::string sums;
      for (unsigned k = 1; k <= kGroups; ++k) {
        sums += ", SUM(CAST(substr(amount, -" + std::to_string(k * kGroupDigits) + ", " +
                std::to_string(kGroupDigits) + ") AS INTEGER))";
      }
      std::lock_guard lock(mutex_);
      auto stmt =
          Statement::prepare(db(),
                             "SELECT created_ms / 86400000 AS day, network, asset, COUNT(*),"
                             " SUM(length(amount) NOT BETWEEN 1 AND 78 OR amount GLOB '*[^0-9]*')" +
                                 sums +
                                 " FROM payments WHERE merchant_id = ? AND status = 'SETTLED'"
                                 " AND created_ms >= ? AND created_ms < ?"
                                 " GROUP BY day, network, asset ORDER BY day, network, asset");
      if (!stmt) return stmt.error();
      stmt->bind(1, merchant_id).bind(2, from_ms).bind(3, to_ms);
      std::vector<DailyRevenue> out;
      while (true) {
        auto row = stmt->step();
        if (!row) {
          if (row.error().message.find("integer overflow") == std::string::npos) {
            return row.error();
          }
          return make_error("revenue_overflow", "",
                            "the revenue of one day and asset is too large to sum in SQLite "
                            "(over 9.2 billion payments); narrow the range or use PostgreSQL");
        }
        if (!*row) break;
        DailyRevenue d;
        d.day = stmt->column_int(0);
        d.network = stmt->column_text(1);
        d.asset = stmt->column_text(2);
        d.payments = stmt->column_int(3);
        if (stmt->column_int(4) != 0) {
          return make_error("store_error", "amount",
                            "settled payments of " + merchant_id + " on day " +
                                std::to_string(d.day) +
                                " have amounts that are not decimal "
                                "atomic units; the books cannot sum them");
        }
        std::vector<int64_t> groups;
        for (unsigned k = 0; k < kGroups; ++k) groups.push_back(stmt->column_int(5 + k));
        d.gross = books::join_digit_groups(groups, kGroupDigits);
        out.push_back(std::move(d));
      }
      return out;
    });
  }

  // ---- Idempotency ----

  Result<IdempotencyBegin> idempotency_begin(const IdempotencyRecord& request,
                                             int64_t stale_before_ms) override {
    return guarded([&]() -> Result<IdempotencyBegin> {
      std::lock_guard lock(mutex_);
      // BEGIN IMMEDIATE: the look and the take are one step against other processes.
      auto tx = WriteTransaction::begin(db());
      if (!tx) return tx.error();
      auto existing = find_idempotency_locked(request.scope, request.key);
      if (!existing) return existing.error();
      if (*existing) {
        const IdempotencyRecord& row = **existing;
        const bool expired = row.expires_ms <= request.created_ms;
        const bool abandoned = !row.done && row.created_ms < stale_before_ms;
        if (!expired && !abandoned) {
          IdempotencyBegin answer;
          answer.outcome = row.fingerprint != request.fingerprint ? IdempotencyOutcome::Mismatch
                           : row.done                             ? IdempotencyOutcome::Replay
                                                                  : IdempotencyOutcome::InFlight;
          answer.stored = row;
          return answer;  // nothing written; the transaction rolls back
        }
      }
      auto take = Statement::prepare(
          db(), std::string("INSERT INTO idempotency_keys (") + kIdempotencyColumns +
                    ") VALUES (?, ?, ?, ?, 'in_flight', 0, '', '', ?, ?)"
                    " ON CONFLICT (scope, idempotency_key) DO UPDATE SET"
                    " fingerprint = excluded.fingerprint, owner = excluded.owner,"
                    " state = excluded.state, response_status = 0, response_headers = '',"
                    " response_body = '', created_ms = excluded.created_ms,"
                    " expires_ms = excluded.expires_ms");
      if (!take) return take.error();
      take->bind(1, request.scope)
          .bind(2, request.key)
          .bind(3, request.fingerprint)
          .bind(4, request.owner)
          .bind(5, request.created_ms)
          .bind(6, request.expires_ms);
      auto taken = take->run();
      if (!taken) return taken.error();
      auto committed = tx->commit();
      if (!committed) return committed.error();
      return IdempotencyBegin{IdempotencyOutcome::Started, std::nullopt};
    });
  }

  Result<std::optional<IdempotencyRecord>> idempotency_find(const std::string& scope,
                                                            const std::string& key,
                                                            int64_t now) override {
    return guarded([&]() -> Result<std::optional<IdempotencyRecord>> {
      std::lock_guard lock(mutex_);
      auto found = find_idempotency_locked(scope, key);
      if (!found) return found.error();
      if (*found && (*found)->expires_ms <= now) return std::optional<IdempotencyRecord>{};
      return found;
    });
  }

  Result<bool> idempotency_finish(const IdempotencyRecord& response) override {
    return guarded([&]() -> Result<bool> {
      std::lock_guard lock(mutex_);
      auto stmt = Statement::prepare(
          db(),
          "UPDATE idempotency_keys SET state = 'done', response_status = ?,"
          " response_headers = ?, response_body = ?, expires_ms = ?"
          " WHERE scope = ? AND idempotency_key = ? AND owner = ? AND state = 'in_flight'");
      if (!stmt) return stmt.error();
      stmt->bind(1, int64_t{response.response_status})
          .bind(2, response.response_headers)
          .bind(3, response.response_body)
          .bind(4, response.expires_ms)
          .bind(5, response.scope)
          .bind(6, response.key)
          .bind(7, response.owner);
      auto ran = stmt->run();
      if (!ran) return ran.error();
      return sqlite3_changes(db()) == 1;
    });
  }

  Status idempotency_abandon(const std::string& scope, const std::string& key,
                             const std::string& owner) override {
    return guarded([&]() -> Status {
      std::lock_guard lock(mutex_);
      auto stmt = Statement::prepare(db(),
                                     "DELETE FROM idempotency_keys WHERE scope = ? AND"
                                     " idempotency_key = ? AND owner = ? AND state = 'in_flight'");
      if (!stmt) return stmt.error();
      return stmt->bind(1, scope).bind(2, key).bind(3, owner).run();
    });
  }

  Result<int64_t> idempotency_purge_expired(int64_t now) override {
    return guarded([&]() -> Result<int64_t> {
      std::lock_guard lock(mutex_);
      auto stmt = Statement::prepare(db(), "DELETE FROM idempotency_keys WHERE expires_ms <= ?");
      if (!stmt) return stmt.error();
      auto ran = stmt->bind(1, now).run();
      if (!ran) return ran.error();
      return int64_t{sqlite3_changes(db())};
    });
  }

 private:
  sqlite3* db() { return db_.get(); }

  // Binds merchant, range and cursor (parameters 1..6) of the books queries; returns the next
  // parameter index. Without a cursor every row of the range is "after" it.
  static int bind_books_query(Statement& stmt, const BooksQuery& query) {
    const int64_t after_ms =
        query.after ? query.after->created_ms : std::numeric_limits<int64_t>::min();
    stmt.bind(1, query.merchant_id).bind(2, query.from_ms).bind(3, query.to_ms);
    stmt.bind(4, after_ms).bind(5, after_ms).bind(6, query.after ? query.after->id : "");
    return 7;
  }

  Result<std::optional<IdempotencyRecord>> find_idempotency_locked(const std::string& scope,
                                                                   const std::string& key) {
    auto stmt = Statement::prepare(db(), std::string("SELECT ") + kIdempotencyColumns +
                                             " FROM idempotency_keys"
                                             " WHERE scope = ? AND idempotency_key = ?");
    if (!stmt) return stmt.error();
    auto row = stmt->bind(1, scope).bind(2, key).step();
    if (!row) return row.error();
    if (!*row) return std::optional<IdempotencyRecord>{};
    IdempotencyRecord r;
    r.scope = stmt->column_text(0);
    r.key = stmt->column_text(1);
    r.fingerprint = stmt->column_text(2);
    r.owner = stmt->column_text(3);
    r.done = stmt->column_text(4) == "done";
    r.response_status = static_cast<int>(stmt->column_int(5));
    r.response_headers = stmt->column_text(6);
    r.response_body = stmt->column_text(7);
    r.created_ms = stmt->column_int(8);
    r.expires_ms = stmt->column_int(9);
    return std::optional<IdempotencyRecord>(std::move(r));
  }

  static Result<std::vector<StoredPolicy>> read_policies(Statement& stmt) {
    std::vector<StoredPolicy> out;
    while (true) {
      auto row = stmt.step();
      if (!row) return row.error();
      if (!*row) break;
      out.push_back(read_policy(stmt));
    }
    return out;
  }

  Result<std::optional<StoredPolicy>> find_policy_locked(const std::string& merchant_id,
                                                         int64_t version) {
    auto stmt =
        Statement::prepare(db(), std::string("SELECT ") + kPolicyColumns +
                                     " FROM policies WHERE merchant_id = ? AND version = ?");
    if (!stmt) return stmt.error();
    auto row = stmt->bind(1, merchant_id).bind(2, version).step();
    if (!row) return row.error();
    if (!*row) return std::optional<StoredPolicy>{};
    return std::optional<StoredPolicy>(read_policy(*stmt));
  }

  Result<MerchantPolicyState> policy_state_locked(const std::string& merchant_id) {
    auto stmt = Statement::prepare(db(),
                                   "SELECT active_version, previous_version, updated_ms"
                                   " FROM merchant_policy WHERE merchant_id = ?");
    if (!stmt) return stmt.error();
    auto row = stmt->bind(1, merchant_id).step();
    if (!row) return row.error();
    MerchantPolicyState state;
    state.merchant_id = merchant_id;
    if (*row) {
      state.active_version = stmt->column_int(0);
      state.previous_version = stmt->column_int(1);
      state.updated_ms = stmt->column_int(2);
    }
    return state;
  }

  // updated_ms = max(now, highest + 1): a strictly increasing change stamp even for two
  // activations within one millisecond.
  Result<MerchantPolicyState> write_policy_state_locked(WriteTransaction tx,
                                                        MerchantPolicyState state) {
    auto upsert = Statement::prepare(
        db(),
        "INSERT INTO merchant_policy (merchant_id, active_version, previous_version, updated_ms)"
        " VALUES (?, ?, ?, MAX(?, (SELECT COALESCE(MAX(updated_ms), 0) + 1 FROM merchant_policy)))"
        " ON CONFLICT (merchant_id) DO UPDATE SET active_version = excluded.active_version,"
        " previous_version = excluded.previous_version, updated_ms = excluded.updated_ms"
        " RETURNING updated_ms");
    if (!upsert) return upsert.error();
    upsert->bind(1, state.merchant_id)
        .bind(2, state.active_version)
        .bind(3, state.previous_version)
        .bind(4, now_ms());
    auto row = upsert->step();
    if (!row) return row.error();
    if (*row) state.updated_ms = upsert->column_int(0);
    auto finished = upsert->step();
    if (!finished) return finished.error();
    auto done = tx.commit();
    if (!done) return done.error();
    return state;
  }

  Result<std::vector<QueueJob>> find_jobs_locked(const std::string& instance, const std::string& id,
                                                 const std::string& state, size_t limit) {
    std::string sql =
        std::string("SELECT ") + kJobColumns + " FROM settlement_queue WHERE instance = ?";
    // Filters are spelled out, not "(? = '' OR ...)": that form would hide the state index.
    if (!id.empty()) sql += " AND id = ?";
    if (!state.empty()) sql += " AND state = ?";
    sql += " ORDER BY created_ms, id LIMIT ?";
    auto stmt = Statement::prepare(db(), sql);
    if (!stmt) return stmt.error();
    int index = 1;
    stmt->bind(index++, instance);
    if (!id.empty()) stmt->bind(index++, id);
    if (!state.empty()) stmt->bind(index++, state);
    stmt->bind(index, sql_limit(limit));
    return read_jobs(*stmt);
  }

  Result<ClaimResult> claim_locked(const PaymentRecord& input) {
    PaymentRecord record = input;
    record.key = normalised(input.key);
    int64_t now = now_ms();
    if (record.created_ms == 0) record.created_ms = now;
    if (record.updated_ms == 0) record.updated_ms = record.created_ms;

    auto tx = WriteTransaction::begin(db());
    if (!tx) return tx.error();
    {
      // ON CONFLICT names the replay key only: a clash on the primary key (a caller bug reusing
      // an id) stays an error instead of passing for a replay.
      auto insert = Statement::prepare(
          db(), std::string("INSERT INTO payments (") + kPaymentColumns +
                    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (chain_id, asset, payer, nonce) DO NOTHING");
      if (!insert) return insert.error();
      insert->bind(1, record.id)
          .bind(2, static_cast<int64_t>(record.key.chain_id))
          .bind(3, record.key.asset)
          .bind(4, record.key.payer)
          .bind(5, record.key.nonce)
          .bind(6, record.request_id)
          .bind(7, record.merchant_id)
          .bind(8, record.route)
          .bind(9, int64_t{record.x402_version})
          .bind(10, record.network)
          .bind(11, record.pay_to)
          .bind(12, record.amount)
          .bind(13, to_string(record.status))
          .bind(14, record.facilitator)
          .bind(15, record.tx_hash)
          .bind(16, record.error_reason)
          .bind(17, record.payload_json)
          .bind(18, record.requirements_json)
          .bind(19, record.created_ms)
          .bind(20, record.updated_ms);
      auto inserted = insert->run();
      if (!inserted) return inserted.error();
    }

    if (sqlite3_changes(db()) == 0) {
      // Read under the same write lock, so the row that beat us cannot vanish in between.
      auto existing = find_by_key_locked(record.key);
      if (!existing) return existing.error();
      if (!*existing) {
        return make_error("store_error", "", "claim conflicted but the existing row is missing");
      }
      auto done = tx->commit();
      if (!done) return done.error();
      return ClaimResult{ClaimOutcome::AlreadyClaimed, std::move(*existing)};
    }

    auto logged = append_event_locked(record.id, "", to_string(record.status), now,
                                      record.facilitator, record.tx_hash, record.error_reason);
    if (!logged) return logged.error();
    auto done = tx->commit();
    if (!done) return done.error();
    return ClaimResult{ClaimOutcome::Claimed, std::nullopt};
  }

  // Within the caller's transaction. Empty facilitator / tx_hash / error_reason keep the stored
  // value, so a later step (e.g. FAILED with only a reason) does not erase who verified it.
  Status transition_locked(const std::string& payment_id, PaymentStatus status,
                           const std::string& facilitator, const std::string& tx_hash,
                           const std::string& error_reason) {
    auto current = find_by_id_locked(payment_id);
    if (!current) return current.error();
    if (!*current) return not_found(payment_id);

    int64_t now = now_ms();
    auto update = Statement::prepare(db(),
                                     "UPDATE payments SET status = ?,"
                                     " facilitator = COALESCE(NULLIF(?, ''), facilitator),"
                                     " tx_hash = COALESCE(NULLIF(?, ''), tx_hash),"
                                     " error_reason = COALESCE(NULLIF(?, ''), error_reason),"
                                     " updated_ms = ? WHERE id = ?");
    if (!update) return update.error();
    auto updated = update->bind(1, to_string(status))
                       .bind(2, facilitator)
                       .bind(3, tx_hash)
                       .bind(4, error_reason)
                       .bind(5, now)
                       .bind(6, payment_id)
                       .run();
    if (!updated) return updated;
    return append_event_locked(payment_id, to_string((*current)->status), to_string(status), now,
                               facilitator, tx_hash, error_reason);
  }

  Status release_locked(const std::string& payment_id) {
    auto tx = WriteTransaction::begin(db());
    if (!tx) return tx.error();
    auto current = find_by_id_locked(payment_id);
    if (!current) return current.error();
    if (!*current) return not_found(payment_id);

    // Releasing lets the same authorization be presented again. Once money has (or may have)
    // moved, that would invite a second delivery for one payment, so refuse rather than trust the
    // caller.
    PaymentStatus status = (*current)->status;
    if (status == PaymentStatus::Settled || status == PaymentStatus::Unknown ||
        status == PaymentStatus::Refunded) {
      return make_error("release_refused", "payment_id",
                        "payment " + payment_id + " is " + std::string(to_string(status)) +
                            "; only a claim that moved no money can be released");
    }

    auto logged =
        append_event_locked(payment_id, to_string(status), "RELEASED", now_ms(), "", "", "");
    if (!logged) return logged;
    auto remove = Statement::prepare(db(), "DELETE FROM payments WHERE id = ?");
    if (!remove) return remove.error();
    auto removed = remove->bind(1, payment_id).run();
    if (!removed) return removed;
    return tx->commit();
  }

  // `if_new`: a record whose id is already stored is left alone (record_usage is idempotent, so
  // the spool can apply a record twice). Completions keep the collision: a second usage record
  // for one payment is an error there, never a silent double count.
  Status insert_usage_locked(const std::string& payment_id, const UsageRecord& usage,
                             bool if_new = false) {
    auto insert =
        Statement::prepare(db(), std::string("INSERT INTO usage_records (") + kUsageColumns +
                                     ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" +
                                     (if_new ? " ON CONFLICT (id) DO NOTHING" : ""));
    if (!insert) return insert.error();
    // One usage record per settled payment: its id defaults to the payment id, so a retried
    // completion collides instead of double-counting.
    insert->bind(1, usage.id.empty() ? payment_id : usage.id);
    if (payment_id.empty()) {
      insert->bind_null(2);  // a free or credential-covered call
    } else {
      insert->bind(2, payment_id);
    }
    insert->bind(3, usage.request_id)
        .bind(4, usage.merchant_id)
        .bind(5, usage.route)
        .bind(6, lower_ascii(usage.payer))
        .bind(7, usage.amount)
        .bind(8, lower_ascii(usage.asset))
        .bind(9, usage.network)
        .bind(10, usage.billing_mode)
        .bind(11, int64_t{usage.upstream_status})
        .bind(12, usage.created_ms == 0 ? now_ms() : usage.created_ms)
        .bind(13, usage.policy_version);
    return insert->run();
  }

  Status append_event_locked(const std::string& payment_id, std::string_view from_status,
                             std::string_view to_status, int64_t at_ms,
                             const std::string& facilitator, const std::string& tx_hash,
                             const std::string& error_reason) {
    auto insert = Statement::prepare(
        db(),
        "INSERT INTO payment_events (payment_id, seq, from_status, to_status, at_ms, facilitator,"
        " tx_hash, error_reason) VALUES (?,"
        " (SELECT COALESCE(MAX(seq), 0) + 1 FROM payment_events WHERE payment_id = ?),"
        " ?, ?, ?, ?, ?, ?)");
    if (!insert) return insert.error();
    return insert->bind(1, payment_id)
        .bind(2, payment_id)
        .bind(3, from_status)
        .bind(4, to_status)
        .bind(5, at_ms)
        .bind(6, facilitator)
        .bind(7, tx_hash)
        .bind(8, error_reason)
        .run();
  }

  Result<std::optional<PaymentRecord>> find_by_id_locked(const std::string& payment_id) {
    auto stmt = Statement::prepare(
        db(), std::string("SELECT ") + kPaymentColumns + " FROM payments WHERE id = ?");
    if (!stmt) return stmt.error();
    stmt->bind(1, payment_id);
    return read_optional_payment(*stmt);
  }

  Result<std::optional<PaymentRecord>> find_by_key_locked(const PaymentKey& key) {
    auto stmt = Statement::prepare(db(), std::string("SELECT ") + kPaymentColumns +
                                             " FROM payments WHERE chain_id = ? AND asset = ?"
                                             " AND payer = ? AND nonce = ?");
    if (!stmt) return stmt.error();
    stmt->bind(1, static_cast<int64_t>(key.chain_id))
        .bind(2, key.asset)
        .bind(3, key.payer)
        .bind(4, key.nonce);
    return read_optional_payment(*stmt);
  }

  static Result<std::optional<PaymentRecord>> read_optional_payment(Statement& stmt) {
    auto row = stmt.step();
    if (!row) return row.error();
    if (!*row) return std::optional<PaymentRecord>{};
    auto record = read_payment(stmt);
    if (!record) return record.error();
    return std::optional<PaymentRecord>(std::move(*record));
  }

  std::mutex mutex_;
  sqlite::DbHandle db_;
};

Status configure(sqlite3* db) {
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  // WAL lets readers proceed during a write and makes each commit a single append.
  // synchronous=FULL fsyncs the WAL on every commit: these rows record money, so a settled payment
  // must survive a power cut even if that costs write latency (NORMAL could lose the last commits).
  for (const char* pragma :
       {"PRAGMA foreign_keys = ON", "PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL"}) {
    auto applied = sqlite::exec(db, pragma);
    if (!applied) return applied;
  }
  return Ok{};
}

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path) {
  return guarded([&]() -> Result<std::unique_ptr<Store>> {
    auto db = sqlite::open(path);
    if (!db) return db.error();
    auto configured = configure(db->get());
    if (!configured) return configured.error();
    auto migrated = sqlite::apply_migrations(db->get());
    if (!migrated) return migrated.error();
    return std::unique_ptr<Store>(std::make_unique<SqliteStore>(std::move(*db)));
  });
}

}  // namespace x402
