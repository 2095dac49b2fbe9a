// The local spool against a real SQLite store: what is spooled survives a restart, is applied
// exactly once however often a drain repeats, and a record that can never apply is set aside
// without blocking the rest.
#include "state/spool.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "state/store.hpp"
#include "temp_dir.hpp"

namespace x402 {
namespace {

using testing::TempDir;

PaymentRecord settling_payment(const std::string& id) {
  PaymentRecord r;
  r.id = id;
  r.key =
      PaymentKey{84532, "0x036cbd53842c5426634e7929541ec2318f3dcf7e",
                 "0x70997970c51812dc3a010c7d01b50e0d17dc79c8", "0x" + std::string(62, '0') + id};
  r.request_id = "req-" + id;
  r.merchant_id = "shop";
  r.route = "/weather";
  r.network = "eip155:84532";
  r.pay_to = "0xa0ee7a142d267c1f36714e4a8f75612f20a79720";
  r.amount = "10000";
  r.status = PaymentStatus::Settling;
  return r;
}

SpooledCompletion completion_of(const std::string& id) {
  SpooledCompletion c;
  c.payment_id = id;
  c.facilitator = "reference";
  c.tx_hash = "0x" + std::string(64, 'a');
  c.usage.id = id;
  c.usage.payment_id = id;
  c.usage.request_id = "req-" + id;
  c.usage.merchant_id = "shop";
  c.usage.route = "/weather";
  c.usage.payer = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
  c.usage.amount = "10000";
  c.usage.asset = "0x036cbd53842c5426634e7929541ec2318f3dcf7e";
  c.usage.network = "eip155:84532";
  c.usage.upstream_status = 200;
  c.usage.created_ms = 1700000000000;
  return c;
}

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = open_sqlite_store(dir_.file("x402.db"));
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store.value());
    auto spool = Spool::open(dir_.file("spool"));
    ASSERT_TRUE(spool.ok()) << spool.error().message;
    spool_ = std::move(spool.value());
  }

  void claim(const std::string& id) {
    auto claimed = store_->claim_payment(settling_payment(id));
    ASSERT_TRUE(claimed.ok()) << claimed.error().message;
  }

  size_t usage_count() {
    auto usage = store_->usage_for_merchant("shop", 1000);
    EXPECT_TRUE(usage.ok());
    return usage.ok() ? usage->size() : 0;
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Spool> spool_;
};

TEST_F(SpoolTest, ACompletionIsAppliedWithItsUsageAndCredential) {
  claim("1");
  SpooledCompletion c = completion_of("1");
  c.usage.billing_mode = "time_pass";
  c.credential =
      Credential{"cred-1", "shop", c.usage.payer, "/weather",   "time_pass", 4102444800000,
                 0,        0,      "1",           1700000000000};
  ASSERT_TRUE(spool_->append_completion(c).ok());
  EXPECT_EQ(spool_->pending(), 1u);

  auto drained = spool_->drain(*store_);
  ASSERT_TRUE(drained.ok()) << drained.error().message;
  EXPECT_EQ(drained->applied, 1u);
  EXPECT_EQ(spool_->pending(), 0u);

  auto payment = store_->find_payment("1");
  ASSERT_TRUE(payment.ok() && payment->has_value());
  EXPECT_EQ((*payment)->status, PaymentStatus::Settled);
  EXPECT_EQ((*payment)->tx_hash, c.tx_hash);
  EXPECT_EQ((*payment)->facilitator, "reference");
  EXPECT_EQ(usage_count(), 1u);
  auto credential = store_->find_credential("cred-1");
  ASSERT_TRUE(credential.ok() && credential->has_value());
  EXPECT_EQ((*credential)->payment_id, "1");
}

TEST_F(SpoolTest, SpooledRecordsSurviveARestart) {
  claim("1");
  ASSERT_TRUE(spool_->append_completion(completion_of("1")).ok());
  UsageRecord free_call = completion_of("free-1").usage;
  free_call.payment_id.clear();
  free_call.billing_mode = "free";
  free_call.amount = "0";
  ASSERT_TRUE(spool_->append_usage(free_call).ok());
  spool_.reset();

  auto reopened = Spool::open(dir_.file("spool"));
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->pending(), 2u);
  auto drained = (*reopened)->drain(*store_);
  ASSERT_TRUE(drained.ok()) << drained.error().message;
  EXPECT_EQ(drained->applied, 2u);
  EXPECT_EQ(usage_count(), 2u);
}

TEST_F(SpoolTest, ApplyingTwiceCountsOnce) {
  // A crash after applying but before the file was trimmed applies the same lines again.
  claim("1");
  ASSERT_TRUE(spool_->append_completion(completion_of("1")).ok());
  UsageRecord free_call = completion_of("free-1").usage;
  free_call.payment_id.clear();
  ASSERT_TRUE(spool_->append_usage(free_call).ok());
  const std::string path = spool_->path();
  std::string before;
  {
    std::ifstream in(path);
    before.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_TRUE(spool_->drain(*store_).ok());
  std::ofstream(path, std::ios::trunc) << before;  // as if the trim never happened
  spool_.reset();
  auto reopened = Spool::open(dir_.file("spool"));
  ASSERT_TRUE(reopened.ok());
  auto again = (*reopened)->drain(*store_);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(usage_count(), 2u) << "one usage record per spooled record, however often applied";
  auto payment = store_->find_payment("1");
  ASSERT_TRUE(payment.ok() && payment->has_value());
  EXPECT_EQ((*payment)->status, PaymentStatus::Settled);
}

TEST_F(SpoolTest, ARecordThatCanNeverApplyIsSetAsideAndTheRestApplied) {
  claim("2");
  ASSERT_TRUE(spool_->append_completion(completion_of("missing")).ok());  // no payment row
  ASSERT_TRUE(spool_->append_completion(completion_of("2")).ok());
  // A crash in the middle of an append leaves a torn last line.
  { std::ofstream(spool_->path(), std::ios::app) << "{\"kind\":\"completion\",\"payment_i"; }
  spool_.reset();
  auto reopened = Spool::open(dir_.file("spool"));
  ASSERT_TRUE(reopened.ok());
  auto drained = (*reopened)->drain(*store_);
  ASSERT_TRUE(drained.ok()) << drained.error().message;
  EXPECT_EQ(drained->applied, 1u);
  EXPECT_EQ(drained->set_aside, 2u);
  EXPECT_EQ((*reopened)->pending(), 0u);
  EXPECT_EQ(usage_count(), 1u);
  std::ifstream rejected(dir_.file("spool/spool.rejected.jsonl"));
  std::string line;
  int lines = 0;
  while (std::getline(rejected, line)) ++lines;
  EXPECT_EQ(lines, 2) << "the operator finds every record that was not applied";
}

TEST_F(SpoolTest, AFolderBelongsToOneOwnerAtATime) {
  auto second = Spool::open(dir_.file("spool"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, "spool_in_use");
  EXPECT_EQ(second.error().field, "storage.spool_dir");
  spool_.reset();
  EXPECT_TRUE(Spool::open(dir_.file("spool")).ok()) << "free again once the owner closed it";
}

TEST_F(SpoolTest, AnUnwritableFolderIsAnError) {
  const std::string file = dir_.file("not-a-folder");
  std::ofstream(file) << "x";
  auto spool = Spool::open(file + "/spool");
  ASSERT_FALSE(spool.ok());
  EXPECT_EQ(spool.error().code, "spool_error");
}

}  // namespace
}  // namespace x402
