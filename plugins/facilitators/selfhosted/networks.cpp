#include "networks.hpp"

#include <charconv>
#include <utility>

namespace x402::plugins::selfhosted {
namespace {

constexpr std::pair<std::string_view, uint64_t> kV1Names[] = {
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

}  // namespace

std::string v1_network_name(uint64_t chain_id) {
  for (const auto& [name, id] : kV1Names)
    if (id == chain_id) return std::string(name);
  return {};
}

std::optional<uint64_t> chain_id_of(std::string_view network) {
  constexpr std::string_view kPrefix = "eip155:";
  if (network.substr(0, kPrefix.size()) == kPrefix) {
    std::string_view digits = network.substr(kPrefix.size());
    if (digits.empty() || digits.size() > 19 || digits[0] == '0') return std::nullopt;
    uint64_t id = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
    if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
    return id;
  }
  for (const auto& [name, id] : kV1Names)
    if (name == network) return id;
  return std::nullopt;
}

}  // namespace x402::plugins::selfhosted
