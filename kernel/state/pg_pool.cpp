#include "state/pg_pool.hpp"

#include <pqxx/except>

namespace x402::pg {

Pool::Pool(std::string conninfo, unsigned size, std::chrono::milliseconds wait)
    : conninfo_(std::move(conninfo)), size_(size == 0 ? 1 : size), wait_(wait) {}

Pool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), connection_(std::move(other.connection_)), broken_(other.broken_) {
  other.pool_ = nullptr;
}

Pool::Lease::~Lease() {
  if (pool_ != nullptr && connection_ != nullptr) {
    pool_->give_back(std::move(connection_), broken_);
  }
}

Result<Pool::Lease> Pool::acquire() {
  std::unique_lock lock(mutex_);
  const bool got =
      available_.wait_for(lock, wait_, [&] { return !idle_.empty() || open_ < size_; });
  if (!got) {
    return make_error("store_unavailable", "",
                      "postgres: all " + std::to_string(size_) +
                          " pooled connections stayed busy for " + std::to_string(wait_.count()) +
                          " ms");
  }
  while (!idle_.empty()) {
    std::unique_ptr<pqxx::connection> connection = std::move(idle_.back());
    idle_.pop_back();
    if (connection->is_open()) return Lease(this, std::move(connection));
    --open_;  // lost while idle (server restart): replace it below
  }
  ++open_;  // reserve the slot, then connect without holding the lock
  lock.unlock();
  try {
    return Lease(this, std::make_unique<pqxx::connection>(conninfo_));
  } catch (const std::exception& e) {
    lock.lock();
    --open_;
    available_.notify_one();
    std::string why = e.what();
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return make_error("store_unavailable", "", "postgres: cannot connect: " + why);
  }
}

void Pool::give_back(std::unique_ptr<pqxx::connection> connection, bool broken) {
  if (broken || !connection->is_open()) {
    connection.reset();  // close before taking the lock
    std::lock_guard lock(mutex_);
    --open_;
  } else {
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(connection));
  }
  available_.notify_one();
}

}  // namespace x402::pg
