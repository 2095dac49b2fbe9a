#pragma once
// Failover across the configured facilitators (DESIGN.md §5, PROTOCOL.md §5 hazards 2–3):
//  - verify fails over freely: connect error, timeout, 5xx or malformed answer → next facilitator;
//  - settle moves on only while the attempt surely never left this process (NOT_SENT); once it
//    may have reached a facilitator the outcome is UNKNOWN until reconciled, never a fresh 402.
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "gateway/circuit_breaker.hpp"
#include "gateway/facilitator.hpp"
#include "x402/plugin_abi.h"

namespace x402 {

// One facilitator call, for the request log and the all-failed 503 body.
struct Attempt {
  std::string facilitator;
  std::string operation;  // "verify" | "settle"
  std::string outcome;    // "valid", "invalid", "settled", "failed", "pending", "not_sent",
                          // "unavailable", "timeout", "skipped"
  std::string error;
  int http_status = 0;
  int64_t latency_ms = 0;
  boost::json::object to_json() const;
};

struct PaymentKind {
  int x402_version = 2;
  std::string scheme;
  std::string network_caip2;
  std::string network_v1_name;  // the same network's v1 name, when it has one
};

// The breakers live across config snapshots, keyed by facilitator name, so a reload does not
// forget that a facilitator is dead.
class BreakerBoard {
 public:
  std::shared_ptr<CircuitBreaker> get(const std::string& name, unsigned threshold,
                                      std::chrono::milliseconds open_for);

 private:
  std::mutex mu_;
  std::vector<std::pair<std::string, std::shared_ptr<CircuitBreaker>>> breakers_;
};

struct ChainMember {
  std::shared_ptr<Facilitator> facilitator;
  std::shared_ptr<CircuitBreaker> breaker;
};

// The routing strategy's C entry, bound to its instance.
struct RoutingStrategy {
  const x402_routing_vtable* vtable = nullptr;
  void* instance = nullptr;
};

struct VerifyResult {
  enum class Kind { Valid, Invalid, AllFailed } kind = Kind::AllFailed;
  size_t member = 0;  // index into the chain of the facilitator that answered
  std::string payer;
  std::string invalid_reason;  // facilitator's opaque reason code, passed through
  std::string invalid_message;
  std::vector<Attempt> attempts;
  std::vector<size_t> order;  // the routing order used, for settle
};

struct SettleResult {
  // Unreachable: every facilitator refused the connection, so nothing was charged.
  enum class Kind { Settled, Failed, Unknown, Unreachable } kind = Kind::Unknown;
  size_t member = 0;
  std::string transaction;
  std::string network;
  std::string payer;
  std::string error_reason;
  std::string error_message;
  bool pending = false;  // the facilitator said broadcast-but-unconfirmed
  std::vector<Attempt> attempts;
};

class FacilitatorChain {
 public:
  struct Timing {
    std::chrono::milliseconds verify_deadline{10000};
    std::chrono::milliseconds settle_timeout{30000};
  };

  FacilitatorChain(std::vector<ChainMember> members, RoutingStrategy routing, Timing timing)
      : members_(std::move(members)), routing_(routing), timing_(timing) {}

  // The facilitators to try for this payment, most preferred first.
  std::vector<size_t> order_for(const PaymentKind& kind) const;

  boost::asio::awaitable<VerifyResult> verify(const PaymentKind& kind, std::string request_json);
  // Starts at the facilitator that verified; moves on only after NOT_SENT. `options` (the route's
  // settle mode, the payment id) go to every facilitator asked.
  boost::asio::awaitable<SettleResult> settle(const VerifyResult& verified,
                                              std::string request_json, SettleCallOptions options);

  const std::vector<ChainMember>& members() const { return members_; }

 private:
  std::vector<ChainMember> members_;
  RoutingStrategy routing_;
  Timing timing_;
};

}  // namespace x402
