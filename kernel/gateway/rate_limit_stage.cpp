#include "gateway/rate_limit_stage.hpp"

#include "gateway/rate_limiter.hpp"
#include "gateway/responses.hpp"

namespace x402 {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

namespace {

uint64_t whole_seconds_up(uint64_t ms) {
  return (ms + 999) / 1000;
}

// A tier that counts requests in flight gets its slot back however the request ends.
class ReleaseOnExit {
 public:
  ReleaseOnExit(RateLimiter& limiter, const std::string& key, const std::string& scope)
      : limiter_(limiter), key_(key), scope_(scope) {}
  ~ReleaseOnExit() { limiter_.release(key_, scope_); }
  ReleaseOnExit(const ReleaseOnExit&) = delete;
  ReleaseOnExit& operator=(const ReleaseOnExit&) = delete;

 private:
  RateLimiter& limiter_;
  const std::string& key_;
  const std::string& scope_;
};

// The quota fields every answer of a limited route carries.
void add_rate_limit_fields(http::OutgoingResponse& response, const std::string& tier,
                           const RateLimitVerdict& verdict) {
  if (verdict.limit == 0) return;  // no decision (timed out): nothing true to say
  response.set("RateLimit-Policy", "\"" + tier + "\";q=" + std::to_string(verdict.limit));
  response.set("RateLimit", "\"" + tier + "\";r=" + std::to_string(verdict.remaining) +
                                ";t=" + std::to_string(whole_seconds_up(verdict.reset_ms)));
}

// The 429 for a refused request.
http::OutgoingResponse too_many_requests(const std::string& tier, const RateLimitVerdict& verdict) {
  // Retry-After has whole seconds; rounding up never invites a retry that is refused again.
  const uint64_t retry_after = std::max<uint64_t>(1, whole_seconds_up(verdict.retry_after_ms));
  auto res = json_response(
      429, {{"error", "too many requests: rate limit tier '" + tier + "' allows " +
                          std::to_string(verdict.limit) + " requests in a burst; retry in " +
                          std::to_string(retry_after) + " s"},
            {"code", "rate_limited"},
            {"tier", tier},
            {"retry_after_ms", verdict.retry_after_ms}});
  res.set(bhttp::field::retry_after, std::to_string(retry_after));
  add_rate_limit_fields(res, tier, verdict);
  add_cors_expose(res);
  return res;
}

}  // namespace

asio::awaitable<http::OutgoingResponse> with_rate_limit(RequestContext& ctx, Handler handler) {
  RateLimiter* limiter = ctx.snapshot->rate_limiter_for(*ctx.route);
  if (!limiter) co_return co_await handler();

  const std::string key = limiter->client_key(ctx.request, ctx.peer);
  const std::string& scope = ctx.merchant->id;
  const RateLimitVerdict verdict = co_await limiter->admit(key, scope);
  boost::json::object logged{{"tier", limiter->tier()}, {"allowed", verdict.allowed}};
  if (verdict.degraded) logged["degraded"] = true;
  ctx.log["rate_limit"] = std::move(logged);

  if (!verdict.allowed) co_return too_many_requests(limiter->tier(), verdict);
  ReleaseOnExit release(*limiter, key, scope);  // a refused request took nothing to give back
  http::OutgoingResponse response = co_await handler();
  add_rate_limit_fields(response, limiter->tier(), verdict);
  co_return response;
}

}  // namespace x402
