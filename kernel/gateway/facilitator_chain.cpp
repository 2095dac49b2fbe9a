#include "gateway/facilitator_chain.hpp"

#include <algorithm>

namespace x402 {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

int64_t elapsed_ms(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

std::string json_string(const boost::json::value& body, std::string_view key) {
  const auto* obj = body.if_object();
  if (!obj) return {};
  const auto* v = obj->if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

bool json_true(const boost::json::value& body, std::string_view key) {
  const auto* obj = body.if_object();
  if (!obj) return false;
  const auto* v = obj->if_contains(key);
  return v && v->is_bool() && v->get_bool();
}

bool has_bool(const boost::json::value& body, std::string_view key) {
  const auto* obj = body.if_object();
  return obj && obj->if_contains(key) && obj->at(key).is_bool();
}

std::string failure_outcome(const FacilitatorAnswer& a) {
  if (a.timed_out) return "timeout";
  if (a.outcome == X402_FAC_NOT_SENT) return "not_sent";
  return "unavailable";
}

bool kind_covers(const SupportedKind& s, const PaymentKind& k) {
  return s.x402_version == k.x402_version && s.scheme == k.scheme &&
         (s.network == k.network_caip2 ||
          (!k.network_v1_name.empty() && s.network == k.network_v1_name));
}

}  // namespace

boost::json::object Attempt::to_json() const {
  boost::json::object o{{"facilitator", facilitator},
                        {"operation", operation},
                        {"outcome", outcome},
                        {"latency_ms", latency_ms}};
  if (!error.empty()) o["error"] = error;
  if (http_status != 0) o["http_status"] = http_status;
  return o;
}

std::shared_ptr<CircuitBreaker> BreakerBoard::get(const std::string& name, unsigned threshold,
                                                  std::chrono::milliseconds open_for) {
  std::lock_guard lock(mu_);
  for (auto& [n, b] : breakers_) {
    if (n == name) {
      b->configure(threshold, open_for);
      return b;
    }
  }
  auto breaker = std::make_shared<CircuitBreaker>(threshold, open_for);
  breakers_.emplace_back(name, breaker);
  return breaker;
}

std::vector<size_t> FacilitatorChain::order_for(const PaymentKind& kind) const {
  std::vector<x402_routing_candidate> candidates;
  candidates.reserve(members_.size());
  for (const auto& m : members_) {
    x402_routing_candidate c{};
    c.name = {m.facilitator->name().data(), m.facilitator->name().size()};
    c.priority = m.facilitator->priority();
    c.healthy = m.breaker->is_open() ? 0 : 1;
    if (auto kinds = m.facilitator->supported_kinds()) {
      c.supported_known = 1;
      c.supports = std::any_of(kinds->begin(), kinds->end(),
                               [&](const SupportedKind& s) { return kind_covers(s, kind); })
                       ? 1
                       : 0;
    }
    candidates.push_back(c);
  }

  std::vector<size_t> order;
  if (routing_.vtable) {
    x402_payment_kind pk{static_cast<uint32_t>(kind.x402_version),
                         {kind.scheme.data(), kind.scheme.size()},
                         {kind.network_caip2.data(), kind.network_caip2.size()}};
    std::vector<uint32_t> out(candidates.size());
    size_t n = routing_.vtable->order(routing_.instance, &pk, candidates.data(), candidates.size(),
                                      out.data());
    n = std::min(n, candidates.size());
    for (size_t i = 0; i < n; ++i) {
      // A strategy's answer is input like any other: ignore out-of-range or repeated indexes.
      if (out[i] < candidates.size() &&
          std::find(order.begin(), order.end(), out[i]) == order.end())
        order.push_back(out[i]);
    }
  } else {
    for (size_t i = 0; i < members_.size(); ++i) order.push_back(i);
  }
  return order;
}

asio::awaitable<VerifyResult> FacilitatorChain::verify(const PaymentKind& kind,
                                                       std::string request_json) {
  VerifyResult result;
  result.order = order_for(kind);
  const auto deadline = Clock::now() + timing_.verify_deadline;

  for (size_t index : result.order) {
    const auto& member = members_[index];
    Attempt attempt{member.facilitator->name(), "verify", "", "", 0, 0};
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (remaining.count() <= 0) {
      attempt.outcome = "skipped";
      attempt.error =
          "verify deadline of " + std::to_string(timing_.verify_deadline.count()) + " ms exceeded";
      result.attempts.push_back(std::move(attempt));
      continue;
    }
    auto started = Clock::now();
    auto answer = co_await member.facilitator->verify(
        request_json, std::min(member.facilitator->attempt_timeout(), remaining));
    attempt.latency_ms = elapsed_ms(started);
    attempt.http_status = answer.http_status;

    if (answer.outcome == X402_FAC_ANSWERED && has_bool(answer.body, "isValid")) {
      member.breaker->record_success();
      result.member = index;
      if (json_true(answer.body, "isValid")) {
        attempt.outcome = "valid";
        result.kind = VerifyResult::Kind::Valid;
        result.payer = json_string(answer.body, "payer");
      } else {
        attempt.outcome = "invalid";
        result.kind = VerifyResult::Kind::Invalid;
        result.invalid_reason = json_string(answer.body, "invalidReason");
        result.invalid_message = json_string(answer.body, "invalidMessage");
        attempt.error = result.invalid_reason;
      }
      result.attempts.push_back(std::move(attempt));
      co_return result;
    }

    // No verdict: this facilitator is unavailable for now; try the next one.
    member.breaker->record_failure();
    attempt.outcome = failure_outcome(answer);
    attempt.error = answer.error.empty() ? "answer without a verdict" : answer.error;
    result.attempts.push_back(std::move(attempt));
  }
  result.kind = VerifyResult::Kind::AllFailed;
  co_return result;
}

asio::awaitable<SettleResult> FacilitatorChain::settle(const VerifyResult& verified,
                                                       std::string request_json,
                                                       SettleCallOptions options) {
  SettleResult result;
  // The verifying facilitator first, then the rest of the routing order.
  std::vector<size_t> order{verified.member};
  for (size_t i : verified.order) {
    if (i != verified.member) order.push_back(i);
  }

  for (size_t index : order) {
    const auto& member = members_[index];
    result.member = index;
    // settlement_pending is non-terminal: the same settle is asked once more before reconciling.
    for (int round = 0; round < 2; ++round) {
      Attempt attempt{member.facilitator->name(), "settle", "", "", 0, 0};
      auto started = Clock::now();
      auto answer =
          co_await member.facilitator->settle(request_json, timing_.settle_timeout, options);
      attempt.latency_ms = elapsed_ms(started);
      attempt.http_status = answer.http_status;

      if (answer.outcome == X402_FAC_NOT_SENT) {
        // Never left this process: the next facilitator may settle it instead.
        member.breaker->record_failure();
        attempt.outcome = "not_sent";
        attempt.error = answer.error;
        result.attempts.push_back(std::move(attempt));
        break;
      }
      if (answer.outcome == X402_FAC_ANSWERED && has_bool(answer.body, "success")) {
        member.breaker->record_success();
        // A refusal after settlement_pending carries no hash; keep the broadcast one.
        if (auto tx = json_string(answer.body, "transaction"); !tx.empty()) result.transaction = tx;
        result.network = json_string(answer.body, "network");
        result.payer = json_string(answer.body, "payer");
        if (json_true(answer.body, "success")) {
          attempt.outcome = "settled";
          result.kind = SettleResult::Kind::Settled;
        } else if (result.pending) {
          // Our first ask was broadcast. A refusal of the same settle now (typically "nonce
          // already used") may mean that broadcast went through: only reconciliation can tell,
          // so the outcome is UNKNOWN, never a failure the payer would answer by paying again.
          attempt.outcome = "failed";
          attempt.error = json_string(answer.body, "errorReason");
          result.kind = SettleResult::Kind::Unknown;
          result.error_reason = attempt.error;
          result.error_message = json_string(answer.body, "errorMessage");
        } else {
          attempt.outcome = "failed";
          result.kind = SettleResult::Kind::Failed;
          result.error_reason = json_string(answer.body, "errorReason");
          result.error_message = json_string(answer.body, "errorMessage");
          attempt.error = result.error_reason;
        }
        result.attempts.push_back(std::move(attempt));
        co_return result;
      }
      if (answer.outcome == X402_FAC_PENDING) {
        member.breaker->record_success();
        result.pending = true;
        auto tx = json_string(answer.body, "transaction");
        if (!tx.empty()) result.transaction = tx;
        result.network = json_string(answer.body, "network");
        attempt.outcome = "pending";
        attempt.error = "settlement_pending";
        result.attempts.push_back(std::move(attempt));
        continue;  // ask once more
      }
      // The request may have reached the facilitator: the outcome is unknown. Stop here.
      member.breaker->record_failure();
      attempt.outcome = failure_outcome(answer);
      attempt.error = answer.error;
      result.kind = SettleResult::Kind::Unknown;
      result.error_reason = attempt.outcome;
      result.error_message = attempt.error;
      result.attempts.push_back(std::move(attempt));
      co_return result;
    }
    if (result.pending) {
      result.kind = SettleResult::Kind::Unknown;
      result.error_reason = "settlement_pending";
      co_return result;
    }
  }
  // Every facilitator refused the connection: nothing left this process, nothing was charged.
  result.kind = SettleResult::Kind::Unreachable;
  result.error_reason = "facilitators_unreachable";
  result.error_message = "no facilitator could be reached to settle the payment";
  co_return result;
}

}  // namespace x402
