#pragma once
// The settlement queue's workers, all on the plugin's io_context thread:
//  - one sender per relayer key: claims pending jobs, pre-assigns consecutive relayer nonces,
//    signs, writes the signed transaction ahead into the job, then broadcasts the batch in one
//    JSON-RPC request;
//  - one confirmer: polls receipts for every job with a transaction, finishes jobs, and examines
//    the ones without a receipt that are stuck or whose broadcast went wrong;
//  - recovery when this node takes a relayer's lease: nothing is re-sent blindly; a written-ahead
//    transaction is re-broadcast byte for byte (same hash, cannot double-spend) only while its
//    nonce is still free.
// Several nodes may share the store and the same keys: a relayer is used only by the node holding
// its lease (lease.hpp), renewed by a lease loop. Only the holder assigns nonces, signs, sends,
// re-broadcasts or replaces for it; the others leave its jobs alone.
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>
#include <x402/eth/secp256k1.hpp>
#include <x402/eth/transaction.hpp>
#include <x402/plugin.hpp>

#include "config.hpp"
#include "host_bridge.hpp"
#include "job.hpp"
#include "lease.hpp"
#include "rpc_client.hpp"
#include "verifier.hpp"

namespace x402::plugins::selfhosted {

struct Relayer {
  eth::PrivateKey key;
  std::string address;  // lower-case hex
  uint64_t next_nonce = 0;
  size_t in_flight = 0;   // jobs holding one of its nonces and not finished
  bool in_round = false;  // a send round is running: two at once would hand out one nonce twice
  bool wake_pending = false;
  std::chrono::steady_clock::time_point next_recount{};  // see SettlementEngine::recount
  std::unique_ptr<asio::steady_timer> wake;
  bool low_balance_warned = false;
  // Its lease: the exact state string this node last wrote (empty: not ours), and the wall-clock
  // time until which this node may act on it (expiry minus the clock margin).
  std::string lease;
  uint64_t lease_valid_until_ms = 0;
  bool recovered = false;  // next_nonce and in_flight rebuilt from the queue since taking it
};

class SettlementEngine {
 public:
  SettlementEngine(const SelfhostedConfig& config, HostBridge& bridge, RpcClient& rpc,
                   asio::any_io_executor executor);

  void set_chain_id(uint64_t chain_id) { chain_id_ = chain_id; }
  // Takes the relayer leases it can (each with its recovery); then the lease, sender, confirmer
  // and metrics loops start. False when the store could not be read (the caller retries).
  asio::awaitable<bool> start();
  bool started() const { return started_; }
  void stop();

  // Queues a verified payment (or attaches to its existing job) and answers per `wait`.
  asio::awaitable<sdk::FacilitatorResult> settle(const Payment& payment, uint64_t from_block,
                                                 std::string request, sdk::SettleWait wait,
                                                 std::string payment_id);
  // The job for this payment, when one exists; nullopt on absence. Store failure -> ok=false.
  asio::awaitable<QueueResult> find(const std::string& job_id);
  // Waits for job `id` per `wait` and turns its state into the settle answer.
  asio::awaitable<sdk::FacilitatorResult> answer_for(const std::string& id, sdk::SettleWait wait,
                                                     std::string network, std::string payer);

  const eth::Address& next_simulation_sender();
  std::vector<std::string> relayer_addresses() const;
  const std::vector<std::unique_ptr<Relayer>>& relayers() const { return relayers_; }
  void wake_senders();

  // One confirmer pass / one sender round: exposed so unit tests can drive them step by step.
  asio::awaitable<void> confirm_once();
  asio::awaitable<void> send_round(Relayer& relayer);
  // One pass of the lease loop: renew the leases held, take the free or expired ones. False when
  // the store could not be read.
  asio::awaitable<bool> lease_pass();

  const std::string& node_id() const { return node_id_; }
  // This node may assign nonces, sign and send for `relayer` right now.
  bool holds(const Relayer& relayer) const;

 private:
  struct Fees {
    uint64_t max_fee = 0;
    uint64_t priority = 0;
  };
  struct Receipt {
    std::string hash;
    bool success = false;
    uint64_t block = 0;
    json::array logs;
  };

  asio::awaitable<void> lease_loop();
  asio::awaitable<bool> keep_lease(Relayer& relayer);
  asio::awaitable<bool> recover_relayer(Relayer& relayer);
  void drop_lease(Relayer& relayer, const std::string& why);
  asio::awaitable<void> sender_loop(Relayer& relayer);
  asio::awaitable<void> send_round_now(Relayer& relayer);
  asio::awaitable<void> recount(Relayer& relayer);
  asio::awaitable<void> confirmer_loop();
  asio::awaitable<void> metrics_loop();
  asio::awaitable<std::optional<Fees>> current_fees();
  asio::awaitable<void> examine(sdk::QueueJob job, JobData data, bool stuck);
  asio::awaitable<void> on_receipt(const sdk::QueueJob& job, JobData data, const Receipt& r);
  asio::awaitable<void> on_authorization_used(const sdk::QueueJob& job, JobData data,
                                              std::string note);
  asio::awaitable<bool> finish(const sdk::QueueJob& job, JobData data, std::string_view state);
  asio::awaitable<void> back_to_pending(const sdk::QueueJob& job, JobData data, std::string why);
  asio::awaitable<bool> rebroadcast(const sdk::QueueJob& job, JobData data, bool bump);
  asio::awaitable<void> sleep_ms(asio::steady_timer& timer, uint64_t ms);
  void notify(const std::string& id);
  Relayer* relayer_by_address(const std::string& address);
  std::optional<eth::SignedTransaction> sign(Relayer& r, uint64_t nonce, const Fees& fees,
                                             const eth::Bytes& calldata, const std::string& token);
  void count(std::string_view outcome);

  const SelfhostedConfig& config_;
  HostBridge& bridge_;
  RpcClient& rpc_;
  asio::any_io_executor executor_;
  const sdk::Host& host_;
  uint64_t chain_id_ = 0;
  bool started_ = false;
  bool stopping_ = false;
  std::vector<std::unique_ptr<Relayer>> relayers_;
  size_t simulation_turn_ = 0;
  size_t wake_turn_ = 0;
  std::string node_id_;
  bool lease_pass_running_ = false;
  asio::steady_timer lease_timer_;
  asio::steady_timer confirmer_timer_;
  asio::steady_timer metrics_timer_;
  std::set<std::string> sending_;                    // jobs inside a sender round right now
  std::set<std::string> examine_now_;                // recovered jobs: examine at once
  std::map<std::string, uint64_t> next_examine_ms_;  // back-off for failing re-broadcasts
  std::unordered_multimap<std::string, asio::steady_timer*> waiters_;
};

// The normalized settle answer body.
std::string settle_body(bool success, std::string_view tx, std::string_view network,
                        std::string_view payer, std::string_view amount,
                        std::string_view reason = {}, std::string_view message = {});

}  // namespace x402::plugins::selfhosted
