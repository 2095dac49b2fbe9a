#include "settlement_engine.hpp"

#include <algorithm>
#include <chrono>
#include <x402/eth/abi.hpp>
#include <x402/eth/keccak.hpp>
#include <x402/eth/transaction.hpp>

namespace x402::plugins::selfhosted {

namespace {

constexpr uint32_t kListLimit = 1000;

std::string topic_of(std::string_view event_signature) {
  return eth::to_hex(eth::keccak256(event_signature));
}

std::string address_topic(std::string_view address_hex) {
  std::string t = "0x000000000000000000000000";
  t += address_hex.substr(2);
  return t;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return lower(haystack).find(needle) != std::string::npos;
}

// The node already has this exact transaction: as good as accepted.
bool already_known(const RpcError& e) {
  return contains(e.message, "already known") || contains(e.message, "known transaction") ||
         contains(e.message, "already imported");
}
bool nonce_too_low(const RpcError& e) {
  return contains(e.message, "nonce too low");
}
bool fee_too_low(const RpcError& e) {
  return contains(e.message, "underpriced") || contains(e.message, "fee cap") ||
         contains(e.message, "less than block base fee") || contains(e.message, "fee too low");
}

uint64_t bump(uint64_t v) {
  return v + v / 8 + 1;
}  // >= +12.5%: what nodes ask of replacements

}  // namespace

std::string settle_body(bool success, std::string_view tx, std::string_view network,
                        std::string_view payer, std::string_view amount, std::string_view reason,
                        std::string_view message) {
  json::object o{{"success", success}, {"transaction", tx}, {"network", network}};
  if (!payer.empty()) o["payer"] = payer;
  if (!amount.empty()) o["amount"] = amount;
  if (!success && !reason.empty()) o["errorReason"] = reason;
  if (!success && !message.empty()) o["errorMessage"] = message;
  return json::serialize(o);
}

SettlementEngine::SettlementEngine(const SelfhostedConfig& config, HostBridge& bridge,
                                   RpcClient& rpc, asio::any_io_executor executor)
    : config_(config),
      bridge_(bridge),
      rpc_(rpc),
      executor_(executor),
      host_(bridge.host()),
      chain_id_(config.chain_id.value_or(0)),
      node_id_(random_node_id()),
      lease_timer_(executor),
      confirmer_timer_(executor),
      metrics_timer_(executor) {
  for (const auto& key : config.relayer_keys) {
    auto r = std::make_unique<Relayer>(Relayer{key, eth::to_hex(key.address())});
    r->wake = std::make_unique<asio::steady_timer>(executor);
    relayers_.push_back(std::move(r));
  }
}

const eth::Address& SettlementEngine::next_simulation_sender() {
  return relayers_[simulation_turn_++ % relayers_.size()]->key.address();
}

std::vector<std::string> SettlementEngine::relayer_addresses() const {
  std::vector<std::string> out;
  for (const auto& r : relayers_) out.push_back(eth::checksum_address(r->key.address()));
  return out;
}

Relayer* SettlementEngine::relayer_by_address(const std::string& address) {
  for (auto& r : relayers_)
    if (r->address == address) return r.get();
  return nullptr;
}

void SettlementEngine::wake_senders() {
  if (relayers_.empty()) return;
  size_t first = wake_turn_++;
  for (size_t i = 0; i < relayers_.size(); ++i) {
    auto& r = *relayers_[(first + i) % relayers_.size()];
    r.wake_pending = true;
    r.wake->cancel();
  }
}

void SettlementEngine::notify(const std::string& id) {
  auto [begin, end] = waiters_.equal_range(id);
  for (auto it = begin; it != end; ++it) it->second->cancel();
}

void SettlementEngine::stop() {
  stopping_ = true;
  for (auto& r : relayers_) r->wake->cancel();
  lease_timer_.cancel();
  confirmer_timer_.cancel();
  metrics_timer_.cancel();
  for (auto& [id, timer] : waiters_) timer->cancel();
}

void SettlementEngine::count(std::string_view outcome) {
  host_.counter_add("x402_selfhosted_settlements_total",
                    "instance=" + host_.instance_name() + ",outcome=" + std::string(outcome));
}

asio::awaitable<void> SettlementEngine::sleep_ms(asio::steady_timer& timer, uint64_t ms) {
  timer.expires_after(std::chrono::milliseconds(ms));
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

// ---------------------------------------------------------------------------------------------
// Start and recovery
// ---------------------------------------------------------------------------------------------

asio::awaitable<bool> SettlementEngine::start() {
  if (chain_id_ == 0 || started_) co_return started_;
  if (!co_await lease_pass()) {
    host_.warn("settlement queue unreadable at start");
    co_return false;
  }
  size_t held = 0;
  for (const auto& r : relayers_) held += r->lease.empty() ? 0 : 1;
  host_.info("settlement node " + node_id_ + " started holding " + std::to_string(held) + " of " +
             std::to_string(relayers_.size()) + " relayer lease(s)");
  started_ = true;
  asio::co_spawn(executor_, lease_loop(), asio::detached);
  for (auto& r : relayers_) asio::co_spawn(executor_, sender_loop(*r), asio::detached);
  asio::co_spawn(executor_, confirmer_loop(), asio::detached);
  asio::co_spawn(executor_, metrics_loop(), asio::detached);
  wake_senders();
  co_return true;
}

// ---------------------------------------------------------------------------------------------
// Relayer leases
// ---------------------------------------------------------------------------------------------

bool SettlementEngine::holds(const Relayer& relayer) const {
  return !relayer.lease.empty() && relayer.recovered &&
         host_.now_unix_ms() < relayer.lease_valid_until_ms;
}

asio::awaitable<void> SettlementEngine::lease_loop() {
  while (!stopping_) {
    co_await sleep_ms(lease_timer_, config_.lease_renew_ms);
    if (stopping_) break;
    try {
      co_await lease_pass();
    } catch (const std::exception& e) {
      host_.error(std::string("relayer lease pass failed: ") + e.what());
    }
  }
}

asio::awaitable<bool> SettlementEngine::lease_pass() {
  // Two passes interleaved would race their own compare-and-sets and read the loss as a takeover.
  if (lease_pass_running_) co_return true;
  lease_pass_running_ = true;
  bool ok = true;
  try {
    for (auto& r : relayers_) {
      if (stopping_) break;
      ok = co_await keep_lease(*r) && ok;
    }
  } catch (...) {
    lease_pass_running_ = false;
    throw;
  }
  lease_pass_running_ = false;
  co_return ok;
}

void SettlementEngine::drop_lease(Relayer& relayer, const std::string& why) {
  host_.warn("relayer " + relayer.address + ": lease lost (" + why + "); node " + node_id_ +
             " stops sending with it");
  relayer.lease.clear();
  relayer.recovered = false;
  relayer.in_flight = 0;
}

// Renews our lease, or takes a free or expired one. A failed store call changes nothing: the
// validity we already have runs out on its own, before the lease expires on the other nodes.
asio::awaitable<bool> SettlementEngine::keep_lease(Relayer& relayer) {
  static const std::string kLeaseData = "{}";
  const uint64_t now = host_.now_unix_ms();
  const std::string id = lease_job_id(relayer.address);
  QueueResult current = co_await bridge_.queue_list(id, "", 1);
  if (!current.ok) co_return false;
  const std::string want = lease_state(node_id_, now + config_.lease_ttl_ms);
  std::string replaced;  // the state our write replaced (empty: the lease did not exist)
  bool won = false;
  if (current.jobs.empty()) {
    QueueResult put = co_await bridge_.queue_put(id, "lease", want, kLeaseData);
    if (!put.ok) co_return false;
    won = !put.jobs.empty() && put.jobs[0].state == want;
  } else {
    const sdk::QueueJob& job = current.jobs[0];
    auto lease = parse_lease_state(job.state);
    if (lease && lease->node != node_id_ && now < lease->expires_ms) {
      if (!relayer.lease.empty()) drop_lease(relayer, "node " + lease->node + " holds it");
      co_return true;
    }
    QueueResult update = co_await bridge_.queue_update(id, job.state, want, "lease", kLeaseData);
    if (!update.ok) co_return false;
    won = !update.jobs.empty();
    replaced = job.state;
  }
  if (!won) {
    if (!relayer.lease.empty()) drop_lease(relayer, "another node wrote it first");
    co_return true;
  }
  // Held without a break only when the record we replaced is the one we wrote last: otherwise
  // another node may have held it since and handed out nonces.
  if (relayer.lease.empty() || replaced != relayer.lease) {
    auto previous = parse_lease_state(replaced);
    host_.info("node " + node_id_ + " holds the lease of relayer " + relayer.address +
               (previous && previous->node != node_id_
                    ? " (taken over from node " + previous->node + ", expired)"
                    : std::string()));
    relayer.recovered = false;
  }
  relayer.lease = want;
  relayer.lease_valid_until_ms = now + config_.lease_ttl_ms - config_.lease_clock_margin_ms;
  if (!relayer.recovered) {
    relayer.recovered = co_await recover_relayer(relayer);
    if (relayer.recovered) {
      relayer.wake_pending = true;
      relayer.wake->cancel();
    }
  }
  co_return true;
}

// Run when this node takes a relayer's lease, and again while it fails. The relayer's counter
// starts at max(pending transaction count, highest nonce recorded in a job + 1): nonces already
// handed out (written ahead or sent) stay taken, whatever the node says. Jobs claimed for it but
// never signed go back to pending: their claimer lost the lease, nothing of theirs can be on the
// network.
asio::awaitable<bool> SettlementEngine::recover_relayer(Relayer& relayer) {
  RpcBatch count = co_await rpc_.call(rpc::transaction_count(relayer.key.address(), "pending"));
  auto pending_count = count.ok() ? rpc::quantity_u64(count.replies[0]) : std::nullopt;
  if (!pending_count) {
    host_.warn("relayer " + relayer.address + ": cannot read its transaction count (" +
               count.transport_error + "); recovery retried");
    co_return false;
  }
  // processing first: a job moving on to sent in between is then seen twice, never missed.
  QueueResult processing = co_await bridge_.queue_list("", std::string(state::kProcessing), 100000);
  QueueResult sent = co_await bridge_.queue_list("", std::string(state::kSent), 100000);
  QueueResult claimed = co_await bridge_.queue_list("", claimed_state(relayer.address), 100000);
  if (!processing.ok || !sent.ok || !claimed.ok) {
    host_.warn("relayer " + relayer.address + ": settlement queue unreadable; recovery retried");
    co_return false;
  }
  uint64_t next = *pending_count;
  std::set<std::string> held;
  size_t requeued = 0;
  for (const auto* list : {&processing.jobs, &sent.jobs})
    for (const auto& job : *list) {
      auto d = JobData::from_json(job.data);
      if (!d || !d->has_tx() || d->relayer != relayer.address) continue;
      next = std::max(next, *d->relayer_nonce + 1);
      if (held.insert(job.id).second) examine_now_.insert(job.id);
    }
  for (const auto& job : claimed.jobs) {
    auto r = co_await bridge_.queue_update(job.id, job.state, std::string(state::kPending), "",
                                           job.data);
    if (r.ok && !r.jobs.empty()) ++requeued;
  }
  // Left by a version that claimed straight into processing: unsigned, so nothing is on the
  // network for them. (This version never leaves a job in processing without a transaction.)
  for (const auto& job : processing.jobs) {
    auto d = JobData::from_json(job.data);
    if (!d || d->has_tx()) continue;
    auto r = co_await bridge_.queue_update(job.id, job.state, std::string(state::kPending), "",
                                           job.data);
    if (r.ok && !r.jobs.empty()) ++requeued;
  }
  relayer.next_nonce = next;
  relayer.in_flight = held.size();
  relayer.next_recount = {};
  host_.info("recovery of relayer " + relayer.address + ": next nonce " + std::to_string(next) +
             ", " + std::to_string(requeued) + " unsigned job(s) back to pending, " +
             std::to_string(held.size()) + " job(s) with a transaction to re-examine");
  co_return true;
}

// ---------------------------------------------------------------------------------------------
// Settle: queue, attach, wait
// ---------------------------------------------------------------------------------------------

asio::awaitable<QueueResult> SettlementEngine::find(const std::string& job_id) {
  co_return co_await bridge_.queue_list(job_id, "", 1);
}

asio::awaitable<sdk::FacilitatorResult> SettlementEngine::settle(const Payment& p,
                                                                 uint64_t from_block,
                                                                 std::string request,
                                                                 sdk::SettleWait wait,
                                                                 std::string payment_id) {
  JobData d;
  d.request = std::move(request);
  d.payment_id = std::move(payment_id);
  d.wait = wait == sdk::SettleWait::broadcast ? "broadcast" : "confirmed";
  d.created_ms = host_.now_unix_ms();
  d.from_block = from_block;
  d.network = p.network;
  d.payer = p.payer;
  d.amount = p.auth.value.to_decimal();
  d.asset = eth::to_hex(p.domain.verifying_contract);
  d.pay_to = eth::to_hex(p.auth.to);
  d.auth_nonce = eth::to_hex(p.auth.nonce);
  d.calldata = eth::to_hex(transfer_with_authorization_call(p));
  d.valid_before = p.auth.valid_before.to_u64().value_or(UINT64_MAX);
  std::string id = p.job_id();
  QueueResult put = co_await bridge_.queue_put(id, "", std::string(state::kPending), d.to_json());
  if (!put.ok) co_return sdk::FacilitatorResult::unavailable(0, "settlement queue: " + put.error);
  wake_senders();
  co_return co_await answer_for(id, wait, p.network, p.payer);
}

asio::awaitable<sdk::FacilitatorResult> SettlementEngine::answer_for(const std::string& id,
                                                                     sdk::SettleWait wait,
                                                                     std::string network,
                                                                     std::string payer) {
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.settle_wait_timeout_ms);
  asio::steady_timer timer(executor_);
  std::string last_tx, amount;
  while (true) {
    QueueResult r = co_await bridge_.queue_list(id, "", 1);
    if (r.ok && r.jobs.empty())
      co_return sdk::FacilitatorResult::unavailable(0, "settlement job " + id + " vanished");
    if (r.ok) {
      const auto& job = r.jobs[0];
      auto d = JobData::from_json(job.data).value_or(JobData{});
      amount = d.amount;
      last_tx = d.tx_hash;
      if (job.state == state::kCompleted)
        co_return sdk::FacilitatorResult::answered(
            200, settle_body(true, d.transaction, network, payer, amount));
      if (job.state == state::kConfirmationFailed || job.state == state::kFailed)
        co_return sdk::FacilitatorResult::answered(
            200, settle_body(false, d.transaction.empty() ? d.tx_hash : d.transaction, network,
                             payer, amount,
                             d.reason.empty() ? reason::kTransactionFailed : d.reason, d.message));
      if (job.state == state::kSent && wait == sdk::SettleWait::broadcast)
        co_return sdk::FacilitatorResult::answered(
            200, settle_body(true, d.tx_hash, network, payer, amount));
    }
    auto now = std::chrono::steady_clock::now();
    if (stopping_ || now >= deadline)
      co_return sdk::FacilitatorResult::pending(
          202,
          settle_body(false, last_tx, network, payer, amount, reason::kPending,
                      "queued for settlement; not confirmed yet (job " + id + ")"),
          "settlement pending");
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
    auto it = waiters_.emplace(id, &timer);
    // A notification wakes us at once; the poll covers jobs finished by another gateway node.
    co_await sleep_ms(timer, static_cast<uint64_t>(std::min<int64_t>(left, 1000)));
    waiters_.erase(it);
  }
}

// ---------------------------------------------------------------------------------------------
// Sender
// ---------------------------------------------------------------------------------------------

asio::awaitable<void> SettlementEngine::sender_loop(Relayer& relayer) {
  while (!stopping_) {
    // The timeout is the safety net: pending jobs are claimed within a second even when no
    // settle call or finished job wakes the loop.
    if (!relayer.wake_pending) co_await sleep_ms(*relayer.wake, 1000);
    if (stopping_) break;
    relayer.wake_pending = false;
    // A detached coroutine that throws dies silently: the relayer would stop sending for good.
    try {
      co_await send_round(relayer);
    } catch (const std::exception& e) {
      host_.error("sender round of relayer " + relayer.address + " failed: " + e.what());
    }
  }
}

asio::awaitable<std::optional<SettlementEngine::Fees>> SettlementEngine::current_fees() {
  std::vector<RpcCall> calls{rpc::fee_history()};
  if (!config_.gas.priority_fee_wei) calls.push_back(rpc::max_priority_fee());
  RpcBatch b = co_await rpc_.batch(std::move(calls));
  if (!b.ok() || !b.replies[0].ok() || !b.replies[0].result.is_object()) co_return std::nullopt;
  const auto* bases = b.replies[0].result.get_object().if_contains("baseFeePerGas");
  if (!bases || !bases->is_array() || bases->get_array().empty()) co_return std::nullopt;
  // The last entry is the base fee of the next block.
  auto base = rpc::quantity_u64(bases->get_array().back());
  if (!base) co_return std::nullopt;
  Fees f;
  if (config_.gas.priority_fee_wei)
    f.priority = *config_.gas.priority_fee_wei;
  else
    f.priority = rpc::quantity_u64(b.replies[1]).value_or(1'000'000);
  f.max_fee = 2 * *base + f.priority;
  if (config_.gas.max_fee_per_gas_wei) {
    f.max_fee = std::min(f.max_fee, *config_.gas.max_fee_per_gas_wei);
    if (f.max_fee < *base)
      host_.warn("gas.max_fee_per_gas_gwei is below the current base fee: transactions wait");
  }
  f.priority = std::min(f.priority, f.max_fee);
  co_return f;
}

std::optional<eth::SignedTransaction> SettlementEngine::sign(Relayer& r, uint64_t nonce,
                                                             const Fees& fees,
                                                             const eth::Bytes& calldata,
                                                             const std::string& token) {
  auto to = eth::parse_address(token);
  if (!to) return std::nullopt;
  eth::Eip1559Transaction tx;
  tx.chain_id = chain_id_;
  tx.nonce = nonce;
  tx.max_priority_fee_per_gas = eth::U256::from_u64(fees.priority);
  tx.max_fee_per_gas = eth::U256::from_u64(fees.max_fee);
  tx.gas_limit = config_.gas.limit;
  tx.to = *to;
  tx.data = calldata;
  return eth::sign_transaction(tx, r.key);
}

asio::awaitable<void> SettlementEngine::send_round(Relayer& relayer) {
  if (!started_ || stopping_ || !holds(relayer)) co_return;
  if (relayer.in_round) {
    relayer.wake_pending = true;  // the running round may have missed what this call was for
    co_return;
  }
  relayer.in_round = true;
  try {
    co_await send_round_now(relayer);
  } catch (...) {
    relayer.in_round = false;
    throw;
  }
  relayer.in_round = false;
}

// The in-flight count is bookkeeping; the queue is the truth. When the count says "full", check
// it against the jobs that really hold one of this relayer's nonces, at most once a second: a
// count that drifted must never park the relayer with pending jobs waiting behind it.
asio::awaitable<void> SettlementEngine::recount(Relayer& relayer) {
  auto now = std::chrono::steady_clock::now();
  if (now < relayer.next_recount) co_return;
  relayer.next_recount = now + std::chrono::seconds(1);
  // processing first: a job moving on to sent in between is then seen twice (deduplicated),
  // never missed.
  QueueResult processing = co_await bridge_.queue_list("", std::string(state::kProcessing), 100000);
  QueueResult sent = co_await bridge_.queue_list("", std::string(state::kSent), 100000);
  if (!processing.ok || !sent.ok) co_return;
  std::set<std::string> held;
  for (const auto* list : {&processing.jobs, &sent.jobs})
    for (const auto& job : *list)
      if (auto d = JobData::from_json(job.data); d && d->has_tx() && d->relayer == relayer.address)
        held.insert(job.id);
  if (held.size() != relayer.in_flight) {
    host_.warn("relayer " + relayer.address + " in-flight count corrected from " +
               std::to_string(relayer.in_flight) + " to " + std::to_string(held.size()));
    relayer.in_flight = held.size();
  }
}

asio::awaitable<void> SettlementEngine::send_round_now(Relayer& relayer) {
  if (relayer.in_flight >= config_.max_in_flight_per_relayer) co_await recount(relayer);
  if (relayer.in_flight >= config_.max_in_flight_per_relayer) co_return;
  uint32_t limit = static_cast<uint32_t>(
      std::min<size_t>(config_.batch_size, config_.max_in_flight_per_relayer - relayer.in_flight));
  // Claimed into a state naming the relayer: whoever takes its lease next knows they are unsigned
  // claims of a node that lost it, and nobody else touches them meanwhile.
  const std::string claimed_as = claimed_state(relayer.address);
  QueueResult claimed =
      co_await bridge_.queue_claim(std::string(state::kPending), claimed_as, limit);
  if (!claimed.ok) {
    host_.warn("settlement queue claim failed: " + claimed.error);
    co_return;
  }
  if (claimed.jobs.empty()) co_return;
  if (claimed.jobs.size() == limit) relayer.wake_pending = true;  // more may be waiting
  for (const auto& j : claimed.jobs) sending_.insert(j.id);

  std::optional<Fees> fees = co_await current_fees();
  if (!fees) {
    // Nothing signed yet: handing the jobs back is safe.
    host_.warn("cannot read fees from the chain; settlements wait");
    for (const auto& j : claimed.jobs) {
      co_await bridge_.queue_update(j.id, claimed_as, std::string(state::kPending), "", j.data);
      sending_.erase(j.id);
    }
    co_return;
  }

  struct Out {
    sdk::QueueJob job;
    JobData data;
  };
  std::vector<Out> batch;
  const uint64_t now_ms = host_.now_unix_ms();
  for (const auto& j : claimed.jobs) {
    auto d = JobData::from_json(j.data);
    auto calldata = d ? eth::from_hex(d->calldata) : std::nullopt;
    if (!d || !calldata) {
      JobData broken = d.value_or(JobData{});
      broken.reason = reason::kInvalidPayload;
      broken.message = "unreadable job data";
      co_await finish(j, broken, state::kFailed);
      sending_.erase(j.id);
      continue;
    }
    if (d->valid_before <= now_ms / 1000 + 1) {
      // Sending now would only revert and burn gas.
      d->reason = reason::kExpiredInQueue;
      d->message = "the authorization expired before it could be sent";
      co_await finish(j, *d, state::kFailed);
      sending_.erase(j.id);
      continue;
    }
    if (!holds(relayer)) {
      // The lease ran out meanwhile: its next holder may be counting nonces already.
      co_await bridge_.queue_update(j.id, claimed_as, std::string(state::kPending), "", j.data);
      sending_.erase(j.id);
      continue;
    }
    uint64_t nonce = relayer.next_nonce;
    auto signed_tx = sign(relayer, nonce, *fees, *calldata, d->asset);
    if (!signed_tx) {
      d->reason = reason::kInvalidPayload;
      d->message = "cannot build the transaction";
      co_await finish(j, *d, state::kFailed);
      sending_.erase(j.id);
      continue;
    }
    d->relayer = relayer.address;
    d->relayer_nonce = nonce;
    d->raw_tx = eth::to_hex(signed_tx->raw);
    d->tx_hash = eth::to_hex(signed_tx->hash);
    d->hashes.push_back(d->tx_hash);
    d->max_fee_wei = fees->max_fee;
    d->priority_fee_wei = fees->priority;
    d->sent_ms = now_ms;
    d->broadcast_attempts = 1;
    // Write ahead: the transaction is durable before any node can see it.
    QueueResult w = co_await bridge_.queue_update(j.id, claimed_as, std::string(state::kProcessing),
                                                  relayer.address, d->to_json());
    if (!w.ok || w.jobs.empty()) {
      host_.warn("settlement queue write-ahead failed for " + j.id + ": " + w.error);
      co_await bridge_.queue_update(j.id, claimed_as, std::string(state::kPending), "", j.data);
      sending_.erase(j.id);
      continue;  // the nonce was not used: the next job takes it
    }
    ++relayer.next_nonce;
    ++relayer.in_flight;
    batch.push_back({w.jobs[0], std::move(*d)});
  }
  if (batch.empty()) co_return;
  if (!holds(relayer)) {
    // Written ahead, not sent: the lease's next holder re-examines them and sends the same bytes.
    for (const auto& o : batch) sending_.erase(o.job.id);
    co_return;
  }

  std::vector<RpcCall> calls;
  for (const auto& o : batch)
    calls.push_back({"eth_sendRawTransaction", {json::string(o.data.raw_tx)}});
  RpcBatch sent = co_await rpc_.batch(std::move(calls));
  bool resync = false;
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& [job, d] = batch[i];
    sending_.erase(job.id);
    if (!sent.ok()) {
      // The node may or may not have it: the confirmer examines the job at its next pass.
      host_.warn("broadcast of " + d.tx_hash + " uncertain: " + sent.transport_error);
      next_examine_ms_[job.id] = 0;
      continue;
    }
    const RpcReply& reply = sent.replies[i];
    if (reply.ok() || already_known(*reply.error)) {
      QueueResult m =
          co_await bridge_.queue_update(job.id, std::string(state::kProcessing),
                                        std::string(state::kSent), job.lane, d.to_json());
      if (m.ok && !m.jobs.empty()) notify(job.id);
      continue;
    }
    // Refused: the job keeps its nonce (later nonces depend on it) and is examined, which
    // re-sends the same transaction, replaces it with higher fees, or frees it when the nonce
    // went elsewhere.
    d.last_error = reply.error->message;
    host_.warn("node refused " + d.tx_hash + " (relayer " + relayer.address + " nonce " +
               std::to_string(*d.relayer_nonce) + "): " + reply.error->message);
    if (nonce_too_low(*reply.error)) resync = true;
    co_await bridge_.queue_update(job.id, std::string(state::kProcessing),
                                  std::string(state::kProcessing), job.lane, d.to_json());
    next_examine_ms_[job.id] = 0;
  }
  if (resync) {
    RpcBatch c = co_await rpc_.call(rpc::transaction_count(relayer.key.address(), "pending"));
    if (c.ok())
      if (auto n = rpc::quantity_u64(c.replies[0]))
        relayer.next_nonce = std::max(relayer.next_nonce, *n);
  }
}

