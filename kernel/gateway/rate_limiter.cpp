#include "gateway/rate_limiter.hpp"

#include <boost/asio/this_coro.hpp>
#include <optional>
#include <string_view>
#include <vector>

#include "gateway/plugin_call.hpp"
#include "observability/log.hpp"

namespace x402 {

namespace asio = boost::asio;

namespace {

// A client key longer than this (a header can be kilobytes) is cut and tagged with a hash of the
// whole value, so cache keys stay small and distinct values stay distinct.
constexpr size_t kMaxKeyBytes = 128;

// FNV-1a: stable across processes and nodes, unlike std::hash, so every node maps a long key to
// the same shared counter.
uint64_t fnv1a(std::string_view text) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

std::string bounded_key(std::string key) {
  if (key.size() <= kMaxKeyBytes) return key;
  static constexpr char kHex[] = "0123456789abcdef";
  const uint64_t hash = fnv1a(key);
  key.resize(kMaxKeyBytes - 17);
  key += '#';
  for (int shift = 60; shift >= 0; shift -= 4) key += kHex[(hash >> shift) & 0xf];
  return key;
}

// The address `hops` entries from the right of X-Forwarded-For, over all its field lines: each
// proxy appends the address it saw, so the entries a client wrote itself are further left and the
// N-th from the right is what the N-th proxy in front of x402d saw. nullopt when there are fewer.
std::optional<std::string> forwarded_address(const http::IncomingRequest& request, unsigned hops) {
  std::vector<std::string_view> entries;
  auto [first, last] = request.equal_range("X-Forwarded-For");
  for (auto it = first; it != last; ++it) {
    std::string_view rest = it->value();
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      std::string_view entry = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      while (!entry.empty() && (entry.front() == ' ' || entry.front() == '\t')) {
        entry.remove_prefix(1);
      }
      while (!entry.empty() && (entry.back() == ' ' || entry.back() == '\t')) {
        entry.remove_suffix(1);
      }
      entries.push_back(entry);
    }
  }
  if (entries.size() < hops || entries[entries.size() - hops].empty()) return std::nullopt;
  return std::string(entries[entries.size() - hops]);
}

void on_decision(void* user, const x402_ratelimit_decision* d) {
  RateLimitVerdict verdict;
  verdict.allowed = d->allowed != 0;
  verdict.limit = d->limit;
  verdict.remaining = d->remaining;
  verdict.reset_ms = d->reset_ms;
  verdict.retry_after_ms = d->retry_after_ms;
  verdict.degraded = d->degraded != 0;
  PluginCall<RateLimitVerdict>::complete(user, verdict);
}

}  // namespace

RateLimiter::RateLimiter(std::unique_ptr<plugin_host::RateLimitInstance> instance,
                         const RateLimitTierConfig& config, Metrics& metrics)
    : instance_(std::move(instance)),
      tier_(config.name),
      key_(config.key),
      timeout_(config.timeout),
      metrics_(metrics),
      labels_("tier=" + config.name),
      allowed_labels_(labels_ + ",result=allowed"),
      limited_labels_(labels_ + ",result=limited") {
  metrics_.gauge_set("x402_ratelimit_degraded", labels_, 0);  // the series exists from the start
}

std::string RateLimiter::client_key(const http::IncomingRequest& request,
                                    const http::PeerInfo& peer) const {
  switch (key_.source) {
    case RateLimitKey::Source::ClientIp:
      break;
    case RateLimitKey::Source::Header:
      if (auto value = request[key_.header]; !value.empty()) {
        return bounded_key("h:" + std::string(value));
      }
      break;
    case RateLimitKey::Source::ForwardedFor:
      if (auto address = forwarded_address(request, key_.hops)) {
        return bounded_key("ip:" + std::move(*address));
      }
      break;
  }
  return "ip:" + peer.remote_address;
}

asio::awaitable<RateLimitVerdict> RateLimiter::admit(std::string key, std::string scope) {
  auto call = PluginCall<RateLimitVerdict>::create(co_await asio::this_coro::executor,
                                                   shared_from_this(), timeout_);
  // The plugin reads key and scope during the call only; the frame keeps them alive until then.
  instance_->vtable().admit(instance_->get(), {key.data(), key.size()},
                            {scope.data(), scope.size()}, on_decision, call->user());
  std::optional<RateLimitVerdict> decided = co_await call->wait();
  RateLimitVerdict verdict;
  if (decided) {
    verdict = *decided;
  } else {
    verdict.degraded = true;
    verdict.timed_out = true;
  }
  record(verdict);
  co_return verdict;
}

void RateLimiter::release(const std::string& key, const std::string& scope) {
  if (instance_->vtable().release) {
    instance_->vtable().release(instance_->get(), {key.data(), key.size()},
                                {scope.data(), scope.size()});
  }
}

void RateLimiter::record(const RateLimitVerdict& verdict) {
  metrics_.counter_add("x402_ratelimit_decisions_total",
                       verdict.allowed ? allowed_labels_ : limited_labels_);
  if (verdict.degraded) metrics_.counter_add("x402_ratelimit_degraded_decisions_total", labels_);
  // The gauge reads 1 while the tier decides without its shared state; the log says when that
  // starts and ends (once per transition, not per request).
  if (degraded_.exchange(verdict.degraded) == verdict.degraded) return;
  metrics_.gauge_set("x402_ratelimit_degraded", labels_, verdict.degraded ? 1 : 0);
  if (verdict.degraded) {
    log::warn(verdict.timed_out
                  ? "rate limit tier gave no decision in time; requests are admitted until it does"
                  : "rate limit tier cannot reach its shared state; a local limiter decides",
              {{"tier", tier_}, {"timeout_ms", timeout_.count()}});
  } else {
    log::info("rate limit tier decides with its shared state again", {{"tier", tier_}});
  }
}

}  // namespace x402
