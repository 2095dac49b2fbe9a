// The PostgreSQL backend of Store: one database shared by many gateway nodes (DESIGN.md §7, §8).
//
// Every call borrows one pooled connection and runs one READ COMMITTED transaction on it. What
// makes each guarantee hold across nodes:
//   - claims: INSERT ... ON CONFLICT (replay key) DO NOTHING, then read the row that won;
//   - payment transitions, redeem, release: SELECT ... FOR UPDATE on the payment row first;
//   - queue_claim: one UPDATE over a FOR UPDATE SKIP LOCKED selection, so concurrent claimers
//     skip each other's rows instead of waiting or double-claiming;
//   - the package balance: a guarded UPDATE (calls_remaining > 0), re-checked by PostgreSQL
//     against the newest row version when two nodes race;
//   - policy activations: LOCK TABLE merchant_policy IN EXCLUSIVE MODE (readers are not blocked)
//     so updated_ms = GREATEST(now, MAX + 1) is strictly increasing in commit order across nodes;
//   - events: a sequence hands out values in call order, not commit order, so a reader could see
//     seq 11 before seq 10 commits and page past it for good. append_event therefore holds
//     LOCK TABLE events IN EXCLUSIVE MODE until commit: seq order = commit order.
//
// Failures: serialization failures and deadlocks (SQLSTATE 40001, 40P01) roll back and rerun the
// whole transaction a few times; a connection that broke before COMMIT was sent reruns it on a
// fresh connection. A connection lost *during* COMMIT leaves the outcome unknown, and rerunning
// blindly could apply a write twice (a second usage record, a job moved twice). Instead the store
// resolves it: it waits (bounded) until the old server session has exited — from then on its
// transaction is either committed or rolled back for good — and reads back what the transaction
// wrote: the claimed payment row with our id and key, the usage record with our id, the job in
// the new state with our data and stamp, the event with our id, and so on. Found: the call
// succeeded. Not found: it surely did not commit, and only then is it run again. Writes without
// such a read-back (policy activation, release, refunds) report the unknown outcome as
// store_unavailable. Connection failures are store_unavailable; other database errors
// store_error. No libpqxx exception leaves this file.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>
#include <random>
#include <thread>

#include "state/pg_pool.hpp"
#include "state/pg_schema.hpp"
#include "state/store.hpp"
#include "state/store_columns.hpp"
#include "state/store_helpers.hpp"

namespace x402 {
namespace {

using namespace store_columns;  // NOLINT(google-build-using-namespace): SQL fragments
using namespace store_helpers;  // NOLINT(google-build-using-namespace)

// Serialization failures and deadlocks are rare under READ COMMITTED; a few reruns cover bursts.
constexpr int kMaxAttempts = 5;
// How long an in-doubt commit waits for its old server session to exit before giving up.
constexpr std::chrono::seconds kInDoubtWait{10};

// Ids sort byte-wise, as in SQLite, whatever collation the database was created with.
constexpr const char* kOldestFirst = " ORDER BY created_ms, id COLLATE \"C\"";

// NUMERIC(78,0) takes any uint256 but rejects anything else; say which field is wrong rather than
// surfacing PostgreSQL's "invalid input syntax for type numeric".
std::optional<Error> invalid_amount(const std::string& amount, const std::string& field) {
  const bool digits = !amount.empty() && amount.size() <= 78 &&
                      std::all_of(amount.begin(), amount.end(),
                                  [](unsigned char c) { return std::isdigit(c) != 0; });
  if (digits) return std::nullopt;
  return make_error("invalid_amount", field,
                    field + " must be a decimal integer of atomic units, got '" + amount + "'");
}

Error not_found(const std::string& payment_id) {
  return make_error("payment_not_found", "payment_id", "no payment with id " + payment_id);
}

std::string text(const pqxx::field& f) {
  return f.is_null() ? std::string() : std::string(f.c_str());
}

Result<PaymentRecord> read_payment(const pqxx::row& row) {
  PaymentRecord r;
  r.id = text(row[0]);
  r.key.chain_id = static_cast<uint64_t>(row[1].as<int64_t>());
  r.key.asset = text(row[2]);
  r.key.payer = text(row[3]);
  r.key.nonce = text(row[4]);
  r.request_id = text(row[5]);
  r.merchant_id = text(row[6]);
  r.route = text(row[7]);
  r.x402_version = row[8].as<int>();
  r.network = text(row[9]);
  r.pay_to = text(row[10]);
  r.amount = text(row[11]);
  std::string status = text(row[12]);
  auto parsed = parse_payment_status(status);
  if (!parsed) {
    return make_error("store_error", "status",
                      "payment " + r.id + " has unrecognised status '" + status + "'");
  }
  r.status = *parsed;
  r.facilitator = text(row[13]);
  r.tx_hash = text(row[14]);
  r.error_reason = text(row[15]);
  r.payload_json = text(row[16]);
  r.requirements_json = text(row[17]);
  r.created_ms = row[18].as<int64_t>();
  r.updated_ms = row[19].as<int64_t>();
  return r;
}

UsageRecord read_usage(const pqxx::row& row) {
  UsageRecord u;
  u.id = text(row[0]);
  u.payment_id = text(row[1]);  // NULL reads back as ""
  u.request_id = text(row[2]);
  u.merchant_id = text(row[3]);
  u.route = text(row[4]);
  u.payer = text(row[5]);
  u.amount = text(row[6]);
  u.asset = text(row[7]);
  u.network = text(row[8]);
  u.billing_mode = text(row[9]);
  u.upstream_status = row[10].as<int>();
  u.created_ms = row[11].as<int64_t>();
  u.policy_version = text(row[12]);
  return u;
}

StoredPolicy read_policy(const pqxx::row& row) {
  StoredPolicy p;
  p.merchant_id = text(row[0]);
  p.version = row[1].as<int64_t>();
  p.source = text(row[2]);
  p.limits_json = text(row[3]);
  p.created_ms = row[4].as<int64_t>();
  return p;
}

Credential read_credential(const pqxx::row& row) {
  Credential c;
  c.id = text(row[0]);
  c.merchant_id = text(row[1]);
  c.payer = text(row[2]);
  c.scope = text(row[3]);
  c.mode = text(row[4]);
  c.expires_ms = row[5].as<int64_t>();
  c.calls_total = row[6].as<int64_t>();
  c.calls_remaining = row[7].as<int64_t>();
  c.payment_id = text(row[8]);
  c.created_ms = row[9].as<int64_t>();
  return c;
}

QueueJob read_job(const pqxx::row& row) {
  QueueJob j;
  j.id = text(row[0]);
  j.lane = text(row[1]);
  j.state = text(row[2]);
  j.data = text(row[3]);
  j.created_ms = row[4].as<int64_t>();
  j.updated_ms = row[5].as<int64_t>();
  return j;
}

std::vector<QueueJob> read_jobs(const pqxx::result& rows) {
  std::vector<QueueJob> out;
  out.reserve(rows.size());
  for (const auto& row : rows) out.push_back(read_job(row));
  return out;
}

void sort_oldest_first(std::vector<QueueJob>& jobs) {
  std::sort(jobs.begin(), jobs.end(), [](const QueueJob& a, const QueueJob& b) {
    return a.created_ms != b.created_ms ? a.created_ms < b.created_ms : a.id < b.id;
  });
}

StoredEvent read_event(const pqxx::row& row) {
  StoredEvent e;
  e.id = text(row[0]);
  e.seq = row[1].as<int64_t>();
  e.type = text(row[2]);
  e.json = text(row[3]);
  e.source = text(row[4]);
  e.created_ms = row[5].as<int64_t>();
  return e;
}

IdempotencyRecord read_idempotency(const pqxx::row& row) {
  IdempotencyRecord r;
  r.scope = text(row[0]);
  r.key = text(row[1]);
  r.fingerprint = text(row[2]);
  r.owner = text(row[3]);
  r.done = text(row[4]) == "done";
  r.response_status = row[5].as<int>();
  r.response_headers = text(row[6]);
  r.response_body = text(row[7]);
  r.created_ms = row[8].as<int64_t>();
  r.expires_ms = row[9].as<int64_t>();
  return r;
}

// Without a cursor every row of the range is "after" it.
int64_t cursor_ms(const BooksQuery& query) {
  return query.after ? query.after->created_ms : std::numeric_limits<int64_t>::min();
}

std::vector<StoredPolicy> read_policies(const pqxx::result& rows) {
  std::vector<StoredPolicy> out;
  for (const auto& row : rows) out.push_back(read_policy(row));
  return out;
}

// 128 random bits in the 8-4-4-4-12 layout (the same shape the SQLite store generates).
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

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Error unavailable(const std::string& what, const std::string& why) {
  return make_error("store_unavailable", "", "postgres " + what + ": " + trimmed(why));
}

Error store_error(const std::string& what, const std::string& why) {
  return make_error("store_error", "", "postgres " + what + ": " + trimmed(why));
}

// Sleeps a little, more on later attempts, with jitter so two racing nodes do not collide again.
void back_off(int attempt) {
  thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<int> jitter(0, 5 * attempt);
  std::this_thread::sleep_for(std::chrono::milliseconds(2 * attempt + jitter(rng)));
}

// libpq reads connect_timeout in whole seconds (minimum 2); a URI takes it as a query parameter,
// a key=value string as one more pair.
std::string conninfo(const PostgresOptions& options) {
  const auto seconds = std::max<int64_t>(
      2, std::chrono::ceil<std::chrono::seconds>(options.connect_timeout).count());
  const std::string timeout = "connect_timeout=" + std::to_string(seconds);
  const std::string& url = options.url;
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0) {
    return url + (url.find('?') == std::string::npos ? "?" : "&") + timeout;
  }
  return url + " " + timeout;
}

class PostgresStore final : public Store {
 public:
  explicit PostgresStore(const PostgresOptions& options)
      : pool_(conninfo(options), options.pool_size,
              std::max(options.connect_timeout, std::chrono::milliseconds(1000))) {}

