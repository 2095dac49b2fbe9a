#include "gcra.hpp"

#include <algorithm>
#include <limits>

namespace x402::plugins::ratelimit_token_bucket {

namespace {

uint64_t ceil_ms(int64_t us) {
  return us <= 0 ? 0 : static_cast<uint64_t>((us + 999) / 1000);
}

}  // namespace

GcraParams gcra_params(uint64_t requests, uint64_t window_ms, uint64_t burst) {
  GcraParams p;
  p.interval_us = std::max<int64_t>(1, static_cast<int64_t>(window_ms * 1000 / requests));
  p.tolerance_us = p.interval_us * static_cast<int64_t>(burst);
  p.burst = burst;
  return p;
}

GcraStep gcra_step(int64_t tat_us, int64_t now_us, const GcraParams& params) {
  GcraStep s;
  int64_t tat = std::max(tat_us, now_us);
  int64_t new_tat = tat + params.interval_us;
  int64_t allow_at = new_tat - params.tolerance_us;
  if (now_us < allow_at) {
    s.allowed = false;
    s.tat_us = tat_us;
    s.remaining = 0;
    s.reset_us = tat - now_us;
    s.retry_after_us = allow_at - now_us;
    return s;
  }
  s.allowed = true;
  s.tat_us = new_tat;
  s.remaining = static_cast<uint64_t>((now_us - allow_at) / params.interval_us);
  s.reset_us = new_tat - now_us;
  s.retry_after_us = 0;
  return s;
}

sdk::RateLimitDecision gcra_decision(bool allowed, uint64_t remaining, int64_t reset_us,
                                     int64_t retry_after_us, uint64_t limit) {
  sdk::RateLimitDecision d;
  d.allowed = allowed;
  d.limit = limit;
  d.remaining = allowed ? remaining : 0;
  d.reset_ms = ceil_ms(reset_us);
  if (!allowed) {
    // A cell written under an older, slower config may ask for longer than uint32 can say.
    uint64_t retry = std::max<uint64_t>(1, ceil_ms(retry_after_us));
    d.retry_after_ms =
        static_cast<uint32_t>(std::min<uint64_t>(retry, std::numeric_limits<uint32_t>::max()));
  }
  return d;
}

}  // namespace x402::plugins::ratelimit_token_bucket
