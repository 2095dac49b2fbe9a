#include "rpc_client.hpp"

#include <x402/eth/abi.hpp>

namespace x402::plugins::selfhosted {

namespace {

RpcReply reply_from(const json::object& o) {
  RpcReply r;
  if (const auto* e = o.if_contains("error")) {
    RpcError err;
    if (e->is_object()) {
      const auto& eo = e->get_object();
      if (const auto* c = eo.if_contains("code"); c && c->is_int64()) err.code = c->get_int64();
      if (const auto* m = eo.if_contains("message"); m && m->is_string())
        err.message = m->get_string();
      if (const auto* d = eo.if_contains("data")) {
        if (d->is_string()) err.data = d->get_string();
        // Some nodes nest it: {"data": {"data": "0x..."}}.
        else if (d->is_object())
          if (const auto* dd = d->get_object().if_contains("data"); dd && dd->is_string())
            err.data = dd->get_string();
      }
    } else {
      err.message = "malformed error";
    }
    r.error = std::move(err);
    return r;
  }
  if (const auto* res = o.if_contains("result")) {
    r.result = *res;
    return r;
  }
  r.error = RpcError{-32603, "reply has neither result nor error", {}};
  return r;
}

std::optional<uint64_t> id_of(const json::object& o) {
  const auto* id = o.if_contains("id");
  if (!id) return std::nullopt;
  if (id->is_int64() && id->get_int64() >= 0) return static_cast<uint64_t>(id->get_int64());
  if (id->is_uint64()) return id->get_uint64();
  return std::nullopt;
}

json::string hex(std::span<const uint8_t> b) {
  return json::string(eth::to_hex(b));
}

}  // namespace

RpcBatch parse_rpc_response(std::string_view body, uint64_t first_id, size_t count) {
  RpcBatch out;
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) {
    out.transport = Transport::maybe_sent;
    out.transport_error = "node answered with invalid JSON";
    return out;
  }
  out.replies.assign(count, RpcReply{{}, RpcError{-32603, "no reply for this call", {}}});
  auto place = [&](const json::object& o) {
    auto id = id_of(o);
    if (!id || *id < first_id || *id - first_id >= count) return false;
    out.replies[*id - first_id] = reply_from(o);
    return true;
  };
  if (v.is_array()) {
    for (const auto& item : v.get_array())
      if (item.is_object()) place(item.get_object());
    return out;
  }
  if (v.is_object()) {
    const auto& o = v.get_object();
    // A whole-batch failure comes back as one error object with a null id.
    if (!place(o) && o.contains("error")) {
      RpcReply shared = reply_from(o);
      for (auto& r : out.replies) r = shared;
    }
    return out;
  }
  out.transport = Transport::maybe_sent;
  out.transport_error = "node answered with neither an object nor an array";
  return out;
}

asio::awaitable<RpcBatch> RpcClient::call(RpcCall c) {
  std::vector<RpcCall> one;
  one.push_back(std::move(c));
  co_return co_await batch(std::move(one));
}

asio::awaitable<RpcBatch> RpcClient::batch(std::vector<RpcCall> calls) {
  uint64_t first_id = next_id_;
  next_id_ += calls.size();
  json::value body;
  auto make = [](const RpcCall& c, uint64_t id) {
    return json::object{{"jsonrpc", "2.0"}, {"id", id}, {"method", c.method}, {"params", c.params}};
  };
  if (calls.size() == 1) {
    body = make(calls[0], first_id);
  } else {
    json::array a;
    for (size_t i = 0; i < calls.size(); ++i) a.push_back(make(calls[i], first_id + i));
    body = std::move(a);
  }
  sdk::HttpRequest req;
  req.method = "POST";
  req.url = url_;
  req.headers.push_back({"Content-Type", "application/json"});
  req.body = json::serialize(body);
  req.timeout_ms = timeout_ms_;
  sdk::HttpResponse res = co_await bridge_.http(std::move(req));
  if (res.outcome != X402_TRANSPORT_OK) {
    RpcBatch out;
    out.transport =
        res.outcome == X402_TRANSPORT_NOT_SENT ? Transport::not_sent : Transport::maybe_sent;
    out.transport_error = res.error.empty() ? "transport failure" : res.error;
    co_return out;
  }
  RpcBatch parsed = parse_rpc_response(res.body, first_id, calls.size());
  if (!parsed.ok() && (res.status < 200 || res.status >= 300))
    parsed.transport_error = "node answered HTTP " + std::to_string(res.status);
  co_return parsed;
}

namespace rpc {

RpcCall chain_id() {
  return {"eth_chainId", {}};
}
RpcCall block_number() {
  return {"eth_blockNumber", {}};
}
RpcCall transaction_count(const eth::Address& a, std::string_view block) {
  return {"eth_getTransactionCount", {hex(a), json::string(block)}};
}
RpcCall call(const eth::Address* from, const eth::Address& to, std::span<const uint8_t> data) {
  json::object tx{{"to", hex(to)}, {"data", hex(data)}};
  if (from) tx["from"] = hex(*from);
  return {"eth_call", {tx, "latest"}};
}
RpcCall send_raw_transaction(std::span<const uint8_t> raw) {
  return {"eth_sendRawTransaction", {hex(raw)}};
}
RpcCall transaction_receipt(std::string_view hash) {
  return {"eth_getTransactionReceipt", {json::string(hash)}};
}
RpcCall transaction_by_hash(std::string_view hash) {
  return {"eth_getTransactionByHash", {json::string(hash)}};
}
RpcCall balance(const eth::Address& a) {
  return {"eth_getBalance", {hex(a), "latest"}};
}
RpcCall fee_history() {
  return {"eth_feeHistory", {"0x1", "latest", json::array{}}};
}
RpcCall max_priority_fee() {
  return {"eth_maxPriorityFeePerGas", {}};
}
RpcCall logs(const eth::Address& address, std::vector<std::string> topics, uint64_t from_block) {
  json::array t;
  for (auto& s : topics) t.push_back(json::string(s));
  json::object filter{{"address", hex(address)},
                      {"topics", t},
                      {"fromBlock", eth::U256::from_u64(from_block).to_hex_quantity()},
                      {"toBlock", "latest"}};
  return {"eth_getLogs", {filter}};
}

std::optional<eth::U256> quantity(const RpcReply& r) {
  if (!r.ok() || !r.result.is_string()) return std::nullopt;
  return eth::U256::from_hex(r.result.get_string());
}
std::optional<uint64_t> quantity_u64(const json::value& v) {
  if (!v.is_string()) return std::nullopt;
  auto q = eth::U256::from_hex(v.get_string());
  return q ? q->to_u64() : std::nullopt;
}
std::optional<uint64_t> quantity_u64(const RpcReply& r) {
  if (!r.ok()) return std::nullopt;
  return quantity_u64(r.result);
}
std::optional<eth::Bytes> data(const RpcReply& r) {
  if (!r.ok() || !r.result.is_string()) return std::nullopt;
  return eth::from_hex(r.result.get_string());
}

bool is_revert(const RpcError& e) {
  if (e.code == 3) return true;
  if (e.data.rfind("0x", 0) == 0 && e.data.size() > 2) return true;
  return e.message.find("revert") != std::string::npos;
}

std::string revert_reason(const RpcError& e) {
  if (auto bytes = eth::from_hex(e.data))
    if (auto reason = eth::decode_revert_reason(*bytes)) return *reason;
  return e.message.empty() ? "execution reverted" : e.message;
}

}  // namespace rpc
}  // namespace x402::plugins::selfhosted
