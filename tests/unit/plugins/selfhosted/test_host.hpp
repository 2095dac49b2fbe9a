#pragma once
// Test doubles for the self-hosted facilitator, all thread-safe (the plugin calls them from its
// own thread while the test thread inspects them):
//  - FakeChain: a small scripted EVM node answering JSON-RPC (single and batch) for one
//    EIP-3009 token: balances, used authorizations, a mempool keyed by (sender, nonce), blocks,
//    receipts with Transfer + AuthorizationUsed logs. It decodes the signed EIP-1559
//    transactions it receives (RLP + sender recovery), so tests see exactly what was sent.
//  - TestHost: an x402_host_api whose HTTP goes to the FakeChain and whose durable queue lives in
//    memory with the ABI's semantics (put-if-absent, compare-and-set update, atomic claim).
#include <x402/plugin_abi.h>

#include <boost/json.hpp>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>
#include <x402/eth/abi.hpp>
#include <x402/eth/bytes.hpp>
#include <x402/eth/keccak.hpp>
#include <x402/eth/rlp.hpp>
#include <x402/eth/secp256k1.hpp>
#include <x402/eth/uint256.hpp>

namespace x402::test::selfhosted {

namespace json = boost::json;
using eth::Address;
using eth::Bytes;
using eth::U256;

inline std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}
inline std::string qty(uint64_t v) {
  return U256::from_u64(v).to_hex_quantity();
}

// A decoded type-2 transaction as the fake node received it.
struct SentTx {
  std::string hash;
  std::string raw;
  Address from{};
  uint64_t nonce = 0;
  uint64_t max_fee = 0;
  uint64_t priority_fee = 0;
  Address to{};
  Bytes data;
};

// Minimal RLP reader for what sign_transaction produces.
struct RlpItem {
  bool list = false;
  Bytes payload;  // string bytes, or the list's concatenated encoded items
  Bytes encoded;  // the item as encoded
};
inline std::optional<RlpItem> rlp_read(const Bytes& in, size_t& pos) {
  if (pos >= in.size()) return std::nullopt;
  size_t start = pos;
  uint8_t b = in[pos++];
  RlpItem item;
  size_t len = 0;
  if (b < 0x80) {
    item.payload = {b};
  } else {
    bool list = b >= 0xc0;
    uint8_t base = list ? 0xc0 : 0x80;
    if (b - base <= 55) {
      len = b - base;
    } else {
      size_t ll = b - base - 55;
      for (size_t i = 0; i < ll; ++i) len = (len << 8) | in.at(pos++);
    }
    if (pos + len > in.size()) return std::nullopt;
    item.list = list;
    item.payload.assign(in.begin() + pos, in.begin() + pos + len);
    pos += len;
  }
  item.encoded.assign(in.begin() + start, in.begin() + pos);
  return item;
}
inline uint64_t be_u64(const Bytes& b) {
  uint64_t v = 0;
  for (uint8_t x : b) v = (v << 8) | x;
  return v;
}

inline std::optional<SentTx> decode_tx(const std::string& raw_hex) {
  auto raw = eth::from_hex(raw_hex);
  if (!raw || raw->empty() || (*raw)[0] != 0x02) return std::nullopt;
  Bytes body(raw->begin() + 1, raw->end());
  size_t pos = 0;
  auto outer = rlp_read(body, pos);
  if (!outer || !outer->list) return std::nullopt;
  std::vector<RlpItem> items;
  size_t p = 0;
  while (p < outer->payload.size()) {
    auto it = rlp_read(outer->payload, p);
    if (!it) return std::nullopt;
    items.push_back(*it);
  }
  if (items.size() != 12) return std::nullopt;
  SentTx tx;
  tx.raw = lower(raw_hex);
  tx.hash = eth::to_hex(eth::keccak256(*raw));
  tx.nonce = be_u64(items[1].payload);
  tx.priority_fee = be_u64(items[2].payload);
  tx.max_fee = be_u64(items[3].payload);
  if (items[5].payload.size() != 20) return std::nullopt;
  std::copy(items[5].payload.begin(), items[5].payload.end(), tx.to.begin());
  tx.data = items[7].payload;
  std::vector<Bytes> unsigned_items;
  for (size_t i = 0; i < 9; ++i) unsigned_items.push_back(items[i].encoded);
  Bytes preimage{0x02};
  Bytes list = eth::rlp::encode_list(unsigned_items);
  preimage.insert(preimage.end(), list.begin(), list.end());
  Bytes sig(65, 0);
  auto r = items[10].payload, s = items[11].payload;
  std::copy(r.begin(), r.end(), sig.begin() + (32 - r.size()));
  std::copy(s.begin(), s.end(), sig.begin() + 32 + (32 - s.size()));
  sig[64] = static_cast<uint8_t>(27 + be_u64(items[9].payload));
  auto rec = eth::recover_address(eth::keccak256(preimage), sig);
  if (!rec.address) return std::nullopt;
  tx.from = *rec.address;
  return tx;
}

