#include "gateway/payment_flow.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "gateway/blocking.hpp"
#include "gateway/credential_token.hpp"
#include "gateway/offer.hpp"
#include "gateway/proxy.hpp"
#include "gateway/responses.hpp"
#include "observability/log.hpp"
#include "protocol/checks.hpp"
#include "protocol/hex.hpp"
#include "protocol/matching.hpp"
#include "protocol/payload.hpp"
#include "protocol/settlement.hpp"

namespace x402 {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using std::chrono::milliseconds;

namespace {

uint64_t now_unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t now_unix_ms() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string seconds_text(std::chrono::seconds s) {
  return std::to_string(s.count());
}

// Where the terms a time pass or package was sold on wait when its settlement came back unknown,
// keyed by payment id: the payer's retry (on any node, after any policy change) is issued the
// credential it paid for, not whatever the policy answers by then. A store queue namespace no
// plugin instance uses (instance names are facilitator names; '#' keeps it apart by convention).
constexpr const char* kLateTermsQueue = "#x402d/late-credential-terms";

std::string terms_json(const BillingTerms& terms) {
  boost::json::object o{{"mode", terms.mode}, {"policy_version", terms.policy_version}};
  if (terms.grant) {
    o["scope"] = terms.grant->scope;
    o["duration_seconds"] = terms.grant->duration_seconds;
    o["calls"] = terms.grant->calls;
  }
  return boost::json::serialize(o);
}

// nullopt for anything this process did not write (the row is ours, but a store is shared).
std::optional<BillingTerms> parse_terms_json(const std::string& text) {
  boost::system::error_code ec;
  auto value = boost::json::parse(text, ec);
  const auto* o = ec ? nullptr : value.if_object();
  if (!o) return std::nullopt;
  const auto* mode = o->if_contains("mode");
  const auto* version = o->if_contains("policy_version");
  const auto* scope = o->if_contains("scope");
  const auto* duration = o->if_contains("duration_seconds");
  const auto* calls = o->if_contains("calls");
  if (!mode || !mode->is_string() || !version || !version->is_string() || !scope ||
      !scope->is_string() || !duration || !duration->is_int64() || !calls || !calls->is_int64()) {
    return std::nullopt;
  }
  BillingTerms terms;
  terms.mode = std::string(mode->get_string());
  terms.policy_version = std::string(version->get_string());
  terms.grant = BillingTerms::Grant{std::string(scope->get_string()), duration->get_int64(),
                                    calls->get_int64()};
  return terms;
}

// The state of one paid request as it moves through the stages.
class PaidRequest {
 public:
  PaidRequest(RequestContext& ctx, const RoutePlan& plan, std::span<const BillingTerms> terms)
      : ctx_(ctx),
        plan_(plan),
        terms_(terms),
        store_(ctx.services.store),
        failover_(ctx.snapshot->config->failover) {}

  asio::awaitable<http::OutgoingResponse> run();

 private:
  // --- responses -------------------------------------------------------------------------
  http::OutgoingResponse offer(std::string_view error) {
    return offer_response(ctx_, error, plan_.requirements);
  }
  http::OutgoingResponse refuse(const Error& e) {
    ctx_.log["payment_error"] = e.code;
    return offer(e.code + ": " + (e.field.empty() ? "" : e.field + ": ") + e.message);
  }
  http::OutgoingResponse all_facilitators_failed(const std::vector<Attempt>& attempts);
  http::OutgoingResponse settlement_unresolved(const SettleResult& settled);
  // The answer when settle did not end in Settled.
  http::OutgoingResponse not_settled(const SettleResult& settled);
  http::OutgoingResponse with_settlement_header(http::OutgoingResponse res,
                                                const SettleResult& settled);