// ---------------------------------------------------------------------------------------------
// Confirmer
// ---------------------------------------------------------------------------------------------

asio::awaitable<void> SettlementEngine::confirmer_loop() {
  while (!stopping_) {
    co_await sleep_ms(confirmer_timer_, config_.receipt_poll_ms);
    if (stopping_) break;
    try {
      co_await confirm_once();
    } catch (const std::exception& e) {
      host_.error(std::string("confirmer pass failed: ") + e.what());
    }
  }
}

asio::awaitable<void> SettlementEngine::confirm_once() {
  QueueResult sent = co_await bridge_.queue_list("", std::string(state::kSent), kListLimit);
  QueueResult processing =
      co_await bridge_.queue_list("", std::string(state::kProcessing), kListLimit);
  if (!sent.ok || !processing.ok) co_return;
  // Whose jobs this node looks after: those of the relayers it holds, and those of relayers no
  // node here is configured with whose lease nobody holds (a key removed from the config: its
  // jobs can still be confirmed and re-broadcast byte for byte). A live holder elsewhere does
  // its own, so two nodes never act on one relayer's transactions.
  std::map<std::string, bool> ours;
  const uint64_t lease_now = host_.now_unix_ms();
  for (const auto* list : {&sent.jobs, &processing.jobs})
    for (const auto& job : *list) {
      auto d = JobData::from_json(job.data);
      if (!d || !d->has_tx() || ours.count(d->relayer)) continue;
      if (const Relayer* r = relayer_by_address(d->relayer)) {
        ours[d->relayer] = holds(*r);
        continue;
      }
      QueueResult lease = co_await bridge_.queue_list(lease_job_id(d->relayer), "", 1);
      if (!lease.ok) {
        ours[d->relayer] = false;
        continue;
      }
      auto l = lease.jobs.empty() ? std::nullopt : parse_lease_state(lease.jobs[0].state);
      ours[d->relayer] = !l || lease_now >= l->expires_ms;
    }
  struct Watched {
    sdk::QueueJob job;
    JobData data;
    size_t first_reply;
  };
  std::vector<Watched> watched;
  std::vector<RpcCall> calls{rpc::block_number()};
  auto watch = [&](const sdk::QueueJob& job) {
    auto d = JobData::from_json(job.data);
    if (!d || !d->has_tx() || sending_.count(job.id) || !ours[d->relayer]) return;
    watched.push_back({job, *d, calls.size()});
    for (const auto& h : d->hashes) calls.push_back(rpc::transaction_receipt(h));
  };
  for (const auto& j : sent.jobs) watch(j);
  for (const auto& j : processing.jobs) watch(j);
  if (watched.empty()) co_return;
  RpcBatch b = co_await rpc_.batch(std::move(calls));
  if (!b.ok()) co_return;
  auto head = rpc::quantity_u64(b.replies[0]);
  if (!head) co_return;
  const uint64_t now = host_.now_unix_ms();
  for (auto& w : watched) {
    if (stopping_) co_return;
    std::optional<Receipt> found;
    for (size_t i = 0; i < w.data.hashes.size(); ++i) {
      const RpcReply& r = b.replies[w.first_reply + i];
      if (!r.ok() || !r.result.is_object()) continue;
      const auto& o = r.result.get_object();
      Receipt rec;
      rec.hash = w.data.hashes[i];
      const auto* status = o.if_contains("status");
      rec.success = status && rpc::quantity_u64(*status) == 1u;
      if (const auto* bn = o.if_contains("blockNumber"))
        rec.block = rpc::quantity_u64(*bn).value_or(0);
      if (const auto* logs = o.if_contains("logs"); logs && logs->is_array())
        rec.logs = logs->get_array();
      found = std::move(rec);
      break;
    }
    if (found) {
      if (found->block == 0 || found->block + config_.confirmations - 1 > *head) continue;
      co_await on_receipt(w.job, std::move(w.data), *found);
      continue;
    }
    bool stuck = w.job.state == state::kSent &&
                 now >= w.data.sent_ms + uint64_t{config_.stuck_after_seconds} * 1000;
    bool due = examine_now_.count(w.job.id) > 0;
    auto next = next_examine_ms_.find(w.job.id);
    uint64_t next_at = next == next_examine_ms_.end() ? 0 : next->second;
    if (w.job.state == state::kProcessing || stuck) due = due || now >= next_at;
    if (!due) continue;
    examine_now_.erase(w.job.id);
    co_await examine(w.job, std::move(w.data), stuck);
  }
}

