#pragma once
// One settlement job in the host's durable queue: its states and its data (JSON the plugin owns).
//   pending -> claimed|<relayer> -> processing -> sent -> completed | confirmation_failed
//   pending/claimed -> failed           (refused before any transaction, e.g. expired in queue)
//   claimed -> pending                  (never signed: fees unreadable, or the lease was lost)
//   processing(with tx) / sent -> pending  (only when the relayer nonce was consumed by another
//                                          transaction and the authorization is still unused)
// A job in processing that carries raw_tx was written ahead: that exact transaction may be on
// the network, so it is only ever re-examined, never dropped.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace x402::plugins::selfhosted {

namespace state {
inline constexpr std::string_view kPending = "pending";
inline constexpr std::string_view kProcessing = "processing";
inline constexpr std::string_view kSent = "sent";
inline constexpr std::string_view kCompleted = "completed";
inline constexpr std::string_view kConfirmationFailed = "confirmation_failed";
inline constexpr std::string_view kFailed = "failed";
}  // namespace state

struct JobData {
  // From the settle request.
  std::string request;  // the facilitator request JSON, as received
  std::string payment_id;
  std::string wait = "confirmed";  // "confirmed" | "broadcast"
  uint64_t created_ms = 0;
  uint64_t from_block = 0;  // chain head at verify: AuthorizationUsed lookups start here
  std::string network;      // as the request named it
  std::string payer;
  std::string amount;         // decimal
  std::string asset;          // token, lower-case
  std::string pay_to;         // lower-case
  std::string auth_nonce;     // the authorization's bytes32 nonce
  std::string calldata;       // transferWithAuthorization(...) as sent
  uint64_t valid_before = 0;  // unix seconds; sending after it only burns gas

  // Written ahead, before the broadcast.
  std::string relayer;  // lower-case address
  std::optional<uint64_t> relayer_nonce;
  std::string raw_tx;
  std::string tx_hash;              // the current transaction
  std::vector<std::string> hashes;  // every transaction this job has signed (any may be mined)
  uint64_t max_fee_wei = 0;
  uint64_t priority_fee_wei = 0;
  uint64_t sent_ms = 0;  // last (re)broadcast
  uint32_t broadcast_attempts = 0;
  std::string last_error;

  // Outcome.
  std::string transaction;  // the mined transaction (may be someone else's)
  bool settled_by_other = false;
  std::string reason;
  std::string message;

  std::string to_json() const;
  static std::optional<JobData> from_json(std::string_view text);

  bool has_tx() const { return relayer_nonce.has_value() && !raw_tx.empty(); }
  // Forget the assignment (the nonce went to another transaction); old hashes stay recorded.
  void clear_assignment();
};

}  // namespace x402::plugins::selfhosted
