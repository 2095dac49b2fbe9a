#pragma once
// What a route charges, and the 402 that offers it to v1 and v2 clients at once (PROTOCOL.md §1,
// "Dual stack"). Field names follow @x402/core 2.x (PaymentRequirements, PaymentRequired) and
// x402 1.x (PaymentRequirementsSchema).
#include <boost/json.hpp>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "protocol/amount.hpp"
#include "protocol/network.hpp"

namespace x402 {

struct Requirement {
  std::string scheme = "exact";
  Network network;
  Amount amount;       // atomic units
  std::string asset;   // token contract address
  std::string pay_to;  // merchant address
  uint32_t max_timeout_seconds = 60;
  std::string extra_name, extra_version;  // the token's EIP-712 domain → extra:{name,version}
  // v1 only: v2 carries these once, in PaymentRequired.resource.
  std::string resource_url, description, mime_type;
};

struct ResourceInfo {
  std::string url;  // absolute URL of the paid resource
  std::string description, mime_type;
};

// {scheme, network (v1 name, CAIP-2 when the chain has none), maxAmountRequired, resource,
//  description, mimeType, payTo, maxTimeoutSeconds, asset, extra:{name,version}}.
// outputSchema is optional in both reference schemas and we have none to offer.
boost::json::object to_v1_json(const Requirement& r);

// {scheme, network (CAIP-2), amount, asset, payTo, maxTimeoutSeconds, extra:{name,version}}.
// This exact object is what a v2 client echoes back as `accepted`.
boost::json::object to_v2_json(const Requirement& r);

struct PaymentRequiredResponse {
  boost::json::object
      v2;  // {x402Version:2, error?, resource:{url, description?, mimeType?}, accepts, extensions?}
  std::string v2_header;        // PAYMENT-REQUIRED header value: base64 of v2
  boost::json::object v1_body;  // {x402Version:1, error?, accepts:[v1...]}
};

// `error` is omitted when empty, and so are `extensions` (v2 only). v1 requirements whose
// resource_url/description/mime_type are empty take them from `resource`.
PaymentRequiredResponse build_payment_required(std::string_view error, const ResourceInfo& resource,
                                               std::span<const Requirement> requirements,
                                               const boost::json::object& extensions = {});

}  // namespace x402