  // Opens one connection now (so a wrong URL fails at start, not on the first request) and
  // migrates through it.
  Status start() {
    auto lease = pool_.acquire();
    if (!lease) return lease.error();
    try {
      return pg::apply_migrations(lease->connection());
    } catch (const pqxx::broken_connection& e) {
      lease->discard();
      return unavailable("migration", e.what());
    } catch (const std::exception& e) {
      lease->discard();
      return store_error("migration", e.what());
    }
  }

  Result<ClaimResult> claim_payment(const PaymentRecord& input) override {
    PaymentRecord record = input;
    record.key = normalised(input.key);
    if (auto bad = invalid_amount(record.amount, "amount")) return *bad;
    const int64_t now = now_ms();
    if (record.created_ms == 0) record.created_ms = now;
    if (record.updated_ms == 0) record.updated_ms = record.created_ms;
    return write<ClaimResult>(
        "claim_payment",
        [&](pqxx::work& tx) -> Result<ClaimResult> {
          // A winner released (deleted) between our conflict and our read leaves nothing to
          // report: insert again. Each statement sees a fresh snapshot under READ COMMITTED.
          for (int round = 0; round < 3; ++round) {
            // ON CONFLICT names the replay key only: reusing an id for another key stays an
            // error (unique_violation on the primary key) instead of passing for a replay.
            auto inserted = tx.exec_params(
                std::string("INSERT INTO payments (") + kPaymentColumns +
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,"
                    " $16, $17, $18, $19, $20) ON CONFLICT (chain_id, asset, payer, nonce)"
                    " DO NOTHING",
                record.id, static_cast<int64_t>(record.key.chain_id), record.key.asset,
                record.key.payer, record.key.nonce, record.request_id, record.merchant_id,
                record.route, record.x402_version, record.network, record.pay_to, record.amount,
                std::string(to_string(record.status)), record.facilitator, record.tx_hash,
                record.error_reason, record.payload_json, record.requirements_json,
                record.created_ms, record.updated_ms);
            if (inserted.affected_rows() == 1) {
              append_payment_event(tx, record.id, "", std::string(to_string(record.status)), now,
                                   record.facilitator, record.tx_hash, record.error_reason);
              return ClaimResult{ClaimOutcome::Claimed, std::nullopt};
            }
            auto existing = find_by_key(tx, record.key);
            if (!existing) return existing.error();
            if (existing->has_value()) {
              return ClaimResult{ClaimOutcome::AlreadyClaimed, std::move(*existing)};
            }
          }
          return make_error("store_error", "",
                            "postgres claim_payment: the conflicting claim kept disappearing");
        },
        [&](pqxx::work& tx) -> std::optional<Result<ClaimResult>> {
          auto ours = tx.exec_params(
              "SELECT 1 FROM payments WHERE id = $1 AND chain_id = $2 AND asset = $3"
              " AND payer = $4 AND nonce = $5",
              record.id, static_cast<int64_t>(record.key.chain_id), record.key.asset,
              record.key.payer, record.key.nonce);
          if (ours.empty()) return std::nullopt;
          return Result<ClaimResult>(ClaimResult{ClaimOutcome::Claimed, std::nullopt});
        });
  }

  Status update_payment(const std::string& payment_id, PaymentStatus status,
                        const std::string& facilitator, const std::string& tx_hash,
                        const std::string& error_reason) override {
    const int64_t now = now_ms();
    return write<Ok>(
        "update_payment",
        [&](pqxx::work& tx) -> Status {
          return transition(tx, payment_id, status, facilitator, tx_hash, error_reason, now);
        },
        [&](pqxx::work& tx) -> std::optional<Status> {
          auto moved = tx.exec_params(
              "SELECT 1 FROM payments WHERE id = $1 AND status = $2 AND updated_ms = $3",
              payment_id, std::string(to_string(status)), now);
          if (moved.empty()) return std::nullopt;
          return Status(Ok{});
        });
  }

  Status complete_payment(const std::string& payment_id, const std::string& facilitator,
                          const std::string& tx_hash, const UsageRecord& input) override {
    return complete(payment_id, facilitator, tx_hash, input, nullptr, "complete_payment");
  }

  Status complete_payment_with_credential(const std::string& payment_id,
                                          const std::string& facilitator,
                                          const std::string& tx_hash, const UsageRecord& usage,
                                          const Credential& credential) override {
    return complete(payment_id, facilitator, tx_hash, usage, &credential,
                    "complete_payment_with_credential");
  }

