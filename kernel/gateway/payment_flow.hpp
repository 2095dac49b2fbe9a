#pragma once
// The paid path of the pipeline (DESIGN.md §2), from "no payment? → 402" to the settlement
// header: decode, match, local checks, replay claim, verify with failover, settle before or
// after the upstream, respond, record.
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "gateway/request_context.hpp"

namespace x402 {

// How one offered requirement is billed. A static route's defaults: per request, no policy.
struct BillingTerms {
  std::string mode = "per_request";  // per_request | time_pass | package
  std::string policy_version;        // the policy version that priced it; empty for static
  // time_pass / package: what the payment buys. Issued as a signed credential (response header
  // X-402-Credential) in the same store transaction that records the settled payment.
  struct Grant {
    std::string scope;  // route pattern or "*"
    int64_t duration_seconds = 0;
    int64_t calls = 0;  // package only
  };
  std::optional<Grant> grant;
};

// `terms[i]` bills plan.requirements[i]; empty = BillingTerms{} for every requirement.
boost::asio::awaitable<http::OutgoingResponse> handle_paid_request(
    RequestContext& ctx, const RoutePlan& plan, std::span<const BillingTerms> terms = {});

}  // namespace x402
