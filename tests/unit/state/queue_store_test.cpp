// The plugin job queue and the event outbox (plugin ABI 1.1), against every backend.
#include <gtest/gtest.h>

#include <algorithm>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "state/store.hpp"
#include "store_backends.hpp"

namespace x402 {
namespace {

QueueJob job(const std::string& id, const std::string& state, int64_t created_ms,
             const std::string& lane = "0xrelayer", const std::string& data = R"({"n":1})") {
  QueueJob j;
  j.id = id;
  j.lane = lane;
  j.state = state;
  j.data = data;
  j.created_ms = created_ms;
  return j;
}

std::vector<std::string> ids(const std::vector<QueueJob>& jobs) {
  std::vector<std::string> out;
  for (const auto& j : jobs) out.push_back(j.id);
  return out;
}

class QueueStoreTest : public testing::StoreBackendTest {
 protected:
  void put(const std::string& instance, const QueueJob& j) {
    auto stored = store_->queue_put(instance, j);
    ASSERT_TRUE(stored) << stored.error().message;
  }
};

X402_INSTANTIATE_FOR_EVERY_BACKEND(QueueStoreTest);

TEST_P(QueueStoreTest, PutStoresTheJobAndReturnsIt) {
  auto stored = store_->queue_put("selfhosted", job("pay-1", "pending", 1000));
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_EQ(stored->id, "pay-1");
  EXPECT_EQ(stored->lane, "0xrelayer");
  EXPECT_EQ(stored->state, "pending");
  EXPECT_EQ(stored->data, R"({"n":1})");
  EXPECT_EQ(stored->created_ms, 1000);
  EXPECT_EQ(stored->updated_ms, 1000);

  auto listed = store_->queue_list("selfhosted", "pay-1", "", 10);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().data, R"({"n":1})");
}

TEST_P(QueueStoreTest, PutWithoutTimestampsUsesNow) {
  auto stored = store_->queue_put("selfhosted", job("pay-1", "pending", 0));
  ASSERT_TRUE(stored);
  EXPECT_GT(stored->created_ms, 1600000000000);
  EXPECT_EQ(stored->updated_ms, stored->created_ms);
}

TEST_P(QueueStoreTest, PutOfAnExistingIdReturnsTheExistingJobUntouched) {
  put("selfhosted", job("pay-1", "pending", 1000, "0xa", R"({"first":true})"));
  auto again = store_->queue_put("selfhosted", job("pay-1", "submitted", 2000, "0xb", "{}"));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->state, "pending");
  EXPECT_EQ(again->lane, "0xa");
  EXPECT_EQ(again->data, R"({"first":true})");
  EXPECT_EQ(again->created_ms, 1000);
  EXPECT_EQ(store_->queue_list("selfhosted", "", "", 10)->size(), 1u);
}

TEST_P(QueueStoreTest, InstancesHaveSeparateNamespaces) {
  put("a", job("pay-1", "pending", 1000, "", R"({"owner":"a"})"));
  put("b", job("pay-1", "pending", 1000, "", R"({"owner":"b"})"));
  auto a = store_->queue_list("a", "pay-1", "", 10);
  auto b = store_->queue_list("b", "pay-1", "", 10);
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->size(), 1u);
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ(a->front().data, R"({"owner":"a"})");
  EXPECT_EQ(b->front().data, R"({"owner":"b"})");

  auto claimed = store_->queue_claim("a", "pending", "working", 10);
  ASSERT_TRUE(claimed);
  EXPECT_EQ(claimed->size(), 1u);
  EXPECT_EQ(store_->queue_list("b", "", "pending", 10)->size(), 1u);
}

TEST_P(QueueStoreTest, UpdateSetsStateLaneAndDataWhenTheStateMatches) {
  put("selfhosted", job("pay-1", "pending", 1000, "0xa"));
  auto updated =
      store_->queue_update("selfhosted", "pay-1", "pending", "submitted", "0xb", R"({"tx":"0x1"})");
  ASSERT_TRUE(updated) << updated.error().message;
  ASSERT_TRUE(updated->has_value());
  EXPECT_EQ((*updated)->state, "submitted");
  EXPECT_EQ((*updated)->lane, "0xb");
  EXPECT_EQ((*updated)->data, R"({"tx":"0x1"})");
  EXPECT_EQ((*updated)->created_ms, 1000);
  EXPECT_GT((*updated)->updated_ms, 1000);

  auto stored = store_->queue_list("selfhosted", "pay-1", "", 1);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->front().state, "submitted");
}