  // --- stages ----------------------------------------------------------------------------
  asio::awaitable<std::optional<http::OutgoingResponse>> claim();
  // The answer for an authorization that already has a row: reconciliation pending → retry
  // later; settled but never served → serve it now, once; otherwise → already used.
  asio::awaitable<std::optional<http::OutgoingResponse>> answer_existing(
      const PaymentRecord& existing);
  asio::awaitable<http::OutgoingResponse> serve_redeemed();
  http::OutgoingResponse replay_refused();
  UsageRecord usage_record(int upstream_status) const;
  asio::awaitable<void> release();
  asio::awaitable<SettleResult> settle(const VerifyResult& verified);
  void record_attempts(const std::vector<Attempt>& attempts);
  std::string facilitator_request() const;

  const BillingTerms& terms() const {
    static const BillingTerms kStatic;
    return chosen_ < terms_.size() ? terms_[chosen_] : kStatic;
  }
  // Records the settled payment (and the credential it bought); returns the credential token.
  std::optional<std::string> book(const UsageRecord& usage, const std::string& tx);
  // The credential `billing` grants the payer of `payment_id`, issued now; nullopt when it grants
  // none or credentials are not configured.
  std::optional<Credential> credential_for(const BillingTerms& billing,
                                           const std::string& payment_id) const;
  std::string token_for(const Credential& credential, const BillingTerms& billing) const;
  // The terms a late-settled payment was sold on: those recorded when its settlement became
  // unknown, else (the process died mid-settle) what this request's offer says now.
  Result<BillingTerms> late_terms(const std::string& payment_id) const;

  RequestContext& ctx_;
  const RoutePlan& plan_;
  std::span<const BillingTerms> terms_;
  Store& store_;
  const FailoverConfig& failover_;

