#include "config.hpp"

#include <boost/json.hpp>
#include <limits>
#include <stdexcept>

namespace x402::plugins::selfhosted {

const char* const kConfigSchemaJson = R"({
  "type": "object",
  "properties": {
    "rpc_url": {"type": "string"},
    "chain_id": {"type": "integer"},
    "v1_network": {"type": "string"},
    "relayer_keys": {"type": "array"},
    "assets": {"type": "array"},
    "gas": {
      "type": "object",
      "properties": {
        "limit": {"type": "integer"},
        "max_fee_per_gas_gwei": {"type": ["integer", "string"]},
        "priority_fee_gwei": {"type": ["integer", "string"]}
      },
      "additionalProperties": false
    },
    "confirmations": {"type": "integer"},
    "batch_size": {"type": "integer"},
    "max_in_flight_per_relayer": {"type": "integer"},
    "stuck_after_seconds": {"type": "integer"},
    "receipt_poll_ms": {"type": "integer"},
    "settle_wait_timeout_ms": {"type": "integer"},
    "rpc_timeout_ms": {"type": "integer"},
    "valid_before_margin_seconds": {"type": "integer"},
    "low_balance_gwei": {"type": ["integer", "string"]},
    "lease_ttl_ms": {"type": "integer"},
    "lease_renew_ms": {"type": "integer"},
    "lease_clock_margin_ms": {"type": "integer"}
  },
  "required": ["rpc_url", "relayer_keys"],
  "additionalProperties": false
})";

namespace {

namespace json = boost::json;

[[noreturn]] void fail(std::string_view key, std::string_view what) {
  throw std::invalid_argument("config." + std::string(key) + ": " + std::string(what));
}

std::optional<uint64_t> to_u64(const json::value& v) {
  if (v.is_int64() && v.get_int64() >= 0) return static_cast<uint64_t>(v.get_int64());
  if (v.is_uint64()) return v.get_uint64();
  return std::nullopt;
}

uint32_t uint_field(const json::object& o, std::string_view key, uint32_t fallback, uint32_t min,
                    uint32_t max) {
  const auto* v = o.if_contains(key);
  if (!v) return fallback;
  auto n = to_u64(*v);
  if (!n) fail(key, "must be a non-negative integer");
  if (*n < min || *n > max)
    fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  return static_cast<uint32_t>(*n);
}

// Gwei amounts arrive as integers or decimal strings ("0.5"); never as floats (money rule).
std::optional<uint64_t> gwei_field(const json::object& o, std::string_view key,
                                   std::string_view path) {
  const auto* v = o.if_contains(key);
  if (!v) return std::nullopt;
  std::optional<uint64_t> wei;
  if (auto n = to_u64(*v)) {
    wei = gwei_to_wei(std::to_string(*n));
  } else if (v->is_string()) {
    wei = gwei_to_wei(v->get_string());
  }
  if (!wei)
    fail(path, "must be a whole or decimal number of gwei (at most 9 decimals), e.g. \"1.5\"");
  return wei;
}

std::string resolve_key(const std::string& text, const std::string& path, const EnvLookup& getenv,
                        const FileReader& read_file) {
  if (text.rfind("env:", 0) == 0) {
    std::string var = text.substr(4);
    if (var.empty()) fail(path, "\"env:\" needs a variable name, e.g. env:RELAYER_KEY");
    const char* found = getenv ? getenv(var.c_str()) : nullptr;
    if (!found || !*found) fail(path, "environment variable " + var + " is not set");
    return found;
  }
  if (text.rfind("file:", 0) == 0) {
    std::string file = text.substr(5);
    if (file.empty()) fail(path, "\"file:\" needs a path, e.g. file:/run/secrets/relayer");
    auto content = read_file ? read_file(file) : std::nullopt;
    if (!content) fail(path, "cannot read " + file);
    while (!content->empty() &&
           (content->back() == '\n' || content->back() == '\r' || content->back() == ' '))
      content->pop_back();
    return *content;
  }
  return text;
}

}  // namespace

