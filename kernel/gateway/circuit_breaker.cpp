#include "gateway/circuit_breaker.hpp"

namespace x402 {

void CircuitBreaker::configure(unsigned failure_threshold, std::chrono::milliseconds open_for) {
  std::lock_guard lock(mu_);
  threshold_ = failure_threshold == 0 ? 1 : failure_threshold;
  open_for_ = open_for;
}

bool CircuitBreaker::is_open() const {
  std::lock_guard lock(mu_);
  return open_;
}

void CircuitBreaker::record_success() {
  std::lock_guard lock(mu_);
  failures_ = 0;
  open_ = false;
}

void CircuitBreaker::record_failure(Clock::time_point now) {
  std::lock_guard lock(mu_);
  ++failures_;
  if (!open_ && failures_ >= threshold_) {
    open_ = true;
    next_probe_ = now + open_for_;
  }
}

bool CircuitBreaker::probe_due(Clock::time_point now) const {
  std::lock_guard lock(mu_);
  return open_ && now >= next_probe_;
}

void CircuitBreaker::probe_failed(Clock::time_point now) {
  std::lock_guard lock(mu_);
  next_probe_ = now + open_for_;
}

unsigned CircuitBreaker::consecutive_failures() const {
  std::lock_guard lock(mu_);
  return failures_;
}

}  // namespace x402
