#include "gateway/admin_api.hpp"

#include <openssl/crypto.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "config/api_key_hash.hpp"
#include "gateway/admin_books.hpp"
#include "gateway/blocking.hpp"
#include "gateway/idempotency.hpp"
#include "gateway/policy_service.hpp"
#include "gateway/responses.hpp"
#include "observability/log.hpp"
#include "policy/validation.hpp"

namespace x402 {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
namespace json = boost::json;

namespace {

http::OutgoingResponse fail(unsigned status, std::string code, std::string field,
                            std::string message) {
  return error_response(status, make_error(std::move(code), std::move(field), std::move(message)));
}

// The configured key matching the bearer token; nullptr when none does. Every configured key is
// compared (in constant time) so the answer's timing says nothing about which one nearly matched.
const AdminApiKey* authenticate(const AdminApiConfig& admin, std::string_view authorization) {
  constexpr std::string_view kBearer = "Bearer ";
  if (!authorization.starts_with(kBearer)) return nullptr;
  const std::string presented = api_key_sha256_hex(authorization.substr(kBearer.size()));
  const AdminApiKey* found = nullptr;
  for (const auto& key : admin.api_keys) {
    if (key.sha256_hex.size() == presented.size() &&
        CRYPTO_memcmp(key.sha256_hex.data(), presented.data(), presented.size()) == 0) {
      found = &key;
    }
  }
  return found;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t at = 1;
  while (at <= path.size()) {
    size_t end = path.find('/', at);
    if (end == std::string_view::npos) end = path.size();
    parts.push_back(path.substr(at, end - at));
    at = end + 1;
  }
  return parts;
}

std::optional<int64_t> parse_version(std::string_view text) {
  if (text.empty() || text.size() > 15) return std::nullopt;
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v > 0 ? std::optional<int64_t>(v) : std::nullopt;
}

json::object error_json(const Error& e) {
  json::object o{{"code", e.code}, {"message", e.message}};
  if (!e.field.empty()) o["field"] = e.field;
  return o;
}

json::object decision_json(const policy::PriceDecision& d) {
  json::object o{{"amount", d.amount}, {"mode", policy::to_string(d.mode)}};
  if (d.asset) o["asset"] = *d.asset;
  if (d.network) o["network"] = *d.network;
  if (d.mode == policy::BillingMode::kTimePass || d.mode == policy::BillingMode::kPackage) {
    o["duration_seconds"] = d.duration_seconds;
    o["scope"] = policy::to_string(d.scope);
  }
  if (d.mode == policy::BillingMode::kPackage) o["calls"] = d.calls;
  if (d.description) o["description"] = *d.description;
  return o;
}

json::object report_json(const policy::ValidationReport& report) {
  json::array samples;
  for (const auto& outcome : report.outcomes) {
    json::object s{
        {"name", outcome.name}, {"builtin", outcome.builtin}, {"ok", outcome.result.ok()}};
    if (outcome.result.ok()) {
      s["decision"] = decision_json(outcome.result.value());
    } else {
      s["error"] = error_json(outcome.result.error());
    }
    samples.push_back(std::move(s));
  }
  return {{"accepted", report.accepted()},
          {"failures", report.failures()},
          {"samples", std::move(samples)}};
}

// --- the upload body -----------------------------------------------------------------------

struct Upload {
  std::string source;
  json::object limits;
  std::vector<policy::SampleRequest> samples;
};

Result<uint64_t> whole(const json::value& v, const std::string& field) {
  if (v.is_uint64()) return v.get_uint64();
  if (v.is_int64() && v.get_int64() >= 0) return static_cast<uint64_t>(v.get_int64());
  return make_error("invalid_request", field, field + " must be a non-negative whole number");
}

Result<std::vector<std::pair<std::string, std::string>>> string_map(const json::value& v,
                                                                    const std::string& field) {
  if (!v.is_object()) return make_error("invalid_request", field, field + " must be an object");
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, value] : v.get_object()) {
    if (!value.is_string()) {
      return make_error("invalid_request", field + "." + std::string(k),
                        field + "." + std::string(k) + " must be a string");
    }
    out.emplace_back(std::string(k), std::string(value.get_string()));
  }
  return out;
}

