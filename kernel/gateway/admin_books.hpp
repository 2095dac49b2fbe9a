#pragma once
// The books on the admin API (docs/books.md): read-only JSON reports of one merchant —
//   GET /v1/merchants/{id}/revenue?period=day|week|month&from=YYYY-MM-DD&to=YYYY-MM-DD
//   GET /v1/merchants/{id}/payments?status=&from=&to=&limit=&cursor=
//   GET /v1/merchants/{id}/payments/{payment_id}
//   GET /v1/merchants/{id}/usage?from=&to=&limit=&cursor=
// admin_api.cpp authenticates the key and checks it reaches the merchant before routing here.
#include <boost/asio/awaitable.hpp>
#include <string_view>

#include "config/config.hpp"
#include "gateway/request_context.hpp"

namespace x402 {

// True for the path segment after /v1/merchants/{id}/ that this file serves.
bool is_books_resource(std::string_view resource);

boost::asio::awaitable<http::OutgoingResponse> serve_books(http::IncomingRequest& request,
                                                           const Config& config,
                                                           const MerchantConfig& merchant,
                                                           GatewayServices& services);

}  // namespace x402