TEST_P(QueueStoreTest, UpdateFromAnotherStateChangesNothing) {
  put("selfhosted", job("pay-1", "pending", 1000, "0xa", R"({"v":1})"));
  auto updated = store_->queue_update("selfhosted", "pay-1", "submitted", "confirmed", "0xb", "{}");
  ASSERT_TRUE(updated);
  EXPECT_FALSE(updated->has_value());
  auto stored = store_->queue_list("selfhosted", "pay-1", "", 1);
  EXPECT_EQ(stored->front().state, "pending");
  EXPECT_EQ(stored->front().lane, "0xa");
  EXPECT_EQ(stored->front().data, R"({"v":1})");
}

TEST_P(QueueStoreTest, UpdateOfAMissingJobOrAnotherInstancesJobIsEmpty) {
  put("a", job("pay-1", "pending", 1000));
  auto missing = store_->queue_update("a", "pay-2", "pending", "x", "", "{}");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
  auto other = store_->queue_update("b", "pay-1", "pending", "x", "", "{}");
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->has_value());
  EXPECT_EQ(store_->queue_list("a", "pay-1", "", 1)->front().state, "pending");
}

TEST_P(QueueStoreTest, ClaimMovesTheOldestJobsOfTheStateOldestFirst) {
  put("q", job("c", "pending", 3000));
  put("q", job("a", "pending", 1000));
  put("q", job("x", "submitted", 500));
  put("q", job("b", "pending", 2000));
  put("q", job("d", "pending", 4000));

  auto claimed = store_->queue_claim("q", "pending", "working", 3);
  ASSERT_TRUE(claimed) << claimed.error().message;
  EXPECT_EQ(ids(*claimed), (std::vector<std::string>{"a", "b", "c"}));
  for (const auto& j : *claimed) EXPECT_EQ(j.state, "working");

  EXPECT_EQ(ids(*store_->queue_list("q", "", "pending", 10)), (std::vector<std::string>{"d"}));
  EXPECT_EQ(ids(*store_->queue_list("q", "", "submitted", 10)), (std::vector<std::string>{"x"}));

  auto rest = store_->queue_claim("q", "pending", "working", 3);
  ASSERT_TRUE(rest);
  EXPECT_EQ(ids(*rest), (std::vector<std::string>{"d"}));
  auto none = store_->queue_claim("q", "pending", "working", 3);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_P(QueueStoreTest, ClaimWithLimitZeroMovesNothing) {
  put("q", job("a", "pending", 1000));
  auto claimed = store_->queue_claim("q", "pending", "working", 0);
  ASSERT_TRUE(claimed);
  EXPECT_TRUE(claimed->empty());
  EXPECT_EQ(store_->queue_list("q", "a", "", 1)->front().state, "pending");
}

TEST_P(QueueStoreTest, ListFiltersByIdAndStateOldestFirstWithinTheLimit) {
  put("q", job("c", "pending", 3000));
  put("q", job("a", "submitted", 1000));
  put("q", job("b", "pending", 2000));

  EXPECT_EQ(ids(*store_->queue_list("q", "", "", 10)), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ids(*store_->queue_list("q", "", "", 2)), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ids(*store_->queue_list("q", "", "pending", 10)), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(ids(*store_->queue_list("q", "c", "", 10)), (std::vector<std::string>{"c"}));
  EXPECT_TRUE(store_->queue_list("q", "c", "submitted", 10)->empty());
  EXPECT_TRUE(store_->queue_list("q", "nope", "", 10)->empty());
  EXPECT_TRUE(store_->queue_list("other", "", "", 10)->empty());
}

TEST_P(QueueStoreTest, JobsSurviveReopen) {
  put("q", job("a", "pending", 1000, "0xa", R"({"amount":"10000"})"));
  store_.reset();
  auto reopened = testing::open_or_fail(*db_);
  ASSERT_NE(reopened, nullptr);
  auto listed = reopened->queue_list("q", "a", "", 1);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().data, R"({"amount":"10000"})");
}

// Claims racing through `stores` (one connection each, or one shared) until the queue is empty
// must hand out every job exactly once.
void expect_claims_never_duplicate(const std::vector<Store*>& stores, int threads_per_store) {
  constexpr int kJobs = 300;
  for (int i = 0; i < kJobs; ++i) {
    auto put = stores[0]->queue_put("q", job("job-" + std::to_string(i), "pending", 1000 + i));
    ASSERT_TRUE(put) << put.error().message;
  }
  const int threads = static_cast<int>(stores.size()) * threads_per_store;
  std::latch start(threads);
  std::mutex mu;
  std::map<std::string, int> seen;
  std::vector<std::string> errors;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    Store* store = stores[t % stores.size()];
    workers.emplace_back([&, store] {
      start.arrive_and_wait();
      while (true) {
        auto claimed = store->queue_claim("q", "pending", "working", 7);
        std::lock_guard lock(mu);
        if (!claimed) {
          errors.push_back(claimed.error().message);
          return;
        }
        if (claimed->empty()) return;
        for (const auto& j : *claimed) {
          ++seen[j.id];
          EXPECT_EQ(j.state, "working");
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(seen.size(), static_cast<size_t>(kJobs));
  for (const auto& [id, count] : seen) EXPECT_EQ(count, 1) << id << " was claimed twice";
  EXPECT_TRUE(stores[0]->queue_list("q", "", "pending", 10)->empty());
}

TEST_P(QueueStoreTest, ConcurrentClaimsFromManyThreadsNeverReturnTheSameJob) {
  expect_claims_never_duplicate({store_.get()}, 8);
}

// Two stores on one database stand in for two gateway nodes (SQLite: two connections to one
// file; PostgreSQL: two pools): the database, not an in-process mutex, must keep claims apart.
TEST_P(QueueStoreTest, ConcurrentClaimsThroughTwoConnectionsNeverReturnTheSameJob) {
  auto other = testing::open_or_fail(*db_);
  ASSERT_NE(other, nullptr);
  expect_claims_never_duplicate({store_.get(), other.get()}, 4);
}

TEST_P(QueueStoreTest, AppendedEventsGetIdsAndAreListedInOrder) {
  StoredEvent first;
  first.type = "settlement.submitted";
  first.json = R"({"payment_id":"p1"})";
  first.source = "selfhosted";
  auto a = store_->append_event(first);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->id.size(), 36u);
  EXPECT_GT(a->created_ms, 1600000000000);

  StoredEvent second = first;
  second.type = "settlement.completed";
  second.created_ms = 42;
  auto b = store_->append_event(second);
  ASSERT_TRUE(b);
  EXPECT_NE(a->id, b->id);
  EXPECT_GT(b->seq, a->seq);
  EXPECT_EQ(b->created_ms, 42);

  auto all = store_->list_events(10, std::nullopt);
  ASSERT_TRUE(all) << all.error().message;
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, a->id);
  EXPECT_EQ((*all)[0].type, "settlement.submitted");
  EXPECT_EQ((*all)[0].json, R"({"payment_id":"p1"})");
  EXPECT_EQ((*all)[0].source, "selfhosted");
  EXPECT_EQ((*all)[1].id, b->id);
  EXPECT_EQ((*all)[1].created_ms, 42);
}

TEST_P(QueueStoreTest, ListEventsPagesAfterAnEventId) {
  std::vector<std::string> appended;
  for (int i = 0; i < 5; ++i) {
    StoredEvent e;
    e.type = "t" + std::to_string(i);
    e.json = "{}";
    e.source = "s";
    auto stored = store_->append_event(e);
    ASSERT_TRUE(stored);
    appended.push_back(stored->id);
  }
  auto page1 = store_->list_events(2, std::nullopt);
  ASSERT_TRUE(page1);
  ASSERT_EQ(page1->size(), 2u);
  auto page2 = store_->list_events(2, page1->back().id);
  ASSERT_TRUE(page2);
  ASSERT_EQ(page2->size(), 2u);
  EXPECT_EQ((*page2)[0].id, appended[2]);
  EXPECT_EQ((*page2)[1].id, appended[3]);
  auto rest = store_->list_events(10, page2->back().id);
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ(rest->front().type, "t4");
  EXPECT_TRUE(store_->list_events(10, appended[4])->empty());
}

TEST_P(QueueStoreTest, ListEventsAfterAnUnknownIdIsAnError) {
  auto listed = store_->list_events(10, std::string("no-such-event"));
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().code, "event_not_found");
}

TEST_P(QueueStoreTest, ConcurrentAppendsGetDistinctSequenceNumbers) {
  constexpr int kThreads = 8;
  constexpr int kEach = 20;
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int i = 0; i < kEach; ++i) {
        StoredEvent e;
        e.type = "t";
        e.json = "{}";
        e.source = "s";
        EXPECT_TRUE(store_->append_event(e));
      }
    });
  }
  for (auto& t : threads) t.join();
  auto all = store_->list_events(1000, std::nullopt);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), static_cast<size_t>(kThreads * kEach));
  std::set<int64_t> seqs;
  std::set<std::string> event_ids;
  for (const auto& e : *all) {
    seqs.insert(e.seq);
    event_ids.insert(e.id);
  }
  EXPECT_EQ(seqs.size(), all->size());
  EXPECT_EQ(event_ids.size(), all->size());
  EXPECT_TRUE(std::is_sorted(all->begin(), all->end(),
                             [](const auto& a, const auto& b) { return a.seq < b.seq; }));
}

}  // namespace
}  // namespace x402