struct HttpAnswer {
  x402_transport_outcome outcome = X402_TRANSPORT_OK;
  int status = 200;
  std::string body;
  std::string error;
};

class FakeChain {
 public:
  static constexpr uint64_t kChainId = 84532;

  struct Receipt {
    std::string hash;
    bool success = false;
    uint64_t block = 0;
    json::array logs;
  };

  std::mutex mutex;
  Address token{};
  std::map<Address, U256> balances;
  std::set<std::pair<Address, std::string>> used;  // (authorizer, nonce hex)
  std::map<Address, uint64_t> mined_nonce;         // "latest" transaction count
  std::map<std::pair<Address, uint64_t>, SentTx> pool;
  std::map<std::string, Receipt> receipts;
  std::vector<SentTx> received;      // every accepted eth_sendRawTransaction, in order
  std::vector<std::string> methods;  // every method called, in order
  size_t http_requests = 0;
  uint64_t head = 100;
  bool auto_mine = true;
  bool unreachable = false;            // every request: NOT_SENT
  int fail_sends_after_accepting = 0;  // next N send batches: accepted, then MAYBE_SENT
  std::string simulation_revert;       // non-empty: eth_call of transferWithAuthorization reverts
  std::string send_error;              // non-empty: eth_sendRawTransaction refuses with it
  std::function<void(const SentTx&)> on_send;  // called (unlocked) before a tx is accepted

  HttpAnswer handle(const std::string& body) {
    std::vector<SentTx> to_check;
    HttpAnswer out;
    {
      std::lock_guard lock(mutex);
      ++http_requests;
      if (unreachable) return {X402_TRANSPORT_NOT_SENT, 0, "", "connection refused"};
    }
    json::value req = json::parse(body);
    // Run the write-ahead probe before taking the lock again: it reads the plugin's queue.
    auto collect = [&](const json::object& call) {
      if (call.at("method").as_string() == "eth_sendRawTransaction")
        if (auto tx = decode_tx(std::string(call.at("params").as_array()[0].as_string())))
          to_check.push_back(*tx);
    };
    if (req.is_array())
      for (auto& c : req.as_array()) collect(c.as_object());
    else
      collect(req.as_object());
    if (on_send)
      for (const auto& tx : to_check) on_send(tx);

    std::lock_guard lock(mutex);
    bool sends = !to_check.empty();
    if (req.is_array()) {
      json::array replies;
      for (auto& c : req.as_array()) replies.push_back(answer(c.as_object()));
      out.body = json::serialize(replies);
    } else {
      out.body = json::serialize(answer(req.as_object()));
    }
    if (sends && fail_sends_after_accepting > 0) {
      --fail_sends_after_accepting;
      return {X402_TRANSPORT_MAYBE_SENT, 0, "", "read timeout"};
    }
    return out;
  }

  // Mines every pool transaction whose nonce is next for its sender.
  void mine() {
    std::lock_guard lock(mutex);
    mine_locked();
  }

  // Puts a foreign transaction on chain at `nonce` for `from` (e.g. the operator used the key).
  void consume_nonce(const Address& from) {
    std::lock_guard lock(mutex);
    pool.erase({from, mined_nonce[from]});
    ++mined_nonce[from];
    ++head;
  }