Result<policy::SampleRequest> read_sample(const json::value& v, const std::string& field,
                                          const std::string& merchant, const std::string& route) {
  if (!v.is_object()) return make_error("invalid_request", field, field + " must be an object");
  const auto& o = v.get_object();
  policy::SampleRequest sample;
  sample.name = field;
  auto& r = sample.request;
  r.method = "GET";
  r.path = "/";
  r.merchant = merchant;
  r.route = route;
  r.now = std::chrono::duration_cast<std::chrono::seconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count();
  for (const auto& [key, value] : o) {
    const std::string f = field + "." + std::string(key);
    if (key == "name" || key == "method" || key == "path") {
      if (!value.is_string()) return make_error("invalid_request", f, f + " must be a string");
      std::string text(value.get_string());
      if (key == "name") sample.name = text;
      if (key == "method") r.method = text;
      if (key == "path") r.path = text;
    } else if (key == "query" || key == "headers") {
      auto map = string_map(value, f);
      if (!map) return map.error();
      (key == "query" ? r.query : r.headers) = std::move(*map);
    } else if (key == "body_size" || key == "now") {
      auto n = whole(value, f);
      if (!n) return n.error();
      if (key == "body_size") r.body_size = *n;
      if (key == "now") r.now = static_cast<int64_t>(*n);
    } else if (key == "payer") {
      if (!value.is_object()) return make_error("invalid_request", f, f + " must be an object");
      for (const auto& [pk, pv] : value.get_object()) {
        const std::string pf = f + "." + std::string(pk);
        if (pk == "address") {
          if (!pv.is_string()) return make_error("invalid_request", pf, pf + " must be a string");
          r.payer.address = std::string(pv.get_string());
          continue;
        }
        auto n = whole(pv, pf);
        if (!n) return n.error();
        if (pk == "calls_this_period") {
          r.payer.calls_this_period = *n;
        } else if (pk == "active_passes") {
          r.payer.active_passes = *n;
        } else if (pk == "package_balance") {
          r.payer.package_balance = *n;
        } else {
          return make_error("invalid_request", pf, "unknown field " + pf);
        }
      }
    } else {
      return make_error("invalid_request", f,
                        "unknown field " + f +
                            "; a sample has name, method, path, query, headers, body_size, now, "
                            "payer");
    }
  }
  return sample;
}

Result<Upload> read_upload(std::string_view body, const std::string& merchant,
                           const std::string& route) {
  json::error_code ec;
  json::value parsed = json::parse(body, ec);
  if (ec) return make_error("invalid_request", "body", "the body is not JSON: " + ec.message());
  if (!parsed.is_object()) return make_error("invalid_request", "body", "expected a JSON object");
  const auto& o = parsed.get_object();
  Upload upload;
  for (const auto& [key, value] : o) {
    if (key != "source" && key != "limits" && key != "samples") {
      return make_error("invalid_request", std::string(key),
                        "unknown field '" + std::string(key) + "'; use source, limits, samples");
    }
  }
  const auto* source = o.if_contains("source");
  if (!source || !source->is_string() || source->get_string().empty()) {
    return make_error("invalid_request", "source", "source (the Lua text) is required");
  }
  upload.source = std::string(source->get_string());
  if (const auto* limits = o.if_contains("limits")) {
    if (!limits->is_object()) {
      return make_error("invalid_request", "limits", "limits must be an object");
    }
    upload.limits = limits->get_object();
  }
  if (const auto* samples = o.if_contains("samples")) {
    if (!samples->is_array()) {
      return make_error("invalid_request", "samples", "samples must be an array");
    }
    if (samples->get_array().size() > 100) {
      return make_error("invalid_request", "samples", "at most 100 samples");
    }
    size_t i = 0;
    for (const auto& item : samples->get_array()) {
      auto sample = read_sample(item, "samples[" + std::to_string(i++) + "]", merchant, route);
      if (!sample) return sample.error();
      upload.samples.push_back(std::move(*sample));
    }
  }
  return upload;
}

