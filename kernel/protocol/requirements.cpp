#include "protocol/requirements.hpp"

#include "protocol/base64.hpp"

namespace x402 {
namespace {

boost::json::object extra_json(const Requirement& r) {
  boost::json::object extra;
  if (!r.extra_name.empty()) extra["name"] = r.extra_name;
  if (!r.extra_version.empty()) extra["version"] = r.extra_version;
  return extra;
}

}  // namespace

boost::json::object to_v1_json(const Requirement& r) {
  // description and mimeType are required strings in x402 1.x, so they stay even when empty.
  return boost::json::object{
      {"scheme", r.scheme},
      {"network", r.network.v1_name()},
      {"maxAmountRequired", r.amount.to_string()},
      {"resource", r.resource_url},
      {"description", r.description},
      {"mimeType", r.mime_type},
      {"payTo", r.pay_to},
      {"maxTimeoutSeconds", r.max_timeout_seconds},
      {"asset", r.asset},
      {"extra", extra_json(r)},
  };
}

boost::json::object to_v2_json(const Requirement& r) {
  return boost::json::object{
      {"scheme", r.scheme},
      {"network", r.network.caip2()},
      {"amount", r.amount.to_string()},
      {"asset", r.asset},
      {"payTo", r.pay_to},
      {"maxTimeoutSeconds", r.max_timeout_seconds},
      {"extra", extra_json(r)},
  };
}

PaymentRequiredResponse build_payment_required(std::string_view error, const ResourceInfo& resource,
                                               std::span<const Requirement> requirements,
                                               const boost::json::object& extensions) {
  boost::json::array accepts_v2;
  boost::json::array accepts_v1;
  for (const Requirement& r : requirements) {
    accepts_v2.push_back(to_v2_json(r));
    Requirement v1 = r;
    if (v1.resource_url.empty()) v1.resource_url = resource.url;
    if (v1.description.empty()) v1.description = resource.description;
    if (v1.mime_type.empty()) v1.mime_type = resource.mime_type;
    accepts_v1.push_back(to_v1_json(v1));
  }

  boost::json::object resource_json{{"url", resource.url}};
  if (!resource.description.empty()) resource_json["description"] = resource.description;
  if (!resource.mime_type.empty()) resource_json["mimeType"] = resource.mime_type;

  PaymentRequiredResponse out;
  out.v2["x402Version"] = 2;
  if (!error.empty()) out.v2["error"] = error;
  out.v2["resource"] = std::move(resource_json);
  out.v2["accepts"] = std::move(accepts_v2);
  if (!extensions.empty()) out.v2["extensions"] = extensions;
  out.v2_header = base64::encode(boost::json::serialize(out.v2));

  out.v1_body["x402Version"] = 1;
  if (!error.empty()) out.v1_body["error"] = error;
  out.v1_body["accepts"] = std::move(accepts_v1);
  return out;
}

}  // namespace x402
