// The facilitator end to end on a test-double host and a fake chain: verify's checks on chain,
// settle through the durable queue (write-ahead, consecutive nonces, both wait modes, retries),
// and recovery decisions. Waits are on results, never on elapsed time.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>
#include <x402/eth/transaction.hpp>

#include "payments.hpp"
#include "selfhosted_facilitator.hpp"
#include "test_host.hpp"

namespace x402::plugins::selfhosted {
namespace {

using namespace test::selfhosted;
using namespace std::chrono_literals;

const Address kPayerAddress = eth::PrivateKey::from_hex(kPayerKey)->address();
const Address kRelayerAddress = eth::PrivateKey::from_hex(kRelayerKey)->address();
const Address kMerchantAddress = *eth::parse_address(kMerchant);

class SelfhostedFacilitatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    chain.token = *eth::parse_address(kToken);
    chain.balances[kPayerAddress] = U256::from_u64(1'000'000);
  }
  void TearDown() override { facilitator.reset(); }

  void start(const std::string& extra = "") {
    std::string config = std::string(R"({"rpc_url":"http://fake-node","relayer_keys":[")") +
                         kRelayerKey + R"("],"receipt_poll_ms":10,"settle_wait_timeout_ms":20000)" +
                         extra + "}";
    facilitator = std::make_unique<SelfhostedFacilitator>(
        sdk::InstanceContext{sdk::Host(host.api(), "selfhosted"), "selfhosted", config}, nullptr,
        nullptr);
    ASSERT_TRUE(eventually([&] {
      return facilitator->run_on_plugin_thread([&] { return facilitator->engine().started(); });
    })) << "the engine never started";
  }

  template <class F>
  bool eventually(F condition) {
    for (int i = 0; i < 2000; ++i) {
      if (condition()) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

  static sdk::FacilitatorResult wait(std::future<sdk::FacilitatorResult>& f) {
    if (f.wait_for(30s) != std::future_status::ready) {
      ADD_FAILURE() << "no answer within 30 s";
      return {};
    }
    return f.get();
  }
  std::future<sdk::FacilitatorResult> verify_async(const std::string& request) {
    auto p = std::make_shared<std::promise<sdk::FacilitatorResult>>();
    facilitator->verify(request, [p](const sdk::FacilitatorResult& r) { p->set_value(r); });
    return p->get_future();
  }
  std::future<sdk::FacilitatorResult> settle_async(
      const std::string& request, sdk::SettleWait mode = sdk::SettleWait::confirmed,
      std::string payment_id = "pay-1") {
    auto p = std::make_shared<std::promise<sdk::FacilitatorResult>>();
    sdk::SettleOptions o;
    o.wait = mode;
    o.payment_id = payment_id;
    facilitator->settle_with_options(request, o,
                                     [p](const sdk::FacilitatorResult& r) { p->set_value(r); });
    return p->get_future();
  }
  sdk::FacilitatorResult verify(const std::string& r) {
    auto f = verify_async(r);
    return wait(f);
  }
  sdk::FacilitatorResult settle(const std::string& r,
                                sdk::SettleWait mode = sdk::SettleWait::confirmed) {
    auto f = settle_async(r, mode);
    return wait(f);
  }

  static json::object body(const sdk::FacilitatorResult& r) {
    return json::parse(r.body).as_object();
  }
  static std::string id_of(const PaymentSpec& s) {
    return check_locally(signed_request(s), VerifyPolicy{84532, {}, 6, {}}, kNow).payment->job_id();
  }
  std::optional<JobData> data_of(const std::string& id) {
    auto j = host.job(id);
    return j ? JobData::from_json(j->data) : std::nullopt;
  }
  bool job_in(const std::string& id, std::string_view state) {
    auto j = host.job(id);
    return j && j->state == state;
  }
  // A job as a previous run would have left it, signed by our relayer at `nonce`.
  StoredJob prior_job(const PaymentSpec& s, std::string state, std::optional<uint64_t> nonce,
                      std::string* raw_out = nullptr) {
    Payment p = *check_locally(signed_request(s), VerifyPolicy{84532, {}, 6, {}}, kNow).payment;
    JobData d;
    d.request = signed_request(s);
    d.payment_id = "pay-old";
    d.network = p.network;
    d.payer = p.payer;
    d.amount = p.auth.value.to_decimal();
    d.asset = eth::to_hex(p.domain.verifying_contract);
    d.pay_to = eth::to_hex(p.auth.to);
    d.auth_nonce = eth::to_hex(p.auth.nonce);
    d.calldata = eth::to_hex(transfer_with_authorization_call(p));
    d.valid_before = s.valid_before;
    d.created_ms = host.now_ms;
    if (nonce) {
      eth::Eip1559Transaction tx;
      tx.chain_id = 84532;
      tx.nonce = *nonce;
      tx.max_priority_fee_per_gas = U256::from_u64(1'000'000'000);
      tx.max_fee_per_gas = U256::from_u64(3'000'000'000);
      tx.gas_limit = 150000;
      tx.to = chain.token;
      tx.data = transfer_with_authorization_call(p);
      auto signed_tx = eth::sign_transaction(tx, *eth::PrivateKey::from_hex(kRelayerKey));
      d.relayer = eth::to_hex(kRelayerAddress);
      d.relayer_nonce = *nonce;
      d.raw_tx = eth::to_hex(signed_tx.raw);
      d.tx_hash = eth::to_hex(signed_tx.hash);
      d.hashes = {d.tx_hash};
      d.max_fee_wei = 3'000'000'000;
      d.priority_fee_wei = 1'000'000'000;
      d.sent_ms = host.now_ms;
      if (raw_out) *raw_out = d.raw_tx;
    }
    return StoredJob{p.job_id(), d.relayer, state, d.to_json(), host.now_ms, host.now_ms, 0};
  }

  FakeChain chain;
  TestHost host{chain};
  std::unique_ptr<SelfhostedFacilitator> facilitator;
};

TEST_F(SelfhostedFacilitatorTest, SupportedNamesBothVersionsAndTheRelayers) {
  start();
  std::promise<sdk::FacilitatorResult> p;
  facilitator->supported([&](const sdk::FacilitatorResult& r) { p.set_value(r); });
  auto f = p.get_future();
  auto r = wait(f);
  ASSERT_EQ(r.outcome, X402_FAC_ANSWERED);
  auto b = body(r);
  auto kinds = b.at("kinds").as_array();
  ASSERT_EQ(kinds.size(), 2u);
  EXPECT_EQ(kinds[0].at("network").as_string(), "base-sepolia");
  EXPECT_EQ(kinds[0].at("x402Version").as_int64(), 1);
  EXPECT_EQ(kinds[1].at("network").as_string(), "eip155:84532");
  EXPECT_EQ(b.at("signers").at("eip155:*").as_array()[0].as_string(),
            eth::checksum_address(kRelayerAddress));
}

TEST_F(SelfhostedFacilitatorTest, VerifyChecksTheChainInOneBatchedRequest) {
  start();
  size_t before = chain.http_requests;
  auto r = verify(signed_request({}));
  ASSERT_EQ(r.outcome, X402_FAC_ANSWERED) << r.error;
  EXPECT_TRUE(body(r).at("isValid").as_bool()) << r.body;
  EXPECT_EQ(chain.http_requests, before + 1);
}

TEST_F(SelfhostedFacilitatorTest, VerifyOnChainRefusals) {
  start();
  chain.balances[kPayerAddress] = U256::from_u64(9999);
  EXPECT_EQ(body(verify(signed_request({}))).at("invalidReason").as_string(),
            reason::kInsufficientBalance);
  chain.balances[kPayerAddress] = U256::from_u64(10000);
  {
    std::lock_guard lock(chain.mutex);
    chain.used.insert({kPayerAddress, eth::to_hex(nonce_of(1))});
  }
  EXPECT_EQ(body(verify(signed_request({}))).at("invalidReason").as_string(), reason::kNonceUsed);
  PaymentSpec fresh;
  fresh.nonce_byte = 2;
  chain.simulation_revert = "FiatTokenV2: invalid signature";
  auto b = body(verify(signed_request(fresh)));
  EXPECT_EQ(b.at("invalidReason").as_string(), reason::kSimulation);
  EXPECT_EQ(b.at("invalidMessage").as_string(), "FiatTokenV2: invalid signature");
  EXPECT_EQ(b.at("payer").as_string(), eth::to_hex(kPayerAddress));
}

TEST_F(SelfhostedFacilitatorTest, UnreachableNodeMeansNotSentSoTheKernelFailsOver) {
  start();
  chain.unreachable = true;
  EXPECT_EQ(verify(signed_request({})).outcome, X402_FAC_NOT_SENT);
  EXPECT_EQ(settle(signed_request({})).outcome, X402_FAC_NOT_SENT);
  EXPECT_TRUE(host.settlement_jobs().empty())
      << "nothing may be queued when nothing could be checked";
}

TEST_F(SelfhostedFacilitatorTest, SettleWritesAheadThenSendsAndAnswersOnTheReceipt) {
  start();
  std::string id = id_of({});
  std::vector<std::string> violations;
  chain.on_send = [&](const SentTx& tx) {
    auto d = data_of(id);
    if (!d || d->raw_tx != tx.raw || !job_in(id, state::kProcessing))
      violations.push_back("transaction reached the node before it was written ahead");
  };
  auto r = settle(signed_request({}));
  ASSERT_EQ(r.outcome, X402_FAC_ANSWERED) << r.error;
  auto b = body(r);
  EXPECT_TRUE(b.at("success").as_bool()) << r.body;
  ASSERT_EQ(chain.received.size(), 1u);
  EXPECT_TRUE(violations.empty());
  EXPECT_EQ(b.at("transaction").as_string(), chain.received[0].hash);
  EXPECT_EQ(b.at("network").as_string(), "eip155:84532");
  EXPECT_EQ(b.at("amount").as_string(), "10000");
  EXPECT_EQ(chain.received[0].from, kRelayerAddress);
  EXPECT_EQ(chain.received[0].nonce, 0u);
  EXPECT_EQ(chain.received[0].to, chain.token);
  EXPECT_EQ(chain.balances[kMerchantAddress], U256::from_u64(10000));
  EXPECT_TRUE(job_in(id, state::kCompleted));
  ASSERT_TRUE(eventually([&] { return !host.events_copy().empty(); }));
  auto events = host.events_copy();
  EXPECT_EQ(events[0].first, "settlement.completed");
  auto e = json::parse(events[0].second).as_object();
  EXPECT_EQ(e.at("payment_id").as_string(), "pay-1");
  EXPECT_EQ(e.at("transaction").as_string(), chain.received[0].hash);
  EXPECT_EQ(e.at("id").as_string(), id);
}

TEST_F(SelfhostedFacilitatorTest, BroadcastModeAnswersOnceSentAndConfirmsLater) {
  chain.auto_mine = false;
  start();
  std::string id = id_of({});
  auto r = settle(signed_request({}), sdk::SettleWait::broadcast);
  ASSERT_EQ(r.outcome, X402_FAC_ANSWERED) << r.error;
  EXPECT_TRUE(body(r).at("success").as_bool());
  ASSERT_EQ(chain.received.size(), 1u);
  EXPECT_EQ(body(r).at("transaction").as_string(), chain.received[0].hash);
  EXPECT_TRUE(job_in(id, state::kSent)) << "answered before the chain mined it";
  chain.mine();
  EXPECT_TRUE(eventually([&] { return job_in(id, state::kCompleted); }));
  EXPECT_TRUE(eventually([&] { return host.events_copy().size() == 1; }));
}

TEST_F(SelfhostedFacilitatorTest, ConcurrentSettlesGetConsecutiveNoncesAndSettleOnce) {
  start();
  constexpr int kCount = 20;
  std::vector<std::future<sdk::FacilitatorResult>> answers(kCount);
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w)
    workers.emplace_back([&, w] {
      for (int i = w; i < kCount; i += 4) {
        PaymentSpec s;
        s.nonce_byte = static_cast<uint8_t>(10 + i);
        answers[i] = settle_async(signed_request(s));
      }
    });
  for (auto& t : workers) t.join();
  std::set<std::string> txs;
  for (auto& a : answers) {
    auto r = wait(a);
    ASSERT_EQ(r.outcome, X402_FAC_ANSWERED) << r.error;
    ASSERT_TRUE(body(r).at("success").as_bool()) << r.body;
    txs.insert(std::string(body(r).at("transaction").as_string()));
  }
  EXPECT_EQ(txs.size(), size_t{kCount});
  ASSERT_EQ(chain.received.size(), size_t{kCount}) << "each authorization sent exactly once";
  std::set<uint64_t> nonces;
  for (const auto& tx : chain.received) nonces.insert(tx.nonce);
  EXPECT_EQ(nonces.size(), size_t{kCount});
  EXPECT_EQ(*nonces.begin(), 0u);
  EXPECT_EQ(*nonces.rbegin(), uint64_t{kCount - 1});
  EXPECT_EQ(chain.balances[kMerchantAddress], U256::from_u64(10000 * kCount));
}

TEST_F(SelfhostedFacilitatorTest, ARetryAttachesToTheExistingJob) {
  start();
  auto first = settle(signed_request({}));
  auto second = settle(signed_request({}));
  ASSERT_EQ(second.outcome, X402_FAC_ANSWERED);
  EXPECT_TRUE(body(second).at("success").as_bool()) << second.body;
  EXPECT_EQ(body(second).at("transaction"), body(first).at("transaction"));
  EXPECT_EQ(chain.received.size(), 1u);
  EXPECT_EQ(host.puts_created, 1u);
}

TEST_F(SelfhostedFacilitatorTest, ARevertedSettlementIsAConfirmationFailure) {
  chain.auto_mine = false;
  start();
  std::string id = id_of({});
  auto pending = settle_async(signed_request({}));
  ASSERT_TRUE(eventually([&] { return job_in(id, state::kSent); }));
  chain.balances[kPayerAddress] = U256::from_u64(0);  // drained between verify and mining
  chain.mine();
  auto r = wait(pending);
  ASSERT_EQ(r.outcome, X402_FAC_ANSWERED);
  EXPECT_FALSE(body(r).at("success").as_bool());
  EXPECT_EQ(body(r).at("errorReason").as_string(), reason::kTransactionFailed);
  EXPECT_TRUE(job_in(id, state::kConfirmationFailed));
  ASSERT_TRUE(eventually([&] { return !host.events_copy().empty(); }));
  EXPECT_EQ(host.events_copy()[0].first, "settlement.confirmation_failed");
}

TEST_F(SelfhostedFacilitatorTest, RecoveryRebroadcastsTheSameWrittenAheadTransaction) {
  std::string raw;
  host.put_job(prior_job({}, "processing", 0, &raw));
  start();
  std::string id = id_of({});
  EXPECT_TRUE(eventually([&] { return job_in(id, state::kCompleted); }));
  ASSERT_EQ(chain.received.size(), 1u);
  EXPECT_EQ(chain.received[0].raw, raw) << "byte for byte the transaction written ahead";
}

TEST_F(SelfhostedFacilitatorTest, RecoveryRequeuesClaimedButUnsignedJobs) {
  host.put_job(prior_job({}, "processing", std::nullopt));
  start();
  std::string id = id_of({});
  EXPECT_TRUE(eventually([&] { return job_in(id, state::kCompleted); }));
  EXPECT_EQ(chain.received.size(), 1u);
}

TEST_F(SelfhostedFacilitatorTest, RecoveryGivesANewNonceWhenTheOldOneWentElsewhere) {
  host.put_job(prior_job({}, "sent", 0));
  chain.consume_nonce(kRelayerAddress);  // the operator used the key meanwhile
  start();
  std::string id = id_of({});
  EXPECT_TRUE(eventually([&] { return job_in(id, state::kCompleted); }));
  ASSERT_EQ(chain.received.size(), 1u);
  EXPECT_EQ(chain.received[0].nonce, 1u);
  auto d = data_of(id);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->hashes.size(), 2u) << "the old hash stays on record";
  EXPECT_EQ(d->transaction, chain.received[0].hash);
}

// The crash test's stall, on the test host: a restart finds the relayer full (a written-ahead
// transaction never broadcast, two sent ones in the node's pool) and many accepted payments
// behind it. Once the recovered transactions are mined, the waiting jobs must go out with no new
// settle call to wake the senders, each nonce used once, and the in-flight count back at zero.
TEST_F(SelfhostedFacilitatorTest, AfterARestartTheJobsWaitingBehindAFullRelayerAreSent) {
  constexpr int kWaiting = 20;
  chain.auto_mine = false;
  host.put_job(prior_job({.nonce_byte = 1}, "processing", 0));
  for (uint64_t nonce : {1, 2}) {
    std::string raw;
    host.put_job(prior_job({.nonce_byte = static_cast<uint8_t>(1 + nonce)}, "sent", nonce, &raw));
    // The node got them before the crash.
    std::string send =
        R"({"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":[")" + raw + R"("]})";
    ASSERT_NE(chain.handle(send).body.find("result"), std::string::npos);
  }
  std::vector<std::string> waiting;
  for (int i = 0; i < kWaiting; ++i) {
    PaymentSpec s{.nonce_byte = static_cast<uint8_t>(10 + i)};
    host.put_job(prior_job(s, "pending", std::nullopt));
    waiting.push_back(id_of(s));
  }
  start(R"(,"batch_size":2,"max_in_flight_per_relayer":3)");
  // Recovery re-broadcasts nonce 0 (the node never saw it): then the three can be mined.
  ASSERT_TRUE(eventually([&] { return chain.pool_size() == 3; }));
  {
    std::lock_guard lock(chain.mutex);
    chain.auto_mine = true;
  }
  chain.mine();
  ASSERT_TRUE(eventually([&] {
    for (const auto& id : waiting)
      if (!job_in(id, state::kCompleted)) return false;
    return true;
  })) << "jobs waiting behind the recovered transactions were never sent";
  std::set<uint64_t> nonces;
  for (const auto& tx : chain.received) EXPECT_TRUE(nonces.insert(tx.nonce).second) << tx.nonce;
  EXPECT_EQ(nonces.size(), size_t{kWaiting} + 3);
  EXPECT_EQ(*nonces.rbegin(), uint64_t{kWaiting} + 2) << "nonces 0..n-1, no gap";
  EXPECT_EQ(host.puts_created, 0u) << "no settle call was made";
  EXPECT_EQ(facilitator->run_on_plugin_thread(
                [&] { return facilitator->engine().relayers()[0]->in_flight; }),
            0u);
}

// Whatever made the in-flight count drift, a relayer whose count says "full" while no job holds
// one of its nonces must go on sending: the count is checked against the queue.
TEST_F(SelfhostedFacilitatorTest, ADriftedInFlightCountDoesNotParkTheRelayer) {
  start(R"(,"max_in_flight_per_relayer":2)");
  facilitator->run_on_plugin_thread([&] {
    facilitator->engine().relayers()[0]->in_flight = 2;  // a leak: nothing holds a nonce
    return 0;
  });
  for (uint8_t n : {1, 2, 3}) host.put_job(prior_job({.nonce_byte = n}, "pending", std::nullopt));
  // No settle call: only the sender's own wake-up can find these.
  for (uint8_t n : {1, 2, 3})
    EXPECT_TRUE(eventually([&] { return job_in(id_of({.nonce_byte = n}), state::kCompleted); }))
        << int{n};
  EXPECT_EQ(chain.received.size(), 3u);
  auto logs = host.logs_copy();
  EXPECT_TRUE(std::any_of(logs.begin(), logs.end(), [](const std::string& l) {
    return l.find("in-flight count corrected from 2 to 0") != std::string::npos;
  }));
}

// Two rounds for one relayer at once would read the same next nonce.
TEST_F(SelfhostedFacilitatorTest, OneSendRoundPerRelayerAtATime) {
  start();
  for (uint8_t n = 1; n <= 6; ++n)
    host.put_job(prior_job({.nonce_byte = n}, "pending", std::nullopt));
  facilitator->run_on_plugin_thread([&] {
    auto& engine = facilitator->engine();
    for (int i = 0; i < 3; ++i)
      asio::co_spawn(facilitator->executor(), engine.send_round(*engine.relayers()[0]),
                     asio::detached);
    return 0;
  });
  for (uint8_t n = 1; n <= 6; ++n)
    EXPECT_TRUE(eventually([&] { return job_in(id_of({.nonce_byte = n}), state::kCompleted); }));
  std::set<uint64_t> nonces;
  for (const auto& tx : chain.received) EXPECT_TRUE(nonces.insert(tx.nonce).second) << tx.nonce;
  EXPECT_EQ(nonces.size(), 6u);
}

TEST_F(SelfhostedFacilitatorTest, RecoveryFindsASettlementMadeBySomeoneElse) {
  StoredJob job = prior_job({}, "sent", 0);
  host.put_job(job);
  Payment p = *check_locally(signed_request({}), VerifyPolicy{84532, {}, 6, {}}, kNow).payment;
  std::string elsewhere = chain.settle_elsewhere(transfer_with_authorization_call(p));
  chain.consume_nonce(kRelayerAddress);
  start();
  EXPECT_TRUE(eventually([&] { return job_in(job.id, state::kCompleted); }));
  auto d = data_of(job.id);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->transaction, elsewhere);
  EXPECT_TRUE(d->settled_by_other);
  EXPECT_TRUE(chain.received.empty()) << "nothing re-sent";
  // And a retry of the settle answers with that transaction.
  auto r = settle(signed_request({}));
  EXPECT_TRUE(body(r).at("success").as_bool());
  EXPECT_EQ(body(r).at("transaction").as_string(), elsewhere);
}