// --- the handler ---------------------------------------------------------------------------

class AdminRequest {
 public:
  AdminRequest(http::IncomingRequest& request, std::shared_ptr<const Snapshot> snapshot,
               GatewayServices& services, std::function<Status()> refresh)
      : request_(request),
        snapshot_(std::move(snapshot)),
        services_(services),
        store_(services.store),
        refresh_(std::move(refresh)) {}

  asio::awaitable<http::OutgoingResponse> run() {
    const auto& admin = snapshot_->config->admin;
    if (!admin) co_return fail(404, "admin_disabled", "", "the admin API is not configured");
    const AdminApiKey* key = authenticate(*admin, request_[bhttp::field::authorization]);
    if (!key) {
      auto res = fail(401, "unauthorized", "authorization",
                      "send Authorization: Bearer <admin or merchant API key>");
      res.set(bhttp::field::www_authenticate, "Bearer");
      co_return res;
    }
    key_ = key;
    if (request_.method() == bhttp::verb::post &&
        request_.find("Idempotency-Key") != request_.end()) {
      co_return co_await idempotent();
    }
    co_return co_await route();
  }

 private:
  // A POST with Idempotency-Key runs once per (API key, Idempotency-Key); retries replay its
  // answer (docs/idempotency.md). A 5xx is not kept: nothing was stored, the client may retry.
  asio::awaitable<http::OutgoingResponse> idempotent() {
    auto parsed = parse_idempotency_key(request_["Idempotency-Key"]);
    if (!parsed) co_return error_response(400, parsed.error());
    IdempotentRequest idempotent{
        "admin-key:" + key_->sha256_hex, std::move(*parsed),
        request_fingerprint({request_.method_string(), request_.target(), request_.body()}),
        "Idempotency-Key"};
    co_return co_await run_idempotent(
        services_, *snapshot_->config, std::move(idempotent), [this] { return route(); },
        [](const http::OutgoingResponse& res) { return res.result_int() < 500; });
  }

  asio::awaitable<http::OutgoingResponse> route() {
    const AdminApiKey* key = key_;
    const std::string_view target = request_.target();
    const auto parts = split_path(target.substr(0, target.find('?')));
    // v1 / merchants / {id} / policies [ / validate | rollback | {v} [ / activate ] ]
    if (parts.size() < 4 || parts.size() > 6 || parts[0] != "v1" || parts[1] != "merchants" ||
        (parts[3] != "policies" && !is_books_resource(parts[3]))) {
      co_return fail(404, "not_found", "path",
                     "unknown endpoint; see docs/policies.md, \"Managing policies\"");
    }
    merchant_id_ = std::string(parts[2]);
    if (key->role == AdminRole::Merchant && key->merchant != merchant_id_) {
      co_return fail(403, "forbidden", "merchant_id",
                     "this key belongs to merchant '" + key->merchant + "'");
    }
    merchant_ = snapshot_->config->find_merchant(merchant_id_);
    if (!merchant_) {
      co_return fail(404, "unknown_merchant", "merchant_id",
                     "no merchant '" + merchant_id_ + "' in the config");
    }
    if (is_books_resource(parts[3])) {
      co_return co_await serve_books(request_, *snapshot_->config, *merchant_, services_);
    }
    for (const auto& route : merchant_->routes) {
      if (!route.policy_priced) continue;
      if (route_.empty()) route_ = route.path;
      for (const auto& [r, offer] : snapshot_->policy_offers) {
        if (r != &route) continue;
        for (const auto& a : offer.assets) offer_.assets.push_back(a);
        for (const auto& n : offer.networks) offer_.networks.push_back(n);
      }
    }
    if (route_.empty()) route_ = "/*";

    const auto method = request_.method();
    if (parts.size() == 4) {
      if (method == bhttp::verb::post) co_return co_await upload(true);
      if (method == bhttp::verb::get) co_return co_await list();
      co_return not_allowed("GET, POST");
    }
    if (parts.size() == 5 && parts[4] == "validate") {
      if (method != bhttp::verb::post) co_return not_allowed("POST");
      co_return co_await upload(false);
    }
    if (parts.size() == 5 && parts[4] == "rollback") {
      if (method != bhttp::verb::post) co_return not_allowed("POST");
      co_return co_await change([&] { return store_.rollback_policy(merchant_id_); });
    }
    const auto version = parse_version(parts[4]);
    if (!version) {
      co_return fail(404, "not_found", "version",
                     "'" + std::string(parts[4]) + "' is not a policy version (1, 2, ...)");
    }
    if (parts.size() == 5) {
      if (method != bhttp::verb::get) co_return not_allowed("GET");
      co_return co_await show(*version);
    }
    if (parts[5] != "activate") co_return fail(404, "not_found", "path", "unknown endpoint");
    if (method != bhttp::verb::post) co_return not_allowed("POST");
    co_return co_await change([&] { return store_.activate_policy(merchant_id_, *version); });
  }

