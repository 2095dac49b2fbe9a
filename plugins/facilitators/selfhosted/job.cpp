#include "job.hpp"

#include <boost/json.hpp>

namespace x402::plugins::selfhosted {

namespace json = boost::json;

std::string JobData::to_json() const {
  json::object o{{"request", request},
                 {"payment_id", payment_id},
                 {"wait", wait},
                 {"created_ms", created_ms},
                 {"from_block", from_block},
                 {"network", network},
                 {"payer", payer},
                 {"amount", amount},
                 {"asset", asset},
                 {"pay_to", pay_to},
                 {"auth_nonce", auth_nonce},
                 {"calldata", calldata},
                 {"valid_before", valid_before}};
  if (!relayer.empty()) o["relayer"] = relayer;
  if (relayer_nonce) o["relayer_nonce"] = *relayer_nonce;
  if (!raw_tx.empty()) o["raw_tx"] = raw_tx;
  if (!tx_hash.empty()) o["tx_hash"] = tx_hash;
  if (!hashes.empty()) {
    json::array a;
    for (const auto& h : hashes) a.push_back(json::string(h));
    o["hashes"] = std::move(a);
  }
  if (max_fee_wei) o["max_fee_wei"] = max_fee_wei;
  if (priority_fee_wei) o["priority_fee_wei"] = priority_fee_wei;
  if (sent_ms) o["sent_ms"] = sent_ms;
  if (broadcast_attempts) o["broadcast_attempts"] = broadcast_attempts;
  if (!last_error.empty()) o["last_error"] = last_error;
  if (!transaction.empty()) o["transaction"] = transaction;
  if (settled_by_other) o["settled_by_other"] = true;
  if (!reason.empty()) o["reason"] = reason;
  if (!message.empty()) o["message"] = message;
  return json::serialize(o);
}

std::optional<JobData> JobData::from_json(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.get_object();
  JobData d;
  auto str = [&](std::string_view k, std::string& out) {
    if (const auto* x = o.if_contains(k); x && x->is_string()) out = x->get_string();
  };
  auto u64 = [&](std::string_view k) -> std::optional<uint64_t> {
    const auto* x = o.if_contains(k);
    if (!x) return std::nullopt;
    if (x->is_uint64()) return x->get_uint64();
    if (x->is_int64() && x->get_int64() >= 0) return static_cast<uint64_t>(x->get_int64());
    return std::nullopt;
  };
  str("request", d.request);
  str("payment_id", d.payment_id);
  str("wait", d.wait);
  d.created_ms = u64("created_ms").value_or(0);
  d.from_block = u64("from_block").value_or(0);
  str("network", d.network);
  str("payer", d.payer);
  str("amount", d.amount);
  str("asset", d.asset);
  str("pay_to", d.pay_to);
  str("auth_nonce", d.auth_nonce);
  str("calldata", d.calldata);
  d.valid_before = u64("valid_before").value_or(0);
  str("relayer", d.relayer);
  d.relayer_nonce = u64("relayer_nonce");
  str("raw_tx", d.raw_tx);
  str("tx_hash", d.tx_hash);
  if (const auto* h = o.if_contains("hashes"); h && h->is_array())
    for (const auto& x : h->get_array())
      if (x.is_string()) d.hashes.emplace_back(x.get_string());
  d.max_fee_wei = u64("max_fee_wei").value_or(0);
  d.priority_fee_wei = u64("priority_fee_wei").value_or(0);
  d.sent_ms = u64("sent_ms").value_or(0);
  d.broadcast_attempts = static_cast<uint32_t>(u64("broadcast_attempts").value_or(0));
  str("last_error", d.last_error);
  str("transaction", d.transaction);
  if (const auto* x = o.if_contains("settled_by_other"); x && x->is_bool())
    d.settled_by_other = x->get_bool();
  str("reason", d.reason);
  str("message", d.message);
  return d;
}

void JobData::clear_assignment() {
  relayer.clear();
  relayer_nonce.reset();
  raw_tx.clear();
  tx_hash.clear();
  max_fee_wei = priority_fee_wei = 0;
  sent_ms = 0;
  broadcast_attempts = 0;
}

}  // namespace x402::plugins::selfhosted