TEST_F(SelfhostedFacilitatorTest, AStuckTransactionIsReplacedWithHigherFeesAtTheSameNonce) {
  chain.auto_mine = false;
  start(R"(,"stuck_after_seconds":1)");
  std::string id = id_of({});
  auto r = settle(signed_request({}), sdk::SettleWait::broadcast);
  ASSERT_TRUE(body(r).at("success").as_bool());
  host.now_ms += 2000;
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(chain.mutex);
    return chain.received.size() >= 2;
  }));
  SentTx first, second;
  {
    std::lock_guard lock(chain.mutex);
    first = chain.received[0];
    second = chain.received[1];
  }
  EXPECT_EQ(second.nonce, first.nonce);
  EXPECT_GE(second.max_fee * 8, first.max_fee * 9);
  EXPECT_GE(second.priority_fee * 8, first.priority_fee * 9);
  chain.mine();
  EXPECT_TRUE(eventually([&] { return job_in(id, state::kCompleted); }));
  auto d = data_of(id);
  EXPECT_EQ(d->transaction, second.hash);
  EXPECT_EQ(d->hashes.size(), 2u);
}

TEST_F(SelfhostedFacilitatorTest, ALostBroadcastAnswerIsExaminedNotResent) {
  chain.fail_sends_after_accepting = 1;  // the node takes the tx, the answer is lost
  start();
  std::string id = id_of({});
  auto r = settle(signed_request({}));
  EXPECT_TRUE(body(r).at("success").as_bool()) << r.body;
  EXPECT_TRUE(job_in(id, state::kCompleted));
  EXPECT_EQ(chain.received.size(), 1u);
}

TEST_F(SelfhostedFacilitatorTest, AnExpiredRetryStillFindsItsJob) {
  start();
  auto first = settle(signed_request({}));
  ASSERT_TRUE(body(first).at("success").as_bool());
  host.now_ms += 3'600'000;  // the authorization expired since
  auto again = settle(signed_request({}));
  EXPECT_TRUE(body(again).at("success").as_bool()) << again.body;
  EXPECT_EQ(body(again).at("transaction"), body(first).at("transaction"));
}

TEST_F(SelfhostedFacilitatorTest, RelayerKeysNeverReachTheLogs) {
  start();
  settle(signed_request({}));
  facilitator.reset();
  std::string secret = std::string(kRelayerKey).substr(2);
  for (const auto& l : host.logs_copy()) EXPECT_EQ(l.find(secret), std::string::npos) << l;
}

}  // namespace
}  // namespace x402::plugins::selfhosted
