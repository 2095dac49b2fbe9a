#pragma once
// GCRA (generic cell rate algorithm): a token bucket kept as one number per client, the
// theoretical arrival time (TAT) of the next request. All times are integer microseconds so the
// local limiter and the Redis script (kGcraScript) compute exactly the same answers.
#include <cstdint>
#include <x402/plugin.hpp>

namespace x402::plugins::ratelimit_token_bucket {

struct GcraParams {
  int64_t interval_us = 1;   // one request's share of the window
  int64_t tolerance_us = 1;  // interval_us * burst: how far ahead of now the TAT may run
  uint64_t burst = 1;        // reported as the decision's limit
};

// interval = window / requests (integer division, at least 1 µs); tolerance = interval * burst.
GcraParams gcra_params(uint64_t requests, uint64_t window_ms, uint64_t burst);

struct GcraStep {
  bool allowed = false;
  int64_t tat_us = 0;  // the cell's TAT after this step (unchanged when refused)
  uint64_t remaining = 0;
  int64_t reset_us = 0;        // until the TAT is back at now: the whole burst is available
  int64_t retry_after_us = 0;  // refused: until the next request would be admitted
};

// One check at `now_us` against a cell whose stored TAT is `tat_us` (0 or anything in the past
// for a fresh cell).
GcraStep gcra_step(int64_t tat_us, int64_t now_us, const GcraParams& params);

// The SDK decision for one step: times rounded up to whole milliseconds (a client that waits
// retry_after_ms is admitted), retry_after_ms at least 1 when refused.
sdk::RateLimitDecision gcra_decision(bool allowed, uint64_t remaining, int64_t reset_us,
                                     int64_t retry_after_us, uint64_t limit);

}  // namespace x402::plugins::ratelimit_token_bucket
