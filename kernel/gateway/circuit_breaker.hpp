#pragma once
// Per-facilitator health: a facilitator known to be dead must cost requests no added latency.
// Consecutive failures open the breaker; while open, routing leaves the facilitator out and only
// the background prober talks to it. A successful probe or answer closes it again.
#include <chrono>
#include <mutex>
#include <string>

namespace x402 {

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;

  CircuitBreaker(unsigned failure_threshold, std::chrono::milliseconds open_for)
      : threshold_(failure_threshold), open_for_(open_for) {}

  void configure(unsigned failure_threshold, std::chrono::milliseconds open_for);

  bool is_open() const;
  // A real answer (any verdict) or a passed probe.
  void record_success();
  // A connect error, timeout, 5xx or malformed answer.
  void record_failure(Clock::time_point now = Clock::now());
  // True when the breaker is open and its probe is due; the caller then probes.
  bool probe_due(Clock::time_point now = Clock::now()) const;
  // A failed probe keeps the breaker open for another period.
  void probe_failed(Clock::time_point now = Clock::now());
  unsigned consecutive_failures() const;

 private:
  mutable std::mutex mu_;
  unsigned threshold_;
  std::chrono::milliseconds open_for_;
  unsigned failures_ = 0;
  bool open_ = false;
  Clock::time_point next_probe_{};
};

}  // namespace x402
