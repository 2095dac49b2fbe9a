#include "token_bucket.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <mutex>
#include <optional>
#include <string>

#include "gcra.hpp"
#include "gcra_script.hpp"
#include "local_limiter.hpp"
#include "token_bucket_config.hpp"

namespace x402::plugins::ratelimit_token_bucket {

namespace {

constexpr std::string_view kScriptsUnsupported = "cache_scripts_unsupported";

GcraParams fallback_params(const TokenBucketConfig& c) {
  GcraParams exact = gcra_params(c.requests, c.window_ms, c.burst);
  GcraParams p;
  p.interval_us = exact.interval_us * static_cast<int64_t>(c.fallback_nodes);
  p.burst = std::max<uint64_t>(1, c.burst / c.fallback_nodes);
  p.tolerance_us = p.interval_us * static_cast<int64_t>(p.burst);
  return p;
}

std::optional<int64_t> parse_integer(const std::optional<std::string>& text) {
  if (!text || text->empty()) return std::nullopt;
  int64_t n = 0;
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, n);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return n;
}

struct ScriptReply {
  bool allowed = false;
  int64_t remaining = 0;
  int64_t reset_us = 0;
  int64_t retry_after_us = 0;
};

// Strict: exactly the four non-negative integers kGcraScript returns.
std::optional<ScriptReply> parse_reply(const sdk::Host::EvalReply& reply) {
  if (reply.size() != 4) return std::nullopt;
  std::optional<int64_t> v[4];
  for (size_t i = 0; i < 4; ++i) {
    v[i] = parse_integer(reply[i]);
    if (!v[i] || *v[i] < 0) return std::nullopt;
  }
  if (*v[0] > 1) return std::nullopt;
  return ScriptReply{*v[0] == 1, *v[1], *v[2], *v[3]};
}

std::string describe(const sdk::Host::EvalReply& reply) {
  std::string out = "[";
  for (size_t i = 0; i < reply.size() && i < 8; ++i) {
    if (i) out += ", ";
    out += reply[i] ? "\"" + reply[i]->substr(0, 40) + "\"" : "nil";
  }
  if (reply.size() > 8) out += ", ...";
  return out + "]";
}

}  // namespace

struct TokenBucketTier::Core {
  sdk::Host host;
  TokenBucketConfig config;
  GcraParams params;
  std::string interval_arg;
  std::string tolerance_arg;
  std::shared_ptr<LocalLimiter> exact;
  std::shared_ptr<LocalLimiter> fallback;
  std::atomic<bool> scripts_unsupported{false};

  std::mutex mutex;  // guards the two below
  bool failing = false;
  uint64_t failed_at_ms = 0;

  sdk::RateLimitDecision decide_locally(LocalLimiter& limiter, const std::string& cell,
                                        bool degraded) const {
    int64_t now_us = static_cast<int64_t>(host.monotonic_ms()) * 1000;
    GcraStep step = limiter.check(cell, now_us);
    sdk::RateLimitDecision d = gcra_decision(step.allowed, step.remaining, step.reset_us,
                                             step.retry_after_us, limiter.params().burst);
    d.degraded = degraded;
    return d;
  }

  bool holding_off() {
    std::lock_guard lock(mutex);
    if (!failing) return false;
    uint64_t now = host.monotonic_ms();
    return now < failed_at_ms || now - failed_at_ms < kHoldOffMs;
  }

  void shared_cache_failed(const std::string& why) {
    bool newly = false;
    {
      std::lock_guard lock(mutex);
      newly = !failing;
      failing = true;
      failed_at_ms = host.monotonic_ms();
    }
    if (newly)
      host.warn("shared cache unreachable (" + why + "): deciding with a local limiter (" +
                std::to_string(std::max<uint64_t>(1, config.requests / config.fallback_nodes)) +
                " requests per " + std::to_string(config.window_ms) +
                " ms per node) until it answers");
  }

  void shared_cache_answered() {
    bool recovered = false;
    {
      std::lock_guard lock(mutex);
      recovered = failing;
      failing = false;
    }
    if (recovered) host.info("shared cache answering again; decisions are global again");
  }

  void no_scripts() {
    if (!scripts_unsupported.exchange(true))
      host.info("the cache has no script engine (single node): this node's limiter decides");
  }
};

TokenBucketTier::TokenBucketTier(const sdk::InstanceContext& context)
    : core_(std::make_shared<Core>()) {
  core_->host = context.host;
  core_->config = parse_config(context.config_json);
  const auto& c = core_->config;
  core_->params = gcra_params(c.requests, c.window_ms, c.burst);
  core_->interval_arg = std::to_string(core_->params.interval_us);
  core_->tolerance_arg = std::to_string(core_->params.tolerance_us);
  core_->exact = shared_local_limiter(context.instance_name, LocalRole::exact, core_->params);
  core_->fallback =
      shared_local_limiter(context.instance_name, LocalRole::fallback, fallback_params(c));
}

void TokenBucketTier::admit(std::string_view key, std::string_view scope,
                            std::function<void(const sdk::RateLimitDecision&)> done) {
  std::string cell = std::string(scope) + "|" + std::string(key);
  Core& core = *core_;
  if (!core.host.has_cache_eval() || core.scripts_unsupported.load()) {
    done(core.decide_locally(*core.exact, cell, false));
    return;
  }
  if (core.holding_off()) {
    done(core.decide_locally(*core.fallback, cell, true));
    return;
  }
  core.host.cache_eval(
      kGcraScript, {cell}, {core.interval_arg, core.tolerance_arg},
      [core = core_, cell, done = std::move(done)](std::optional<sdk::Host::EvalReply> reply,
                                                   std::string error) {
        if (!reply) {
          if (error.rfind(kScriptsUnsupported, 0) == 0) {
            core->no_scripts();
            done(core->decide_locally(*core->exact, cell, false));
            return;
          }
          core->shared_cache_failed(error.empty() ? "cache_eval failed without a reason" : error);
          done(core->decide_locally(*core->fallback, cell, true));
          return;
        }
        auto parsed = parse_reply(*reply);
        if (!parsed) {
          core->shared_cache_failed("malformed script reply " + describe(*reply));
          done(core->decide_locally(*core->fallback, cell, true));
          return;
        }
        core->shared_cache_answered();
        done(gcra_decision(parsed->allowed, static_cast<uint64_t>(parsed->remaining),
                           parsed->reset_us, parsed->retry_after_us, core->config.burst));
      });
}

}  // namespace x402::plugins::ratelimit_token_bucket
