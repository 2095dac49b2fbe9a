// Several gateway nodes on one store with the SAME relayer keys: two facilitator instances on one
// test host share its queue and its chain, as two x402d processes share a database. Relayer
// leases decide who signs; the tests check that each job is settled exactly once, that every
// relayer nonce is used once, and that a node's claims are left alone while it lives and taken
// over once its lease expired. The host's wall clock moves only when a test moves it, so lease
// expiry is exact; waits are on results, never on elapsed time.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <map>
#include <thread>
#include <x402/eth/transaction.hpp>

#include "lease.hpp"
#include "payments.hpp"
#include "selfhosted_facilitator.hpp"
#include "test_host.hpp"

namespace x402::plugins::selfhosted {
namespace {

using namespace test::selfhosted;
using namespace std::chrono_literals;

const Address kPayerAddress = eth::PrivateKey::from_hex(kPayerKey)->address();
const Address kRelayer1 = eth::PrivateKey::from_hex(kRelayerKey)->address();
const Address kRelayer2 = eth::PrivateKey::from_hex(kRelayerKey2)->address();
const std::string kRelayer1Hex = eth::to_hex(kRelayer1);
const std::string kRelayer2Hex = eth::to_hex(kRelayer2);
constexpr uint64_t kTtl = 10000;
constexpr uint64_t kMargin = 3000;

TEST(LeaseState, RoundTripsAndNeverLooksLikeASettlementState) {
  auto s = lease_state("ab12", 1'700'000'010'000);
  EXPECT_EQ(s, "lease|ab12|1700000010000");
  auto l = parse_lease_state(s);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->node, "ab12");
  EXPECT_EQ(l->expires_ms, 1'700'000'010'000u);
  for (std::string_view bad : {"pending", "processing", "sent", "completed", "lease|", "lease||5",
                               "lease|a|", "lease|a|12x", "lease|a|-1", "claimed|0xab"})
    EXPECT_FALSE(parse_lease_state(bad)) << bad;
  EXPECT_EQ(claimed_state("0xab"), "claimed|0xab");
  EXPECT_TRUE(is_claimed_state(claimed_state("0xab")));
  EXPECT_FALSE(is_claimed_state("processing"));
  EXPECT_EQ(lease_job_id("0xab"), "lease:0xab");
  EXPECT_NE(random_node_id(), random_node_id());
}

class MultiNodeTest : public ::testing::Test {
 protected:
  using Node = std::unique_ptr<SelfhostedFacilitator>;

