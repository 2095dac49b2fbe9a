#include "http_facilitator.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace x402::plugins::facilitator_http {
namespace {

// PayAI tokens live 120 s; renewing after 100 s leaves room for clock skew and slow requests.
constexpr uint64_t kPayaiTokenReuseSeconds = 100;
// Without a Retry-After header, back off like this before retrying a 429 (doubling, capped).
constexpr uint32_t kDefault429BackoffMs = 250;

}  // namespace

HttpFacilitator::HttpFacilitator(sdk::InstanceContext context)
    : HttpFacilitator(context.host, parse_config(context.config_json,
                                                 [](const char* n) { return std::getenv(n); })) {}

HttpFacilitator::HttpFacilitator(sdk::Host host, HttpFacilitatorConfig config)
    : host_(std::move(host)), config_(std::move(config)) {
  if (config_.api_key_secret.empty()) return;
  try {
    key_ = config_.preset == Preset::cdp ? JwtSigningKey::from_cdp_secret(config_.api_key_secret)
                                         : JwtSigningKey::from_payai_secret(config_.api_key_secret);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("config.api_key_secret: ") + e.what());
  }
}

void HttpFacilitator::supported(sdk::FacilitatorDone done) {
  {
    std::lock_guard lock(mutex_);
    if (supported_expires_ms_ != 0 && host_.monotonic_ms() < supported_expires_ms_) {
      done(sdk::FacilitatorResult::answered(200, supported_body_));
      return;
    }
  }
  // Concurrent callers during a refresh each fetch: rare, harmless, and keeps this lock-simple.
  auto remember = [this, done = std::move(done)](const sdk::FacilitatorResult& r) {
    if (r.outcome == X402_FAC_ANSWERED) {
      std::lock_guard lock(mutex_);
      supported_body_ = r.body;
      supported_expires_ms_ = host_.monotonic_ms() + uint64_t{config_.supported_ttl_seconds} * 1000;
    }
    done(r);
  };
  send(std::make_shared<Call>(Call{Endpoint::supported, "GET", "/supported", "", remember}));
}

void HttpFacilitator::verify(std::string_view request_json, sdk::FacilitatorDone done) {
  send(std::make_shared<Call>(
      Call{Endpoint::verify, "POST", "/verify", std::string(request_json), std::move(done)}));
}

void HttpFacilitator::settle(std::string_view request_json, sdk::FacilitatorDone done) {
  send(std::make_shared<Call>(
      Call{Endpoint::settle, "POST", "/settle", std::string(request_json), std::move(done)}));
}

void HttpFacilitator::health(sdk::FacilitatorDone done) {
  std::string path = config_.preset == Preset::x402_rs ? "/health" : "/supported";
  send(std::make_shared<Call>(Call{Endpoint::health, "GET", path, "", std::move(done)}));
}

std::string HttpFacilitator::authorization(std::string_view method, std::string_view url) {
  if (!key_) return {};
  uint64_t now_s = host_.now_unix_ms() / 1000;
  if (config_.preset == Preset::cdp)  // CDP binds each token to one request: never reuse
    return "Bearer " + make_cdp_jwt(*key_, config_.api_key_id, method, url, now_s);
  std::lock_guard lock(mutex_);
  if (payai_token_.empty() || now_s >= payai_token_expires_s_) {
    payai_token_ = make_payai_jwt(*key_, config_.api_key_id, now_s);
    payai_token_expires_s_ = now_s + kPayaiTokenReuseSeconds;
  }
  return "Bearer " + payai_token_;
}

void HttpFacilitator::send(std::shared_ptr<Call> call) {
  sdk::HttpRequest request;
  request.method = call->method;
  request.url = config_.url + call->path;
  request.timeout_ms = config_.timeout_ms;
  request.body = call->body;
  request.headers.push_back({"Accept", "application/json"});
  if (call->method == "POST") request.headers.push_back({"Content-Type", "application/json"});
  try {
    if (auto auth = authorization(request.method, request.url); !auth.empty())
      request.headers.push_back({"Authorization", std::move(auth)});
  } catch (const std::exception& e) {
    call->done(
        sdk::FacilitatorResult::not_sent(std::string("cannot sign auth token: ") + e.what()));
    return;
  }
  host_.http(request, [this, call](const sdk::HttpResponse& r) { on_response(call, r); });
}

void HttpFacilitator::on_response(std::shared_ptr<Call> call, const sdk::HttpResponse& response) {
  auto result = classify_response(call->endpoint, response, call->body, config_.timeout_ms,
                                  host_.now_unix_ms());
  bool rate_limited = response.outcome == X402_TRANSPORT_OK && response.status == 429;
  if (!rate_limited) {
    call->done(result);
    return;
  }
  // Honour Retry-After: wait inline only when the facilitator asks for no more than our cap;
  // a longer wait goes back to the host as retry_after_ms instead of stalling the payment.
  bool has_retry_after = response.header("Retry-After").has_value();
  uint32_t wait = has_retry_after ? result.retry_after_ms
                                  : std::min(config_.max_retry_after_ms,
                                             kDefault429BackoffMs << std::min(call->attempt, 8u));
  if (call->attempt >= config_.max_429_retries || wait > config_.max_retry_after_ms) {
    result.error = "HTTP 429 rate limited after " + std::to_string(call->attempt + 1) +
                   (call->attempt == 0 ? " attempt" : " attempts");
    result.retry_after_ms = wait;
    call->done(result);
    return;
  }
  ++call->attempt;
  host_.start_timer(wait, [this, call] { send(call); });
}

}  // namespace x402::plugins::facilitator_http