  http::OutgoingResponse not_allowed(std::string_view allow) {
    auto res = fail(405, "method_not_allowed", "method", "use " + std::string(allow));
    res.set(bhttp::field::allow, allow);
    return res;
  }

  http::OutgoingResponse store_failed(const Error& e) {
    log::error("admin API store call failed", {{"merchant", merchant_id_}, {"error", e.message}});
    return fail(503, "store_unavailable", "", "the store is unavailable: " + e.message);
  }

  // POST .../policies (store = true) and .../policies/validate (store = false).
  asio::awaitable<http::OutgoingResponse> upload(bool store) {
    auto parsed = read_upload(request_.body(), merchant_id_, route_);
    if (!parsed) co_return error_response(400, parsed.error());
    auto limits = effective_limits(merchant_->policy, parsed->limits);
    if (!limits) co_return error_response(422, limits.error());
    policy::PolicySpec spec{merchant_id_, "upload", parsed->source, *limits};
    // Compiling and dry-running costs up to a few budgets' worth of CPU: not on a worker.
    auto validated = co_await run_blocking(services_.store_pool, [&] {
      return policy::validate_policy(spec, offer_, parsed->samples, route_);
    });
    if (!validated) {
      json::object body{{"error", validated.error().message},
                        {"code", validated.error().code},
                        {"accepted", false}};
      if (!validated.error().field.empty()) body["field"] = validated.error().field;
      co_return json_response(422, std::move(body));
    }
    json::object report = report_json(*validated);
    if (!validated->accepted()) {
      co_return json_response(
          422, {{"error", "the policy failed " + std::to_string(validated->failures()) +
                              " sample request(s); nothing was stored"},
                {"code", "policy_rejected"},
                {"accepted", false},
                {"report", std::move(report)}});
    }
    if (!store) co_return json_response(200, {{"accepted", true}, {"report", std::move(report)}});
    json::object requested = parsed->limits;
    auto added = co_await run_blocking(services_.store_pool, [&] {
      return store_.add_policy(merchant_id_, parsed->source, json::serialize(requested));
    });
    if (!added) co_return store_failed(added.error());
    log::info("policy uploaded", {{"merchant", merchant_id_}, {"policy_version", added->version}});
    co_return json_response(201, {{"merchant", merchant_id_},
                                  {"version", added->version},
                                  {"active", false},
                                  {"accepted", true},
                                  {"report", std::move(report)}});
  }