  // Someone else submits the authorization: the transfer happens in their transaction.
  std::string settle_elsewhere(const Bytes& calldata) {
    std::lock_guard lock(mutex);
    SentTx tx;
    tx.hash = "0x" + std::string(62, 'e') + std::to_string(10 + receipts.size()).substr(0, 2);
    tx.data = calldata;
    execute(tx);
    return tx.hash;
  }

  size_t pool_size() {
    std::lock_guard lock(mutex);
    return pool.size();
  }

 private:
  static json::object ok(const json::object& call, json::value result) {
    return {{"jsonrpc", "2.0"}, {"id", call.at("id")}, {"result", std::move(result)}};
  }
  static json::object ok(const json::object& call, const std::string& result) {
    return ok(call, json::value(json::string(result)));
  }
  static json::object ok(const json::object& call, const char* result) {
    return ok(call, json::value(json::string(result)));
  }
  static json::object ok(const json::object& call, std::nullptr_t) {
    return ok(call, json::value(nullptr));
  }
  static json::object err(const json::object& call, int64_t code, std::string message,
                          std::string data = {}) {
    json::object e{{"code", code}, {"message", message}};
    if (!data.empty()) e["data"] = data;
    return {{"jsonrpc", "2.0"}, {"id", call.at("id")}, {"error", e}};
  }

  static Address word_address(const Bytes& data, size_t word) {
    Address a{};
    std::copy(data.begin() + 4 + word * 32 + 12, data.begin() + 4 + (word + 1) * 32, a.begin());
    return a;
  }
  static eth::Hash32 word(const Bytes& data, size_t index) {
    eth::Hash32 h{};
    std::copy(data.begin() + 4 + index * 32, data.begin() + 4 + (index + 1) * 32, h.begin());
    return h;
  }
  static std::string word_hex(const U256& v) { return eth::to_hex(v.be); }