asio::awaitable<void> SettlementEngine::on_receipt(const sdk::QueueJob& job, JobData d,
                                                   const Receipt& r) {
  if (!r.success) {
    // Reverted. Anyone may submit an authorization: if it is used, someone else settled it.
    auto from = eth::parse_address(d.payer);
    auto nonce = eth::parse_hash32(d.auth_nonce);
    auto token = eth::parse_address(d.asset);
    if (!from || !nonce || !token) co_return;
    RpcBatch b =
        co_await rpc_.call(rpc::call(nullptr, *token, authorization_state_call(*from, *nonce)));
    if (!b.ok() || !b.replies[0].ok()) co_return;  // ask again next pass
    auto bytes = rpc::data(b.replies[0]);
    auto used = bytes ? eth::abi_bool(*bytes, 0) : std::nullopt;
    if (!used) co_return;
    if (*used) {
      co_await on_authorization_used(job, std::move(d),
                                     "our transaction " + r.hash +
                                         " reverted; the authorization "
                                         "was used by another transaction");
      co_return;
    }
    d.transaction = r.hash;
    d.reason = reason::kTransactionFailed;
    d.message = "transaction " + r.hash + " reverted";
    co_await finish(job, std::move(d), state::kConfirmationFailed);
    co_return;
  }
  // Success must show the transfer the payer authorized.
  static const std::string kTransfer = topic_of("Transfer(address,address,uint256)");
  auto value = eth::U256::from_decimal(d.amount);
  bool transferred = false;
  for (const auto& l : r.logs) {
    if (!l.is_object()) continue;
    const auto& o = l.get_object();
    const auto* address = o.if_contains("address");
    const auto* topics = o.if_contains("topics");
    const auto* data = o.if_contains("data");
    if (!address || !address->is_string() || lower(address->get_string()) != d.asset) continue;
    if (!topics || !topics->is_array() || topics->get_array().size() != 3) continue;
    const auto& t = topics->get_array();
    if (!t[0].is_string() || !t[1].is_string() || !t[2].is_string()) continue;
    if (lower(t[0].get_string()) != kTransfer ||
        lower(t[1].get_string()) != address_topic(d.payer) ||
        lower(t[2].get_string()) != address_topic(d.pay_to))
      continue;
    auto bytes = data && data->is_string() ? eth::from_hex(data->get_string()) : std::nullopt;
    auto amount = bytes ? eth::abi_word(*bytes, 0) : std::nullopt;
    if (amount && value && *amount == *value) transferred = true;
  }
  d.transaction = r.hash;
  if (!transferred) {
    d.reason = reason::kTransferEvent;
    d.message = "transaction " + r.hash + " succeeded without the authorized Transfer event";
    co_await finish(job, std::move(d), state::kConfirmationFailed);
    co_return;
  }
  co_await finish(job, std::move(d), state::kCompleted);
}

