#pragma once
// Suspends a merchant policy that keeps exhausting its budget (instructions, wall clock, memory,
// string limits). Each such evaluation holds a worker for up to the policy's whole budget, so a
// hostile or broken policy under load would take worker time from every other merchant. After
// `threshold` budget failures in a row the policy is not run for `cooldown`: its requests get the
// route's fallback at once. Then one evaluation is let through; success closes the breaker, a
// budget failure opens it again. Shared by all workers; one short critical section per call.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace x402 {

class PolicyBreaker {
 public:
  using Clock = std::chrono::steady_clock;

  explicit PolicyBreaker(unsigned threshold = 3,
                         std::chrono::milliseconds cooldown = std::chrono::seconds(10))
      : threshold_(threshold), cooldown_(cooldown) {}

  // False while the policy (merchant, version) is suspended.
  bool allow(std::string_view merchant, std::string_view version, Clock::time_point now);
  // The outcome of an evaluation that allow() let through.
  void record(std::string_view merchant, std::string_view version, bool budget_exhausted,
              Clock::time_point now);

  std::chrono::milliseconds cooldown() const { return cooldown_; }

  // The error codes that mean "stopped for using too much", as opposed to wrong answers.
  static bool is_budget_error(std::string_view code);

 private:
  struct State {
    unsigned consecutive = 0;
    Clock::time_point open_until{};
    bool probing = false;  // one evaluation let through after the cooldown
  };

  unsigned threshold_;
  std::chrono::milliseconds cooldown_;
  std::mutex mutex_;
  std::unordered_map<std::string, State> states_;  // key: merchant + '\n' + version
};

}  // namespace x402