  Result<bool> redeem_settled_payment(const std::string& payment_id, const UsageRecord& input,
                                      const std::optional<Credential>& credential) override {
    UsageRecord usage = stamped(input);
    usage.id = payment_id;
    if (auto bad = invalid_amount(usage.amount, "usage.amount")) return *bad;
    std::optional<Credential> issued = credential;
    if (issued && issued->created_ms == 0) issued->created_ms = now_ms();
    return write<bool>(
        "redeem_settled_payment",
        [&](pqxx::work& tx) -> Result<bool> {
          // The row lock makes the check and the insert one step against other redeemers.
          auto payment =
              tx.exec_params("SELECT status FROM payments WHERE id = $1 FOR UPDATE", payment_id);
          if (payment.empty() ||
              text(payment[0][0]) != std::string(to_string(PaymentStatus::Settled))) {
            return false;
          }
          if (!tx.exec_params("SELECT 1 FROM usage_records WHERE payment_id = $1", payment_id)
                   .empty()) {
            return false;
          }
          insert_usage(tx, payment_id, usage);
          // Same transaction as the usage row: the check above makes this run once per payment,
          // so a late pass or package is issued exactly once.
          if (issued) insert_credential(tx, *issued);
          return true;
        },
        [&](pqxx::work& tx) -> std::optional<Result<bool>> {
          // Ours, not another redeemer's: the row carries our request id and timestamp.
          auto ours = tx.exec_params(
              "SELECT 1 FROM usage_records WHERE id = $1 AND payment_id = $1"
              " AND request_id = $2 AND created_ms = $3",
              payment_id, usage.request_id, usage.created_ms);
          if (ours.empty()) return std::nullopt;  // rerunning answers false if another won
          return Result<bool>(true);
        });
  }

  Status release_payment(const std::string& payment_id) override {
    return write<Ok>("release_payment", [&](pqxx::work& tx) -> Status {
      auto current =
          tx.exec_params("SELECT status FROM payments WHERE id = $1 FOR UPDATE", payment_id);
      if (current.empty()) return not_found(payment_id);
      const std::string status = text(current[0][0]);
      // Releasing lets the same authorization be presented again; once money has (or may have)
      // moved that would invite a second delivery for one payment.
      if (status == to_string(PaymentStatus::Settled) ||
          status == to_string(PaymentStatus::Unknown) ||
          status == to_string(PaymentStatus::Refunded)) {
        return make_error("release_refused", "payment_id",
                          "payment " + payment_id + " is " + status +
                              "; only a claim that moved no money can be released");
      }
      append_payment_event(tx, payment_id, status, "RELEASED", now_ms(), "", "", "");
      tx.exec_params("DELETE FROM payments WHERE id = $1", payment_id);
      return Ok{};
    });
  }

  Result<std::optional<PaymentRecord>> find_payment(const std::string& payment_id) override {
    return read<std::optional<PaymentRecord>>(
        "find_payment", [&](pqxx::work& tx) { return find_by_id(tx, payment_id); });
  }

  Result<std::optional<PaymentRecord>> find_payment_by_key(const PaymentKey& key) override {
    return read<std::optional<PaymentRecord>>(
        "find_payment_by_key", [&](pqxx::work& tx) { return find_by_key(tx, normalised(key)); });
  }

  Result<std::vector<PaymentRecord>> payments_with_status(PaymentStatus status,
                                                          size_t limit) override {
    return read<std::vector<PaymentRecord>>(
        "payments_with_status", [&](pqxx::work& tx) -> Result<std::vector<PaymentRecord>> {
          auto rows =
              tx.exec_params(std::string("SELECT ") + kPaymentColumns +
                                 " FROM payments WHERE status = $1" + kOldestFirst + " LIMIT $2",
                             std::string(to_string(status)), sql_limit(limit));
          std::vector<PaymentRecord> out;
          for (const auto& row : rows) {
            auto record = read_payment(row);
            if (!record) return record.error();
            out.push_back(std::move(*record));
          }
          return out;
        });
  }

  Result<std::vector<UsageRecord>> usage_for_merchant(const std::string& merchant_id,
                                                      size_t limit) override {
    return read<std::vector<UsageRecord>>(
        "usage_for_merchant", [&](pqxx::work& tx) -> Result<std::vector<UsageRecord>> {
          auto rows = tx.exec_params(std::string("SELECT ") + kUsageColumns +
                                         " FROM usage_records WHERE merchant_id = $1"
                                         " ORDER BY created_ms DESC, id COLLATE \"C\" DESC"
                                         " LIMIT $2",
                                     merchant_id, sql_limit(limit));
          std::vector<UsageRecord> out;
          for (const auto& row : rows) out.push_back(read_usage(row));
          return out;
        });
  }

  Result<int64_t> count_payments() override {
    return read<int64_t>("count_payments", [&](pqxx::work& tx) -> Result<int64_t> {
      return tx.exec("SELECT COUNT(*) FROM payments")[0][0].as<int64_t>();
    });
  }

  Status record_usage(const UsageRecord& input) override {
    UsageRecord usage = stamped(input);
    if (auto bad = invalid_amount(usage.amount, "usage.amount")) return *bad;
    return write<Ok>(
        "record_usage",
        [&](pqxx::work& tx) -> Status {
          insert_usage(tx, "", usage, /*if_new=*/true);
          return Ok{};
        },
        [&](pqxx::work& tx) { return usage_written(tx, usage.id, Status(Ok{})); });
  }

  Result<StoredPolicy> add_policy(const std::string& merchant_id, const std::string& source,
                                  const std::string& limits_json) override {
    return write<StoredPolicy>("add_policy", [&](pqxx::work& tx) -> Result<StoredPolicy> {
      // Two uploads for one merchant would both compute MAX + 1; serialise them per merchant.
      tx.exec_params("SELECT pg_advisory_xact_lock(hashtext('x402.policies'), hashtext($1))",
                     merchant_id);
      auto row =
          tx.exec_params1(std::string("INSERT INTO policies (") + kPolicyColumns +
                              ") VALUES ($1, (SELECT COALESCE(MAX(version), 0) + 1 FROM policies"
                              " WHERE merchant_id = $1), $2, $3, $4) RETURNING " +
                              kPolicyColumns,
                          merchant_id, source, limits_json, now_ms());
      return read_policy(row);
    });
  }

  Result<std::vector<StoredPolicy>> list_policies(const std::string& merchant_id) override {
    return read<std::vector<StoredPolicy>>(
        "list_policies", [&](pqxx::work& tx) -> Result<std::vector<StoredPolicy>> {
          return read_policies(tx.exec_params(std::string("SELECT ") + kPolicyColumns +
                                                  " FROM policies WHERE merchant_id = $1"
                                                  " ORDER BY version DESC",
                                              merchant_id));
        });
  }

  Result<std::optional<StoredPolicy>> find_policy(const std::string& merchant_id,
                                                  int64_t version) override {
    return read<std::optional<StoredPolicy>>(
        "find_policy", [&](pqxx::work& tx) { return find_policy_in(tx, merchant_id, version); });
  }

  Result<MerchantPolicyState> policy_state(const std::string& merchant_id) override {
    return read<MerchantPolicyState>(
        "policy_state", [&](pqxx::work& tx) { return policy_state_in(tx, merchant_id); });
  }

  Result<MerchantPolicyState> activate_policy(const std::string& merchant_id,
                                              int64_t version) override {
    return write<MerchantPolicyState>(
        "activate_policy", [&](pqxx::work& tx) -> Result<MerchantPolicyState> {
          lock_policy_states(tx);
          auto exists = find_policy_in(tx, merchant_id, version);
          if (!exists) return exists.error();
          if (!*exists) {
            return make_error(
                "policy_not_found", "version",
                "merchant " + merchant_id + " has no policy version " + std::to_string(version));
          }
          auto current = policy_state_in(tx, merchant_id);
          if (!current) return current.error();
          MerchantPolicyState next = *current;
          if (current->active_version != version) {
            next.previous_version = current->active_version;
            next.active_version = version;
          }
          return write_policy_state(tx, next);
        });
  }

