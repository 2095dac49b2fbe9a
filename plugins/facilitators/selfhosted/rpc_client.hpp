#pragma once
// JSON-RPC 2.0 over the host's pooled HTTP client: single calls and batches (several calls in one
// HTTP request). A transport failure (the node may or may not have seen the request) is kept
// apart from a JSON-RPC error (the node answered "no"): for eth_sendRawTransaction that
// difference decides between "retry" and "examine before doing anything".
#include <boost/json.hpp>
#include <optional>
#include <string>
#include <vector>
#include <x402/eth/bytes.hpp>
#include <x402/eth/uint256.hpp>

#include "host_bridge.hpp"

namespace x402::plugins::selfhosted {

namespace json = boost::json;

struct RpcCall {
  std::string method;
  json::array params;
};

struct RpcError {
  int64_t code = 0;
  std::string message;
  std::string data;  // hex revert data when the node sent it
};

struct RpcReply {
  json::value result;  // valid when !error
  std::optional<RpcError> error;
  bool ok() const { return !error.has_value(); }
};

enum class Transport { ok, not_sent, maybe_sent };

struct RpcBatch {
  Transport transport = Transport::ok;
  std::string transport_error;    // when transport != ok
  std::vector<RpcReply> replies;  // one per call, in call order, when transport == ok
  bool ok() const { return transport == Transport::ok; }
};

class RpcClient {
 public:
  RpcClient(HostBridge& bridge, std::string url, uint32_t timeout_ms)
      : bridge_(bridge), url_(std::move(url)), timeout_ms_(timeout_ms) {}

  asio::awaitable<RpcBatch> batch(std::vector<RpcCall> calls);
  asio::awaitable<RpcBatch> call(RpcCall c);

 private:
  HostBridge& bridge_;
  std::string url_;
  uint32_t timeout_ms_;
  uint64_t next_id_ = 1;
};

// Parses an HTTP body holding the answer to `count` calls numbered first_id.. (exposed for tests).
RpcBatch parse_rpc_response(std::string_view body, uint64_t first_id, size_t count);

// Typed request builders (mix them in one batch) and result readers.
namespace rpc {
RpcCall chain_id();
RpcCall block_number();
RpcCall transaction_count(const eth::Address& a, std::string_view block);  // "pending"/"latest"
RpcCall call(const eth::Address* from, const eth::Address& to, std::span<const uint8_t> data);
RpcCall send_raw_transaction(std::span<const uint8_t> raw);
RpcCall transaction_receipt(std::string_view hash);
RpcCall transaction_by_hash(std::string_view hash);
RpcCall balance(const eth::Address& a);
RpcCall fee_history();  // 1 block, "latest"
RpcCall max_priority_fee();
RpcCall logs(const eth::Address& address, std::vector<std::string> topics, uint64_t from_block);

std::optional<eth::U256> quantity(const RpcReply& r);
std::optional<uint64_t> quantity_u64(const RpcReply& r);
std::optional<eth::Bytes> data(const RpcReply& r);
std::optional<uint64_t> quantity_u64(const json::value& v);

// True when the error is an EVM revert (eth_call / estimate), as opposed to node trouble.
bool is_revert(const RpcError& e);
// A readable revert reason: Error(string) decoded, else the node's message.
std::string revert_reason(const RpcError& e);
}  // namespace rpc

}  // namespace x402::plugins::selfhosted
