#pragma once
// The local spool: what must reach the database but could not, because the database went away
// after money had moved or a response had been served (DESIGN.md §7, docs/operations.md).
//
// A paid request whose settlement succeeded is served even when the database fails at that
// moment: refusing would keep the payer's money without the service. Its completion (payment
// SETTLED + usage record + any credential) is appended here and fsync'd before the response goes
// out, and applied to the store once it answers again. Free and credential-covered calls are
// spooled the same way. Nothing else is: every other store failure refuses the request before
// anything is served or charged.
//
// The file is JSON lines, one record per line, append-only, fsync'd per record. Applying is
// idempotent (the payment is marked SETTLED only when it is not yet, the usage record is written
// only when the payment has none, record_usage ignores an id it already has), so a crash between
// applying and truncating only applies a record twice, harmlessly.
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "state/store.hpp"

namespace x402 {

struct SpooledCompletion {
  std::string payment_id;
  std::string facilitator;
  std::string tx_hash;
  UsageRecord usage;
  std::optional<Credential> credential;
};

class Spool {
 public:
  // Opens (creating when needed) <dir>/spool.jsonl and counts the records already waiting. The
  // folder belongs to one process: a second x402d opening it gets error spool_in_use (two drains
  // rewriting one file could lose records), so every node needs its own.
  static Result<std::unique_ptr<Spool>> open(const std::string& dir);
  ~Spool();

  // Durable when Ok: the record is on disk (fsync'd) and will be applied.
  Status append_completion(const SpooledCompletion& completion);
  Status append_usage(const UsageRecord& usage);

  // Records waiting to be applied.
  size_t pending() const;

  struct DrainReport {
    size_t applied = 0;
    // Records that can never apply (their payment row does not exist, or the line is unreadable)
    // are moved to <dir>/spool.rejected.jsonl for the operator instead of blocking the rest.
    size_t set_aside = 0;
  };
  // Applies the waiting records to `store` in order and removes the applied ones. Stops at the
  // first store failure and keeps that record and the rest for the next call.
  Result<DrainReport> drain(Store& store);

  const std::string& path() const { return path_; }

 private:
  Spool(std::string dir, size_t pending, int lock_fd);
  Status append_line(const std::string& path, const std::string& line);

  std::string dir_;
  std::string path_;
  std::string rejected_path_;
  mutable std::mutex mutex_;  // the file and pending_
  std::mutex drain_mutex_;    // one drain at a time
  size_t pending_ = 0;
  int lock_fd_ = -1;  // holds flock(<dir>/spool.lock) while this process owns the folder
};

}  // namespace x402