  json::object answer(const json::object& call) {
    std::string method(call.at("method").as_string());
    methods.push_back(method);
    const auto& params = call.at("params").as_array();
    if (method == "eth_chainId") return ok(call, qty(kChainId));
    if (method == "eth_blockNumber") return ok(call, qty(head));
    if (method == "eth_getBalance") return ok(call, "0xde0b6b3a7640000");
    if (method == "eth_maxPriorityFeePerGas") return ok(call, qty(1'000'000'000));
    if (method == "eth_feeHistory")
      return ok(call,
                json::object{{"baseFeePerGas", json::array{qty(1'000'000'000), qty(1'000'000'000)}},
                             {"oldestBlock", qty(head)}});
    if (method == "eth_getTransactionCount") {
      auto a = *eth::parse_address(params[0].as_string());
      uint64_t n = mined_nonce[a];
      if (params[1].as_string() == "pending")
        while (pool.count({a, n})) ++n;
      return ok(call, qty(n));
    }
    if (method == "eth_call") {
      const auto& tx = params[0].as_object();
      auto data = *eth::from_hex(tx.at("data").as_string());
      auto sel = eth::to_hex(std::span<const uint8_t>(data.data(), 4));
      if (sel == eth::to_hex(eth::selector("balanceOf(address)")))
        return ok(call, word_hex(balances[word_address(data, 0)]));
      if (sel == eth::to_hex(eth::selector("authorizationState(address,bytes32)"))) {
        bool u = used.count({word_address(data, 0), eth::to_hex(word(data, 1))}) > 0;
        return ok(call, word_hex(U256::from_u64(u ? 1 : 0)));
      }
      if (!simulation_revert.empty()) {
        // Error(string) payload, as a real node returns it.
        Bytes payload = eth::AbiEncoder("Error(string)")
                            .bytes(std::span<const uint8_t>(
                                reinterpret_cast<const uint8_t*>(simulation_revert.data()),
                                simulation_revert.size()))
                            .encode();
        // AbiEncoder's `bytes` and `string` encode alike.
        return err(call, 3, "execution reverted: " + simulation_revert, eth::to_hex(payload));
      }
      return ok(call, "0x");
    }
    if (method == "eth_sendRawTransaction") {
      if (!send_error.empty()) return err(call, -32000, send_error);
      auto tx = decode_tx(std::string(params[0].as_string()));
      if (!tx) return err(call, -32602, "invalid transaction");
      if (receipts.count(tx->hash)) return err(call, -32000, "already known");
      if (tx->nonce < mined_nonce[tx->from]) return err(call, -32000, "nonce too low");
      auto key = std::make_pair(tx->from, tx->nonce);
      if (auto it = pool.find(key); it != pool.end()) {
        if (it->second.hash == tx->hash) return err(call, -32000, "already known");
        if (tx->max_fee * 10 < it->second.max_fee * 11)
          return err(call, -32000, "replacement transaction underpriced");
      }
      pool[key] = *tx;
      received.push_back(*tx);
      if (auto_mine) mine_locked();
      return ok(call, tx->hash);
    }
    if (method == "eth_getTransactionReceipt") {
      auto it = receipts.find(lower(std::string(params[0].as_string())));
      if (it == receipts.end()) return ok(call, nullptr);
      const auto& r = it->second;
      return ok(call, json::object{{"transactionHash", r.hash},
                                   {"status", r.success ? "0x1" : "0x0"},
                                   {"blockNumber", qty(r.block)},
                                   {"logs", r.logs}});
    }
    if (method == "eth_getTransactionByHash") {
      std::string h = lower(std::string(params[0].as_string()));
      for (const auto& [k, tx] : pool)
        if (tx.hash == h) return ok(call, json::object{{"hash", h}});
      if (receipts.count(h)) return ok(call, json::object{{"hash", h}});
      return ok(call, nullptr);
    }
    if (method == "eth_getLogs") {
      const auto& topics = params[0].as_object().at("topics").as_array();
      json::array out;
      for (const auto& [h, r] : receipts)
        for (const auto& l : r.logs) {
          const auto& lt = l.as_object().at("topics").as_array();
          bool match = lt.size() == topics.size();
          for (size_t i = 0; match && i < lt.size(); ++i)
            match =
                lower(std::string(lt[i].as_string())) == lower(std::string(topics[i].as_string()));
          if (match) {
            json::object copy = l.as_object();
            copy["transactionHash"] = r.hash;
            out.push_back(copy);
          }
        }
      return ok(call, out);
    }
    return err(call, -32601, "method not found: " + method);
  }

  void mine_locked() {
    bool progress = true;
    while (progress) {
      progress = false;
      for (auto it = pool.begin(); it != pool.end(); ++it) {
        auto [from, nonce] = it->first;
        if (nonce != mined_nonce[from]) continue;
        SentTx tx = it->second;
        pool.erase(it);
        ++mined_nonce[from];
        execute(tx);
        progress = true;
        break;
      }
    }
  }

  void execute(const SentTx& tx) {
    Receipt r;
    r.hash = tx.hash;
    r.block = ++head;
    Address from = word_address(tx.data, 0), to = word_address(tx.data, 1);
    U256 value = U256::from_be(word(tx.data, 2));
    std::string nonce = eth::to_hex(word(tx.data, 5));
    bool fresh = !used.count({from, nonce});
    bool funded = balances[from] >= value;
    r.success = fresh && funded;
    if (r.success) {
      used.insert({from, nonce});
      balances[from] = *balances[from].sub(value);
      balances[to] = *balances[to].add(value);
      auto topic = [](const Address& a) {
        return "0x000000000000000000000000" + eth::to_hex(a, false);
      };
      r.logs.push_back(json::object{
          {"address", eth::to_hex(token)},
          {"topics", json::array{eth::to_hex(eth::keccak256(
                                     std::string_view("AuthorizationUsed(address,bytes32)"))),
                                 topic(from), nonce}},
          {"data", "0x"}});
      r.logs.push_back(json::object{
          {"address", eth::to_hex(token)},
          {"topics", json::array{eth::to_hex(eth::keccak256(
                                     std::string_view("Transfer(address,address,uint256)"))),
                                 topic(from), topic(to)}},
          {"data", word_hex(value)}});
    }
    receipts[tx.hash] = r;
  }
};

struct StoredJob {
  std::string id, lane, state, data;
  uint64_t created = 0, updated = 0, order = 0;
};

class TestHost {
 public:
  explicit TestHost(FakeChain& chain) : chain_(chain) {
    api_.struct_size = sizeof(x402_host_api);
    api_.abi_minor = X402_ABI_MINOR;
    api_.host = this;
    api_.log = [](void* h, x402_log_level, x402_str, x402_str m) {
      auto& s = self(h);
      std::lock_guard lock(s.mutex);
      s.logs.emplace_back(m.data, m.len);
    };
    api_.now_unix_ms = [](void* h) { return self(h).now_ms.load(); };
    api_.monotonic_ms = [](void*) -> uint64_t { return 1000; };
    api_.http_request = [](void* h, const x402_http_request* r, x402_http_callback cb, void* user) {
      auto& s = self(h);
      HttpAnswer a = s.chain_.handle(std::string(r->body.data, r->body.len));
      x402_http_response res{a.outcome,
                             a.status,
                             nullptr,
                             0,
                             {a.body.data(), a.body.size()},
                             {a.error.data(), a.error.size()},
                             0};
      cb(user, &res);
    };
    api_.timer_start = [](void*, uint32_t, x402_timer_callback, void*) -> uint64_t { return 1; };
    api_.timer_cancel = [](void*, uint64_t) {};
    api_.metric_counter_add = [](void* h, x402_str n, x402_str l, uint64_t d) {
      auto& s = self(h);
      std::lock_guard lock(s.mutex);
      s.counters[std::string(n.data, n.len) + "{" + std::string(l.data, l.len) + "}"] += d;
    };
    api_.metric_gauge_set = [](void* h, x402_str n, x402_str l, int64_t v) {
      auto& s = self(h);
      std::lock_guard lock(s.mutex);
      s.gauges[std::string(n.data, n.len) + "{" + std::string(l.data, l.len) + "}"] = v;
    };
    api_.cache_get = [](void*, x402_str, x402_cache_get_callback cb, void* user) {
      cb(user, 0, {nullptr, 0}, {nullptr, 0});
    };
    api_.cache_set = [](void*, x402_str, x402_str, uint32_t, x402_cache_set_callback cb,
                        void* user) {
      cb(user, 1, {nullptr, 0});
    };
    api_.queue_put = [](void* h, x402_str id, x402_str lane, x402_str state, x402_str data,
                        x402_queue_callback cb, void* user) {
      auto& s = self(h);
      std::vector<StoredJob> out;
      {
        std::lock_guard lock(s.mutex);
        std::string key(id.data, id.len);
        auto it = s.jobs.find(key);
        if (it == s.jobs.end()) {
          StoredJob j{key,
                      std::string(lane.data, lane.len),
                      std::string(state.data, state.len),
                      std::string(data.data, data.len),
                      s.now_ms,
                      s.now_ms,
                      ++s.order};
          it = s.jobs.emplace(key, j).first;
          if (!key.starts_with("lease:")) ++s.puts_created;
        }
        out.push_back(it->second);
      }
      deliver(cb, user, true, out);
    };
    api_.queue_update = [](void* h, x402_str id, x402_str expected, x402_str next, x402_str lane,
                           x402_str data, x402_queue_callback cb, void* user) {
      auto& s = self(h);
      std::vector<StoredJob> out;
      bool ok = true;
      {
        std::lock_guard lock(s.mutex);
        if (s.fail_updates > 0) {
          --s.fail_updates;
          ok = false;
        } else {
          auto it = s.jobs.find(std::string(id.data, id.len));
          if (it != s.jobs.end() &&
              it->second.state == std::string_view(expected.data, expected.len)) {
            it->second.state.assign(next.data, next.len);
            it->second.lane.assign(lane.data, lane.len);
            it->second.data.assign(data.data, data.len);
            it->second.updated = s.now_ms;
            out.push_back(it->second);
            s.history.push_back(it->second);
          }
        }
      }
      deliver(cb, user, ok, out);
    };
    api_.queue_claim = [](void* h, x402_str from, x402_str to, uint32_t limit,
                          x402_queue_callback cb, void* user) {
      auto& s = self(h);
      std::vector<StoredJob> out;
      {
        std::lock_guard lock(s.mutex);
        for (auto* j : s.ordered(std::string(from.data, from.len))) {
          if (out.size() >= limit) break;
          j->state.assign(to.data, to.len);
          out.push_back(*j);
        }
      }
      deliver(cb, user, true, out);
    };
    api_.queue_list = [](void* h, x402_str id, x402_str state, uint32_t limit,
                         x402_queue_callback cb, void* user) {
      auto& s = self(h);
      std::vector<StoredJob> out;
      {
        std::lock_guard lock(s.mutex);
        std::string key(id.data, id.len);
        if (!key.empty()) {
          auto it = s.jobs.find(key);
          if (it != s.jobs.end()) out.push_back(it->second);
        } else {
          for (auto* j : s.ordered(std::string(state.data, state.len))) {
            if (out.size() >= limit) break;
            out.push_back(*j);
          }
        }
      }
      deliver(cb, user, true, out);
    };
    api_.emit_event = [](void* h, x402_str type, x402_str json_text) {
      auto& s = self(h);
      std::lock_guard lock(s.mutex);
      s.events.emplace_back(std::string(type.data, type.len),
                            std::string(json_text.data, json_text.len));
    };
  }

  const x402_host_api* api() const { return &api_; }

  std::optional<StoredJob> job(const std::string& id) {
    std::lock_guard lock(mutex);
    auto it = jobs.find(id);
    if (it == jobs.end()) return std::nullopt;
    return it->second;
  }
  // The settlement jobs: everything but the relayer leases kept in the same queue.
  std::vector<StoredJob> settlement_jobs() {
    std::lock_guard lock(mutex);
    std::vector<StoredJob> out;
    for (auto& [k, j] : jobs)
      if (!k.starts_with("lease:")) out.push_back(j);
    return out;
  }
  void put_job(StoredJob j) {
    std::lock_guard lock(mutex);
    j.order = ++order;
    jobs[j.id] = j;
  }
  std::vector<std::pair<std::string, std::string>> events_copy() {
    std::lock_guard lock(mutex);
    return events;
  }
  std::vector<std::string> logs_copy() {
    std::lock_guard lock(mutex);
    return logs;
  }

  std::mutex mutex;
  std::atomic<uint64_t> now_ms{1'700'000'000'000};
  std::map<std::string, StoredJob> jobs;
  std::vector<StoredJob> history;  // every successful update, in order
  std::vector<std::pair<std::string, std::string>> events;
  std::vector<std::string> logs;
  std::map<std::string, uint64_t> counters;
  std::map<std::string, int64_t> gauges;
  int fail_updates = 0;
  size_t puts_created = 0;  // settlement jobs created by queue_put (leases not counted)
  uint64_t order = 0;

 private:
  static TestHost& self(void* h) { return *static_cast<TestHost*>(h); }

  std::vector<StoredJob*> ordered(const std::string& state) {
    std::vector<StoredJob*> out;
    for (auto& [k, j] : jobs)
      if (state.empty() || j.state == state) out.push_back(&j);
    std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->order < b->order; });
    return out;
  }

  static void deliver(x402_queue_callback cb, void* user, bool ok,
                      const std::vector<StoredJob>& jobs) {
    std::vector<x402_queue_job> c;
    for (const auto& j : jobs)
      c.push_back({{j.id.data(), j.id.size()},
                   {j.lane.data(), j.lane.size()},
                   {j.state.data(), j.state.size()},
                   {j.data.data(), j.data.size()},
                   j.created,
                   j.updated});
    std::string error = ok ? "" : "store unavailable";
    cb(user, ok ? 1 : 0, c.data(), c.size(), {error.data(), error.size()});
  }

  FakeChain& chain_;
  x402_host_api api_{};
};

}  // namespace x402::test::selfhosted
