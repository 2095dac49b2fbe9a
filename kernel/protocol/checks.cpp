#include "protocol/checks.hpp"

#include "protocol/hex.hpp"

namespace x402 {
namespace {

std::string where(const PaymentPayload& p, std::string_view key) {
  return (p.x402_version == 2 ? "accepted." : "") + std::string(key);
}

}  // namespace

Status check_payment(const PaymentPayload& payment, const Requirement& requirement,
                     uint64_t now_unix_seconds) {
  const Authorization& auth = payment.authorization;
  if (payment.scheme != requirement.scheme) {
    return make_error("scheme_mismatch", where(payment, "scheme"),
                      "payment uses scheme \"" + payment.scheme.substr(0, 100) +
                          "\" but the requirement is \"" + requirement.scheme + "\"");
  }
  // The requirement knows both spellings of its network, so no table lookup is needed.
  const Network& net = requirement.network;
  if (payment.network != net.caip2() && (net.name.empty() || payment.network != net.name)) {
    return make_error("network_mismatch", where(payment, "network"),
                      "payment is for network \"" + payment.network.substr(0, 100) +
                          "\" but the requirement is " + net.caip2() +
                          (net.name.empty() ? "" : " (" + net.name + ")"));
  }
  if (!same_hex(auth.to, requirement.pay_to)) {
    return make_error(
        "payto_mismatch", "payload.authorization.to",
        "authorization pays " + auth.to + " but the requirement's payTo is " + requirement.pay_to);
  }
  const bool exact = payment.x402_version == 2;
  if (exact ? auth.value != requirement.amount : auth.value < requirement.amount) {
    return make_error("amount_mismatch", "payload.authorization.value",
                      "authorization value " + auth.value.to_string() + " must be " +
                          (exact ? "exactly " : "at least ") + requirement.amount.to_string() +
                          " atomic units");
  }
  if (exact) {
    const boost::json::value* asset =
        payment.accepted ? payment.accepted->if_contains("asset") : nullptr;
    if (asset == nullptr || !asset->is_string() ||
        !same_hex(asset->get_string(), requirement.asset)) {
      return make_error("asset_mismatch", "accepted.asset",
                        "payment is in asset " +
                            (asset != nullptr && asset->is_string()
                                 ? std::string(asset->get_string().subview(0, 100))
                                 : std::string("(none)")) +
                            " but the requirement's asset is " + requirement.asset);
    }
  }
  if (auth.valid_after > now_unix_seconds) {
    return make_error("not_yet_valid", "payload.authorization.validAfter",
                      "authorization is valid only after " + std::to_string(auth.valid_after) +
                          " but it is now " + std::to_string(now_unix_seconds));
  }
  if (auth.valid_before < now_unix_seconds + kMinValiditySeconds) {
    return make_error("expired", "payload.authorization.validBefore",
                      "authorization is valid only before " + std::to_string(auth.valid_before) +
                          "; it must stay valid until at least " +
                          std::to_string(now_unix_seconds + kMinValiditySeconds) + " (now " +
                          std::to_string(now_unix_seconds) + " + " +
                          std::to_string(kMinValiditySeconds) + " s)");
  }
  return Ok{};
}

}  // namespace x402
