#pragma once
// A small thread-safe pool of PostgreSQL connections for the PostgreSQL store. A store call
// borrows one connection for the length of its transaction and gives it back; a connection that
// broke is dropped and a fresh one opened on demand, so a restarted server heals without a restart
// of the gateway.
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <pqxx/connection>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace x402::pg {

class Pool {
 public:
  // `conninfo` is passed to libpq as is; connections open lazily, at most `size` at once.
  // A borrower waits at most `wait` for a free connection.
  Pool(std::string conninfo, unsigned size, std::chrono::milliseconds wait);

  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    pqxx::connection& connection() { return *connection_; }
    // The connection is in an unknown state (lost, or mid-transaction): close it, do not reuse it.
    void discard() { broken_ = true; }

   private:
    friend class Pool;
    Lease(Pool* pool, std::unique_ptr<pqxx::connection> connection)
        : pool_(pool), connection_(std::move(connection)) {}
    Pool* pool_;
    std::unique_ptr<pqxx::connection> connection_;
    bool broken_ = false;
  };

  // A connection, opened now when none is idle. Error code store_unavailable when the server
  // cannot be reached or every connection stayed busy for `wait`.
  Result<Lease> acquire();

 private:
  void give_back(std::unique_ptr<pqxx::connection> connection, bool broken);

  const std::string conninfo_;
  const unsigned size_;
  const std::chrono::milliseconds wait_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  unsigned open_ = 0;  // idle + lent + being opened
};

}  // namespace x402::pg
