#include "lease.hpp"

#include <charconv>
#include <cstdio>
#include <random>

namespace x402::plugins::selfhosted {

namespace {
constexpr std::string_view kLeasePrefix = "lease|";
constexpr std::string_view kClaimedPrefix = "claimed|";
}  // namespace

std::string lease_job_id(std::string_view relayer_address) {
  return "lease:" + std::string(relayer_address);
}

std::string lease_state(std::string_view node, uint64_t expires_ms) {
  return std::string(kLeasePrefix) + std::string(node) + "|" + std::to_string(expires_ms);
}

std::optional<Lease> parse_lease_state(std::string_view state) {
  if (!state.starts_with(kLeasePrefix)) return std::nullopt;
  state.remove_prefix(kLeasePrefix.size());
  auto bar = state.find('|');
  if (bar == std::string_view::npos || bar == 0) return std::nullopt;
  Lease l;
  l.node = std::string(state.substr(0, bar));
  std::string_view expires = state.substr(bar + 1);
  auto [end, ec] = std::from_chars(expires.data(), expires.data() + expires.size(), l.expires_ms);
  if (ec != std::errc{} || end != expires.data() + expires.size() || expires.empty())
    return std::nullopt;
  return l;
}

std::string claimed_state(std::string_view relayer_address) {
  return std::string(kClaimedPrefix) + std::string(relayer_address);
}

bool is_claimed_state(std::string_view state) {
  return state.starts_with(kClaimedPrefix);
}

std::string random_node_id() {
  std::random_device rd;
  uint64_t v = (uint64_t{rd()} << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace x402::plugins::selfhosted
