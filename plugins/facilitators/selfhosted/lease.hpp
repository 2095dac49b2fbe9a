#pragma once
// Relayer leases: which node may sign and send for a relayer key when several x402d nodes share
// one store and the same keys. A lease is a job of the plugin's own queue, id "lease:<relayer>",
// whose whole content lives in its STATE string, "lease|<node id>|<expires unix ms>": the queue's
// compare-and-set on the state (queue_update with the exact string observed) then swaps owner and
// expiry atomically across nodes. Jobs a sender has claimed but not signed yet sit in
// "claimed|<relayer>", so recovery knows whose they are.
// None of these strings can be mistaken for a settlement state (pending, processing, ...).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace x402::plugins::selfhosted {

struct Lease {
  std::string node;  // the holder's node id
  uint64_t expires_ms = 0;
};

std::string lease_job_id(std::string_view relayer_address);
std::string lease_state(std::string_view node, uint64_t expires_ms);
// nullopt when `state` is not a lease state.
std::optional<Lease> parse_lease_state(std::string_view state);

// The state a sender claims pending jobs into for `relayer_address`.
std::string claimed_state(std::string_view relayer_address);
bool is_claimed_state(std::string_view state);

// A fresh random node id (16 hex digits) for one plugin instance.
std::string random_node_id();

}  // namespace x402::plugins::selfhosted
