#pragma once
// Payment and usage rows the store tests share: realistic values, a full uint256 amount.
#include <string>

#include "state/store.hpp"

namespace x402::testing {

inline PaymentRecord make_payment(const std::string& id, const std::string& nonce) {
  PaymentRecord r;
  r.id = id;
  r.key = PaymentKey{8453, "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913",
                     "0x1111111111111111111111111111111111111111", nonce};
  r.request_id = "req-" + id;
  r.merchant_id = "acme";
  r.route = "/v1/weather/*";
  r.x402_version = 2;
  r.network = "eip155:8453";
  r.pay_to = "0x2222222222222222222222222222222222222222";
  r.amount = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
  r.payload_json = R"({"signature":"0xabc"})";
  r.requirements_json = R"({"scheme":"exact"})";
  r.created_ms = 1700000000000;
  r.updated_ms = 1700000000000;
  return r;
}

inline UsageRecord make_usage(const std::string& id) {
  UsageRecord u;
  u.id = id;
  u.request_id = "req-" + id;
  u.merchant_id = "acme";
  u.route = "/v1/weather/*";
  u.payer = "0x1111111111111111111111111111111111111111";
  u.amount = "10000";
  u.asset = "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913";
  u.network = "eip155:8453";
  u.upstream_status = 200;
  u.created_ms = 1700000000500;
  return u;
}

}  // namespace x402::testing
