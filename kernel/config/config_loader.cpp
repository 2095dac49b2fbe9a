// load_config(): the gateway.yaml schema. Sections are read in dependency order (networks before
// assets before routes) regardless of their order in the file. The first error ends loading: one
// precise message is easier to act on than a cascade caused by the first mistake.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/asio/ip/address_v6.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "config/api_key_hash.hpp"
#include "config/config.hpp"
#include "config/route_matcher.hpp"
#include "config/yaml_reader.hpp"

namespace x402 {
namespace {

using config_detail::ConfigError;
using config_detail::ErrorSink;
using config_detail::Field;
using config_detail::Section;
namespace fs = std::filesystem;

constexpr uint64_t kDayMs = 24ull * 3600 * 1000;
// Basis points: 10000 is the whole amount.
constexpr uint64_t kMaxFeeBps = 10000;

bool is_lower_name(std::string_view s, size_t max_len) {
  if (s.empty() || s.size() > max_len) return false;
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '_' || c == '-'; });
}

bool is_address(std::string_view s) {
  return s.size() == 42 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') &&
         std::all_of(s.begin() + 2, s.end(), [](char c) { return std::isxdigit(c & 0xff) != 0; });
}

std::string address(const Field& field) {
  std::string text = field.as_string();
  if (!is_address(text)) {
    field.fail("'" + text + "' is not an address; expected 0x followed by 40 hex digits");
  }
  return text;
}

std::chrono::milliseconds millis(const Section& s, std::string_view key,
                                 std::chrono::milliseconds fallback, uint64_t min = 1) {
  const std::optional<Field> f = s.get(key);
  return f ? std::chrono::milliseconds(f->as_uint(min, kDayMs)) : fallback;
}

template <typename T>
T number(const Section& s, std::string_view key, T fallback, uint64_t min, uint64_t max) {
  const std::optional<Field> f = s.get(key);
  return f ? static_cast<T>(f->as_uint(min, max)) : fallback;
}

std::string text(const Section& s, std::string_view key, std::string fallback) {
  const std::optional<Field> f = s.get(key);
  return f ? f->as_nonempty_string() : fallback;
}

// Relative paths are relative to the config file's folder, so a config works from any cwd.
std::string resolve_path(const fs::path& base_dir, const std::string& path) {
  if (path == ":memory:" || fs::path(path).is_absolute()) return path;
  return (base_dir / path).lexically_normal().string();
}

// "host:port", "[v6]:port". Port 0 asks the OS for a free port (tests).
struct ListenAddress {
  std::string host;
  uint16_t port = 0;
};

ListenAddress parse_listen(const Field& field) {
  const std::string value = field.as_nonempty_string();
  const std::string usage = "; expected host:port, e.g. 127.0.0.1:8402 or [::1]:8402";
  std::string host;
  std::string port;
  if (value.front() == '[') {
    const size_t close = value.find(']');
    if (close == std::string::npos || value.compare(close, 2, "]:") != 0) {
      field.fail("'" + value + "' is not host:port" + usage);
    }
    host = value.substr(1, close - 1);
    port = value.substr(close + 2);
    boost::system::error_code ec;
    boost::asio::ip::make_address_v6(host, ec);
    if (ec) field.fail("'" + host + "' is not an IPv6 address" + usage);
  } else {
    const size_t colon = value.rfind(':');
    if (colon == std::string::npos) field.fail("'" + value + "' has no port" + usage);
    host = value.substr(0, colon);
    port = value.substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      field.fail("IPv6 addresses need brackets, e.g. [::1]:8402");
    }
    const bool host_ok = !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
      return std::isalnum(c & 0xff) || c == '.' || c == '-';
    });
    if (!host_ok) field.fail("'" + host + "' is not a host name or IP address" + usage);
  }
  const bool port_ok =
      !port.empty() && port.size() <= 5 &&
      std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
      std::stoul(port) <= 65535;
  if (!port_ok) field.fail("'" + port + "' is not a port (0-65535)" + usage);
  return {host, static_cast<uint16_t>(std::stoul(port))};
}

void read_server(const Section& s, ServerConfig& server) {
  if (auto f = s.get("listen")) {
    ListenAddress listen = parse_listen(*f);
    server.listen_address = std::move(listen.host);
    server.listen_port = listen.port;
  }
  server.workers = number<unsigned>(s, "workers", server.workers, 0, 256);
  if (auto f = s.get("public_url")) {
    const std::string url = f->as_nonempty_string();
    const Result<http::Origin> origin = http::parse_origin(url);
    if (!origin) f->fail(origin.error().message);
    if (url.back() == '/')
      f->fail("remove the trailing '/': '" + url.substr(0, url.size() - 1) + "'");
    server.public_url = url;
  }
  if (auto f = s.get("limits")) {
    const Section limits(*f, {"max_header_bytes", "max_body_bytes", "max_connections"});
    server.max_header_bytes =
        number<size_t>(limits, "max_header_bytes", server.max_header_bytes, 1024, 1 << 20);
    server.max_body_bytes =
        number<size_t>(limits, "max_body_bytes", server.max_body_bytes, 0, 1ull << 32);
    server.max_connections =
        number<size_t>(limits, "max_connections", server.max_connections, 1, 1000000);
  }
  if (auto f = s.get("timeouts")) {
    const Section t(*f, {"header_ms", "body_ms", "idle_ms", "shutdown_grace_ms"});
    server.header_timeout = millis(t, "header_ms", server.header_timeout);
    server.body_timeout = millis(t, "body_ms", server.body_timeout);
    server.idle_timeout = millis(t, "idle_ms", server.idle_timeout);
    server.shutdown_grace = millis(t, "shutdown_grace_ms", server.shutdown_grace, 0);
  }
}

