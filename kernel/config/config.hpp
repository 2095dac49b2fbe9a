#pragma once
// The validated, immutable configuration of one gateway (one snapshot). Built only by
// load_config(); every field here has passed validation, so the request path never re-checks it.
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "http/client.hpp"
#include "protocol/amount.hpp"
#include "protocol/network.hpp"

namespace x402 {

class PathPattern;  // config/route_matcher.hpp

struct ServerConfig {
  std::string listen_address = "127.0.0.1";
  uint16_t listen_port = 8402;
  unsigned workers = 0;    // 0 = one per core
  std::string public_url;  // e.g. "https://gw.example"; empty = derived from Host header
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 1024 * 1024;
  size_t max_connections = 10000;
  std::chrono::milliseconds header_timeout{10000};  // read request line + headers
  std::chrono::milliseconds body_timeout{30000};    // read the body
  std::chrono::milliseconds idle_timeout{60000};    // keep-alive wait for the next request
  std::chrono::milliseconds shutdown_grace{15000};  // SIGTERM: drain in-flight up to this
};

struct StorageConfig {
  std::string backend = "sqlite";  // "sqlite" (one node) | "postgres" (many nodes)
  std::string path = "x402d.db";   // sqlite: relative paths resolve against the config's folder
  std::string url;                 // postgres: libpq URI (may come from env:VAR)
  unsigned pool_size = 8;          // postgres: connections per node
  // Completions and usage records the database could not take after money moved wait here, on
  // this node's disk, until it answers again (state/spool.hpp).
  std::string spool_dir = "x402d-spool";
  bool operator==(const StorageConfig&) const = default;
};

struct CacheConfig {
  std::string backend = "memory";  // "memory" (one node) | "redis" (many nodes)
  std::string host = "127.0.0.1";  // redis: from url redis://[:password@]host[:port][/db]
  uint16_t port = 6379;
  std::string password;
  unsigned database = 0;
  // redis: the url is a seed node of a Redis Cluster; the other masters are discovered from it.
  bool cluster = false;
  std::chrono::milliseconds command_timeout{500};
  bool operator==(const CacheConfig&) const = default;
};

struct PluginsConfig {
  std::vector<std::string> directories;  // searched in order for "<name>.so"; default: the
                                         // folder x402d's plugins were installed to
  std::vector<std::string> load;         // extra plugin files loaded by path
};

struct FacilitatorConfig {
  std::string name;                   // unique; used in logs, metrics and the 503 body
  std::string plugin;                 // plugin name, e.g. "facilitator-http"
  boost::json::object plugin_config;  // the `config:` block converted to JSON for the plugin
  std::chrono::milliseconds attempt_timeout{0};  // 0 = failover.attempt_timeout
};

struct BreakerConfig {
  unsigned failure_threshold = 3;             // consecutive failures that open the breaker
  std::chrono::milliseconds open_for{30000};  // then one probe is let through (half-open)
};

struct FailoverConfig {
  std::chrono::milliseconds attempt_timeout{5000};   // one verify attempt at one facilitator
  std::chrono::milliseconds verify_deadline{10000};  // all verify attempts together
  std::chrono::milliseconds settle_timeout{30000};   // the single settle attempt
  std::chrono::seconds retry_after{5};               // Retry-After sent with 202/503
  BreakerConfig breaker;
};

// A rate-limit tier (`rate_limits:`): a plugin instance that decides whether a client may go on,
// named by routes (`rate_limit:`). Runs after the route match, before pricing (DESIGN.md §2).
// Who a tier limits (`key:`). Behind a load balancer the connection's address is the balancer's,
// so the client is read from what the balancer adds: X-Forwarded-For, or a header it sets.
struct RateLimitKey {
  enum class Source {
    ClientIp,      // `client_ip`: the connection's peer address
    Header,        // `header:<Name>`: that header's value (an API key, X-Real-IP, ...)
    ForwardedFor,  // `forwarded_for[:N]`: the N-th address from the right of X-Forwarded-For,
                   // the one the N-th proxy in front of x402d saw
  };
  Source source = Source::ClientIp;
  std::string header;  // Source::Header
  unsigned hops = 1;   // Source::ForwardedFor
};

struct RateLimitTierConfig {
  std::string name;                               // unique; metric label, RateLimit header policy
  std::string plugin = "ratelimit-token-bucket";  // the shipped tier plugin
  // Where the header or X-Forwarded-For is missing (or shorter than `hops`): the peer address.
  RateLimitKey key;
  std::chrono::milliseconds timeout{1000};  // no decision by then: admitted, counted degraded
  boost::json::object plugin_config;
};

struct RoutingConfig {
  std::string strategy = "priority";  // routing plugin name; "priority" = routing-priority
  boost::json::object strategy_config;
};

struct AssetConfig {
  std::string symbol;  // "USDC"; referenced by routes
  Network network;
  std::string address;  // token contract, 0x + 40 hex, as written (checksum case kept)
  unsigned decimals = 6;
  std::string eip712_name;     // EIP-712 domain name, e.g. "USDC" or "USD Coin"
  std::string eip712_version;  // e.g. "2"
};

enum class SettleTiming { After, Before };

// When the facilitator's settle may answer (plugin ABI 1.1 x402_settle_wait): once the transfer is
// confirmed on chain, or as soon as it has been broadcast (faster; the facilitator confirms in the
// background and emits an event). Facilitators without settle options always confirm.
enum class SettleMode { Confirmed, Broadcast };

// The x402 payment-identifier extension on a paid route (docs/idempotency.md): not advertised
// (off), advertised and honoured when a client sends one (optional), or demanded (required: a
// payment without an id is refused with 400).
enum class PaymentIdentifierMode { Off, Optional, Required };

// One way to pay for a route: an amount of an asset on a network.
struct PriceOption {
  const AssetConfig* asset = nullptr;  // points into Config::assets (stable: Config is immutable)
  Amount amount;                       // atomic units
  std::string price_text;              // as written, for messages ("0.01")
};

struct RouteConfig {
  std::string path;  // pattern below the merchant prefix, e.g. "/api/*" or "/**"
  std::shared_ptr<const PathPattern> pattern;  // `path` compiled at load; never null after load
  std::vector<std::string> methods;            // upper-case; empty = any
  bool free = false;
  std::vector<PriceOption> accepts;  // non-empty unless free; first is the preferred one
  SettleTiming settle = SettleTiming::After;
  SettleMode settle_mode = SettleMode::Confirmed;
  std::string description;
  std::string mime_type;
  uint32_t max_timeout_seconds = 60;
  PaymentIdentifierMode payment_identifier = PaymentIdentifierMode::Optional;