  Result<MerchantPolicyState> rollback_policy(const std::string& merchant_id) override {
    return write<MerchantPolicyState>(
        "rollback_policy", [&](pqxx::work& tx) -> Result<MerchantPolicyState> {
          lock_policy_states(tx);
          auto current = policy_state_in(tx, merchant_id);
          if (!current) return current.error();
          if (current->previous_version == 0) {
            return make_error(
                "no_previous_policy", "merchant_id",
                "merchant " + merchant_id + " has no previous policy to roll back to");
          }
          MerchantPolicyState next = *current;
          std::swap(next.active_version, next.previous_version);
          return write_policy_state(tx, next);
        });
  }

  Result<int64_t> policy_change_stamp() override {
    return read<int64_t>("policy_change_stamp", [&](pqxx::work& tx) -> Result<int64_t> {
      return tx.exec("SELECT COALESCE(MAX(updated_ms), 0) FROM merchant_policy")[0][0]
          .as<int64_t>();
    });
  }

  Result<std::vector<StoredPolicy>> active_policies() override {
    return read<std::vector<StoredPolicy>>(
        "active_policies", [&](pqxx::work& tx) -> Result<std::vector<StoredPolicy>> {
          return read_policies(
              tx.exec("SELECT p.merchant_id, p.version, p.source, p.limits_json, p.created_ms"
                      " FROM merchant_policy m JOIN policies p"
                      " ON p.merchant_id = m.merchant_id AND p.version = m.active_version"
                      " ORDER BY p.merchant_id COLLATE \"C\""));
        });
  }

  Result<std::optional<Credential>> find_credential(const std::string& id) override {
    return read<std::optional<Credential>>(
        "find_credential", [&](pqxx::work& tx) -> Result<std::optional<Credential>> {
          auto rows = tx.exec_params(
              std::string("SELECT ") + kCredentialColumns + " FROM credentials WHERE id = $1", id);
          if (rows.empty()) return std::optional<Credential>{};
          return std::optional<Credential>(read_credential(rows[0]));
        });
  }

  Result<bool> consume_package_call(const std::string& id, int64_t now,
                                    const UsageRecord& input) override {
    UsageRecord usage = stamped(input);
    if (auto bad = invalid_amount(usage.amount, "usage.amount")) return *bad;
    return write<bool>(
        "consume_package_call",
        [&](pqxx::work& tx) -> Result<bool> {
          // Racing nodes: PostgreSQL re-checks the WHERE against the row version the first
          // committer left, so the balance never goes below zero.
          auto taken = tx.exec_params(
              "UPDATE credentials SET calls_remaining = calls_remaining - 1"
              " WHERE id = $1 AND mode = 'package' AND calls_remaining > 0 AND expires_ms > $2",
              id, now);
          if (taken.affected_rows() == 0) return false;
          insert_usage(tx, "", usage);
          return true;
        },
        [&](pqxx::work& tx) { return usage_written(tx, usage.id, Result<bool>(true)); });
  }

  Status refund_package_call(const std::string& id, const std::string& usage_id) override {
    return write<Ok>("refund_package_call", [&](pqxx::work& tx) -> Status {
      tx.exec_params(
          "UPDATE credentials SET calls_remaining = calls_remaining + 1"
          " WHERE id = $1 AND calls_remaining < calls_total",
          id);
      tx.exec_params("DELETE FROM usage_records WHERE id = $1 AND payment_id IS NULL", usage_id);
      return Ok{};
    });
  }

  Result<PayerUsage> payer_usage(const std::string& merchant_id, const std::string& payer,
                                 int64_t period_start_ms, int64_t now) override {
    const std::string who = lower_ascii(payer);
    return read<PayerUsage>("payer_usage", [&](pqxx::work& tx) -> Result<PayerUsage> {
      auto row = tx.exec_params1(
          "SELECT (SELECT COUNT(*) FROM usage_records WHERE merchant_id = $1 AND payer = $2"
          "        AND created_ms >= $3),"
          "       (SELECT COUNT(*) FROM credentials WHERE merchant_id = $1 AND payer = $2"
          "        AND mode = 'time_pass' AND expires_ms > $4),"
          "       (SELECT COALESCE(SUM(calls_remaining), 0) FROM credentials"
          "        WHERE merchant_id = $1 AND payer = $2 AND mode = 'package' AND expires_ms > $4)",
          merchant_id, who, period_start_ms, now);
      PayerUsage usage;
      usage.calls_this_period = static_cast<uint64_t>(std::max<int64_t>(0, row[0].as<int64_t>()));
      usage.active_passes = static_cast<uint64_t>(std::max<int64_t>(0, row[1].as<int64_t>()));
      usage.package_balance = static_cast<uint64_t>(std::max<int64_t>(0, row[2].as<int64_t>()));
      return usage;
    });
  }

