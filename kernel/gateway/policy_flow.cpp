#include "gateway/policy_flow.hpp"

#include <strings.h>

#include <boost/url/parse.hpp>
#include <ctime>

#include "gateway/blocking.hpp"
#include "gateway/credential_token.hpp"
#include "gateway/offer.hpp"
#include "gateway/payment_flow.hpp"
#include "gateway/policy_service.hpp"
#include "gateway/proxy.hpp"
#include "gateway/responses.hpp"
#include "observability/log.hpp"
#include "protocol/payload.hpp"

namespace x402 {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Start of the current usage period (UTC day or month), in unix milliseconds.
int64_t period_start_ms(UsagePeriod period, int64_t now) {
  std::time_t seconds = static_cast<std::time_t>(now / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  utc.tm_hour = utc.tm_min = utc.tm_sec = 0;
  if (period == UsagePeriod::Month) utc.tm_mday = 1;
  return static_cast<int64_t>(timegm(&utc)) * 1000;
}

// `Authorization: X402-Credential <token>` or `X-402-Credential: <token>`.
std::optional<std::string_view> presented_credential(const http::IncomingRequest& request) {
  constexpr std::string_view kScheme = "X402-Credential ";
  std::string_view auth = request[bhttp::field::authorization];
  if (auth.size() > kScheme.size() &&
      strncasecmp(auth.data(), kScheme.data(), kScheme.size()) == 0) {
    return auth.substr(kScheme.size());
  }
  std::string_view header = request["X-402-Credential"];
  if (!header.empty()) return header;
  return std::nullopt;
}

// Headers the policy does not see: the payer's payment and credentials are not pricing inputs.
bool hidden_from_policy(std::string_view name) {
  for (std::string_view hidden :
       {"authorization", "payment-signature", "x-payment", "x-402-credential", "cookie"}) {
    if (name.size() == hidden.size() &&
        strncasecmp(name.data(), hidden.data(), hidden.size()) == 0) {
      return true;
    }
  }
  return false;
}

class PolicyPricedRequest {
 public:
  explicit PolicyPricedRequest(RequestContext& ctx)
      : ctx_(ctx),
        merchant_(*ctx.merchant),
        route_(*ctx.route),
        config_(*ctx.snapshot->config),
        metrics_(ctx.services.metrics) {}

  asio::awaitable<http::OutgoingResponse> run() {
    if (auto token = presented_credential(ctx_.request)) {
      if (auto answered = co_await use_credential(*token)) co_return std::move(*answered);
    }
    co_return co_await price_and_charge();
  }

 private:
  // --- credentials -----------------------------------------------------------------------
  asio::awaitable<std::optional<http::OutgoingResponse>> use_credential(std::string_view token) {
    const int64_t now = now_ms();
    auto claims = config_.credentials
                      ? verify_credential(token, config_.credentials->secret, now / 1000)
                      : Result<CredentialClaims>(make_error("credential_forged", "credential",
                                                            "credentials are not configured"));
    if (!claims) {
      ctx_.log["credential_error"] = claims.error().code;
      metrics_.counter_add("x402_credentials_refused_total",
                           "merchant=" + merchant_.id + ",reason=" + claims.error().code);
      // Expired: the holder may simply buy again, so the answer is the offer.
      if (claims.error().code == "credential_expired") {
        refusal_ = claims.error().code + ": " + claims.error().message;
        co_return std::nullopt;
      }
      co_return error_response(401, claims.error());
    }
    if (!credential_covers(*claims, merchant_.id, route_.path)) {
      metrics_.counter_add("x402_credentials_refused_total",
                           "merchant=" + merchant_.id + ",reason=credential_scope");
      co_return error_response(
          401, make_error("credential_scope", "credential",
                          "this credential is for merchant '" + claims->merchant + "', scope '" +
                              claims->scope + "'; it does not cover " + route_.path + " of '" +
                              merchant_.id + "'"));
    }
    ctx_.log["credential_id"] = claims->id;
    ctx_.log["billing_mode"] = claims->mode;

    UsageRecord usage;
    usage.id = random_id();
    usage.request_id = ctx_.request_id;
    usage.merchant_id = merchant_.id;
    usage.route = route_.path;
    usage.payer = claims->payer;
    usage.amount = "0";  // paid when the credential was bought
    usage.billing_mode = claims->mode;
    usage.policy_version = claims->pv;
    usage.created_ms = now;

    Store& store = ctx_.services.store;
    if (claims->mode == "package") {
      auto taken = co_await run_blocking(ctx_.services.store_pool, [&] {
        return store.consume_package_call(claims->id, now, usage);
      });
      if (!taken) co_return store_unavailable(taken.error());
      if (!*taken) {
        ctx_.log["credential_error"] = "credential_exhausted";
        refusal_ = "credential_exhausted: this package has no calls left; buy another";
        co_return std::nullopt;
      }
      auto [response, status] = co_await proxy();
      if (status == 0 || status >= 400) {
        // Like a per-request payment, a failed upstream call costs the payer nothing.
        auto refunded = co_await run_blocking(ctx_.services.store_pool, [&] {
          return store.refund_package_call(claims->id, usage.id);
        });
        if (!refunded) {
          log::error("package call could not be refunded",
                     {{"credential_id", claims->id}, {"error", refunded.error().message}});
        }
      }
      co_return std::move(response);
    }

    auto [response, status] = co_await proxy();
    usage.upstream_status = status;
    co_await record_served(usage);
    co_return std::move(response);
  }

  // --- pricing ---------------------------------------------------------------------------
  asio::awaitable<http::OutgoingResponse> price_and_charge() {
    active_ = ctx_.services.policies.active(merchant_.id);
    if (!active_) {
      co_return co_await fallback(
          make_error("policy_not_active", "policy",
                     "merchant '" + merchant_.id + "' has no active pricing policy"));
    }
    ctx_.log["policy_version"] = active_->version;
    policy::PolicyRequest view = request_view();
    const auto& offer = ctx_.snapshot->policy_offers.at(&route_);

    // The payer's history only when the payment names a payer and the policy reads it: a
    // store round trip per request is not free.
    const std::optional<std::string> payer = payer_of_payment();
    std::optional<PayerUsage> history;
    if (payer && active_->reads_payer) {
      const int64_t now = now_ms();
      const int64_t since = period_start_ms(merchant_.policy.period, now);
      auto found = co_await run_blocking(ctx_.services.store_pool, [&] {
        return ctx_.services.store.payer_usage(merchant_.id, *payer, since, now);
      });
      if (!found) {
        co_return co_await fallback(
            make_error("policy_usage_unavailable", "payer",
                       "payer history unavailable: " + found.error().message));
      }
      history = *found;
    }

    if (active_->reads_merchant_stats) {
      const int64_t now = now_ms();
      const int64_t since = period_start_ms(merchant_.policy.period, now);
      auto stats = co_await run_blocking(ctx_.services.store_pool, [&] {
        return ctx_.services.store.merchant_usage(merchant_.id, since, now);
      });
      if (!stats) {
        co_return co_await fallback(
            make_error("policy_usage_unavailable", "merchant_stats",
                       "merchant usage unavailable: " + stats.error().message));
      }
      view.merchant_stats = {stats->calls_this_period, stats->calls_last_minute};
    }

    // The anonymous price is what the 402 offered; a payer's own price (volume tiers) is offered
    // first when it differs, so either payment is accepted.
    std::vector<policy::PriceDecision> decisions;
    auto anonymous = evaluate(view, offer);
    if (!anonymous) co_return co_await fallback(anonymous.error());
    decisions.push_back(std::move(*anonymous));
    if (history) {
      view.payer = {*payer, history->calls_this_period, history->active_passes,
                    history->package_balance};
      auto personal = evaluate(view, offer);
      if (!personal) co_return co_await fallback(personal.error());
      if (!(*personal == decisions.front())) {
        // v1 matching takes the first offer on the payment's network, so the offer the payment
        // actually pays goes first.
        if (personal->amount == paid_value_ || decisions.front().amount != paid_value_) {
          decisions.insert(decisions.begin(), *personal);
        } else {
          decisions.push_back(*personal);
        }
      }
    }
    metrics_.counter_add("x402_policy_evaluations_total",
                         "merchant=" + merchant_.id + ",outcome=ok");

    if (decisions.front().mode == policy::BillingMode::kFree) co_return co_await serve_free();

    for (const auto& decision : decisions) {
      if (decision.mode == policy::BillingMode::kFree) continue;
      auto added = add_offer(decision);
      if (!added) co_return co_await fallback(added.error());
    }
    ctx_.log["billing_mode"] = terms_.front().mode;
    if (!refusal_.empty() && ctx_.request["PAYMENT-SIGNATURE"].empty() &&
        ctx_.request["X-PAYMENT"].empty()) {
      co_return offer_response(ctx_, refusal_, plan_.requirements);
    }
    co_return co_await handle_paid_request(ctx_, plan_, terms_);
  }

  Result<policy::PriceDecision> evaluate(const policy::PolicyRequest& view,
                                         const policy::RouteOffer& offer) {
    PolicyBreaker& breaker = ctx_.services.policies.breaker();
    const auto now = PolicyBreaker::Clock::now();
    if (!breaker.allow(merchant_.id, active_->spec.version, now)) {
      return make_error("policy_suspended", "policy",
                        "the policy kept exceeding its budget; it is not run for " +
                            std::to_string(breaker.cooldown().count()) + " ms");
    }
    // Fetched here, after every co_await: the runtime belongs to the worker running this line.
    auto decision = ctx_.services.policies.runtime().price(active_->spec, view, offer);
    breaker.record(merchant_.id, active_->spec.version,
                   !decision && PolicyBreaker::is_budget_error(decision.error().code),
                   PolicyBreaker::Clock::now());
    return decision;
  }

  policy::PolicyRequest request_view() const {
    policy::PolicyRequest view;
    view.method = std::string(ctx_.request.method_string());
    const std::string& below = ctx_.path_below_merchant;
    const auto query_at = below.find('?');
    view.path = below.substr(0, query_at);
    if (query_at != std::string::npos) {
      auto parsed = boost::urls::parse_origin_form(below);
      if (parsed) {
        for (auto param : parsed->params()) {
          bool seen = false;
          for (const auto& [k, v] : view.query) seen = seen || k == param.key;
          if (!seen) view.query.emplace_back(param.key, param.value);
        }
      }
    }
    for (const auto& field : ctx_.request) {
      if (hidden_from_policy(field.name_string())) continue;
      view.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    view.body_size = ctx_.request.body().size();
    view.merchant = merchant_.id;
    view.route = route_.path;
    view.now = now_ms() / 1000;
    return view;
  }

  std::optional<std::string> payer_of_payment() {
    std::string_view v2 = ctx_.request["PAYMENT-SIGNATURE"];
    std::string_view v1 = ctx_.request["X-PAYMENT"];
    if (v2.empty() && v1.empty()) return std::nullopt;
    auto decoded = v2.empty() ? decode_payment(v1, false) : decode_payment(v2, true);
    if (!decoded) return std::nullopt;  // the paid path answers the malformed payment
    paid_value_ = decoded->authorization.value.to_string();
    return lower(decoded->authorization.from);
  }

  Status add_offer(const policy::PriceDecision& decision) {
    const PriceOption* chosen = nullptr;
    for (const auto& option : route_.accepts) {
      const bool asset_ok = !decision.asset || *decision.asset == option.asset->symbol;
      const bool network_ok = !decision.network ||
                              *decision.network == option.asset->network.v1_name() ||
                              *decision.network == option.asset->network.caip2();
      if (asset_ok && network_ok) {
        chosen = &option;
        break;
      }
    }
    if (!chosen) {
      return make_error("policy_invalid_result", "asset",
                        "no accepted asset of the route matches the policy's asset/network");
    }
    auto amount = Amount::parse_atomic(decision.amount);
    if (!amount) return make_error("policy_invalid_result", "amount", amount.error().message);
    Requirement r = requirement_for(merchant_, route_, *chosen);
    r.amount = std::move(amount).value();
    if (decision.description) r.description = *decision.description;
    plan_.offered_v2.push_back(to_v2_json(r));
    plan_.requirements.push_back(std::move(r));

    BillingTerms terms;
    terms.mode = std::string(policy::to_string(decision.mode));
    terms.policy_version = std::to_string(active_->version);
    if (decision.mode == policy::BillingMode::kTimePass ||
        decision.mode == policy::BillingMode::kPackage) {
      // The policy reader filled in the package's default lifetime when it named none.
      terms.grant = BillingTerms::Grant{
          decision.scope == policy::PassScope::kMerchant ? "*" : route_.path,
          static_cast<int64_t>(decision.duration_seconds), static_cast<int64_t>(decision.calls)};
    }
    terms_.push_back(std::move(terms));
    return Ok{};
  }

  // --- answers ---------------------------------------------------------------------------
  asio::awaitable<http::OutgoingResponse> fallback(const Error& error) {
    const std::string version = active_ ? std::to_string(active_->version) : "";
    metrics_.counter_add("x402_policy_evaluations_total",
                         "merchant=" + merchant_.id + ",outcome=error");
    metrics_.counter_add("x402_policy_failures_total",
                         "merchant=" + merchant_.id + ",code=" + error.code);
    log::error("pricing policy failed; answering with the route's fallback",
               {{"merchant", merchant_.id},
                {"policy_version", version},
                {"route", route_.path},
                {"code", error.code},
                {"error", error.message},
                {"fallback", route_.policy_fallback ? "static" : "503"},
                {"request_id", ctx_.request_id}});
    ctx_.log["policy_error"] = error.code;
    const RoutePlan* plan = ctx_.snapshot->plan_for(route_);
    if (!plan) {
      auto res =
          json_response(503, {{"error", "pricing is unavailable for this route; retry later"},
                              {"code", "pricing_unavailable"}});
      res.set(bhttp::field::retry_after, std::to_string(config_.failover.retry_after.count()));
      co_return res;
    }
    BillingTerms terms;
    terms.policy_version = "fallback";
    terms_.assign(plan->requirements.size(), terms);
    co_return co_await handle_paid_request(ctx_, *plan, terms_);
  }

  asio::awaitable<http::OutgoingResponse> serve_free() {
    ctx_.log["billing_mode"] = "free";
    auto [response, status] = co_await proxy();
    UsageRecord usage;
    usage.id = random_id();
    usage.request_id = ctx_.request_id;
    usage.merchant_id = merchant_.id;
    usage.route = route_.path;
    usage.amount = "0";
    usage.billing_mode = "free";
    usage.policy_version = std::to_string(active_->version);
    usage.upstream_status = status;
    usage.created_ms = now_ms();
    co_await record_served(usage);
    co_return std::move(response);
  }

  // The usage record of a call already served. When the store fails it goes to the spool, which
  // is applied once the store answers again: a served call is never missing from the books.
  asio::awaitable<void> record_served(const UsageRecord& usage) {
    auto recorded = co_await run_blocking(ctx_.services.store_pool, [&]() -> Status {
      if (auto stored = ctx_.services.store.record_usage(usage); stored) return stored;
      ctx_.services.metrics.counter_add("x402_store_errors_total", "op=record_usage");
      return ctx_.services.spool.append_usage(usage);
    });
    if (!recorded) {
      log::error("usage record lost: neither the store nor the spool took it",
                 {{"request_id", ctx_.request_id}, {"error", recorded.error().message}});
    }
  }

  asio::awaitable<std::pair<http::OutgoingResponse, int>> proxy() {
    auto outcome = co_await forward_to_upstream(merchant_, ctx_.request, ctx_.path_below_merchant,
                                                ctx_.peer, ctx_.request_id);
    if (auto* upstream = std::get_if<http::Response>(&outcome)) {
      const int status = static_cast<int>(upstream->result_int());
      ctx_.log["upstream_status"] = status;
      auto response =
          relay_response(std::move(*upstream), ctx_.request.method() == bhttp::verb::head);
      response.set(bhttp::field::cache_control, "private");
      add_cors_expose(response);
      co_return std::pair{std::move(response), status};
    }
    co_return std::pair{
        upstream_failure_response(merchant_, std::get<http::TransportError>(outcome)), 0};
  }

  http::OutgoingResponse store_unavailable(const Error& error) {
    log::error("credential check failed", {{"error", error.message}});
    auto res = json_response(503, {{"error", "payment store unavailable, try again later"},
                                   {"code", "store_unavailable"}});
    res.set(bhttp::field::retry_after, std::to_string(config_.failover.retry_after.count()));
    return res;
  }

  RequestContext& ctx_;
  const MerchantConfig& merchant_;
  const RouteConfig& route_;
  const Config& config_;
  Metrics& metrics_;
  std::shared_ptr<const ActivePolicy> active_;
  std::string paid_value_;  // the attached payment's value, atomic units
  std::string refusal_;     // why a presented credential did not cover the request
  RoutePlan plan_;
  std::vector<BillingTerms> terms_;
};

}  // namespace

asio::awaitable<http::OutgoingResponse> handle_policy_request(RequestContext& ctx) {
  PolicyPricedRequest request(ctx);
  co_return co_await request.run();
}

}  // namespace x402