  asio::awaitable<http::OutgoingResponse> list() {
    auto listed = co_await run_blocking(services_.store_pool, [&] {
      return std::pair{store_.list_policies(merchant_id_), store_.policy_state(merchant_id_)};
    });
    if (!listed.first) co_return store_failed(listed.first.error());
    if (!listed.second) co_return store_failed(listed.second.error());
    json::array versions;
    for (const auto& p : *listed.first) {
      versions.push_back({{"version", p.version},
                          {"active", p.version == listed.second->active_version},
                          {"created_ms", p.created_ms},
                          {"source_bytes", p.source.size()}});
    }
    co_return json_response(200, {{"merchant", merchant_id_},
                                  {"active_version", listed.second->active_version},
                                  {"previous_version", listed.second->previous_version},
                                  {"versions", std::move(versions)}});
  }

  asio::awaitable<http::OutgoingResponse> show(int64_t version) {
    auto found = co_await run_blocking(services_.store_pool, [&] {
      return std::pair{store_.find_policy(merchant_id_, version),
                       store_.policy_state(merchant_id_)};
    });
    if (!found.first) co_return store_failed(found.first.error());
    if (!found.second) co_return store_failed(found.second.error());
    if (!*found.first) {
      co_return fail(
          404, "policy_not_found", "version",
          "merchant " + merchant_id_ + " has no policy version " + std::to_string(version));
    }
    const auto& p = **found.first;
    json::error_code ec;
    json::value limits = json::parse(p.limits_json, ec);
    co_return json_response(200, {{"merchant", merchant_id_},
                                  {"version", p.version},
                                  {"active", p.version == found.second->active_version},
                                  {"created_ms", p.created_ms},
                                  {"limits", ec ? json::value(json::object{}) : limits},
                                  {"source", p.source}});
  }

  // activate / rollback, then make it live here at once.
  template <typename Fn>
  asio::awaitable<http::OutgoingResponse> change(Fn fn) {
    auto changed = co_await run_blocking(services_.store_pool, [&] {
      auto state = fn();
      if (state) {
        if (auto loaded = refresh_(); !loaded) {
          log::error("activation stored but not loaded yet; the poll loop retries",
                     {{"merchant", merchant_id_}, {"error", loaded.error().message}});
        }
      }
      return state;
    });
    if (!changed) {
      const auto& e = changed.error();
      if (e.code == "policy_not_found") co_return error_response(404, e);
      if (e.code == "no_previous_policy") co_return error_response(409, e);
      co_return store_failed(e);
    }
    if (auto announced =
            co_await services_.cache.publish(std::string(kPolicyChangeChannel), merchant_id_);
        !announced) {
      log::warn("activation stored but not announced; other nodes pick it up at their next poll",
                {{"merchant", merchant_id_}, {"error", announced.error().message}});
    }
    log::info("policy activated", {{"merchant", merchant_id_},
                                   {"policy_version", changed->active_version},
                                   {"previous_version", changed->previous_version}});
    co_return json_response(200, {{"merchant", merchant_id_},
                                  {"active_version", changed->active_version},
                                  {"previous_version", changed->previous_version}});
  }

  http::IncomingRequest& request_;
  std::shared_ptr<const Snapshot> snapshot_;
  GatewayServices& services_;
  Store& store_;
  std::function<Status()> refresh_;
  const AdminApiKey* key_ = nullptr;
  std::string merchant_id_;
  const MerchantConfig* merchant_ = nullptr;
  std::string route_;
  policy::RouteOffer offer_;
};

}  // namespace

asio::awaitable<http::OutgoingResponse> serve_admin_api(http::IncomingRequest& request,
                                                        std::shared_ptr<const Snapshot> snapshot,
                                                        GatewayServices& services,
                                                        std::function<Status()> refresh_policies) {
  if (!snapshot) co_return fail(503, "not_ready", "", "the gateway is starting");
  AdminRequest admin(request, std::move(snapshot), services, std::move(refresh_policies));
  co_return co_await admin.run();
}

}  // namespace x402