void read_failover(const Section& s, FailoverConfig& failover) {
  failover.attempt_timeout = millis(s, "attempt_timeout_ms", failover.attempt_timeout);
  failover.verify_deadline = millis(s, "verify_deadline_ms", failover.verify_deadline);
  failover.settle_timeout = millis(s, "settle_timeout_ms", failover.settle_timeout);
  failover.retry_after = std::chrono::seconds(
      number<uint64_t>(s, "retry_after_seconds", failover.retry_after.count(), 1, 3600));
  if (auto f = s.get("breaker")) {
    const Section b(*f, {"failure_threshold", "open_ms"});
    failover.breaker.failure_threshold =
        number<unsigned>(b, "failure_threshold", failover.breaker.failure_threshold, 1, 1000);
    failover.breaker.open_for = millis(b, "open_ms", failover.breaker.open_for);
  }
}

std::string plugin_name(const Field& field) {
  std::string name = field.as_nonempty_string();
  if (name.find_first_of("/\\ \t") != std::string::npos) {
    field.fail("'" + name +
               "' is a plugin name, not a path (e.g. facilitator-http); "
               "load plugin files by path under plugins.load");
  }
  return name;
}

void read_facilitators(const Field& list, std::vector<FacilitatorConfig>& out) {
  for (const Field& item : list.as_list()) {
    const Section s(item, {"name", "plugin", "attempt_timeout_ms", "config"});
    FacilitatorConfig f;
    const Field name = s.require("name");
    f.name = name.as_string();
    if (!is_lower_name(f.name, 63)) {
      name.fail("'" + f.name +
                "' is not a valid name; use lower-case letters, digits, '_' and "
                "'-', starting with a letter or digit");
    }
    for (const FacilitatorConfig& earlier : out) {
      if (earlier.name == f.name) name.fail("duplicate facilitator name '" + f.name + "'");
    }
    f.plugin = plugin_name(s.require("plugin"));
    f.attempt_timeout = millis(s, "attempt_timeout_ms", f.attempt_timeout, 0);
    if (auto c = s.get("config")) f.plugin_config = c->as_json_object();
    out.push_back(std::move(f));
  }
}