  void SetUp() override {
    chain.token = *eth::parse_address(kToken);
    chain.balances[kPayerAddress] = U256::from_u64(1'000'000'000);
  }
  void TearDown() override {
    for (auto& n : nodes) n.reset();
  }

  // renew_ms: how often the node's own lease loop runs (real time). A node the test drives with
  // explicit lease passes gets a long one.
  SelfhostedFacilitator& start_node(std::vector<std::string> keys, uint32_t renew_ms = 20,
                                    const std::string& extra = "") {
    std::string list;
    for (const auto& k : keys) list += (list.empty() ? "\"" : ",\"") + k + "\"";
    std::string config = R"({"rpc_url":"http://fake-node","relayer_keys":[)" + list +
                         R"(],"receipt_poll_ms":10,"settle_wait_timeout_ms":20000,)" +
                         R"("lease_ttl_ms":)" + std::to_string(kTtl) +
                         R"(,"lease_clock_margin_ms":)" + std::to_string(kMargin) +
                         R"(,"lease_renew_ms":)" + std::to_string(renew_ms) + extra + "}";
    nodes.push_back(std::make_unique<SelfhostedFacilitator>(
        sdk::InstanceContext{sdk::Host(host.api(), "selfhosted"), "selfhosted", config}, nullptr,
        nullptr));
    auto& node = *nodes.back();
    EXPECT_TRUE(eventually([&] {
      return node.run_on_plugin_thread([&] { return node.engine().started(); });
    })) << "the engine never started";
    return node;
  }

  template <class F>
  bool eventually(F condition) {
    for (int i = 0; i < 4000; ++i) {
      if (condition()) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

  static bool lease_pass(SelfhostedFacilitator& node) {
    return asio::co_spawn(node.executor(), node.engine().lease_pass(), asio::use_future).get();
  }
  static void confirm_once(SelfhostedFacilitator& node) {
    asio::co_spawn(node.executor(), node.engine().confirm_once(), asio::use_future).get();
  }
  static bool holds(SelfhostedFacilitator& node, size_t relayer) {
    return node.run_on_plugin_thread(
        [&] { return node.engine().holds(*node.engine().relayers()[relayer]); });
  }
  static std::string node_id(SelfhostedFacilitator& node) {
    return node.run_on_plugin_thread([&] { return node.engine().node_id(); });
  }
  std::optional<Lease> lease_of(const std::string& relayer_hex) {
    auto j = host.job(lease_job_id(relayer_hex));
    return j ? parse_lease_state(j->state) : std::nullopt;
  }
  void put_lease(const std::string& relayer_hex, const std::string& node, uint64_t expires_ms) {
    host.put_job(StoredJob{lease_job_id(relayer_hex), "lease", lease_state(node, expires_ms), "{}",
                           host.now_ms, host.now_ms, 0});
  }

  static sdk::FacilitatorResult wait(std::future<sdk::FacilitatorResult>& f) {
    if (f.wait_for(30s) != std::future_status::ready) {
      ADD_FAILURE() << "no answer within 30 s";
      return {};
    }
    return f.get();
  }
  static std::future<sdk::FacilitatorResult> settle_async(
      SelfhostedFacilitator& node, const std::string& request,
      sdk::SettleWait mode = sdk::SettleWait::confirmed) {
    auto p = std::make_shared<std::promise<sdk::FacilitatorResult>>();
    sdk::SettleOptions o;
    o.wait = mode;
    o.payment_id = "pay";
    node.settle_with_options(request, o, [p](const sdk::FacilitatorResult& r) { p->set_value(r); });
    return p->get_future();
  }
  static json::object body(const sdk::FacilitatorResult& r) {
    return json::parse(r.body).as_object();
  }
  static std::string id_of(const PaymentSpec& s) {
    return check_locally(signed_request(s), VerifyPolicy{84532, {}, 6, {}}, kNow).payment->job_id();
  }
  bool job_in(const std::string& id, std::string_view state) {
    auto j = host.job(id);
    return j && j->state == state;
  }
  // A job as another node would have left it: claimed for `relayer_key` (no transaction), or
  // signed by it at `nonce`.
  StoredJob foreign_job(const PaymentSpec& s, const std::string& relayer_key, std::string state,
                        std::optional<uint64_t> nonce, std::string* raw_out = nullptr) {
    Payment p = *check_locally(signed_request(s), VerifyPolicy{84532, {}, 6, {}}, kNow).payment;
    JobData d;
    d.request = signed_request(s);
    d.payment_id = "pay-other-node";
    d.network = p.network;
    d.payer = p.payer;
    d.amount = p.auth.value.to_decimal();
    d.asset = eth::to_hex(p.domain.verifying_contract);
    d.pay_to = eth::to_hex(p.auth.to);
    d.auth_nonce = eth::to_hex(p.auth.nonce);
    d.calldata = eth::to_hex(transfer_with_authorization_call(p));
    d.valid_before = s.valid_before;
    d.created_ms = host.now_ms;
    auto key = *eth::PrivateKey::from_hex(relayer_key);
    std::string lane;
    if (nonce) {
      eth::Eip1559Transaction tx;
      tx.chain_id = 84532;
      tx.nonce = *nonce;
      tx.max_priority_fee_per_gas = U256::from_u64(1'000'000'000);
      tx.max_fee_per_gas = U256::from_u64(3'000'000'000);
      tx.gas_limit = 150000;
      tx.to = chain.token;
      tx.data = transfer_with_authorization_call(p);
      auto signed_tx = eth::sign_transaction(tx, key);
      d.relayer = eth::to_hex(key.address());
      d.relayer_nonce = *nonce;
      d.raw_tx = eth::to_hex(signed_tx.raw);
      d.tx_hash = eth::to_hex(signed_tx.hash);
      d.hashes = {d.tx_hash};
      d.max_fee_wei = 3'000'000'000;
      d.priority_fee_wei = 1'000'000'000;
      d.sent_ms = host.now_ms;
      lane = d.relayer;
      if (raw_out) *raw_out = d.raw_tx;
    }
    return StoredJob{p.job_id(), lane, state, d.to_json(), host.now_ms, host.now_ms, 0};
  }

  // Every transaction the chain accepted, per sender: each nonce once, 0..n-1.
  void expect_consecutive_nonces_without_collision() {
    std::lock_guard lock(chain.mutex);
    std::map<Address, std::set<uint64_t>> nonces;
    for (const auto& tx : chain.received)
      EXPECT_TRUE(nonces[tx.from].insert(tx.nonce).second)
          << "nonce " << tx.nonce << " of " << eth::to_hex(tx.from) << " sent twice";
    for (const auto& [from, set] : nonces) {
      ASSERT_FALSE(set.empty());
      EXPECT_EQ(*set.begin(), 0u) << eth::to_hex(from);
      EXPECT_EQ(*set.rbegin(), set.size() - 1) << eth::to_hex(from) << ": a gap";
    }
  }
  size_t requeues() {
    std::lock_guard lock(host.mutex);
    size_t n = 0;
    for (const auto& h : host.history) n += h.state == state::kPending ? 1 : 0;
    return n;
  }

  FakeChain chain;
  TestHost host{chain};
  std::vector<Node> nodes;
};

TEST_F(MultiNodeTest, TheFirstNodeTakesTheLeasesRenewsThemAndTheSecondWaits) {
  auto& a = start_node({kRelayerKey, kRelayerKey2});
  const uint64_t t0 = host.now_ms;
  for (const auto& r : {kRelayer1Hex, kRelayer2Hex}) {
    auto l = lease_of(r);
    ASSERT_TRUE(l) << r;
    EXPECT_EQ(l->node, node_id(a));
    EXPECT_EQ(l->expires_ms, t0 + kTtl);
  }
  EXPECT_TRUE(holds(a, 0));
  EXPECT_TRUE(holds(a, 1));
  // Renewal: the expiry follows the clock.
  host.now_ms += 1000;
  EXPECT_TRUE(eventually([&] {
    auto l1 = lease_of(kRelayer1Hex), l2 = lease_of(kRelayer2Hex);
    return l1 && l2 && l1->expires_ms == t0 + 1000 + kTtl && l2->expires_ms == t0 + 1000 + kTtl;
  }));

  auto& b = start_node({kRelayerKey, kRelayerKey2}, 5000);
  EXPECT_NE(node_id(a), node_id(b));
  ASSERT_TRUE(lease_pass(b));
  EXPECT_FALSE(holds(b, 0));
  EXPECT_FALSE(holds(b, 1));
  EXPECT_EQ(lease_of(kRelayer1Hex)->node, node_id(a));
}

TEST_F(MultiNodeTest, ANodeThatCannotRenewStopsBeforeTheOthersSeeItsLeaseExpire) {
  auto& a = start_node({kRelayerKey});
  const uint64_t t0 = host.now_ms;
  ASSERT_TRUE(holds(a, 0));
  {
    std::lock_guard lock(host.mutex);
    host.fail_updates = 1'000'000;  // the store refuses every write from now on
  }
  lease_pass(a);  // whatever renewal was under way has ended
  host.now_ms = t0 + kTtl - kMargin;
  EXPECT_FALSE(holds(a, 0)) << "still using the relayer without a renewed lease";
  auto l = lease_of(kRelayer1Hex);
  ASSERT_TRUE(l);
  EXPECT_GT(l->expires_ms, host.now_ms.load()) << "the others still see a live lease";
  // The store is back before anyone took over: the same node goes on, no break in ownership.
  {
    std::lock_guard lock(host.mutex);
    host.fail_updates = 0;
  }
  EXPECT_TRUE(eventually([&] { return holds(a, 0); }));
  EXPECT_EQ(lease_of(kRelayer1Hex)->node, node_id(a));
}

// Two nodes, the same two keys, one relayer each (a third, dead node held the second key until
// its lease ran out), 40 settlements spread over both: each job completed exactly once, every
// relayer nonce used once and consecutively, nothing ever put back to pending.
TEST_F(MultiNodeTest, TwoNodesWithTheSameKeysSettleEachPaymentExactlyOnce) {
  put_lease(kRelayer2Hex, "deadbeefdeadbeef", host.now_ms + 1000);
  auto& a = start_node({kRelayerKey, kRelayerKey2}, 5000);
  ASSERT_TRUE(holds(a, 0));
  ASSERT_FALSE(holds(a, 1));
  auto& b = start_node({kRelayerKey, kRelayerKey2});
  host.now_ms += 2000;  // the dead node's lease expired; a's is still good
  ASSERT_TRUE(eventually([&] { return holds(b, 1); })) << "b never took over the free lease";
  EXPECT_TRUE(holds(a, 0));
  EXPECT_FALSE(holds(b, 0));

  constexpr int kCount = 40;
  std::vector<std::future<sdk::FacilitatorResult>> answers(kCount);
  std::vector<std::thread> clients;
  for (int w = 0; w < 4; ++w)
    clients.emplace_back([&, w] {
      for (int i = w; i < kCount; i += 4) {
        PaymentSpec s;
        s.nonce_byte = static_cast<uint8_t>(10 + i);
        answers[i] =
            settle_async(i % 2 ? a : b, signed_request(s),
                         i % 5 == 0 ? sdk::SettleWait::broadcast : sdk::SettleWait::confirmed);
      }
    });
  for (auto& c : clients) c.join();
  for (auto& f : answers) {
    auto r = wait(f);
    ASSERT_EQ(r.outcome, X402_FAC_ANSWERED) << r.error;
    EXPECT_TRUE(body(r).at("success").as_bool()) << r.body;
  }
  for (int i = 0; i < kCount; ++i) {
    PaymentSpec s;
    s.nonce_byte = static_cast<uint8_t>(10 + i);
    EXPECT_TRUE(eventually([&] { return job_in(id_of(s), state::kCompleted); })) << i;
  }
  {
    std::lock_guard lock(chain.mutex);
    EXPECT_EQ(chain.received.size(), size_t{kCount}) << "each authorization sent exactly once";
    size_t from1 = 0, from2 = 0;
    for (const auto& tx : chain.received) (tx.from == kRelayer1 ? from1 : from2)++;
    EXPECT_GT(from1, 0u) << "node a never sent";
    EXPECT_GT(from2, 0u) << "node b never sent";
  }
  expect_consecutive_nonces_without_collision();
  EXPECT_EQ(chain.balances[*eth::parse_address(kMerchant)], U256::from_u64(10000 * kCount));
  EXPECT_TRUE(eventually([&] { return host.events_copy().size() == size_t{kCount}; }));
  for (const auto& [type, payload] : host.events_copy()) EXPECT_EQ(type, "settlement.completed");
  EXPECT_EQ(requeues(), 0u) << "a job was put back to pending";
}

// A claim of a node that lives is never requeued and its written-ahead transaction is not
// touched; once its lease has expired, the node taking over requeues the claim, re-sends the
// written-ahead bytes and carries on with the next nonce.
TEST_F(MultiNodeTest, ALiveNodesClaimsAreLeftAloneUntilItsLeaseExpires) {
  chain.auto_mine = false;
  const uint64_t t0 = host.now_ms;
  put_lease(kRelayer1Hex, "0123456789abcdef", t0 + 5000);
  std::string raw;
  StoredJob signed_job =
      foreign_job({.nonce_byte = 1}, kRelayerKey, std::string(state::kSent), 0, &raw);
  StoredJob claimed_job =
      foreign_job({.nonce_byte = 2}, kRelayerKey, claimed_state(kRelayer1Hex), std::nullopt);
  host.put_job(signed_job);
  host.put_job(claimed_job);

  auto& b = start_node({kRelayerKey}, 5000);
  for (int i = 0; i < 3; ++i) {
    lease_pass(b);
    confirm_once(b);
  }
  EXPECT_FALSE(holds(b, 0));
  EXPECT_TRUE(job_in(claimed_job.id, claimed_state(kRelayer1Hex))) << "requeued under a live node";
  EXPECT_TRUE(job_in(signed_job.id, state::kSent));
  EXPECT_TRUE(chain.received.empty()) << "re-broadcast a transaction of another live node";

  host.now_ms = t0 + 5000;  // expired
  ASSERT_TRUE(lease_pass(b));
  ASSERT_TRUE(holds(b, 0));
  EXPECT_EQ(lease_of(kRelayer1Hex)->node, node_id(b));
  {
    std::lock_guard lock(chain.mutex);
    chain.auto_mine = true;
  }
  chain.mine();  // whatever the new holder sent meanwhile
  EXPECT_TRUE(eventually([&] { return job_in(signed_job.id, state::kCompleted); }));
  EXPECT_TRUE(eventually([&] { return job_in(claimed_job.id, state::kCompleted); }));
  std::lock_guard lock(chain.mutex);
  ASSERT_EQ(chain.received.size(), 2u);
  std::map<uint64_t, std::string> by_nonce;
  for (const auto& tx : chain.received) by_nonce[tx.nonce] = tx.raw;
  EXPECT_EQ(by_nonce[0], raw) << "byte for byte what the dead node wrote ahead";
  EXPECT_EQ(by_nonce.count(1), 1u) << "the requeued claim got the next nonce";
}

// A node dies with transactions on the network and payments accepted on the other node: once its
// leases expire the survivor takes both relayers over, confirms the dead node's transactions
// without re-sending them and settles the waiting payments with the next nonces.
TEST_F(MultiNodeTest, ANodeStoppedMidFlightIsTakenOverAfterItsLeaseExpires) {
  chain.auto_mine = false;
  auto& a = start_node({kRelayerKey, kRelayerKey2});
  auto& b = start_node({kRelayerKey, kRelayerKey2}, 5000);
  ASSERT_TRUE(holds(a, 0) && holds(a, 1));
  const std::string dead = node_id(a);

  std::vector<std::future<sdk::FacilitatorResult>> sent;
  for (uint8_t n = 1; n <= 6; ++n)
    sent.push_back(settle_async(a, signed_request({.nonce_byte = n}), sdk::SettleWait::broadcast));
  for (auto& f : sent) ASSERT_TRUE(body(wait(f)).at("success").as_bool());
  ASSERT_EQ(chain.pool_size(), 6u);
  nodes[0].reset();  // a dies: its leases stay in the store until they expire

  std::vector<std::future<sdk::FacilitatorResult>> waiting;
  for (uint8_t n = 7; n <= 8; ++n)
    waiting.push_back(
        settle_async(b, signed_request({.nonce_byte = n}), sdk::SettleWait::broadcast));
  ASSERT_TRUE(eventually([&] { return job_in(id_of({.nonce_byte = 8}), state::kPending); }));
  lease_pass(b);
  EXPECT_FALSE(holds(b, 0) || holds(b, 1)) << "took over a live lease";
  EXPECT_TRUE(job_in(id_of({.nonce_byte = 7}), state::kPending));

  host.now_ms += kTtl;
  ASSERT_TRUE(lease_pass(b));
  ASSERT_TRUE(holds(b, 0) && holds(b, 1));
  for (const auto& r : {kRelayer1Hex, kRelayer2Hex}) EXPECT_EQ(lease_of(r)->node, node_id(b));
  for (auto& f : waiting) EXPECT_TRUE(body(wait(f)).at("success").as_bool());
  {
    std::lock_guard lock(chain.mutex);
    chain.auto_mine = true;
  }
  chain.mine();
  for (uint8_t n = 1; n <= 8; ++n)
    EXPECT_TRUE(eventually([&] { return job_in(id_of({.nonce_byte = n}), state::kCompleted); }))
        << int{n};
  {
    std::lock_guard lock(chain.mutex);
    EXPECT_EQ(chain.received.size(), 8u) << "the dead node's transactions were sent again";
  }
  expect_consecutive_nonces_without_collision();
  auto logs = host.logs_copy();
  EXPECT_TRUE(std::any_of(logs.begin(), logs.end(), [&](const std::string& l) {
    return l.find("taken over from node " + dead) != std::string::npos;
  }));
}

// Today's advice still works: each node with keys of its own.
TEST_F(MultiNodeTest, DisjointKeysPerNodeKeepWorking) {
  auto& a = start_node({kRelayerKey});
  auto& b = start_node({kRelayerKey2});
  EXPECT_TRUE(holds(a, 0));
  EXPECT_TRUE(holds(b, 0));
  std::vector<std::future<sdk::FacilitatorResult>> answers;
  for (uint8_t n = 1; n <= 10; ++n)
    answers.push_back(settle_async(n % 2 ? a : b, signed_request({.nonce_byte = n})));
  for (auto& f : answers) EXPECT_TRUE(body(wait(f)).at("success").as_bool());
  std::lock_guard lock(chain.mutex);
  EXPECT_EQ(chain.received.size(), 10u);
  std::set<std::pair<Address, uint64_t>> used;
  for (const auto& tx : chain.received) EXPECT_TRUE(used.insert({tx.from, tx.nonce}).second);
}

}  // namespace
}  // namespace x402::plugins::selfhosted
