#include "networks.hpp"

#include <charconv>
#include <utility>
#include <x402/networks.hpp>

namespace x402::plugins::selfhosted {

std::string v1_network_name(uint64_t chain_id) {
  for (const auto& [name, id] : sdk::kV1NetworkNames)
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
  for (const auto& [name, id] : sdk::kV1NetworkNames)
    if (name == network) return id;
  return std::nullopt;
}

}  // namespace x402::plugins::selfhosted