asio::awaitable<void> SettlementEngine::on_authorization_used(const sdk::QueueJob& job, JobData d,
                                                              std::string note) {
  static const std::string kUsed = topic_of("AuthorizationUsed(address,bytes32)");
  auto token = eth::parse_address(d.asset);
  if (!token) co_return;
  std::vector<std::string> topics;
  topics.push_back(kUsed);
  topics.push_back(address_topic(d.payer));
  topics.push_back(d.auth_nonce);
  RpcCall query = rpc::logs(*token, std::move(topics), d.from_block);
  RpcBatch b = co_await rpc_.call(std::move(query));
  if (!b.ok() || !b.replies[0].ok() || !b.replies[0].result.is_array()) co_return;  // retry later
  std::string tx;
  for (const auto& l : b.replies[0].result.get_array())
    if (l.is_object())
      if (const auto* h = l.get_object().if_contains("transactionHash"); h && h->is_string())
        tx = lower(h->get_string());
  d.transaction = tx;
  d.settled_by_other = std::find(d.hashes.begin(), d.hashes.end(), tx) == d.hashes.end();
  d.message = tx.empty() ? note + " (its transaction was not found in the logs)" : note;
  co_await finish(job, std::move(d), state::kCompleted);
}

asio::awaitable<bool> SettlementEngine::finish(const sdk::QueueJob& job, JobData d,
                                               std::string_view to_state) {
  QueueResult r = co_await bridge_.queue_update(job.id, job.state, std::string(to_state), job.lane,
                                                d.to_json());
  if (!r.ok || r.jobs.empty()) co_return false;  // moved meanwhile, or the store failed: next pass
  if (d.relayer_nonce)
    if (Relayer* rel = relayer_by_address(d.relayer); rel && holds(*rel) && rel->in_flight > 0) {
      --rel->in_flight;
      // A slot is free: jobs waiting behind a full relayer go now, not at the next poll.
      wake_senders();
    }
  next_examine_ms_.erase(job.id);
  examine_now_.erase(job.id);
  notify(job.id);
  count(to_state);
  std::string_view event = to_state == state::kCompleted ? "settlement.completed"
                           : to_state == state::kFailed  ? "settlement.failed"
                                                         : "settlement.confirmation_failed";
  json::object payload{
      {"id", job.id},        {"payment_id", d.payment_id}, {"transaction", d.transaction},
      {"payer", d.payer},    {"amount", d.amount},         {"asset", d.asset},
      {"network", d.network}};
  if (!d.reason.empty()) payload["reason"] = d.reason;
  if (!d.message.empty()) payload["message"] = d.message;
  if (d.settled_by_other) payload["settled_by_other"] = true;
  if (!d.relayer.empty()) payload["relayer"] = d.relayer;
  host_.emit_event(event, json::serialize(payload));
  co_return true;
}

