#pragma once
// verify (PROTOCOL.md §3): every local check of the `exact` EVM scheme, then the on-chain ones in
// one batched JSON-RPC request (balance, authorization state, and a simulation of the very call
// settle will send).
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include <x402/eth/bytes.hpp>
#include <x402/eth/eip712.hpp>
#include <x402/eth/uint256.hpp>

#include "rpc_client.hpp"

namespace x402::plugins::selfhosted {

// Reason codes: the reference facilitator's (@x402/evm 2.x) where one exists.
namespace reason {
inline constexpr std::string_view kInvalidPayload = "invalid_payload";
inline constexpr std::string_view kInvalidVersion = "invalid_x402_version";
inline constexpr std::string_view kScheme = "invalid_exact_evm_scheme";
inline constexpr std::string_view kNetwork = "invalid_exact_evm_network_mismatch";
inline constexpr std::string_view kRequirementsMismatch = "invalid_exact_evm_requirements_mismatch";
inline constexpr std::string_view kAssetNotAllowed = "invalid_exact_evm_asset_not_allowed";
inline constexpr std::string_view kMissingDomain = "invalid_exact_evm_missing_eip712_domain";
inline constexpr std::string_view kSignatureFormat = "invalid_exact_evm_failed_to_parse_signature";
inline constexpr std::string_view kSignature = "invalid_exact_evm_signature";
inline constexpr std::string_view kRecipient = "invalid_exact_evm_recipient_mismatch";
inline constexpr std::string_view kValue = "invalid_exact_evm_authorization_value";
inline constexpr std::string_view kValidAfter =
    "invalid_exact_evm_payload_authorization_valid_after";
inline constexpr std::string_view kValidBefore =
    "invalid_exact_evm_payload_authorization_valid_before";
inline constexpr std::string_view kInsufficientBalance = "invalid_exact_evm_insufficient_balance";
inline constexpr std::string_view kNonceUsed = "invalid_exact_evm_nonce_already_used";
inline constexpr std::string_view kNotEip3009 = "invalid_exact_evm_eip3009_not_supported";
inline constexpr std::string_view kSimulation = "invalid_exact_evm_transaction_simulation_failed";
inline constexpr std::string_view kTransactionFailed = "invalid_exact_evm_transaction_failed";
inline constexpr std::string_view kTransferEvent = "invalid_exact_evm_transfer_event_mismatch";
inline constexpr std::string_view kExpiredInQueue = "invalid_exact_evm_authorization_expired";
inline constexpr std::string_view kPending = "settlement_pending";
}  // namespace reason

struct Verdict {
  bool valid = false;
  std::string reason;
  std::string message;
  std::string payer;            // lower-case 0x address when known
  std::string to_json() const;  // {isValid, invalidReason?, invalidMessage?, payer?}
};

struct Payment {
  uint32_t x402_version = 2;
  std::string network;  // as the requirements name it (v1 name or CAIP-2)
  eth::Eip712Domain domain;
  eth::TransferAuthorization auth;
  eth::Bytes signature;        // 65 bytes, v normalised to 27/28
  std::string payer;           // lower-case hex of auth.from
  std::string job_id() const;  // "<chainId>:<asset>:<from>:<nonce>", all lower case
};

struct VerifyPolicy {
  uint64_t chain_id = 0;
  std::vector<eth::Address> assets;  // empty = any
  uint32_t valid_before_margin_seconds = 6;
  std::string v1_network;  // an extra v1 name for this chain (config.v1_network)
};

// Either a payment that passed every local check, or the invalid verdict saying why.
struct LocalCheck {
  std::optional<Payment> payment;
  Verdict verdict;
};
LocalCheck check_locally(std::string_view request_json, const VerifyPolicy& policy,
                         uint64_t now_seconds);

// The queue job id of the authorization in a request, read without judging the payment (so a
// retry finds its job even after the authorization expired). nullopt when unreadable.
std::optional<std::string> job_id_of_request(std::string_view request_json, uint64_t chain_id);

// transferWithAuthorization(from,to,value,validAfter,validBefore,nonce,v,r,s) calldata.
eth::Bytes transfer_with_authorization_call(const Payment& p);
eth::Bytes balance_of_call(const eth::Address& owner);
eth::Bytes authorization_state_call(const eth::Address& authorizer, const eth::Hash32& nonce);

enum class ChainOutcome { answered, not_sent, unavailable };
struct ChainCheck {
  ChainOutcome outcome = ChainOutcome::unavailable;
  Verdict verdict;     // when answered
  std::string error;   // when not answered
  uint64_t block = 0;  // chain head at the check (AuthorizationUsed lookups start there)
};
asio::awaitable<ChainCheck> check_on_chain(RpcClient& rpc, const Payment& p,
                                           const eth::Address& simulate_from);

}  // namespace x402::plugins::selfhosted
