#pragma once
// The one place that maps x402 v1 network names to CAIP-2 ids (PROTOCOL.md §1).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace x402 {

struct Network {
  std::string name;  // v1 name, e.g. "base-sepolia"; empty when the chain has no v1 name
  uint64_t chain_id = 0;
  std::string caip2() const { return "eip155:" + std::to_string(chain_id); }
  // The identifier a v1 peer understands: the name, or the CAIP-2 id when there is none.
  std::string v1_name() const { return name.empty() ? caip2() : name; }
  friend bool operator==(const Network&, const Network&) = default;
};

class NetworkTable {
 public:
  // The built-in table: base 8453, base-sepolia 84532, avalanche 43114, avalanche-fuji 43113,
  // polygon 137, polygon-amoy 80002, sei 1329, sei-testnet 1328, iotex 4689, peaq 3338,
  // story 1514, educhain 41923, abstract 2741, abstract-testnet 11124,
  // skale-base-sepolia 324705682, ethereum 1, sepolia 11155111.
  static NetworkTable builtin();

  // Adds or overrides a name (operators may name devnets). Fails on a conflicting mapping.
  Status add(std::string name, uint64_t chain_id);

  // Accepts a v1 name ("base-sepolia") or a CAIP-2 id ("eip155:84532", any decimal chain id
  // without leading zeros). Unknown names and malformed ids give code "unknown_network".
  Result<Network> resolve(std::string_view name_or_caip2) const;
  std::optional<Network> by_chain_id(uint64_t chain_id) const;

 private:
  std::vector<Network> entries_;
};

}  // namespace x402