asio::awaitable<void> SettlementEngine::back_to_pending(const sdk::QueueJob& job, JobData d,
                                                        std::string why) {
  Relayer* rel = relayer_by_address(d.relayer);
  d.clear_assignment();
  d.last_error = why;
  QueueResult r = co_await bridge_.queue_update(job.id, job.state, std::string(state::kPending), "",
                                                d.to_json());
  if (!r.ok || r.jobs.empty()) co_return;
  if (rel && holds(*rel) && rel->in_flight > 0) --rel->in_flight;
  next_examine_ms_.erase(job.id);
  host_.warn("job " + job.id + " back to pending: " + why);
  wake_senders();
}

// No receipt for any of the job's transactions: find out why before touching anything.
asio::awaitable<void> SettlementEngine::examine(sdk::QueueJob job, JobData d, bool stuck) {
  const uint64_t now = host_.now_unix_ms();
  auto relayer_address = eth::parse_address(d.relayer);
  auto from = eth::parse_address(d.payer);
  auto nonce = eth::parse_hash32(d.auth_nonce);
  auto token = eth::parse_address(d.asset);
  if (!relayer_address || !from || !nonce || !token) co_return;
  // The nonce count first: a receipt read after it cannot be missing for a transaction counted.
  std::vector<RpcCall> calls{rpc::transaction_count(*relayer_address, "latest")};
  for (const auto& h : d.hashes) calls.push_back(rpc::transaction_receipt(h));
  calls.push_back(rpc::transaction_by_hash(d.tx_hash));
  calls.push_back(rpc::call(nullptr, *token, authorization_state_call(*from, *nonce)));
  RpcBatch b = co_await rpc_.batch(std::move(calls));
  if (!b.ok()) {
    next_examine_ms_[job.id] = now + 5ull * config_.receipt_poll_ms;
    co_return;
  }
  auto latest = rpc::quantity_u64(b.replies[0]);
  for (size_t i = 0; i < d.hashes.size(); ++i)
    if (b.replies[1 + i].ok() && b.replies[1 + i].result.is_object()) co_return;  // confirmer's
  const RpcReply& by_hash = b.replies[1 + d.hashes.size()];
  auto state_bytes = rpc::data(b.replies[2 + d.hashes.size()]);
  auto used = state_bytes ? eth::abi_bool(*state_bytes, 0) : std::nullopt;
  if (!latest || !by_hash.ok() || !used) {
    next_examine_ms_[job.id] = now + 5ull * config_.receipt_poll_ms;
    co_return;
  }
  if (*latest > *d.relayer_nonce) {
    // Our nonce went to a transaction that is none of ours: our signed transactions can never
    // be mined now.
    if (Relayer* rel = relayer_by_address(d.relayer); rel && holds(*rel))
      rel->next_nonce = std::max(rel->next_nonce, *latest);
    if (*used) {
      co_await on_authorization_used(job, std::move(d), "relayer nonce consumed elsewhere");
    } else {
      co_await back_to_pending(job, std::move(d),
                               "relayer nonce " + std::to_string(*d.relayer_nonce) +
                                   " was consumed by another transaction");
    }
    co_return;
  }
  bool known = !by_hash.result.is_null();
  if (known) {
    if (job.state == state::kProcessing) {
      QueueResult m = co_await bridge_.queue_update(job.id, job.state, std::string(state::kSent),
                                                    job.lane, d.to_json());
      if (!m.ok || m.jobs.empty()) co_return;
      job = m.jobs[0];
      notify(job.id);
    }
    if (stuck) {
      co_await rebroadcast(job, std::move(d), true);
    } else {
      next_examine_ms_[job.id] = now + uint64_t{config_.stuck_after_seconds} * 1000;
    }
    co_return;
  }
  // Unknown to the node and the nonce is free: send the very same bytes again.
  co_await rebroadcast(job, std::move(d), false);
}

