#include "protocol/matching.hpp"

#include <cmath>
#include <optional>

namespace x402 {
namespace {

namespace json = boost::json;

// JSON numbers as JavaScript sees them: a client may write 60 or 60.0 for maxTimeoutSeconds.
std::optional<double> as_number(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  if (v.is_double()) return v.get_double();
  return std::nullopt;
}

bool json_equal(const json::value& a, const json::value& b);

bool objects_equal(const json::object& a, const json::object& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [key, value] : a) {
    const json::value* other = b.if_contains(key);
    if (other == nullptr || !json_equal(value, *other)) return false;
  }
  return true;
}

bool json_equal(const json::value& a, const json::value& b) {
  if (a.is_number() && b.is_number() && (a.is_double() || b.is_double())) {
    return *as_number(a) == *as_number(b);
  }
  if (a.is_object() && b.is_object()) return objects_equal(a.get_object(), b.get_object());
  if (a.is_array() && b.is_array()) {
    const auto& x = a.get_array();
    const auto& y = b.get_array();
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i) {
      if (!json_equal(x[i], y[i])) return false;
    }
    return true;
  }
  return a == b;  // Boost compares int64 and uint64 by value
}

bool accepted_matches(const json::object& offered, const json::object& accepted) {
  for (const auto& [key, value] : offered) {
    if (key == "extra") continue;
    const json::value* got = accepted.if_contains(key);
    if (got == nullptr || !json_equal(value, *got)) return false;
  }
  for (const auto& [key, value] : accepted) {
    if (key != "extra" && !offered.contains(key)) return false;
  }
  const json::value* offered_extra = offered.if_contains("extra");
  if (offered_extra == nullptr) return true;
  const json::value* accepted_extra = accepted.if_contains("extra");
  if (accepted_extra == nullptr) return false;
  if (!offered_extra->is_object() || !accepted_extra->is_object()) {
    return json_equal(*offered_extra, *accepted_extra);
  }
  for (const auto& [key, value] : offered_extra->get_object()) {
    const json::value* got = accepted_extra->get_object().if_contains(key);
    if (got == nullptr || !json_equal(value, *got)) return false;
  }
  return true;
}

std::string describe_v2(const json::object& r) {
  auto str = [&](std::string_view key) -> std::string {
    const json::value* v = r.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->get_string()) : "?";
  };
  return "(" + str("scheme") + ", " + str("network") + ", amount " + str("amount") + " of " +
         str("asset") + " to " + str("payTo") + ")";
}

}  // namespace

Result<std::size_t> match_v2(const PaymentPayload& payment,
                             std::span<const json::object> offered_v2) {
  if (!payment.accepted) {
    return make_error("no_matching_requirement", "accepted",
                      "an x402 v2 payment must echo the chosen requirement as `accepted`");
  }
  std::string offered;
  for (size_t i = 0; i < offered_v2.size(); ++i) {
    if (accepted_matches(offered_v2[i], *payment.accepted)) return i;
    offered += (offered.empty() ? "" : ", ") + describe_v2(offered_v2[i]);
  }
  return make_error(
      "no_matching_requirement", "accepted",
      "`accepted` " + describe_v2(*payment.accepted) + " is not one of the offered requirements: " +
          (offered.empty() ? "none" : offered) + "; pay with one of them exactly as offered");
}

Result<std::size_t> match_v1(const PaymentPayload& payment, std::span<const Requirement> offered,
                             const NetworkTable& networks) {
  auto network = networks.resolve(payment.network);
  std::string listed;
  for (size_t i = 0; i < offered.size(); ++i) {
    const Requirement& r = offered[i];
    if (network && r.scheme == payment.scheme && r.network.chain_id == network->chain_id) return i;
    listed += (listed.empty() ? "(" : ", (") + r.scheme + ", " + r.network.v1_name() + ")";
  }
  return make_error("no_matching_requirement", "network",
                    "payment for (" + payment.scheme + ", " + payment.network.substr(0, 100) +
                        ") matches none of the offered (scheme, network) pairs: " +
                        (listed.empty() ? "none" : listed));
}

}  // namespace x402
