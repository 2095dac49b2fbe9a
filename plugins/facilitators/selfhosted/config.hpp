#pragma once
// The facilitator-selfhosted instance config. Relayer keys may come from the environment
// ("env:VAR") or a file ("file:/path") so they stay out of the YAML file; they are never logged.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include <x402/eth/bytes.hpp>
#include <x402/eth/secp256k1.hpp>

namespace x402::plugins::selfhosted {

struct GasConfig {
  uint64_t limit = 150000;
  std::optional<uint64_t> max_fee_per_gas_wei;  // cap; nullopt = no cap
  std::optional<uint64_t> priority_fee_wei;     // nullopt = ask the node (eth_maxPriorityFeePerGas)
};

struct SelfhostedConfig {
  std::string rpc_url;
  std::optional<uint64_t> chain_id;  // checked against eth_chainId at start
  std::string v1_network;            // v1 name override; empty = from the built-in table
  std::vector<eth::PrivateKey> relayer_keys;
  std::vector<eth::Address> assets;  // allow-list; empty = any token
  GasConfig gas;
  uint32_t confirmations = 1;
  uint32_t batch_size = 16;                 // jobs claimed per sender round
  uint32_t max_in_flight_per_relayer = 64;  // processing + sent jobs per relayer key
  uint32_t stuck_after_seconds = 30;
  uint32_t receipt_poll_ms = 200;
  uint32_t settle_wait_timeout_ms = 60000;
  uint32_t rpc_timeout_ms = 10000;
  uint32_t valid_before_margin_seconds = 6;           // validBefore must be >= now + this
  uint64_t low_balance_wei = 10'000'000'000'000'000;  // 0.01 ETH: warn below
  // Relayer leases (nodes sharing one store and the same keys): a lease lasts lease_ttl_ms, is
  // renewed every lease_renew_ms, and its holder stops using the relayer lease_clock_margin_ms
  // before the expiry it wrote, so that clocks this far apart never see two holders.
  uint32_t lease_ttl_ms = 10000;
  uint32_t lease_renew_ms = 2000;
  uint32_t lease_clock_margin_ms = 3000;
};

// Reads an environment variable / a file; injected so tests need neither.
using EnvLookup = std::function<const char*(const char*)>;
using FileReader = std::function<std::optional<std::string>(const std::string&)>;

// Throws std::invalid_argument with a message naming the key, e.g.
// "config.rpc_url: required". Key material never appears in a message.
SelfhostedConfig parse_config(std::string_view config_json, const EnvLookup& getenv,
                              const FileReader& read_file);

// "12", 12 or "0.5" gwei -> wei, exactly (at most 9 fractional digits). nullopt when malformed.
std::optional<uint64_t> gwei_to_wei(std::string_view text);

extern const char* const kConfigSchemaJson;

}  // namespace x402::plugins::selfhosted
