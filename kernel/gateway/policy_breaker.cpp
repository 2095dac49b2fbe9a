#include "gateway/policy_breaker.hpp"

namespace x402 {

namespace {

std::string key_of(std::string_view merchant, std::string_view version) {
  std::string key(merchant);
  key += '\n';
  key += version;
  return key;
}

}  // namespace

bool PolicyBreaker::is_budget_error(std::string_view code) {
  return code == "policy_instruction_limit" || code == "policy_time_limit" ||
         code == "policy_memory_limit" || code == "policy_string_limit";
}

bool PolicyBreaker::allow(std::string_view merchant, std::string_view version,
                          Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = states_.find(key_of(merchant, version));
  if (it == states_.end() || it->second.consecutive < threshold_) return true;
  State& state = it->second;
  if (now < state.open_until || state.probing) return false;
  state.probing = true;
  return true;
}

void PolicyBreaker::record(std::string_view merchant, std::string_view version,
                           bool budget_exhausted, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (!budget_exhausted) {
    states_.erase(key_of(merchant, version));
    return;
  }
  State& state = states_[key_of(merchant, version)];
  state.probing = false;
  if (++state.consecutive >= threshold_) state.open_until = now + cooldown_;
}

}  // namespace x402