std::optional<uint64_t> gwei_to_wei(std::string_view text) {
  if (text.empty() || text.size() > 30) return std::nullopt;
  size_t dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? "" : text.substr(dot + 1);
  if (whole.empty() || (dot != std::string_view::npos && frac.empty()) || frac.size() > 9)
    return std::nullopt;
  unsigned __int128 wei = 0;
  for (char c : whole) {
    if (c < '0' || c > '9') return std::nullopt;
    wei = wei * 10 + static_cast<unsigned>(c - '0');
    if (wei > std::numeric_limits<uint64_t>::max()) return std::nullopt;
  }
  wei *= 1'000'000'000;
  uint64_t scale = 100'000'000;
  for (char c : frac) {
    if (c < '0' || c > '9') return std::nullopt;
    wei += static_cast<uint64_t>(c - '0') * scale;
    scale /= 10;
  }
  if (wei > std::numeric_limits<uint64_t>::max()) return std::nullopt;
  return static_cast<uint64_t>(wei);
}

SelfhostedConfig parse_config(std::string_view config_json, const EnvLookup& getenv,
                              const FileReader& read_file) {
  boost::system::error_code ec;
  auto parsed = json::parse(config_json.empty() ? "{}" : config_json, ec);
  if (ec || !parsed.is_object()) throw std::invalid_argument("config: must be a JSON object");
  const auto& o = parsed.get_object();
  static constexpr std::string_view known[] = {"rpc_url",
                                               "chain_id",
                                               "v1_network",
                                               "relayer_keys",
                                               "assets",
                                               "gas",
                                               "confirmations",
                                               "batch_size",
                                               "max_in_flight_per_relayer",
                                               "stuck_after_seconds",
                                               "receipt_poll_ms",
                                               "settle_wait_timeout_ms",
                                               "rpc_timeout_ms",
                                               "valid_before_margin_seconds",
                                               "low_balance_gwei",
                                               "lease_ttl_ms",
                                               "lease_renew_ms",
                                               "lease_clock_margin_ms"};
  for (const auto& kv : o) {
    bool ok = false;
    for (auto k : known) ok = ok || kv.key() == k;
    if (!ok) fail(kv.key(), "unknown key");
  }

  SelfhostedConfig c;
  if (const auto* v = o.if_contains("rpc_url"); v && v->is_string())
    c.rpc_url = v->get_string();
  else if (v)
    fail("rpc_url", "must be a string");
  if (c.rpc_url.empty()) fail("rpc_url", "required, e.g. http://127.0.0.1:8545");
  if (c.rpc_url.rfind("http://", 0) != 0 && c.rpc_url.rfind("https://", 0) != 0)
    fail("rpc_url", "must start with http:// or https://");

  if (const auto* v = o.if_contains("chain_id")) {
    auto n = to_u64(*v);
    if (!n || *n == 0) fail("chain_id", "must be a positive integer");
    c.chain_id = *n;
  }
  if (const auto* v = o.if_contains("v1_network")) {
    if (!v->is_string()) fail("v1_network", "must be a string");
    c.v1_network = v->get_string();
  }

  const auto* keys = o.if_contains("relayer_keys");
  if (!keys || !keys->is_array() || keys->get_array().empty())
    fail("relayer_keys",
         "required: a list of at least one key (\"env:VAR\", \"file:/path\" or hex)");
  for (size_t i = 0; i < keys->get_array().size(); ++i) {
    std::string path = "relayer_keys[" + std::to_string(i) + "]";
    const auto& k = keys->get_array()[i];
    if (!k.is_string()) fail(path, "must be a string");
    auto key = eth::PrivateKey::from_hex(
        resolve_key(std::string(k.get_string()), path, getenv, read_file));
    // Never echo the value: it is a secret even when malformed.
    if (!key) fail(path, "not a valid secp256k1 private key (32 bytes of hex)");
    for (const auto& earlier : c.relayer_keys)
      if (earlier.address() == key->address()) fail(path, "duplicate relayer key");
    c.relayer_keys.push_back(*key);
  }

  if (const auto* v = o.if_contains("assets")) {
    if (!v->is_array()) fail("assets", "must be a list of token addresses");
    for (size_t i = 0; i < v->get_array().size(); ++i) {
      const auto& a = v->get_array()[i];
      auto address = a.is_string() ? eth::parse_address(a.get_string()) : std::nullopt;
      if (!address) fail("assets[" + std::to_string(i) + "]", "must be a 0x-prefixed address");
      c.assets.push_back(*address);
    }
  }

  if (const auto* g = o.if_contains("gas")) {
    if (!g->is_object()) fail("gas", "must be a map");
    const auto& go = g->get_object();
    for (const auto& kv : go)
      if (kv.key() != "limit" && kv.key() != "max_fee_per_gas_gwei" &&
          kv.key() != "priority_fee_gwei")
        fail("gas." + std::string(kv.key()),
             "unknown key (known: limit, max_fee_per_gas_gwei, "
             "priority_fee_gwei)");
    if (const auto* l = go.if_contains("limit")) {
      auto n = to_u64(*l);
      if (!n || *n < 21000 || *n > 30'000'000) fail("gas.limit", "must be 21000..30000000");
      c.gas.limit = *n;
    }
    c.gas.max_fee_per_gas_wei = gwei_field(go, "max_fee_per_gas_gwei", "gas.max_fee_per_gas_gwei");
    c.gas.priority_fee_wei = gwei_field(go, "priority_fee_gwei", "gas.priority_fee_gwei");
    if (c.gas.max_fee_per_gas_wei && c.gas.priority_fee_wei &&
        *c.gas.priority_fee_wei > *c.gas.max_fee_per_gas_wei)
      fail("gas.priority_fee_gwei", "must not exceed gas.max_fee_per_gas_gwei");
  }

  c.confirmations = uint_field(o, "confirmations", c.confirmations, 1, 1000);
  c.batch_size = uint_field(o, "batch_size", c.batch_size, 1, 500);
  c.max_in_flight_per_relayer =
      uint_field(o, "max_in_flight_per_relayer", c.max_in_flight_per_relayer, 1, 10000);
  c.stuck_after_seconds = uint_field(o, "stuck_after_seconds", c.stuck_after_seconds, 1, 86400);
  c.receipt_poll_ms = uint_field(o, "receipt_poll_ms", c.receipt_poll_ms, 10, 600000);
  c.settle_wait_timeout_ms =
      uint_field(o, "settle_wait_timeout_ms", c.settle_wait_timeout_ms, 100, 3'600'000);
  c.rpc_timeout_ms = uint_field(o, "rpc_timeout_ms", c.rpc_timeout_ms, 100, 600000);
  c.valid_before_margin_seconds =
      uint_field(o, "valid_before_margin_seconds", c.valid_before_margin_seconds, 0, 3600);
  if (auto wei = gwei_field(o, "low_balance_gwei", "low_balance_gwei")) c.low_balance_wei = *wei;
  c.lease_ttl_ms = uint_field(o, "lease_ttl_ms", c.lease_ttl_ms, 1000, 600000);
  c.lease_clock_margin_ms =
      uint_field(o, "lease_clock_margin_ms", c.lease_clock_margin_ms, 0, 600000);
  c.lease_renew_ms = uint_field(o, "lease_renew_ms", c.lease_renew_ms, 10, 600000);
  // The holder must get a renewal in while it may still act on the lease.
  if (c.lease_clock_margin_ms >= c.lease_ttl_ms)
    fail("lease_clock_margin_ms", "must be less than lease_ttl_ms");
  if (c.lease_renew_ms >= c.lease_ttl_ms - c.lease_clock_margin_ms)
    fail("lease_renew_ms", "must be less than lease_ttl_ms - lease_clock_margin_ms");
  return c;
}

}  // namespace x402::plugins::selfhosted
