#include "protocol/network.hpp"

#include <algorithm>
#include <x402/networks.hpp>

namespace x402 {
namespace {

constexpr std::string_view kCaip2Prefix = "eip155:";

// A v1 name: what operators may type under `networks:` and peers send in v1 payloads.
bool is_valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

// Decimal without sign or leading zeros, 1..2^64-1; anything else is not a chain id we can
// compare, so "eip155:01" and "eip155:1" are never two spellings of one chain.
std::optional<uint64_t> parse_chain_id(std::string_view text) {
  if (text.empty() || text.size() > 20 || text.front() == '0') return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::string known_names(const std::vector<Network>& entries) {
  std::string out;
  for (const auto& n : entries) {
    if (!out.empty()) out += ", ";
    out += n.name;
  }
  return out;
}

}  // namespace

NetworkTable NetworkTable::builtin() {
  NetworkTable t;
  for (const auto& [name, chain_id] : sdk::kV1NetworkNames)
    t.entries_.push_back(Network{std::string(name), chain_id});
  return t;
}

Status NetworkTable::add(std::string name, uint64_t chain_id) {
  if (!is_valid_name(name)) {
    return make_error("invalid_network", "networks." + name,
                      "network name \"" + name +
                          "\" must be 1..64 characters of a-z, 0-9, '-' or '_' (CAIP-2 ids such "
                          "as eip155:8453 need no entry)");
  }
  if (chain_id == 0) {
    return make_error("invalid_network", "networks." + name,
                      "network \"" + name + "\" needs a chain id greater than 0");
  }
  auto same_name = std::find_if(entries_.begin(), entries_.end(),
                                [&](const Network& n) { return n.name == name; });
  auto same_chain = std::find_if(entries_.begin(), entries_.end(),
                                 [&](const Network& n) { return n.chain_id == chain_id; });
  // One name per chain: a v1 requirement for a chain must be spelled one way, or matching by
  // (scheme, network) would depend on which alias a client happened to use.
  if (same_chain != entries_.end() && same_chain != same_name) {
    return make_error("network_conflict", "networks." + name,
                      "chain id " + std::to_string(chain_id) + " is already named \"" +
                          same_chain->name + "\"; use that name or remove one of the entries");
  }
  if (same_name != entries_.end()) {
    same_name->chain_id = chain_id;  // operators may repoint a name, e.g. at a devnet
  } else {
    entries_.push_back(Network{std::move(name), chain_id});
  }
  return Ok{};
}

Result<Network> NetworkTable::resolve(std::string_view name_or_caip2) const {
  const std::string given(name_or_caip2.substr(0, 100));
  if (name_or_caip2.starts_with(kCaip2Prefix)) {
    auto id = parse_chain_id(name_or_caip2.substr(kCaip2Prefix.size()));
    if (!id) {
      return make_error("unknown_network", "network",
                        "\"" + given +
                            "\" is not a CAIP-2 EVM network id: write eip155:<chain id> with a "
                            "decimal chain id without leading zeros, e.g. eip155:8453");
    }
    if (auto named = by_chain_id(*id)) return *named;
    return Network{"", *id};
  }
  for (const auto& n : entries_) {
    if (n.name == name_or_caip2) return n;
  }
  if (name_or_caip2.find(':') != std::string_view::npos) {
    return make_error("unknown_network", "network",
                      "\"" + given +
                          "\" is not supported: only EVM networks (CAIP-2 namespace eip155, e.g. "
                          "eip155:8453) are");
  }
  return make_error("unknown_network", "network",
                    "unknown network \"" + given +
                        "\"; use a CAIP-2 id such as eip155:8453, one "
                        "of the known names (" +
                        known_names(entries_) + "), or add it under `networks:` in the config");
}

std::optional<Network> NetworkTable::by_chain_id(uint64_t chain_id) const {
  for (const auto& n : entries_) {
    if (n.chain_id == chain_id) return n;
  }
  return std::nullopt;
}

}  // namespace x402
