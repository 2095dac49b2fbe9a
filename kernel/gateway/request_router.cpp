#include "gateway/request_router.hpp"

#include "config/route_matcher.hpp"
#include "gateway/payment_flow.hpp"
#include "gateway/payment_identifier.hpp"
#include "gateway/policy_flow.hpp"
#include "gateway/proxy.hpp"
#include "gateway/rate_limit_stage.hpp"
#include "gateway/responses.hpp"

namespace x402 {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

namespace {

http::OutgoingResponse not_found(std::string message, std::string code) {
  return json_response(404, {{"error", std::move(message)}, {"code", std::move(code)}});
}

// Browsers ask before sending PAYMENT-SIGNATURE from another origin.
http::OutgoingResponse cors_preflight() {
  http::OutgoingResponse res{bhttp::status::no_content, 11};
  res.set(bhttp::field::access_control_allow_origin, "*");
  res.set(bhttp::field::access_control_allow_methods, "GET, POST, PUT, PATCH, DELETE, OPTIONS");
  res.set(bhttp::field::access_control_allow_headers,
          "Content-Type, Authorization, PAYMENT-SIGNATURE, X-PAYMENT, X-402-Credential");
  res.set(bhttp::field::access_control_max_age, "600");
  res.prepare_payload();
  return res;
}

asio::awaitable<http::OutgoingResponse> proxy_free(RequestContext& ctx) {
  auto outcome = co_await forward_to_upstream(*ctx.merchant, ctx.request, ctx.path_below_merchant,
                                              ctx.peer, ctx.request_id);
  if (auto* upstream = std::get_if<http::Response>(&outcome)) {
    ctx.log["upstream_status"] = upstream->result_int();
    co_return relay_response(std::move(*upstream), ctx.request.method() == bhttp::verb::head);
  }
  co_return upstream_failure_response(*ctx.merchant, std::get<http::TransportError>(outcome));
}

// The stages after the rate limit: a free route is proxied, a paid one priced and paid for. Not a
// coroutine itself (it only picks the one that serves the route), so it adds no frame to the hot
// paths; what the handlers capture must therefore outlive this call: ctx does, `plan` is copied.
asio::awaitable<http::OutgoingResponse> serve_route(RequestContext& ctx) {
  if (ctx.route->free) return proxy_free(ctx);
  if (ctx.route->policy_priced) {
    return with_payment_identifier(ctx, [&ctx] { return handle_policy_request(ctx); });
  }
  const RoutePlan* plan = ctx.snapshot->plan_for(*ctx.route);
  return with_payment_identifier(ctx, [&ctx, plan] { return handle_paid_request(ctx, *plan); });
}

}  // namespace

asio::awaitable<http::OutgoingResponse> route_request(RequestContext& ctx) {
  const std::string_view target = ctx.request.target();
  const auto query_at = target.find('?');
  const std::string_view path = target.substr(0, query_at);

  if (path.empty() || path.front() != '/') {
    co_return error_response(
        400, make_error("invalid_target", "target", "request target must be an absolute path"));
  }
  if (has_dot_segment(path)) {
    co_return error_response(
        400, make_error("invalid_path", "target", "'.' and '..' path segments are not allowed"));
  }

  // /{merchant_id}/rest-of-path
  const auto id_end = path.find('/', 1);
  const std::string_view merchant_id =
      path.substr(1, id_end == std::string_view::npos ? std::string_view::npos : id_end - 1);
  ctx.merchant = ctx.snapshot->config->find_merchant(merchant_id);
  if (!ctx.merchant) {
    co_return not_found(
        "no merchant '" + std::string(merchant_id) + "': paths start with /{merchant_id}/",
        "unknown_merchant");
  }
  const std::string_view below =
      id_end == std::string_view::npos ? std::string_view("/") : path.substr(id_end);
  ctx.path_below_merchant = std::string(below);
  if (query_at != std::string_view::npos) ctx.path_below_merchant += target.substr(query_at);
  ctx.log["merchant"] = ctx.merchant->id;

  if (ctx.request.method() == bhttp::verb::options &&
      !ctx.request[bhttp::field::access_control_request_method].empty()) {
    co_return cors_preflight();
  }

  ctx.route = match_route(*ctx.merchant, ctx.request.method_string(), below);
  if (!ctx.route) {
    co_return not_found("no route of merchant '" + ctx.merchant->id + "' matches " +
                            std::string(ctx.request.method_string()) + " " + std::string(below),
                        "no_route");
  }
  ctx.log["route"] = ctx.route->path;

  if (ctx.route->rate_limit.empty()) co_return co_await serve_route(ctx);
  co_return co_await with_rate_limit(ctx, [&ctx] { return serve_route(ctx); });
}

}  // namespace x402