  PaymentPayload payment_;
  size_t chosen_ = 0;
  boost::json::object chosen_json_;  // the requirement as sent to facilitators
  PaymentRecord record_;
  std::string replay_key_;
  std::optional<PaymentRecord> redeemed_;      // a reconciled payment served by this request
  std::optional<std::string> redeemed_token_;  // the credential that payment bought
};

asio::awaitable<http::OutgoingResponse> PaidRequest::run() {
  auto& req = ctx_.request;
  std::string_view v2_header = req["PAYMENT-SIGNATURE"];
  std::string_view v1_header = req["X-PAYMENT"];
  if (v2_header.empty() && v1_header.empty()) {
    co_return unpaid_offer_response(ctx_, plan_);
  }

  // 1. Decode strictly; malformed input is the client's bug: 400 naming the field.
  auto decoded =
      v2_header.empty() ? decode_payment(v1_header, false) : decode_payment(v2_header, true);
  if (!decoded) {
    ctx_.log["payment_error"] = decoded.error().code;
    co_return error_response(400, decoded.error());
  }
  payment_ = std::move(decoded.value());
  ctx_.log["x402_version"] = payment_.x402_version;
  ctx_.log["payer"] = payment_.authorization.from;

  // 2. Which of our offers does it answer?
  const auto& networks = ctx_.snapshot->config->networks;
  auto matched = payment_.x402_version == 2 ? match_v2(payment_, plan_.offered_v2)
                                            : match_v1(payment_, plan_.requirements, networks);
  if (!matched) co_return refuse(matched.error());
  chosen_ = matched.value();
  const Requirement& requirement = plan_.requirements[chosen_];

  // 3. Local checks before any network round trip.
  if (auto checked = check_payment(payment_, requirement, now_unix_seconds()); !checked) {
    co_return refuse(checked.error());
  }
  if (payment_.x402_version == 2) {
    chosen_json_ = plan_.offered_v2[chosen_];
  } else {
    Requirement with_resource = requirement;
    with_resource.resource_url = resource_url(ctx_);
    chosen_json_ = to_v1_json(with_resource);
  }

  // 4. Claim the authorization once, before anything is served.
  if (auto refused = co_await claim()) co_return std::move(*refused);
  if (redeemed_) co_return co_await serve_redeemed();

  // 5. Verify, failing over freely.
  PaymentKind kind{payment_.x402_version, requirement.scheme, requirement.network.caip2(),
                   requirement.network.name};
  auto verified = co_await ctx_.snapshot->chain->verify(kind, facilitator_request());
  record_attempts(verified.attempts);
  if (verified.kind == VerifyResult::Kind::AllFailed) {
    co_await release();
    co_return all_facilitators_failed(verified.attempts);
  }
  if (verified.kind == VerifyResult::Kind::Invalid) {
    co_await release();
    ctx_.log["payment_error"] = verified.invalid_reason;
    std::string why = "invalid_payment: " + verified.invalid_reason;
    if (!verified.invalid_message.empty()) why += ": " + verified.invalid_message;
    co_return offer(why);
  }
  record_.facilitator = ctx_.snapshot->chain->members()[verified.member].facilitator->name();

  const bool settle_first = ctx_.route->settle == SettleTiming::Before;
  std::optional<SettleResult> settled;
  if (settle_first) {
    settled = co_await settle(verified);
    if (settled->kind != SettleResult::Kind::Settled) co_return not_settled(*settled);
  }

  // 6. The merchant's upstream.
  auto outcome = co_await forward_to_upstream(*ctx_.merchant, ctx_.request,
                                              ctx_.path_below_merchant, ctx_.peer, ctx_.request_id);
  int upstream_status = 0;
  http::OutgoingResponse response;
  if (auto* upstream = std::get_if<http::Response>(&outcome)) {
    upstream_status = static_cast<int>(upstream->result_int());
    response = relay_response(std::move(*upstream), ctx_.request.method() == bhttp::verb::head);
  } else {
    response = upstream_failure_response(*ctx_.merchant, std::get<http::TransportError>(outcome));
  }
  ctx_.log["upstream_status"] = upstream_status;

  if (!settle_first) {
    // Settle only for a successful answer; a failed upstream call costs the payer nothing.
    if (upstream_status == 0 || upstream_status >= 400) {
      co_await release();
      co_return response;
    }
    settled = co_await settle(verified);
    if (settled->kind != SettleResult::Kind::Settled) co_return not_settled(*settled);
  }

  // 7. Books: SETTLED and the usage record in one transaction.
  const UsageRecord usage = usage_record(upstream_status);
  auto tx = settled->transaction;
  auto token = co_await run_blocking(ctx_.services.store_pool, [&] { return book(usage, tx); });
  ctx_.services.metrics.counter_add("x402_payments_settled_total", "merchant=" + ctx_.merchant->id);
  ctx_.log["transaction"] = tx;
  if (token) response.set("X-402-Credential", *token);
  co_return with_settlement_header(std::move(response), *settled);
}

std::optional<Credential> PaidRequest::credential_for(const BillingTerms& billing,
                                                      const std::string& payment_id) const {
  if (!billing.grant || !ctx_.snapshot->config->credentials) return std::nullopt;
  const int64_t now = now_unix_ms();
  Credential credential;
  credential.id = random_id();
  credential.merchant_id = ctx_.merchant->id;
  credential.payer = record_.key.payer;
  credential.scope = billing.grant->scope;
  credential.mode = billing.mode;
  credential.expires_ms = now + billing.grant->duration_seconds * 1000;
  credential.calls_total = credential.calls_remaining = billing.grant->calls;
  credential.payment_id = payment_id;
  credential.created_ms = now;
  return credential;
}

std::string PaidRequest::token_for(const Credential& credential,
                                   const BillingTerms& billing) const {
  CredentialClaims claims{1,
                          credential.id,
                          credential.merchant_id,
                          credential.payer,
                          credential.scope,
                          credential.mode,
                          credential.expires_ms / 1000,
                          billing.policy_version};
  return sign_credential(claims, ctx_.snapshot->config->credentials->secret);
}

std::optional<std::string> PaidRequest::book(const UsageRecord& usage, const std::string& tx) {
  const std::optional<Credential> credential = credential_for(terms(), record_.id);
  Status done = credential ? store_.complete_payment_with_credential(
                                 record_.id, record_.facilitator, tx, usage, *credential)
                           : store_.complete_payment(record_.id, record_.facilitator, tx, usage);
  if (!done) {
    // The money moved, so the payer is served either way; the record must not be lost. The
    // spool is on this node's disk and is applied when the store answers again.
    ctx_.services.metrics.counter_add("x402_store_errors_total", "op=complete_payment");
    auto spooled = ctx_.services.spool.append_completion(
        SpooledCompletion{record_.id, record_.facilitator, tx, usage, credential});
    if (!spooled) {
      log::error("settled payment could not be recorded or spooled",
                 {{"payment_id", record_.id},
                  {"transaction", tx},
                  {"error", done.error().message},
                  {"spool_error", spooled.error().message}});
      return std::nullopt;
    }
    log::warn("settled payment spooled: the store failed",
              {{"payment_id", record_.id}, {"error", done.error().message}});
  }
  if (credential) return token_for(*credential, terms());
  return std::nullopt;
}

UsageRecord PaidRequest::usage_record(int upstream_status) const {
  UsageRecord usage;
  usage.id = record_.id;  // one usage record per payment: a second one collides
  usage.payment_id = record_.id;
  usage.request_id = ctx_.request_id;
  usage.merchant_id = ctx_.merchant->id;
  usage.route = ctx_.route->path;
  usage.payer = record_.key.payer;
  usage.amount = record_.amount;
  usage.asset = record_.key.asset;
  usage.network = record_.network;
  usage.upstream_status = upstream_status;
  usage.created_ms = now_unix_ms();
  usage.billing_mode = terms().mode;
  usage.policy_version = terms().policy_version;
  return usage;
}

asio::awaitable<std::optional<http::OutgoingResponse>> PaidRequest::answer_existing(
    const PaymentRecord& existing) {
  if (existing.status == PaymentStatus::Unknown) {
    // A settle for this very authorization may have gone through: never ask for a new payment.
    auto res = json_response(503, {{"error",
                                    "the settlement of this payment is being "
                                    "reconciled; retry later with the same payment"},
                                   {"code", "settlement_unknown"},
                                   {"payment_id", existing.id}});
    res.set(bhttp::field::retry_after, seconds_text(failover_.retry_after));
    co_return res;
  }
  if (existing.status == PaymentStatus::Settled) {
    std::optional<std::string> token;
    auto redeemed = co_await run_blocking(ctx_.services.store_pool, [&]() -> Result<bool> {
      auto billing = late_terms(existing.id);
      if (!billing) return billing.error();
      auto usage = usage_record(0);
      usage.payment_id = usage.id = existing.id;
      usage.amount = existing.amount;
      usage.billing_mode = billing->mode;
      usage.policy_version = billing->policy_version;
      // Racing retries each build a credential; the store keeps only the winner's.
      const auto credential = credential_for(*billing, existing.id);
      auto done = store_.redeem_settled_payment(existing.id, usage, credential);
      if (done && *done && credential) token = token_for(*credential, *billing);
      return done;
    });
    if (!redeemed) {
      log::error("settled payment could not be redeemed",
                 {{"payment_id", existing.id}, {"error", redeemed.error().message}});
      auto res = json_response(503, {{"error", "payment store unavailable, try again later"},
                                     {"code", "store_unavailable"}});
      res.set(bhttp::field::retry_after, seconds_text(failover_.retry_after));
      co_return res;
    }
    if (*redeemed) {
      redeemed_ = existing;
      redeemed_token_ = std::move(token);
      co_return std::nullopt;
    }
  }
  co_return replay_refused();
}

Result<BillingTerms> PaidRequest::late_terms(const std::string& payment_id) const {
  auto recorded = store_.queue_list(kLateTermsQueue, payment_id, "", 1);
  if (!recorded) return recorded.error();
  if (!recorded->empty()) {
    if (auto terms = parse_terms_json(recorded->front().data)) return *terms;
    log::error("recorded credential terms are unreadable; using the current offer's",
               {{"payment_id", payment_id}});
  }
  return terms();
}

http::OutgoingResponse PaidRequest::replay_refused() {
  ctx_.services.metrics.counter_add("x402_payment_replays_total", "merchant=" + ctx_.merchant->id);
  return refuse(make_error("payment_already_used", "payload.authorization.nonce",
                           "this payment authorization was already used; sign a new payment"));
}

asio::awaitable<http::OutgoingResponse> PaidRequest::serve_redeemed() {
  // Paid and settled (the reconciler confirmed it) but never served: serve it now.
  ctx_.log["payment_id"] = redeemed_->id;
  ctx_.log["redeemed"] = true;
  auto outcome = co_await forward_to_upstream(*ctx_.merchant, ctx_.request,
                                              ctx_.path_below_merchant, ctx_.peer, ctx_.request_id);
  http::OutgoingResponse response =
      std::holds_alternative<http::Response>(outcome)
          ? relay_response(std::move(std::get<http::Response>(outcome)),
                           ctx_.request.method() == bhttp::verb::head)
          : upstream_failure_response(*ctx_.merchant, std::get<http::TransportError>(outcome));
  if (redeemed_token_) response.set("X-402-Credential", *redeemed_token_);
  SettleResult settled;
  settled.kind = SettleResult::Kind::Settled;
  settled.transaction = redeemed_->tx_hash;
  co_return with_settlement_header(std::move(response), settled);
}

std::string PaidRequest::facilitator_request() const {
  boost::json::object body{{"x402Version", payment_.x402_version},
                           {"paymentPayload", payment_.raw},
                           {"paymentRequirements", chosen_json_}};
  return boost::json::serialize(body);
}

asio::awaitable<std::optional<http::OutgoingResponse>> PaidRequest::claim() {
  const Requirement& requirement = plan_.requirements[chosen_];
  record_.id = random_id();
  record_.key = PaymentKey{requirement.network.chain_id, lowercase_hex(requirement.asset),
                           lowercase_hex(payment_.authorization.from),
                           lowercase_hex(payment_.authorization.nonce)};
  record_.request_id = ctx_.request_id;
  record_.merchant_id = ctx_.merchant->id;
  record_.route = ctx_.route->path;
  record_.x402_version = payment_.x402_version;
  record_.network = requirement.network.caip2();
  record_.pay_to = requirement.pay_to;
  record_.amount = payment_.authorization.value.to_string();
  record_.status = PaymentStatus::Pending;
  record_.payload_json = boost::json::serialize(payment_.raw);
  record_.requirements_json = boost::json::serialize(chosen_json_);
  record_.created_ms = record_.updated_ms = now_unix_ms();
  ctx_.log["payment_id"] = record_.id;

  // Fast path: the cache refuses a replay without touching the database. It is held until the
  // authorization expires, after which the token contract refuses it anyway.
  replay_key_ = "x402:replay:" + std::to_string(record_.key.chain_id) + ":" + record_.key.asset +
                ":" + record_.key.payer + ":" + record_.key.nonce;
  const auto now = now_unix_seconds();
  const auto valid_for =
      payment_.authorization.valid_before > now ? payment_.authorization.valid_before - now : 0;
  auto claimed = co_await ctx_.services.cache.claim(replay_key_, record_.id,
                                                    std::chrono::seconds(valid_for + 60));
  if (!claimed) {
    // Replay protection fails closed: better no sale than a payment served twice.
    replay_key_.clear();
    auto res = json_response(503, {{"error", "replay protection unavailable, try again later"},
                                   {"code", "replay_guard_unavailable"}});
    res.set(bhttp::field::retry_after, seconds_text(failover_.retry_after));
    co_return res;
  }
  if (!claimed.value()) {
    replay_key_.clear();  // not ours to release
    // Someone holds it. The row says whether that is a replay or a retry we owe an answer.
    auto existing = co_await run_blocking(ctx_.services.store_pool,
                                          [&] { return store_.find_payment_by_key(record_.key); });
    if (existing && existing->has_value()) co_return co_await answer_existing(**existing);
    co_return replay_refused();
  }

  // The database's UNIQUE key is the truth, across restarts and (later) across nodes.
  auto stored = co_await run_blocking(ctx_.services.store_pool,
                                      [&] { return store_.claim_payment(record_); });
  if (!stored) {
    co_await ctx_.services.cache.erase(replay_key_);
    replay_key_.clear();
    log::error("payment claim failed", {{"error", stored.error().message}});
    auto res = json_response(503, {{"error", "payment store unavailable, try again later"},
                                   {"code", "store_unavailable"}});
    res.set(bhttp::field::retry_after, seconds_text(failover_.retry_after));
    co_return res;
  }
  if (stored->outcome == ClaimOutcome::AlreadyClaimed) {
    replay_key_.clear();
    co_return co_await answer_existing(*stored->existing);
  }
  co_return std::nullopt;
}

asio::awaitable<void> PaidRequest::release() {
  auto released = co_await run_blocking(ctx_.services.store_pool,
                                        [&] { return store_.release_payment(record_.id); });
  if (!released) {
    log::error("payment claim could not be released",
               {{"payment_id", record_.id}, {"error", released.error().message}});
  }
  if (!replay_key_.empty()) co_await ctx_.services.cache.erase(replay_key_);
}

asio::awaitable<SettleResult> PaidRequest::settle(const VerifyResult& verified) {
  // From here on the outcome may become unknown, so the row says so before the call leaves.
  auto marked = co_await run_blocking(ctx_.services.store_pool, [&] {
    return store_.update_payment(record_.id, PaymentStatus::Settling, record_.facilitator, "", "");
  });
  if (!marked) {
    SettleResult not_started;
    not_started.kind = SettleResult::Kind::Unreachable;
    not_started.attempts.push_back(
        {"store", "settle", "not_sent", "payment store unavailable: " + marked.error().message});
    co_await release();
    co_return not_started;
  }
  SettleCallOptions options;
  options.wait = ctx_.route->settle_mode == SettleMode::Broadcast ? X402_SETTLE_BROADCAST
                                                                  : X402_SETTLE_CONFIRMED;
  options.payment_id = record_.id;
  auto settled =
      co_await ctx_.snapshot->chain->settle(verified, facilitator_request(), std::move(options));
  record_attempts(settled.attempts);
  auto facilitator = ctx_.snapshot->chain->members()[settled.member].facilitator->name();
  record_.facilitator = facilitator;

  switch (settled.kind) {
    case SettleResult::Kind::Settled:
      break;  // recorded together with the usage record
    case SettleResult::Kind::Unreachable:
      co_await release();
      break;
    case SettleResult::Kind::Failed:
    case SettleResult::Kind::Unknown: {
      auto status = settled.kind == SettleResult::Kind::Failed ? PaymentStatus::Failed
                                                               : PaymentStatus::Unknown;
      auto updated = co_await run_blocking(ctx_.services.store_pool, [&] {
        return store_.update_payment(record_.id, status, facilitator, settled.transaction,
                                     settled.error_reason);
      });
      if (!updated) {
        log::error("payment status could not be recorded",
                   {{"payment_id", record_.id}, {"error", updated.error().message}});
      }
      if (settled.kind == SettleResult::Kind::Unknown && terms().grant) {
        // Only on this rare path: a payment that settles normally gets its credential now.
        QueueJob job;
        job.id = record_.id;
        job.state = "awaiting_retry";
        job.data = terms_json(terms());
        auto kept = co_await run_blocking(ctx_.services.store_pool,
                                          [&] { return store_.queue_put(kLateTermsQueue, job); });
        if (!kept) {
          // The retry falls back to the offer's terms at that time.
          log::error("credential terms of an unknown settlement could not be recorded",
                     {{"payment_id", record_.id}, {"error", kept.error().message}});
        }
      }
      break;
    }
  }
  co_return settled;
}

void PaidRequest::record_attempts(const std::vector<Attempt>& attempts) {
  for (const auto& a : attempts) {
    ctx_.attempts.push_back(a.to_json());
    ctx_.services.metrics.counter_add(
        "x402_facilitator_attempts_total",
        "facilitator=" + a.facilitator + ",operation=" + a.operation + ",outcome=" + a.outcome);
  }
}

http::OutgoingResponse PaidRequest::all_facilitators_failed(const std::vector<Attempt>& attempts) {
  boost::json::array details;
  for (const auto& a : attempts) {
    boost::json::object d{{"facilitator", a.facilitator}, {"error", a.error}};
    d["outcome"] = a.outcome;
    if (a.http_status) d["http_status"] = a.http_status;
    details.push_back(std::move(d));
  }
  auto res = json_response(503, {{"error", "All payment facilitators are currently unavailable"},
                                 {"code", "facilitators_unavailable"},
                                 {"details", std::move(details)},
                                 {"timestamp", log::now_iso8601()}});
  res.set(bhttp::field::retry_after, seconds_text(failover_.retry_after));
  ctx_.log["payment_error"] = "facilitators_unavailable";
  return res;
}

http::OutgoingResponse PaidRequest::not_settled(const SettleResult& settled) {
  switch (settled.kind) {
    case SettleResult::Kind::Unreachable:
      return all_facilitators_failed(settled.attempts);
    case SettleResult::Kind::Failed:
      return offer("settlement_failed: " + settled.error_reason +
                   (settled.error_message.empty() ? "" : ": " + settled.error_message));
    default:
      return settlement_unresolved(settled);
  }
}

http::OutgoingResponse PaidRequest::settlement_unresolved(const SettleResult& settled) {
  // Hazard 2: the settle may have succeeded on chain. A 402 here would make the client pay
  // twice, so the answer says "not known yet" and the reconciler finishes the job.
  boost::json::object body{
      {"error", settled.pending
                    ? "settlement was broadcast and is awaiting confirmation; retry later with "
                      "the same payment"
                    : "settlement outcome is unknown and is being reconciled; retry later with "
                      "the same payment"},
      {"code", settled.pending ? "settlement_pending" : "settlement_unknown"},
      {"payment_id", record_.id}};
  if (!settled.transaction.empty()) body["transaction"] = settled.transaction;
  auto res = json_response(settled.pending ? 202 : 503, std::move(body));
  res.set(bhttp::field::retry_after, seconds_text(failover_.retry_after));
  ctx_.log["payment_error"] = settled.pending ? "settlement_pending" : "settlement_unknown";
  return res;
}

http::OutgoingResponse PaidRequest::with_settlement_header(http::OutgoingResponse res,
                                                           const SettleResult& settled) {
  SettlementResponse s;
  s.success = true;
  s.transaction = settled.transaction;
  s.network = payment_.network;
  s.payer = settled.payer.empty() ? payment_.authorization.from : settled.payer;
  auto header = encode_settlement_header(s);
  res.set(payment_.x402_version == 2 ? "PAYMENT-RESPONSE" : "X-PAYMENT-RESPONSE", header);
  // Paid content must not land in a shared cache (PROTOCOL.md §5 hazard 5).
  res.set(bhttp::field::cache_control, "private");
  add_cors_expose(res);
  return res;
}

}  // namespace

asio::awaitable<http::OutgoingResponse> handle_paid_request(RequestContext& ctx,
                                                            const RoutePlan& plan,
                                                            std::span<const BillingTerms> terms) {
  PaidRequest paid(ctx, plan, terms);
  co_return co_await paid.run();
}

}  // namespace x402