RateLimitKey rate_limit_key(const Field& field) {
  const std::string text = field.as_nonempty_string();
  constexpr std::string_view kHeader = "header:";
  constexpr std::string_view kForwarded = "forwarded_for";
  const auto token_char = [](char c) {
    return std::isalnum(c & 0xff) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  };
  RateLimitKey key;
  if (text == "client_ip") return key;
  if (text.starts_with(kHeader) && text.size() > kHeader.size() &&
      std::all_of(text.begin() + kHeader.size(), text.end(), token_char)) {
    key.source = RateLimitKey::Source::Header;
    key.header = text.substr(kHeader.size());
    return key;
  }
  if (text.starts_with(kForwarded)) {
    const std::string hops = text.substr(kForwarded.size());
    const bool digits =
        hops.size() >= 2 && hops.size() <= 3 && hops[0] == ':' &&
        std::all_of(hops.begin() + 1, hops.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (hops.empty() || (digits && std::stoul(hops.substr(1)) >= 1)) {
      key.source = RateLimitKey::Source::ForwardedFor;
      key.hops = hops.empty() ? 1 : static_cast<unsigned>(std::stoul(hops.substr(1)));
      return key;
    }
  }
  field.fail("'" + text +
             "' must be 'client_ip' (the connection's address), 'forwarded_for' or "
             "'forwarded_for:<N>' (the address the N-th proxy in front of x402d appended to "
             "X-Forwarded-For; default 1), or 'header:<Name>' (e.g. header:X-Api-Key)");
}

void read_rate_limits(const Field& list, std::vector<RateLimitTierConfig>& out) {
  for (const Field& item : list.as_list()) {
    const Section s(item, {"name", "plugin", "key", "timeout_ms", "config"});
    RateLimitTierConfig tier;
    const Field name = s.require("name");
    tier.name = name.as_string();
    if (!is_lower_name(tier.name, 63) || tier.name == "none") {
      name.fail("'" + tier.name +
                "' is not a valid tier name; use lower-case letters, digits, '_' and '-', "
                "starting with a letter or digit ('none' is reserved: it turns limiting off)");
    }
    for (const RateLimitTierConfig& earlier : out) {
      if (earlier.name == tier.name) name.fail("duplicate rate limit tier '" + tier.name + "'");
    }
    if (auto f = s.get("plugin")) tier.plugin = plugin_name(*f);
    if (auto f = s.get("key")) tier.key = rate_limit_key(*f);
    tier.timeout = millis(s, "timeout_ms", tier.timeout);
    if (auto c = s.get("config")) tier.plugin_config = c->as_json_object();
    out.push_back(std::move(tier));
  }
}

// A `rate_limit:` value: a tier's name, or 'none'.
std::string rate_limit_name(const Field& field, const Config& config) {
  const std::string name = field.as_nonempty_string();
  if (name == "none") return name;
  std::string names;
  for (const RateLimitTierConfig& tier : config.rate_limits) {
    if (tier.name == name) return name;
    names += (names.empty() ? "" : ", ") + tier.name;
  }
  field.fail("no rate limit tier '" + name + "' under rate_limits: (" +
             (names.empty() ? "none defined" : names) + "); or 'none' for no limit");
}

void read_networks(const Field& list, NetworkTable& table) {
  for (const Field& item : list.as_list()) {
    const Section s(item, {"name", "chain_id"});
    const Field name = s.require("name");
    const std::string text = name.as_string();
    if (!is_lower_name(text, 64)) {
      name.fail("'" + text +
                "' is not a valid network name; use lower-case letters, digits, '-' "
                "and '_', e.g. my-devnet");
    }
    const uint64_t chain_id = s.require("chain_id").as_uint(1, UINT64_MAX);
    const Status added = table.add(text, chain_id);
    if (!added) name.fail(added.error().message);
  }
}

Network resolve_network(const Field& field, const NetworkTable& table) {
  const std::string text = field.as_nonempty_string();
  Result<Network> network = table.resolve(text);
  if (!network) {
    field.fail("unknown network '" + text + "'; use a known name (base, base-sepolia, ...), " +
               "eip155:<chain id>, or declare it under networks:");
  }
  return std::move(network).value();
}

void read_assets(const Field& list, const NetworkTable& table,
                 std::vector<std::unique_ptr<AssetConfig>>& out) {
  for (const Field& item : list.as_list()) {
    const Section s(item, {"symbol", "network", "address", "decimals", "eip712"});
    auto asset = std::make_unique<AssetConfig>();
    const Field symbol = s.require("symbol");
    asset->symbol = symbol.as_string();
    const bool symbol_ok = !asset->symbol.empty() && asset->symbol.size() <= 32 &&
                           std::all_of(asset->symbol.begin(), asset->symbol.end(), [](char c) {
                             return std::isalnum(c & 0xff) || c == '.' || c == '_' || c == '-';
                           });
    if (!symbol_ok) symbol.fail("'" + asset->symbol + "' is not a valid symbol, e.g. USDC");
    const Field network = s.require("network");
    asset->network = resolve_network(network, table);
    for (const auto& earlier : out) {
      if (earlier->symbol == asset->symbol &&
          earlier->network.chain_id == asset->network.chain_id) {
        network.fail("asset " + asset->symbol + " is already configured on " +
                     asset->network.v1_name());
      }
    }
    asset->address = address(s.require("address"));
    asset->decimals = static_cast<unsigned>(s.require("decimals").as_uint(0, 36));
    const Section eip712(s.require("eip712"), {"name", "version"});
    asset->eip712_name = eip712.require("name").as_nonempty_string();
    asset->eip712_version = eip712.require("version").as_nonempty_string();
    out.push_back(std::move(asset));
  }
}

std::string join_networks(const std::vector<const AssetConfig*>& assets) {
  std::string names;
  for (const AssetConfig* a : assets) names += (names.empty() ? "" : ", ") + a->network.v1_name();
  return names;
}

// One `price` (+ optional `asset`, `network`) → a priced asset. `where` is the mapping holding
// them, used for errors about keys that are missing.
PriceOption read_price(const Section& where, const Config& config) {
  const Field price = where.require("price");
  std::string symbol;
  if (auto f = where.get("asset")) {
    symbol = f->as_nonempty_string();
    const bool known = std::any_of(config.assets.begin(), config.assets.end(),
                                   [&](const auto& a) { return a->symbol == symbol; });
    if (!known) f->fail("unknown asset '" + symbol + "'; declare it under assets:");
  } else {
    std::set<std::string> symbols;
    for (const auto& a : config.assets) symbols.insert(a->symbol);
    if (symbols.empty()) price.fail("no assets are configured; declare one under assets:");
    if (symbols.size() > 1) {
      where.fail("'asset' is required here because several assets are configured");
    }
    symbol = *symbols.begin();
  }

  std::vector<const AssetConfig*> candidates;
  for (const auto& a : config.assets) {
    if (a->symbol == symbol) candidates.push_back(a.get());
  }
  const AssetConfig* asset = nullptr;
  if (auto f = where.get("network")) {
    const Network network = resolve_network(*f, config.networks);
    asset = config.find_asset(symbol, network);
    if (!asset) {
      f->fail("asset " + symbol + " is not configured on " + network.v1_name() +
              " (configured on: " + join_networks(candidates) + ")");
    }
  } else if (candidates.size() == 1) {
    asset = candidates.front();
  } else {
    where.fail("'network' is required here because " + symbol + " is configured on several " +
               "networks (" + join_networks(candidates) + ")");
  }

  PriceOption option;
  option.asset = asset;
  option.price_text = price.as_nonempty_string();
  Result<Amount> amount = Amount::parse_human(option.price_text, asset->decimals, "price");
  if (!amount) {
    price.fail(amount.error().message + " (" + symbol + " has " + std::to_string(asset->decimals) +
               " decimals)");
  }
  if (amount->is_zero()) {
    price.fail("must be greater than 0; for a free route write 'free: true' instead");
  }
  option.amount = std::move(amount).value();
  return option;
}

// `pricing: policy` + `policy_fallback`. The fallback is mandatory so that what happens when a
// script breaks is a decision the operator wrote down, never a default that serves for free.
void read_route_pricing(const Section& s, RouteConfig& route) {
  if (auto f = s.get("pricing")) {
    const std::string pricing = f->as_string();
    if (pricing == "policy") {
      route.policy_priced = true;
    } else if (pricing != "static") {
      f->fail("'" + pricing + "' must be 'static' (the route's price) or 'policy' (the " +
              "merchant's Lua pricing policy)");
    }
    if (route.free && route.policy_priced) {
      f->fail("a free route takes no payment; remove 'pricing' or 'free: true'");
    }
  }
  const std::optional<Field> fallback = s.get("policy_fallback");
  if (!route.policy_priced) {
    if (fallback) fallback->fail("only a route with 'pricing: policy' has a policy fallback");
    return;
  }
  if (!fallback) {
    s.fail("'policy_fallback' is required with 'pricing: policy': write 'static' (charge the " +
           std::string("route's price when the policy fails), a price such as \"0.05\", or 503"));
  }
  const std::string value = fallback->as_nonempty_string();
  if (value == "503") return;  // nullopt: answer 503 pricing_unavailable
  if (value == "static") {
    route.policy_fallback = route.accepts;
    return;
  }
  std::vector<PriceOption> options;
  for (const PriceOption& accepted : route.accepts) {
    Result<Amount> amount = Amount::parse_human(value, accepted.asset->decimals, "policy_fallback");
    if (!amount) {
      fallback->fail("'" + value + "' must be 'static', 503 or a price: " + amount.error().message);
    }
    if (amount->is_zero()) fallback->fail("must be greater than 0; a fallback is never free");
    PriceOption option = accepted;
    option.amount = std::move(amount).value();
    option.price_text = value;
    options.push_back(std::move(option));
  }
  route.policy_fallback = std::move(options);
}

RouteConfig read_route(const Field& item, const Config& config) {
  const Section s(item, {"path", "methods", "price", "asset", "network", "accepts", "free",
                         "settle", "settle_mode", "description", "mime_type", "max_timeout_seconds",
                         "pricing", "policy_fallback", "payment_identifier", "rate_limit"});
  RouteConfig route;
  const Field path = s.require("path");
  route.path = path.as_string();
  Result<PathPattern> pattern = PathPattern::compile(route.path);
  if (!pattern) path.fail("'" + route.path + "' " + pattern.error().message);
  route.pattern = std::make_shared<const PathPattern>(std::move(pattern).value());

  if (auto f = s.get("methods")) {
    for (const Field& m : f->as_list()) {
      std::string method = m.as_nonempty_string();
      for (char& c : method) {
        if (!std::isalpha(c & 0xff)) m.fail("'" + method + "' is not an HTTP method, e.g. GET");
        c = static_cast<char>(std::toupper(c & 0xff));
      }
      route.methods.push_back(std::move(method));
    }
    if (route.methods.empty()) f->fail("an empty list matches nothing; omit 'methods' for any");
  }

  if (auto f = s.get("free")) route.free = f->as_bool();
  const int ways = int(route.free) + int(s.has("price")) + int(s.has("accepts"));
  if (ways != 1) {
    s.fail(ways == 0 ? "say how to pay: 'price', 'accepts' or 'free: true'"
                     : "use exactly one of 'price', 'accepts' and 'free: true'");
  }
  if (route.free) {
    for (std::string_view key :
         {"asset", "network", "settle", "settle_mode", "payment_identifier"}) {
      if (auto f = s.get(key)) f->fail("a free route takes no payment; remove this key");
    }
  } else if (auto f = s.get("accepts")) {
    for (std::string_view key : {"asset", "network"}) {
      if (auto k = s.get(key)) k->fail("with 'accepts', set this inside each accepts entry");
    }
    for (const Field& entry : f->as_list()) {
      const Section option(entry, {"price", "asset", "network"});
      PriceOption parsed = read_price(option, config);
      for (const PriceOption& earlier : route.accepts) {
        if (earlier.asset == parsed.asset) {
          option.fail("duplicate payment option: " + parsed.asset->symbol + " on " +
                      parsed.asset->network.v1_name() + " is already accepted");
        }
      }
      route.accepts.push_back(std::move(parsed));
    }
    if (route.accepts.empty()) f->fail("needs at least one entry");
  } else {
    route.accepts.push_back(read_price(s, config));
  }

  if (auto f = s.get("settle")) {
    const std::string timing = f->as_string();
    if (timing == "after") {
      route.settle = SettleTiming::After;
    } else if (timing == "before") {
      route.settle = SettleTiming::Before;
    } else {
      f->fail("'" + timing + "' must be 'after' (settle once the upstream answered < 400) or " +
              "'before' (settle first, then proxy)");
    }
  }
  if (auto f = s.get("settle_mode")) {
    const std::string mode = f->as_string();
    if (mode == "confirmed") {
      route.settle_mode = SettleMode::Confirmed;
    } else if (mode == "broadcast") {
      route.settle_mode = SettleMode::Broadcast;
    } else {
      f->fail("'" + mode + "' must be 'confirmed' (settle answers once the transfer is on chain) " +
              "or 'broadcast' (settle answers once it is sent; confirmation follows)");
    }
  }
  if (auto f = s.get("payment_identifier")) {
    const std::string mode = f->as_string();
    if (mode == "off") {
      route.payment_identifier = PaymentIdentifierMode::Off;
    } else if (mode == "optional") {
      route.payment_identifier = PaymentIdentifierMode::Optional;
    } else if (mode == "required") {
      route.payment_identifier = PaymentIdentifierMode::Required;
    } else {
      f->fail("'" + mode + "' must be 'off', 'optional' (advertised; a retry with the same id " +
              "replays the first answer) or 'required' (a payment without an id is refused)");
    }
  }
  if (auto f = s.get("description")) route.description = f->as_string();
  if (auto f = s.get("mime_type")) route.mime_type = f->as_string();
  route.max_timeout_seconds =
      number<uint32_t>(s, "max_timeout_seconds", route.max_timeout_seconds, 1, 86400);
  read_route_pricing(s, route);
  if (auto f = s.get("rate_limit")) route.rate_limit = rate_limit_name(*f, config);
  return route;
}

// The bounds mirror kernel/policy/limits.hpp's hard maxima (the config module does not link the
// policy runtime; the runtime re-validates whatever it is given).
MerchantPolicyConfig read_merchant_policy(const Field& field) {
  const Section s(field,
                  {"max_instructions", "max_wall_ms", "max_memory_bytes", "max_amount", "period"});
  MerchantPolicyConfig policy;
  if (auto f = s.get("max_instructions")) policy.max_instructions = f->as_uint(1000, 10'000'000);
  if (auto f = s.get("max_wall_ms")) policy.max_wall_ms = f->as_uint(1, 50);
  if (auto f = s.get("max_memory_bytes")) {
    policy.max_memory_bytes = f->as_uint(64 * 1024, 16 * 1024 * 1024);
  }
  if (auto f = s.get("max_amount")) {
    const std::string amount = f->as_nonempty_string();
    const bool digits =
        amount.size() <= 78 && amount.find_first_not_of("0123456789") == std::string::npos;
    if (!digits || amount.find_first_not_of('0') == std::string::npos) {
      f->fail("'" + amount + "' must be a positive whole number of atomic units, e.g. " +
              "\"1000000000\" (1000 USDC at 6 decimals)");
    }
    policy.max_amount = amount;
  }
  if (auto f = s.get("period")) {
    const std::string period = f->as_string();
    if (period == "day") {
      policy.period = UsagePeriod::Day;
    } else if (period != "month") {
      f->fail("'" + period + "' must be 'day' or 'month' (UTC)");
    }
  }
  return policy;
}

// "env:NAME" → the variable's value. Secrets never sit in the config file itself.
std::string secret_from_env(const Field& field) {
  const std::string ref = field.as_nonempty_string();
  if (!ref.starts_with("env:") || ref.size() == 4) {
    field.fail("write env:VARIABLE_NAME; secrets are read from the environment, not the file");
  }
  const char* value = std::getenv(ref.c_str() + 4);
  if (!value || !*value) field.fail("environment variable " + ref.substr(4) + " is not set");
  return value;
}

AdminApiConfig read_admin(const Section& s, const Config& config) {
  AdminApiConfig admin;
  ListenAddress listen = parse_listen(s.require("listen"));
  admin.listen_address = std::move(listen.host);
  admin.listen_port = listen.port;
  const Field keys = s.require("api_keys");
  for (const Field& item : keys.as_list()) {
    const Section k(item, {"key", "role", "merchant"});
    AdminApiKey key;
    const Field key_field = k.require("key");
    const std::string ref = key_field.as_nonempty_string();
    if (ref.starts_with("sha256:")) {
      key.sha256_hex = ref.substr(7);
      const bool hex = key.sha256_hex.size() == 64 &&
                       std::all_of(key.sha256_hex.begin(), key.sha256_hex.end(), [](char c) {
                         return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                       });
      if (!hex) key_field.fail("sha256: needs 64 lower-case hex digits (sha256sum of the key)");
    } else {
      const std::string secret = secret_from_env(key_field);
      if (secret.size() < 16) key_field.fail("an API key needs at least 16 characters");
      key.sha256_hex = api_key_sha256_hex(secret);
    }
    const Field role = k.require("role");
    const std::string role_text = role.as_string();
    if (role_text == "admin") {
      key.role = AdminRole::Admin;
      if (auto m = k.get("merchant")) m->fail("an admin key reaches every merchant; remove this");
    } else if (role_text == "merchant") {
      key.role = AdminRole::Merchant;
      const Field merchant = k.require("merchant");
      key.merchant = merchant.as_nonempty_string();
      if (!config.find_merchant(key.merchant)) {
        merchant.fail("unknown merchant '" + key.merchant + "'");
      }
    } else {
      role.fail("'" + role_text + "' must be 'admin' or 'merchant'");
    }
    admin.api_keys.push_back(std::move(key));
  }
  if (admin.api_keys.empty()) keys.fail("needs at least one key");
  return admin;
}

// Returns the first paid route, if any: paid routes need a facilitator.
std::optional<Field> read_merchants(const Field& list, Config& config) {
  std::optional<Field> first_paid_route;
  for (const Field& item : list.as_list()) {
    const Section s(item, {"id", "upstream", "upstream_connect_timeout_ms", "upstream_timeout_ms",
                           "pay_to", "routes", "policy", "platform_fee_bps", "rate_limit"});
    MerchantConfig merchant;
    const Field id = s.require("id");
    merchant.id = id.as_string();
    if (!is_lower_name(merchant.id, 63)) {
      id.fail("'" + merchant.id +
              "' is not a valid id; use 1-63 lower-case letters, digits, '_' "
              "and '-', starting with a letter or digit (it becomes the URL prefix /" +
              merchant.id + "/)");
    }
    // These top-level paths belong to the gateway itself.
    for (std::string_view reserved : {"healthz", "readyz", "metrics"}) {
      if (merchant.id == reserved) id.fail("'" + merchant.id + "' is reserved by the gateway");
    }
    if (config.find_merchant(merchant.id)) id.fail("duplicate merchant id '" + merchant.id + "'");
    const Field upstream = s.require("upstream");
    merchant.upstream_url = upstream.as_nonempty_string();
    Result<http::Origin> origin = http::parse_origin(merchant.upstream_url);
    if (!origin) upstream.fail(origin.error().message);
    merchant.upstream = std::move(origin).value();
    merchant.upstream_connect_timeout =
        millis(s, "upstream_connect_timeout_ms", merchant.upstream_connect_timeout);
    merchant.upstream_timeout = millis(s, "upstream_timeout_ms", merchant.upstream_timeout);
    merchant.pay_to = address(s.require("pay_to"));
    const Field routes = s.require("routes");
    for (const Field& route : routes.as_list()) {
      merchant.routes.push_back(read_route(route, config));
      if (!merchant.routes.back().free && !first_paid_route) first_paid_route = route;
    }
    if (merchant.routes.empty()) routes.fail("needs at least one route");
    // The merchant's tier covers the routes that name none; 'none' on a route opts it out.
    std::string merchant_tier;
    if (auto f = s.get("rate_limit")) merchant_tier = rate_limit_name(*f, config);
    for (RouteConfig& route : merchant.routes) {
      if (route.rate_limit.empty()) route.rate_limit = merchant_tier;
      if (route.rate_limit == "none") route.rate_limit.clear();
    }
    if (auto f = s.get("policy")) merchant.policy = read_merchant_policy(*f);
    if (auto f = s.get("platform_fee_bps")) {
      merchant.platform_fee_bps = static_cast<uint32_t>(f->as_uint(0, kMaxFeeBps));
    }
    config.merchants.push_back(std::move(merchant));
  }
  return first_paid_route;
}

FacilitatorApiConfig read_facilitator_api(const Section& s, const Config& config,
                                          const ServerConfig& server) {
  FacilitatorApiConfig api;
  const Field listen_field = s.require("listen");
  ListenAddress listen = parse_listen(listen_field);
  api.listen_address = std::move(listen.host);
  api.listen_port = listen.port;
  // Port 0 (tests) cannot clash: the OS picks a free port for each.
  if (api.listen_port != 0 && api.listen_port == server.listen_port &&
      api.listen_address == server.listen_address) {
    listen_field.fail("the facilitator API needs its own listener; server.listen uses " +
                      server.listen_address + ":" + std::to_string(server.listen_port) +
                      " already");
  }
  const Field name = s.require("facilitator");
  api.facilitator = name.as_nonempty_string();
  const bool known =
      std::any_of(config.facilitators.begin(), config.facilitators.end(),
                  [&](const FacilitatorConfig& f) { return f.name == api.facilitator; });
  if (!known) {
    std::string names;
    for (const auto& f : config.facilitators) names += (names.empty() ? "" : ", ") + f.name;
    name.fail("unknown facilitator '" + api.facilitator + "'; name one of those under " +
              "facilitators: (" + (names.empty() ? "none configured" : names) + ")");
  }
  return api;
}

// A connection URL may carry a password, so it can also come from the environment.
std::string url_or_env(const Field& field) {
  const std::string value = field.as_nonempty_string();
  return value.starts_with("env:") ? secret_from_env(field) : value;
}

void read_storage(const Section& s, StorageConfig& storage) {
  storage.backend = text(s, "backend", storage.backend);
  storage.spool_dir = text(s, "spool_dir", storage.spool_dir);
  if (storage.backend == "sqlite") {
    storage.path = text(s, "path", storage.path);
    if (auto url = s.get("url")) url->fail("url is for backend: postgres; sqlite takes path");
  } else if (storage.backend == "postgres") {
    storage.url = url_or_env(s.require("url"));
    if (!storage.url.starts_with("postgresql://") && !storage.url.starts_with("postgres://")) {
      s.require("url").fail("expected a postgresql://user@host:port/database URL");
    }
    storage.pool_size = number<unsigned>(s, "pool_size", storage.pool_size, 1, 256);
    if (auto path = s.get("path")) path->fail("path is for backend: sqlite; postgres takes url");
  } else {
    s.get("backend")->fail("unknown storage backend '" + storage.backend +
                           "'; supported: sqlite, postgres");
  }
}

void read_cache(const Section& s, CacheConfig& cache) {
  cache.backend = text(s, "backend", cache.backend);
  if (cache.backend == "memory") {
    if (auto url = s.get("url")) url->fail("url is for backend: redis");
    if (auto cluster = s.get("cluster")) cluster->fail("cluster is for backend: redis");
    return;
  }
  if (cache.backend != "redis") {
    s.get("backend")->fail("unknown cache backend '" + cache.backend +
                           "'; supported: memory, redis");
  }
  const Field url_field = s.require("url");
  const std::string url = url_or_env(url_field);
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed || parsed->scheme() != "redis" || parsed->host().empty()) {
    url_field.fail("expected redis://[:password@]host[:port][/database]");
  }
  cache.host = parsed->host();
  if (parsed->has_port()) {
    if (parsed->port_number() == 0) url_field.fail("the port must be 1-65535");
    cache.port = parsed->port_number();
  }
  if (parsed->has_password()) cache.password = parsed->password();
  const std::string path = parsed->path();
  if (!path.empty() && path != "/") {
    const std::string db = path.substr(1);
    if (db.empty() || db.size() > 2 || !std::all_of(db.begin(), db.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c)) != 0;
        })) {
      url_field.fail("the database after the / must be a number 0-15");
    }
    cache.database = static_cast<unsigned>(std::stoul(db));
    if (cache.database > 15) url_field.fail("the database after the / must be a number 0-15");
  }
  cache.command_timeout = millis(s, "command_timeout_ms", cache.command_timeout);
  if (auto cluster = s.get("cluster")) cache.cluster = cluster->as_bool();
  // A Redis Cluster has database 0 only (SELECT is refused there).
  if (cache.cluster && cache.database != 0) {
    url_field.fail("a Redis Cluster has only database 0; drop the /" +
                   std::to_string(cache.database) + " from the url (cluster: true)");
  }
}

