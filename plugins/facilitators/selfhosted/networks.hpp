#pragma once
// The v1 network names (PROTOCOL.md §1) for the chain this instance serves. Plugins link only the
// SDK, so this is a small copy of the kernel's table.
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
