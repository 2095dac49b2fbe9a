#include "gateway/offer.hpp"

#include "gateway/payment_identifier.hpp"
#include "gateway/responses.hpp"

namespace x402 {

namespace bhttp = boost::beast::http;

namespace {

ResourceInfo resource_of(const RequestContext& ctx) {
  return ResourceInfo{resource_url(ctx), ctx.route->description, ctx.route->mime_type};
}

void count_offer(const RequestContext& ctx) {
  ctx.services.metrics.counter_add("x402_payment_required_total", "merchant=" + ctx.merchant->id);
}

}  // namespace

std::string resource_url(const RequestContext& ctx) {
  std::string url = ctx.snapshot->config->server.public_url;
  if (url.empty()) {
    const std::string_view host = ctx.request[bhttp::field::host];
    url = ctx.peer.tls ? "https://" : "http://";
    url += host.empty() ? std::string_view("localhost") : host;
  }
  url += ctx.request.target();
  return url;
}

http::OutgoingResponse offer_response(const RequestContext& ctx, std::string_view error,
                                      std::span<const Requirement> requirements) {
  count_offer(ctx);
  return payment_required(
      render_payment_required(error, resource_of(ctx), requirements,
                              payment_identifier_declaration(ctx.route->payment_identifier)));
}

http::OutgoingResponse unpaid_offer_response(const RequestContext& ctx, const RoutePlan& plan) {
  count_offer(ctx);
  const std::string url = resource_url(ctx);
  auto rendered = plan.unpaid_offers->find(url);
  if (!rendered) {
    rendered = std::make_shared<const RenderedOffer>(render_payment_required(
        kNoPaymentError, ResourceInfo{url, ctx.route->description, ctx.route->mime_type},
        plan.requirements, payment_identifier_declaration(ctx.route->payment_identifier)));
    plan.unpaid_offers->insert(url, rendered);
  }
  return payment_required(*rendered);
}

}  // namespace x402