std::shared_ptr<const Config> build(const YAML::Node& document, const ErrorSink& sink,
                                    const std::string& source_path, const fs::path& base_dir) {
  const Field root_field(sink, document, "", 1);
  if (!document.IsDefined() || document.IsNull()) {
    sink.fail(1, "", "the config is empty; see docs/configuration.md for an example");
  }
  const Section root(
      root_field, {"server", "storage", "cache", "plugins", "routing", "failover", "facilitators",
                   "networks", "assets", "merchants", "facilitator_api", "admin", "credentials",
                   "books", "idempotency", "rate_limits"});
  auto config = std::make_shared<Config>();
  config->source_path = source_path;
  config->networks = NetworkTable::builtin();

  if (auto f = root.get("server"))
    read_server(Section(*f, {"listen", "workers", "public_url", "limits", "timeouts"}),
                config->server);
  if (auto f = root.get("storage")) {
    read_storage(Section(*f, {"backend", "path", "url", "pool_size", "spool_dir"}),
                 config->storage);
  }
  config->storage.path = resolve_path(base_dir, config->storage.path);
  config->storage.spool_dir = resolve_path(base_dir, config->storage.spool_dir);
  if (auto f = root.get("cache")) {
    read_cache(Section(*f, {"backend", "url", "cluster", "command_timeout_ms"}), config->cache);
  }
  if (auto f = root.get("plugins")) {
    const Section s(*f, {"directories", "load"});
    if (auto d = s.get("directories")) {
      for (const std::string& dir : d->as_string_list()) {
        config->plugins.directories.push_back(resolve_path(base_dir, dir));
      }
    }
    if (auto l = s.get("load")) {
      for (const std::string& file : l->as_string_list()) {
        config->plugins.load.push_back(resolve_path(base_dir, file));
      }
    }
  }
  if (auto f = root.get("routing")) {
    const Section s(*f, {"strategy", "config"});
    if (auto strategy = s.get("strategy")) config->routing.strategy = plugin_name(*strategy);
    if (auto c = s.get("config")) config->routing.strategy_config = c->as_json_object();
  }
  if (auto f = root.get("failover")) {
    read_failover(Section(*f, {"attempt_timeout_ms", "verify_deadline_ms", "settle_timeout_ms",
                               "retry_after_seconds", "breaker"}),
                  config->failover);
  }
  if (auto f = root.get("facilitators")) read_facilitators(*f, config->facilitators);
  if (auto f = root.get("rate_limits")) read_rate_limits(*f, config->rate_limits);
  if (auto f = root.get("facilitator_api")) {
    config->facilitator_api =
        read_facilitator_api(Section(*f, {"listen", "facilitator"}), *config, config->server);
  }
  if (auto f = root.get("networks")) read_networks(*f, config->networks);
  if (auto f = root.get("assets")) read_assets(*f, config->networks, config->assets);
  if (auto f = root.get("merchants")) {
    const std::optional<Field> paid = read_merchants(*f, *config);
    if (paid && config->facilitators.empty()) {
      sink.fail(paid->line(), "facilitators",
                "at least one facilitator is required because " + paid->path() +
                    " is a paid route; add one under facilitators:");
    }
  }
  if (auto f = root.get("credentials")) {
    const Section s(*f, {"secret"});
    const Field secret = s.require("secret");
    CredentialsConfig credentials{secret_from_env(secret)};
    if (credentials.secret.size() < 32) {
      secret.fail("the credential secret needs at least 32 bytes (e.g. openssl rand -hex 32)");
    }
    config->credentials = std::move(credentials);
  }
  if (!config->credentials) {
    for (size_t m = 0; m < config->merchants.size(); ++m) {
      for (size_t r = 0; r < config->merchants[m].routes.size(); ++r) {
        if (!config->merchants[m].routes[r].policy_priced) continue;
        sink.fail(1, "credentials",
                  "credentials.secret is required because merchants[" + std::to_string(m) +
                      "].routes[" + std::to_string(r) +
                      "] is policy-priced (a policy may sell time passes and packages, whose "
                      "credentials are signed with it)");
      }
    }
  }
  if (auto f = root.get("books")) {
    const Section s(*f, {"platform_fee_bps"});
    config->books.platform_fee_bps =
        number<uint32_t>(s, "platform_fee_bps", config->books.platform_fee_bps, 0, kMaxFeeBps);
  }
  if (auto f = root.get("admin")) {
    config->admin = read_admin(Section(*f, {"listen", "api_keys"}), *config);
  }
  if (auto f = root.get("idempotency")) {
    const Section s(*f, {"retention_hours", "max_stored_body_bytes"});
    config->idempotency.retention = std::chrono::hours(
        number<uint64_t>(s, "retention_hours", config->idempotency.retention.count(), 1, 24 * 365));
    config->idempotency.max_stored_body_bytes = number<size_t>(
        s, "max_stored_body_bytes", config->idempotency.max_stored_body_bytes, 0, 64ull << 20);
  }
  return config;
}