  Result<MerchantUsage> merchant_usage(const std::string& merchant_id, int64_t period_start_ms,
                                       int64_t now) override {
    return read<MerchantUsage>("merchant_usage", [&](pqxx::work& tx) -> Result<MerchantUsage> {
      auto row = tx.exec_params1(
          "SELECT (SELECT COUNT(*) FROM usage_records WHERE merchant_id = $1 AND created_ms >= $2),"
          "       (SELECT COUNT(*) FROM usage_records WHERE merchant_id = $1 AND created_ms >= $3)",
          merchant_id, period_start_ms, now - 60'000);
      MerchantUsage usage;
      usage.calls_this_period = static_cast<uint64_t>(std::max<int64_t>(0, row[0].as<int64_t>()));
      usage.calls_last_minute = static_cast<uint64_t>(std::max<int64_t>(0, row[1].as<int64_t>()));
      return usage;
    });
  }

  Result<QueueJob> queue_put(const std::string& instance, const QueueJob& job) override {
    const int64_t now = now_ms();
    const int64_t created = job.created_ms != 0 ? job.created_ms : now;
    const int64_t updated = job.updated_ms != 0 ? job.updated_ms : created;
    auto stored_job = [&](pqxx::work& tx) -> Result<QueueJob> {
      auto rows = tx.exec_params(std::string("SELECT ") + kJobColumns +
                                     " FROM settlement_queue WHERE instance = $1 AND id = $2",
                                 instance, job.id);
      if (rows.empty()) return make_error("store_error", "", "postgres queue_put: job vanished");
      return read_job(rows[0]);
    };
    return write<QueueJob>(
        "queue_put",
        [&](pqxx::work& tx) -> Result<QueueJob> {
          tx.exec_params(std::string("INSERT INTO settlement_queue (instance, ") + kJobColumns +
                             ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
                             " ON CONFLICT (instance, id) DO NOTHING",
                         instance, job.id, job.lane, job.state, job.data, created, updated);
          return stored_job(tx);
        },
        // Idempotent by design: whoever's insert committed, the stored job is the answer.
        [&](pqxx::work& tx) -> std::optional<Result<QueueJob>> {
          auto stored = stored_job(tx);
          if (!stored) return std::nullopt;
          return stored;
        });
  }

  Result<std::optional<QueueJob>> queue_update(const std::string& instance, const std::string& id,
                                               const std::string& expected_state,
                                               const std::string& new_state,
                                               const std::string& lane,
                                               const std::string& data) override {
    const int64_t now = now_ms();
    return write<std::optional<QueueJob>>(
        "queue_update",
        [&](pqxx::work& tx) -> Result<std::optional<QueueJob>> {
          auto rows = tx.exec_params(
              std::string("UPDATE settlement_queue SET state = $1, lane = $2, data = $3,"
                          " updated_ms = $4 WHERE instance = $5 AND id = $6 AND state = $7"
                          " RETURNING ") +
                  kJobColumns,
              new_state, lane, data, now, instance, id, expected_state);
          if (rows.empty()) return std::optional<QueueJob>{};
          return std::optional<QueueJob>(read_job(rows[0]));
        },
        [&](pqxx::work& tx) -> std::optional<Result<std::optional<QueueJob>>> {
          auto rows = tx.exec_params(
              std::string("SELECT ") + kJobColumns +
                  " FROM settlement_queue WHERE instance = $1 AND id = $2 AND state = $3"
                  " AND lane = $4 AND data = $5 AND updated_ms = $6",
              instance, id, new_state, lane, data, now);
          if (rows.empty()) return std::nullopt;
          return Result<std::optional<QueueJob>>(std::optional<QueueJob>(read_job(rows[0])));
        });
  }

  Result<std::vector<QueueJob>> queue_claim(const std::string& instance,
                                            const std::string& from_state,
                                            const std::string& to_state, size_t limit) override {
    const int64_t now = now_ms();
    std::vector<std::string> moved_ids;  // what the in-doubt commit would have moved
    return write<std::vector<QueueJob>>(
        "queue_claim",
        [&](pqxx::work& tx) -> Result<std::vector<QueueJob>> {
          // One statement: the selection locks its rows and skips rows another claimer holds,
          // so two nodes never move the same job and neither waits for the other.
          auto rows = tx.exec_params(
              std::string("UPDATE settlement_queue SET state = $1, updated_ms = $2"
                          " WHERE (instance, id) IN (SELECT instance, id FROM settlement_queue"
                          " WHERE instance = $3 AND state = $4") +
                  kOldestFirst + " LIMIT $5 FOR UPDATE SKIP LOCKED) RETURNING " + kJobColumns,
              to_state, now, instance, from_state, sql_limit(limit));
          std::vector<QueueJob> jobs = read_jobs(rows);
          sort_oldest_first(jobs);  // RETURNING does not promise an order
          moved_ids.clear();
          for (const auto& j : jobs) moved_ids.push_back(j.id);
          return jobs;
        },
        [&](pqxx::work& tx) -> std::optional<Result<std::vector<QueueJob>>> {
          std::vector<QueueJob> jobs;
          for (const auto& id : moved_ids) {
            auto rows = tx.exec_params(
                std::string("SELECT ") + kJobColumns +
                    " FROM settlement_queue WHERE instance = $1 AND id = $2 AND state = $3"
                    " AND updated_ms = $4",
                instance, id, to_state, now);
            if (!rows.empty()) jobs.push_back(read_job(rows[0]));
          }
          if (jobs.empty() && !moved_ids.empty()) return std::nullopt;
          sort_oldest_first(jobs);
          return Result<std::vector<QueueJob>>(std::move(jobs));
        });
  }

  Result<std::vector<QueueJob>> queue_list(const std::string& instance, const std::string& id,
                                           const std::string& state, size_t limit) override {
    return read<std::vector<QueueJob>>(
        "queue_list", [&](pqxx::work& tx) -> Result<std::vector<QueueJob>> {
          // Filters are spelled out, not "($2 = '' OR ...)": that form would hide the state index.
          std::string sql =
              std::string("SELECT ") + kJobColumns + " FROM settlement_queue WHERE instance = $1";
          if (!id.empty() && !state.empty()) {
            sql += " AND id = $2 AND state = $3" + std::string(kOldestFirst) + " LIMIT $4";
            return read_jobs(tx.exec_params(sql, instance, id, state, sql_limit(limit)));
          }
          if (!id.empty()) {
            sql += " AND id = $2" + std::string(kOldestFirst) + " LIMIT $3";
            return read_jobs(tx.exec_params(sql, instance, id, sql_limit(limit)));
          }
          if (!state.empty()) {
            sql += " AND state = $2" + std::string(kOldestFirst) + " LIMIT $3";
            return read_jobs(tx.exec_params(sql, instance, state, sql_limit(limit)));
          }
          sql += std::string(kOldestFirst) + " LIMIT $2";
          return read_jobs(tx.exec_params(sql, instance, sql_limit(limit)));
        });
  }

  Result<StoredEvent> append_event(const StoredEvent& input) override {
    StoredEvent event = input;
    if (event.id.empty()) event.id = uuid_like();
    if (event.created_ms == 0) event.created_ms = now_ms();
    return write<StoredEvent>(
        "append_event",
        [&](pqxx::work& tx) -> Result<StoredEvent> {
          // Held until COMMIT so seq order is commit order (see the header comment). EXCLUSIVE
          // still admits readers (list_events).
          tx.exec("LOCK TABLE events IN EXCLUSIVE MODE");
          auto row = tx.exec_params1(
              "INSERT INTO events (id, type, json, source, created_ms) VALUES ($1, $2, $3, $4, $5)"
              " RETURNING seq",
              event.id, event.type, event.json, event.source, event.created_ms);
          StoredEvent stored = event;
          stored.seq = row[0].as<int64_t>();
          return stored;
        },
        [&](pqxx::work& tx) -> std::optional<Result<StoredEvent>> {
          auto rows = tx.exec_params("SELECT seq FROM events WHERE id = $1", event.id);
          if (rows.empty()) return std::nullopt;
          StoredEvent stored = event;
          stored.seq = rows[0][0].as<int64_t>();
          return Result<StoredEvent>(std::move(stored));
        });
  }

  Result<std::vector<StoredEvent>> list_events(
      size_t limit, const std::optional<std::string>& after_id) override {
    return read<std::vector<StoredEvent>>(
        "list_events", [&](pqxx::work& tx) -> Result<std::vector<StoredEvent>> {
          int64_t after_seq = 0;
          if (after_id) {
            auto cursor = tx.exec_params("SELECT seq FROM events WHERE id = $1", *after_id);
            if (cursor.empty()) {
              return make_error("event_not_found", "after_id", "no event with id " + *after_id);
            }
            after_seq = cursor[0][0].as<int64_t>();
          }
          auto rows = tx.exec_params(std::string("SELECT ") + kEventColumns +
                                         " FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
                                     after_seq, sql_limit(limit));
          std::vector<StoredEvent> out;
          for (const auto& row : rows) out.push_back(read_event(row));
          return out;
        });
  }

  // ---- Books ----

  Result<std::vector<PaymentRecord>> list_payments(const PaymentQuery& query) override {
    const int64_t after_ms = cursor_ms(query);
    const std::string after_id = query.after ? query.after->id : "";
    const std::string status = query.status ? std::string(to_string(*query.status)) : "";
    return read<std::vector<PaymentRecord>>(
        "list_payments", [&](pqxx::work& tx) -> Result<std::vector<PaymentRecord>> {
          auto rows =
              tx.exec_params(std::string("SELECT ") + kPaymentColumns +
                                 " FROM payments WHERE merchant_id = $1 AND created_ms >= $2"
                                 " AND created_ms < $3 AND (created_ms > $4 OR (created_ms = $4"
                                 " AND id COLLATE \"C\" > $5)) AND ($6::text = '' OR status = $6)" +
                                 kOldestFirst + " LIMIT $7",
                             query.merchant_id, query.from_ms, query.to_ms, after_ms, after_id,
                             status, sql_limit(query.limit));
          std::vector<PaymentRecord> out;
          for (const auto& row : rows) {
            auto record = read_payment(row);
            if (!record) return record.error();
            out.push_back(std::move(*record));
          }
          return out;
        });
  }

  Result<std::vector<PaymentEvent>> payment_events(const std::string& payment_id) override {
    return read<std::vector<PaymentEvent>>(
        "payment_events", [&](pqxx::work& tx) -> Result<std::vector<PaymentEvent>> {
          auto rows = tx.exec_params(
              "SELECT seq, from_status, to_status, at_ms, facilitator, tx_hash, error_reason"
              " FROM payment_events WHERE payment_id = $1 ORDER BY seq",
              payment_id);
          std::vector<PaymentEvent> out;
          for (const auto& row : rows) {
            out.push_back(PaymentEvent{row[0].as<int64_t>(), text(row[1]), text(row[2]),
                                       row[3].as<int64_t>(), text(row[4]), text(row[5]),
                                       text(row[6])});
          }
          return out;
        });
  }

  Result<std::vector<UsageRecord>> list_usage(const BooksQuery& query) override {
    const int64_t after_ms = cursor_ms(query);
    const std::string after_id = query.after ? query.after->id : "";
    return read<std::vector<UsageRecord>>(
        "list_usage", [&](pqxx::work& tx) -> Result<std::vector<UsageRecord>> {
          auto rows =
              tx.exec_params(std::string("SELECT ") + kUsageColumns +
                                 " FROM usage_records WHERE merchant_id = $1 AND created_ms >= $2"
                                 " AND created_ms < $3 AND (created_ms > $4 OR (created_ms = $4"
                                 " AND id COLLATE \"C\" > $5))" +
                                 kOldestFirst + " LIMIT $6",
                             query.merchant_id, query.from_ms, query.to_ms, after_ms, after_id,
                             sql_limit(query.limit));
          std::vector<UsageRecord> out;
          for (const auto& row : rows) out.push_back(read_usage(row));
          return out;
        });
  }

  // NUMERIC sums are exact at any size (a day's sum may exceed uint256); read back as text.
  Result<std::vector<DailyRevenue>> daily_revenue(const std::string& merchant_id, int64_t from_ms,
                                                  int64_t to_ms) override {
    if (from_ms < 0) return make_error("invalid_range", "from", "from must not be before 1970");
    return read<std::vector<DailyRevenue>>(
        "daily_revenue", [&](pqxx::work& tx) -> Result<std::vector<DailyRevenue>> {
          auto rows = tx.exec_params(
              "SELECT created_ms / 86400000, network, asset, COUNT(*), SUM(amount)::text"
              " FROM payments WHERE merchant_id = $1 AND status = 'SETTLED'"
              " AND created_ms >= $2 AND created_ms < $3"
              " GROUP BY 1, 2, 3 ORDER BY 1, network COLLATE \"C\", asset COLLATE \"C\"",
              merchant_id, from_ms, to_ms);
          std::vector<DailyRevenue> out;
          for (const auto& row : rows) {
            out.push_back(DailyRevenue{row[0].as<int64_t>(), text(row[1]), text(row[2]),
                                       row[3].as<int64_t>(), text(row[4])});
          }
          return out;
        });
  }

  // ---- Idempotency ----

  Result<IdempotencyBegin> idempotency_begin(const IdempotencyRecord& request,
                                             int64_t stale_before_ms) override {
    return write<IdempotencyBegin>(
        "idempotency_begin",
        [&](pqxx::work& tx) -> Result<IdempotencyBegin> {
          // A row deleted (abandoned, purged) between our conflict and our read: insert again.
          for (int round = 0; round < 3; ++round) {
            auto inserted =
                tx.exec_params(std::string("INSERT INTO idempotency_keys (") + kIdempotencyColumns +
                                   ") VALUES ($1, $2, $3, $4, 'in_flight', 0, '', '', $5, $6)"
                                   " ON CONFLICT (scope, idempotency_key) DO NOTHING",
                               request.scope, request.key, request.fingerprint, request.owner,
                               request.created_ms, request.expires_ms);
            if (inserted.affected_rows() == 1) {
              return IdempotencyBegin{IdempotencyOutcome::Started, std::nullopt};
            }
            // The row lock orders us against another node taking over the same expired row.
            auto rows = tx.exec_params(std::string("SELECT ") + kIdempotencyColumns +
                                           " FROM idempotency_keys WHERE scope = $1 AND"
                                           " idempotency_key = $2 FOR UPDATE",
                                       request.scope, request.key);
            if (rows.empty()) continue;
            IdempotencyRecord row = read_idempotency(rows[0]);
            const bool expired = row.expires_ms <= request.created_ms;
            const bool abandoned = !row.done && row.created_ms < stale_before_ms;
            if (!expired && !abandoned) {
              IdempotencyBegin answer;
              answer.outcome = row.fingerprint != request.fingerprint ? IdempotencyOutcome::Mismatch
                               : row.done                             ? IdempotencyOutcome::Replay
                                          : IdempotencyOutcome::InFlight;
              answer.stored = std::move(row);
              return answer;
            }
            tx.exec_params(
                "UPDATE idempotency_keys SET fingerprint = $3, owner = $4, state = 'in_flight',"
                " response_status = 0, response_headers = '', response_body = '',"
                " created_ms = $5, expires_ms = $6 WHERE scope = $1 AND idempotency_key = $2",
                request.scope, request.key, request.fingerprint, request.owner, request.created_ms,
                request.expires_ms);
            return IdempotencyBegin{IdempotencyOutcome::Started, std::nullopt};
          }
          return make_error("store_error", "",
                            "postgres idempotency_begin: the conflicting key kept disappearing");
        },
        [&](pqxx::work& tx) -> std::optional<Result<IdempotencyBegin>> {
          // Ours when the row carries our owner (a fresh random id per request).
          auto ours = tx.exec_params(
              "SELECT 1 FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2"
              " AND owner = $3",
              request.scope, request.key, request.owner);
          if (ours.empty()) return std::nullopt;  // rerun: it reports whoever holds it now
          return Result<IdempotencyBegin>(
              IdempotencyBegin{IdempotencyOutcome::Started, std::nullopt});
        });
  }

  Result<std::optional<IdempotencyRecord>> idempotency_find(const std::string& scope,
                                                            const std::string& key,
                                                            int64_t now) override {
    return read<std::optional<IdempotencyRecord>>(
        "idempotency_find", [&](pqxx::work& tx) -> Result<std::optional<IdempotencyRecord>> {
          auto rows = tx.exec_params(std::string("SELECT ") + kIdempotencyColumns +
                                         " FROM idempotency_keys WHERE scope = $1 AND"
                                         " idempotency_key = $2 AND expires_ms > $3",
                                     scope, key, now);
          if (rows.empty()) return std::optional<IdempotencyRecord>{};
          return std::optional<IdempotencyRecord>(read_idempotency(rows[0]));
        });
  }

  Result<bool> idempotency_finish(const IdempotencyRecord& response) override {
    return write<bool>(
        "idempotency_finish",
        [&](pqxx::work& tx) -> Result<bool> {
          auto updated = tx.exec_params(
              "UPDATE idempotency_keys SET state = 'done', response_status = $4,"
              " response_headers = $5, response_body = $6, expires_ms = $7"
              " WHERE scope = $1 AND idempotency_key = $2 AND owner = $3"
              " AND state = 'in_flight'",
              response.scope, response.key, response.owner, response.response_status,
              response.response_headers, response.response_body, response.expires_ms);
          return updated.affected_rows() == 1;
        },
        [&](pqxx::work& tx) -> std::optional<Result<bool>> {
          auto done = tx.exec_params(
              "SELECT 1 FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2"
              " AND owner = $3 AND state = 'done'",
              response.scope, response.key, response.owner);
          if (done.empty()) return std::nullopt;
          return Result<bool>(true);
        });
  }

  Status idempotency_abandon(const std::string& scope, const std::string& key,
                             const std::string& owner) override {
    return write<Ok>(
        "idempotency_abandon",
        [&](pqxx::work& tx) -> Status {
          tx.exec_params(
              "DELETE FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2"
              " AND owner = $3 AND state = 'in_flight'",
              scope, key, owner);
          return Ok{};
        },
        [&](pqxx::work&) -> std::optional<Status> {
          return std::nullopt;  // deleting again is harmless: rerun it
        });
  }

  Result<int64_t> idempotency_purge_expired(int64_t now) override {
    return write<int64_t>(
        "idempotency_purge_expired",
        [&](pqxx::work& tx) -> Result<int64_t> {
          auto deleted = tx.exec_params("DELETE FROM idempotency_keys WHERE expires_ms <= $1", now);
          return static_cast<int64_t>(deleted.affected_rows());
        },
        [&](pqxx::work&) -> std::optional<Result<int64_t>> {
          return std::nullopt;  // the purge is idempotent: rerun it
        });
  }

 private:
  template <typename T>
  using Body = std::function<Result<T>(pqxx::work&)>;
  // Runs after an in-doubt COMMIT, once the old session is gone, in a fresh transaction: the
  // call's result when its writes are visible (it committed), nullopt when they are not.
  template <typename T>
  using ReadBack = std::function<std::optional<Result<T>>(pqxx::work&)>;

  // Runs `body` in one transaction: committed when it returns a value, rolled back when it
  // returns an error. Reruns on serialization failure, deadlock and a connection that broke
  // before COMMIT; resolves an in-doubt COMMIT with `read_back` (see the header comment).
  template <typename T>
  Result<T> write(const char* what, const Body<T>& body, const ReadBack<T>& read_back = nullptr) {
    return run(what, body, read_back, false);
  }

  // A read-only transaction: whether its COMMIT arrived changes nothing, so it is simply rerun.
  template <typename T>
  Result<T> read(const char* what, const Body<T>& body) {
    return run<T>(what, body, nullptr, true);
  }

  template <typename T>
  Result<T> run(const char* what, const Body<T>& body, const ReadBack<T>& read_back,
                bool read_only) {
    std::string last_failure;
    for (int attempt = 1; attempt <= kMaxAttempts; ++attempt) {
      bool in_doubt = false;
      int backend_pid = 0;
      {
        auto lease = pool_.acquire();
        if (!lease) return lease.error();
        backend_pid = lease->connection().backendpid();
        bool committing = false;
        try {
          pqxx::work tx(lease->connection());
          Result<T> result = body(tx);
          if (!result) return result;  // ~work rolls back
          committing = true;
          tx.commit();
          return result;
        } catch (const pqxx::in_doubt_error& e) {
          lease->discard();
          in_doubt = !read_only;
          last_failure = e.what();
        } catch (const pqxx::broken_connection& e) {
          // Before COMMIT: not committed, and a stale pooled connection (server restarted)
          // gets replaced on the next attempt. During COMMIT: in doubt.
          lease->discard();
          in_doubt = committing && !read_only;
          last_failure = e.what();
        } catch (const pqxx::transaction_rollback& e) {
          // 40001 serialization failure, 40P01 deadlock: PostgreSQL rolled it back; run it again.
          last_failure = e.what();
          back_off(attempt);
        } catch (const pqxx::sql_error& e) {
          const bool lost = !lease->connection().is_open() || e.sqlstate().rfind("57P", 0) == 0 ||
                            e.sqlstate().rfind("08", 0) == 0;
          if (!lost) {
            return store_error(what, std::string(e.what()) + " (SQLSTATE " + e.sqlstate() + ")");
          }
          // The session was terminated (server shutdown, administrator): as a broken connection.
          lease->discard();
          in_doubt = committing && !read_only;
          last_failure = e.what();
        } catch (const std::exception& e) {
          lease->discard();  // the connection may be mid-transaction
          return store_error(what, e.what());
        }
      }  // the lease is given back (and a lost connection closed) before resolving needs one
      if (in_doubt) {
        if (auto settled = resolve_in_doubt<T>(what, backend_pid, read_back)) return *settled;
      }
    }
    return unavailable(what, "gave up after " + std::to_string(kMaxAttempts) +
                                 " attempts; last failure: " + last_failure);
  }

  // nullopt: surely not committed, run the transaction again. A value: return it (the call's
  // result when it committed, or an error when the outcome cannot be known).
  template <typename T>
  std::optional<Result<T>> resolve_in_doubt(const char* what, int backend_pid,
                                            const ReadBack<T>& read_back) {
    const std::string prefix = std::string(what) + ": connection lost during COMMIT; ";
    if (!read_back) {
      return Result<T>(unavailable(prefix + "outcome unknown", "this write has no read-back"));
    }
    try {
      auto lease = pool_.acquire();
      if (!lease) {
        return Result<T>(unavailable(prefix + "outcome unknown", lease.error().message));
      }
      // Until the old session exits, its COMMIT may still be in progress and a read-back that
      // finds nothing would prove nothing.
      const auto deadline = std::chrono::steady_clock::now() + kInDoubtWait;
      while (true) {
        pqxx::nontransaction probe(lease->connection());
        if (probe.exec_params("SELECT 1 FROM pg_stat_activity WHERE pid = $1", backend_pid)
                .empty()) {
          break;
        }
        if (std::chrono::steady_clock::now() > deadline) {
          return Result<T>(
              unavailable(prefix + "outcome unknown",
                          "server session " + std::to_string(backend_pid) + " is still alive"));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      pqxx::work tx(lease->connection());
      std::optional<Result<T>> outcome = read_back(tx);
      tx.commit();
      return outcome;
    } catch (const std::exception& e) {
      return Result<T>(unavailable(prefix + "outcome unknown", e.what()));
    }
  }

  static UsageRecord stamped(const UsageRecord& input) {
    UsageRecord usage = input;
    if (usage.created_ms == 0) usage.created_ms = now_ms();
    return usage;
  }

  // A read-back for writes whose mark is the usage record with `usage_id`.
  template <typename T>
  static std::optional<Result<T>> usage_written(pqxx::work& tx, const std::string& usage_id,
                                                Result<T> success) {
    if (tx.exec_params("SELECT 1 FROM usage_records WHERE id = $1", usage_id).empty()) {
      return std::nullopt;
    }
    return success;
  }

  Status complete(const std::string& payment_id, const std::string& facilitator,
                  const std::string& tx_hash, const UsageRecord& input,
                  const Credential* credential, const char* what) {
    UsageRecord usage = stamped(input);
    if (usage.id.empty()) usage.id = payment_id;
    if (auto bad = invalid_amount(usage.amount, "usage.amount")) return *bad;
    std::optional<Credential> issued;
    if (credential) {
      issued = *credential;
      if (issued->created_ms == 0) issued->created_ms = now_ms();
    }
    const int64_t now = now_ms();
    return write<Ok>(
        what,
        [&](pqxx::work& tx) -> Status {
          auto moved =
              transition(tx, payment_id, PaymentStatus::Settled, facilitator, tx_hash, "", now);
          if (!moved) return moved;
          insert_usage(tx, payment_id, usage);
          if (issued) insert_credential(tx, *issued);
          return Ok{};
        },
        [&](pqxx::work& tx) -> std::optional<Status> {
          auto ours =
              tx.exec_params("SELECT 1 FROM usage_records WHERE id = $1 AND payment_id = $2",
                             usage.id, payment_id);
          if (ours.empty()) return std::nullopt;
          return Status(Ok{});
        });
  }

  // Within the caller's transaction. Empty facilitator / tx_hash / error_reason keep the stored
  // value, so a later step (e.g. FAILED with only a reason) does not erase who verified it.
  static Status transition(pqxx::work& tx, const std::string& payment_id, PaymentStatus status,
                           const std::string& facilitator, const std::string& tx_hash,
                           const std::string& error_reason, int64_t now) {
    // The row lock orders concurrent transitions of one payment, and with them its audit seq.
    auto current =
        tx.exec_params("SELECT status FROM payments WHERE id = $1 FOR UPDATE", payment_id);
    if (current.empty()) return not_found(payment_id);
    const std::string target(to_string(status));
    tx.exec_params(
        "UPDATE payments SET status = $1,"
        " facilitator = COALESCE(NULLIF($2, ''), facilitator),"
        " tx_hash = COALESCE(NULLIF($3, ''), tx_hash),"
        " error_reason = COALESCE(NULLIF($4, ''), error_reason),"
        " updated_ms = $5 WHERE id = $6",
        target, facilitator, tx_hash, error_reason, now, payment_id);
    append_payment_event(tx, payment_id, text(current[0][0]), target, now, facilitator, tx_hash,
                         error_reason);
    return Ok{};
  }

  static void append_payment_event(pqxx::work& tx, const std::string& payment_id,
                                   const std::string& from_status, const std::string& to_status,
                                   int64_t at_ms, const std::string& facilitator,
                                   const std::string& tx_hash, const std::string& error_reason) {
    tx.exec_params(
        "INSERT INTO payment_events (payment_id, seq, from_status, to_status, at_ms, facilitator,"
        " tx_hash, error_reason) VALUES ($1,"
        " (SELECT COALESCE(MAX(seq), 0) + 1 FROM payment_events WHERE payment_id = $1),"
        " $2, $3, $4, $5, $6, $7)",
        payment_id, from_status, to_status, at_ms, facilitator, tx_hash, error_reason);
  }

  // One usage record per settled payment: its id defaults to the payment id, so a retried
  // completion collides instead of double-counting.
  // `if_new`: a record whose id is already stored is left alone (record_usage is idempotent, so
  // the spool can apply a record twice). Completions keep the collision: a second usage record
  // for one payment is an error there, never a silent double count.
  static void insert_usage(pqxx::work& tx, const std::string& payment_id, const UsageRecord& usage,
                           bool if_new = false) {
    tx.exec_params(std::string("INSERT INTO usage_records (") + kUsageColumns +
                       ") VALUES ($1, NULLIF($2, ''), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
                       " $13)" +
                       (if_new ? " ON CONFLICT (id) DO NOTHING" : ""),
                   usage.id.empty() ? payment_id : usage.id, payment_id, usage.request_id,
                   usage.merchant_id, usage.route, lower_ascii(usage.payer), usage.amount,
                   lower_ascii(usage.asset), usage.network, usage.billing_mode,
                   usage.upstream_status, usage.created_ms, usage.policy_version);
  }

  static void insert_credential(pqxx::work& tx, const Credential& credential) {
    tx.exec_params(std::string("INSERT INTO credentials (") + kCredentialColumns +
                       ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                   credential.id, credential.merchant_id, lower_ascii(credential.payer),
                   credential.scope, credential.mode, credential.expires_ms, credential.calls_total,
                   credential.calls_remaining, credential.payment_id, credential.created_ms);
  }

  static Result<std::optional<PaymentRecord>> one_payment(const pqxx::result& rows) {
    if (rows.empty()) return std::optional<PaymentRecord>{};
    auto record = read_payment(rows[0]);
    if (!record) return record.error();
    return std::optional<PaymentRecord>(std::move(*record));
  }

  static Result<std::optional<PaymentRecord>> find_by_id(pqxx::work& tx,
                                                         const std::string& payment_id) {
    return one_payment(tx.exec_params(
        std::string("SELECT ") + kPaymentColumns + " FROM payments WHERE id = $1", payment_id));
  }

  static Result<std::optional<PaymentRecord>> find_by_key(pqxx::work& tx, const PaymentKey& key) {
    return one_payment(tx.exec_params(std::string("SELECT ") + kPaymentColumns +
                                          " FROM payments WHERE chain_id = $1 AND asset = $2"
                                          " AND payer = $3 AND nonce = $4",
                                      static_cast<int64_t>(key.chain_id), key.asset, key.payer,
                                      key.nonce));
  }

  static Result<std::optional<StoredPolicy>> find_policy_in(pqxx::work& tx,
                                                            const std::string& merchant_id,
                                                            int64_t version) {
    auto rows = tx.exec_params(std::string("SELECT ") + kPolicyColumns +
                                   " FROM policies WHERE merchant_id = $1 AND version = $2",
                               merchant_id, version);
    if (rows.empty()) return std::optional<StoredPolicy>{};
    return std::optional<StoredPolicy>(read_policy(rows[0]));
  }

  static Result<MerchantPolicyState> policy_state_in(pqxx::work& tx,
                                                     const std::string& merchant_id) {
    auto rows = tx.exec_params(
        "SELECT active_version, previous_version, updated_ms FROM merchant_policy"
        " WHERE merchant_id = $1",
        merchant_id);
    MerchantPolicyState state;
    state.merchant_id = merchant_id;
    if (!rows.empty()) {
      state.active_version = rows[0][0].as<int64_t>();
      state.previous_version = rows[0][1].as<int64_t>();
      state.updated_ms = rows[0][2].as<int64_t>();
    }
    return state;
  }

  // Activations on any merchant, from any node, one at a time until commit: the MAX that the next
  // stamp builds on is then always the newest committed one, so stamps strictly increase in the
  // order pollers can see them. EXCLUSIVE mode still lets readers through.
  static void lock_policy_states(pqxx::work& tx) {
    tx.exec("LOCK TABLE merchant_policy IN EXCLUSIVE MODE");
  }

  static Result<MerchantPolicyState> write_policy_state(pqxx::work& tx, MerchantPolicyState state) {
    auto row = tx.exec_params1(
        "INSERT INTO merchant_policy (merchant_id, active_version, previous_version, updated_ms)"
        " VALUES ($1, $2, $3,"
        " GREATEST($4, (SELECT COALESCE(MAX(updated_ms), 0) + 1 FROM merchant_policy)))"
        " ON CONFLICT (merchant_id) DO UPDATE SET active_version = excluded.active_version,"
        " previous_version = excluded.previous_version, updated_ms = excluded.updated_ms"
        " RETURNING updated_ms",
        state.merchant_id, state.active_version, state.previous_version, now_ms());
    state.updated_ms = row[0].as<int64_t>();
    return state;
  }

  pg::Pool pool_;
};

}  // namespace

Result<std::unique_ptr<Store>> open_postgres_store(const PostgresOptions& options) {
  try {
    if (options.url.empty()) {
      return make_error("store_unavailable", "url",
                        "postgres: no connection URL given (e.g. "
                        "postgresql://x402@127.0.0.1:5432/x402)");
    }
    auto store = std::make_unique<PostgresStore>(options);
    auto started = store->start();
    if (!started) return started.error();
    return std::unique_ptr<Store>(std::move(store));
  } catch (const std::exception& e) {
    return store_error("open", e.what());
  }
}

}  // namespace x402