asio::awaitable<bool> SettlementEngine::rebroadcast(const sdk::QueueJob& job_in, JobData d,
                                                    bool bump_fees) {
  sdk::QueueJob job = job_in;
  const uint64_t now = host_.now_unix_ms();
  // Signing and sending for a configured relayer is its lease holder's alone; a relayer no longer
  // configured anywhere gets its recorded bytes re-sent, never anything new.
  Relayer* rel = relayer_by_address(d.relayer);
  if (rel && !holds(*rel)) co_return false;
  if (bump_fees) {
    auto calldata = eth::from_hex(d.calldata);
    std::optional<Fees> market = co_await current_fees();
    if (!rel || !calldata || !market) {
      next_examine_ms_[job.id] = now + uint64_t{config_.stuck_after_seconds} * 1000;
      co_return false;
    }
    Fees f;
    f.priority = std::max(bump(d.priority_fee_wei), market->priority);
    f.max_fee = std::max({bump(d.max_fee_wei), market->max_fee, f.priority});
    if (config_.gas.max_fee_per_gas_wei && f.max_fee > *config_.gas.max_fee_per_gas_wei) {
      if (d.max_fee_wei >= *config_.gas.max_fee_per_gas_wei) {
        host_.warn("job " + job.id + " is stuck at the gas.max_fee_per_gas_gwei cap");
        next_examine_ms_[job.id] = now + uint64_t{config_.stuck_after_seconds} * 1000;
        co_return false;
      }
      f.max_fee = *config_.gas.max_fee_per_gas_wei;
      f.priority = std::min(f.priority, f.max_fee);
    }
    auto signed_tx = sign(*rel, *d.relayer_nonce, f, *calldata, d.asset);
    if (!signed_tx) co_return false;
    d.raw_tx = eth::to_hex(signed_tx->raw);
    d.tx_hash = eth::to_hex(signed_tx->hash);
    d.hashes.push_back(d.tx_hash);  // either one may be the one mined
    d.max_fee_wei = f.max_fee;
    d.priority_fee_wei = f.priority;
    host_.info("replacing " + job.id + " transaction at relayer nonce " +
               std::to_string(*d.relayer_nonce) + " with higher fees: " + d.tx_hash);
  }
  if (rel && !holds(*rel)) co_return false;  // the fee lookup outlasted the lease
  d.sent_ms = now;
  ++d.broadcast_attempts;
  // Written ahead again: the new hash is recorded before it can be mined.
  QueueResult w =
      co_await bridge_.queue_update(job.id, job.state, job.state, job.lane, d.to_json());
  if (!w.ok || w.jobs.empty()) co_return false;
  job = w.jobs[0];
  RpcBatch b = co_await rpc_.call(rpc::send_raw_transaction(*eth::from_hex(d.raw_tx)));
  if (!b.ok()) {
    next_examine_ms_[job.id] = now + 5ull * config_.receipt_poll_ms;
    co_return false;
  }
  const RpcReply& reply = b.replies[0];
  if (reply.ok() || already_known(*reply.error)) {
    if (job.state == state::kProcessing) {
      QueueResult m = co_await bridge_.queue_update(job.id, job.state, std::string(state::kSent),
                                                    job.lane, d.to_json());
      if (m.ok && !m.jobs.empty()) notify(job.id);
    }
    next_examine_ms_[job.id] = now + uint64_t{config_.stuck_after_seconds} * 1000;
    co_return true;
  }
  if (fee_too_low(*reply.error) && !bump_fees)
    co_return co_await rebroadcast(job, std::move(d), true);
  // Nonce too low: the next examination sees the consumed nonce and decides.
  uint64_t backoff =
      std::min<uint64_t>(60000, 1000ull << std::min<uint32_t>(d.broadcast_attempts, 6));
  next_examine_ms_[job.id] = now + (nonce_too_low(*reply.error) ? 0 : backoff);
  if (d.last_error != reply.error->message) {
    host_.warn("re-broadcast of " + d.tx_hash + " refused: " + reply.error->message);
    d.last_error = reply.error->message;
    co_await bridge_.queue_update(job.id, job.state, job.state, job.lane, d.to_json());
  }
  co_return false;
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

asio::awaitable<void> SettlementEngine::metrics_loop() {
  while (!stopping_) {
    for (std::string_view s : {state::kPending, state::kProcessing, state::kSent, state::kCompleted,
                               state::kConfirmationFailed, state::kFailed}) {
      QueueResult r = co_await bridge_.queue_list("", std::string(s), 100000);
      if (stopping_) co_return;
      if (!r.ok) continue;
      size_t n = r.jobs.size();
      // Claimed for a relayer and not yet signed counts as processing.
      if (s == state::kProcessing)
        for (const auto& rel : relayers_) {
          QueueResult c = co_await bridge_.queue_list("", claimed_state(rel->address), 100000);
          if (stopping_) co_return;
          if (c.ok) n += c.jobs.size();
        }
      host_.gauge_set("x402_selfhosted_queue_jobs",
                      "instance=" + host_.instance_name() + ",state=" + std::string(s),
                      static_cast<int64_t>(n));
    }
    std::vector<RpcCall> calls;
    for (const auto& r : relayers_) calls.push_back(rpc::balance(r->key.address()));
    RpcBatch b = co_await rpc_.batch(std::move(calls));
    if (stopping_) co_return;
    if (b.ok()) {
      for (size_t i = 0; i < relayers_.size(); ++i) {
        auto wei = rpc::quantity(b.replies[i]);
        if (!wei) continue;
        auto& rel = *relayers_[i];
        // Gauges are int64: in gwei that still holds 9.2e9 ETH.
        int64_t gwei = INT64_MAX;
        if (std::all_of(wei->be.begin(), wei->be.begin() + 16, [](uint8_t b) { return b == 0; })) {
          unsigned __int128 v = 0;
          for (size_t k = 16; k < 32; ++k) v = (v << 8) | wei->be[k];
          v /= 1'000'000'000;
          if (v < static_cast<unsigned __int128>(INT64_MAX)) gwei = static_cast<int64_t>(v);
        }
        host_.gauge_set("x402_selfhosted_relayer_balance_gwei",
                        "instance=" + host_.instance_name() + ",relayer=" + rel.address, gwei);
        bool low = *wei < eth::U256::from_u64(config_.low_balance_wei);
        if (low && !rel.low_balance_warned)
          host_.warn("relayer " + rel.address + " is low on gas money: " + wei->to_decimal() +
                     " wei; top it up");
        rel.low_balance_warned = low;
      }
    }
    co_await sleep_ms(metrics_timer_, 5000);
  }
}

}  // namespace x402::plugins::selfhosted
