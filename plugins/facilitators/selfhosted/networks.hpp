#pragma once
// The v1 network name of the chain this instance serves, from the SDK's table (PROTOCOL.md §1).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace x402::plugins::selfhosted {

// "base-sepolia" for 84532; empty when the chain has no v1 name.
std::string v1_network_name(uint64_t chain_id);

// The chain id a network id names: "eip155:<id>" or a v1 name. nullopt when unknown.
std::optional<uint64_t> chain_id_of(std::string_view network);

}  // namespace x402::plugins::selfhosted
