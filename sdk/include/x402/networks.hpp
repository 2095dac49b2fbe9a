#pragma once
// The x402 v1 network names and their EVM chain ids (PROTOCOL.md §1), in one place for the kernel
// and every plugin: v1 names a network ("base-sepolia"), v2 uses CAIP-2 ("eip155:84532").
#include <cstdint>
#include <string_view>
#include <utility>

namespace x402::sdk {

inline constexpr std::pair<std::string_view, uint64_t> kV1NetworkNames[] = {
    {"base", 8453},
    {"base-sepolia", 84532},
    {"avalanche", 43114},
    {"avalanche-fuji", 43113},
    {"polygon", 137},
    {"polygon-amoy", 80002},
    {"sei", 1329},
    {"sei-testnet", 1328},
    {"iotex", 4689},
    {"peaq", 3338},
    {"story", 1514},
    {"educhain", 41923},
    {"abstract", 2741},
    {"abstract-testnet", 11124},
    {"skale-base-sepolia", 324705682},
    {"ethereum", 1},
    {"sepolia", 11155111},
};

}  // namespace x402::sdk