  // `pricing: policy`: the merchant's active Lua policy prices each request (docs/policies.md).
  // `accepts` still lists the assets and networks the policy may choose from.
  bool policy_priced = false;
  // What a policy-priced route charges when its policy fails (error, budget, no active policy):
  // these options (`policy_fallback: static` or a price), or nothing → 503 pricing_unavailable.
  // Never "free": a paid resource is not served for nothing because a script broke.
  std::optional<std::vector<PriceOption>> policy_fallback;

  // The rate-limit tier in front of this route (its own `rate_limit:` or the merchant's); empty:
  // not limited.
  std::string rate_limit;
};

// What "this period" means for req.payer.calls_this_period (UTC).
enum class UsagePeriod { Day, Month };

// The operator's bounds for a merchant's policy (`policy:` under the merchant). Unset fields keep
// the runtime defaults (kernel/policy/limits.hpp); uploads may ask for less, never more.
struct MerchantPolicyConfig {
  std::optional<uint64_t> max_instructions;
  std::optional<uint64_t> max_wall_ms;
  std::optional<uint64_t> max_memory_bytes;
  std::optional<std::string> max_amount;  // atomic units, decimal digits
  UsagePeriod period = UsagePeriod::Month;
};

enum class AdminRole { Admin, Merchant };

struct AdminApiKey {
  std::string sha256_hex;  // of the key; the key itself is never kept
  AdminRole role = AdminRole::Admin;
  std::string merchant;  // AdminRole::Merchant: the only merchant this key reaches
};

// The admin API (policy upload and management) on its own listener.
struct AdminApiConfig {
  std::string listen_address = "127.0.0.1";
  uint16_t listen_port = 8403;
  std::vector<AdminApiKey> api_keys;
};

// HMAC-SHA256 key signing time-pass and package credentials.
struct CredentialsConfig {
  std::string secret;  // resolved bytes, at least 32
};

// x402d serving the standard facilitator HTTP API (PROTOCOL.md §2: POST /verify, POST /settle,
// GET /supported) on its own listener, answered by one configured facilitator instance, so that
// other x402 servers can use this gateway (typically its self-hosted facilitator) as theirs.
struct FacilitatorApiConfig {
  std::string listen_address = "127.0.0.1";
  uint16_t listen_port = 4020;
  std::string facilitator;  // the name of an entry under facilitators:
};

// The books (docs/books.md): the platform's cut of each merchant's settled revenue.
struct BooksConfig {
  uint32_t platform_fee_bps = 0;  // basis points, 0..10000
};

// Idempotency-Key (admin API) and payment-identifier (paid routes): how long a key and the
// response kept for its replays are remembered, and the largest response body kept for replay.
struct IdempotencyConfig {
  std::chrono::hours retention{24};
  size_t max_stored_body_bytes = 1024 * 1024;
};

struct MerchantConfig {
  std::string id;  // URL prefix: routes live under /{id}/...
  http::Origin upstream;
  std::string upstream_url;                                  // as written
  std::chrono::milliseconds upstream_connect_timeout{2000};  // DNS + TCP + TLS to the upstream
  std::chrono::milliseconds upstream_timeout{30000};         // the whole upstream exchange
  std::string pay_to;                                        // 0x + 40 hex
  std::vector<RouteConfig> routes;                           // first match wins
  MerchantPolicyConfig policy;
  std::optional<uint32_t> platform_fee_bps;  // overrides books.platform_fee_bps for this merchant
};

struct Config {
  std::string source_path;  // the file this was loaded from
  ServerConfig server;
  StorageConfig storage;
  CacheConfig cache;
  PluginsConfig plugins;
  RoutingConfig routing;
  FailoverConfig failover;
  std::vector<FacilitatorConfig> facilitators;  // YAML order = failover priority
  std::vector<RateLimitTierConfig> rate_limits;
  NetworkTable networks;
  std::vector<std::unique_ptr<AssetConfig>> assets;  // unique_ptr: PriceOption points at them
  std::vector<MerchantConfig> merchants;
  std::optional<FacilitatorApiConfig> facilitator_api;  // absent: not served
  std::optional<AdminApiConfig> admin;                  // absent: not served
  std::optional<CredentialsConfig> credentials;         // required when a route is policy-priced
  IdempotencyConfig idempotency;
  BooksConfig books;

  // The merchant's override, else books.platform_fee_bps.
  uint32_t platform_fee_bps(const MerchantConfig& merchant) const {
    return merchant.platform_fee_bps.value_or(books.platform_fee_bps);
  }

  const MerchantConfig* find_merchant(std::string_view id) const;
  const AssetConfig* find_asset(std::string_view symbol, const Network& network) const;
};

// Parses and validates a YAML file completely. Errors name the file, the line and the key:
// "gateway.yaml:14: merchants[0].routes[2].price: '0.0000001' has more than 6 decimals (USDC)".
// The Error's `field` holds the key path and `message` the full "file:line: key: problem" text.
Result<std::shared_ptr<const Config>> load_config(const std::string& path);
// Same, from text (tests); `source_name` stands in for the file name in messages.
Result<std::shared_ptr<const Config>> load_config_from_string(const std::string& yaml,
                                                              const std::string& source_name);

}  // namespace x402