fs::path folder_of(const std::string& file) {
  std::error_code ec;
  fs::path parent = fs::path(file).parent_path();
  fs::path base = parent.empty() ? fs::current_path(ec) : fs::absolute(parent, ec);
  return ec ? parent : base.lexically_normal();
}

Result<std::shared_ptr<const Config>> parse(const std::string& yaml, const std::string& source_name,
                                            const std::string& source_path) {
  const ErrorSink sink(source_name);
  try {
    const YAML::Node document = YAML::Load(yaml);
    return build(document, sink, source_path, folder_of(source_name));
  } catch (const ConfigError& e) {
    return e.error;
  } catch (const YAML::Exception& e) {
    const int line = e.mark.is_null() ? 1 : e.mark.line + 1;
    return make_error("invalid_config", "",
                      source_name + ":" + std::to_string(line) + ": YAML syntax error: " + e.msg);
  } catch (const std::exception& e) {
    return make_error("invalid_config", "", source_name + ": " + e.what());
  }
}

}  // namespace

Result<std::shared_ptr<const Config>> load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error("invalid_config", "",
                      path + ": cannot open the config file: " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::error_code ec;
  const fs::path absolute = fs::absolute(path, ec);
  return parse(text.str(), path, ec ? path : absolute.lexically_normal().string());
}

Result<std::shared_ptr<const Config>> load_config_from_string(const std::string& yaml,
                                                              const std::string& source_name) {
  return parse(yaml, source_name, source_name);
}

}  // namespace x402
