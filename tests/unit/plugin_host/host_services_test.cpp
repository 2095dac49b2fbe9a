// Plugin ABI 1.1 and 1.2 host services driven through the C table a plugin gets (api_for): the
// durable job queue and operator events, against a real SQLite store; atomic cache scripts against
// the in-memory cache and a real Redis.
#include "plugin_host/host_services.hpp"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <future>
#include <thread>

#include "unit/state/redis_server.hpp"

namespace x402 {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

x402_str s(std::string_view v) {
  return {v.data(), v.size()};
}

// One queue callback, copied out of the plugin-lifetime views.
struct QueueReply {
  int ok = -1;
  std::vector<QueueJob> jobs;
  std::string error;
  http::WorkerContext* delivered_on = nullptr;
};

// The plugin side of a call: a heap-allocated promise passed as `user`, fulfilled by the callback.
struct PendingReply {
  std::promise<QueueReply> promise;
};

void on_queue(void* user, int ok, const x402_queue_job* jobs, size_t count, x402_str error) {
  auto* pending = static_cast<PendingReply*>(user);
  QueueReply reply;
  reply.ok = ok;
  for (size_t i = 0; i < count; ++i) {
    const auto& j = jobs[i];
    reply.jobs.push_back(
        {std::string(j.id.data, j.id.len), std::string(j.lane.data, j.lane.len),
         std::string(j.state.data, j.state.len), std::string(j.data.data, j.data.len),
         static_cast<int64_t>(j.created_unix_ms), static_cast<int64_t>(j.updated_unix_ms)});
  }
  reply.error.assign(error.data ? error.data : "", error.len);
  reply.delivered_on = http::current_worker();
  pending->promise.set_value(std::move(reply));
  delete pending;
}

class Worker {
 public:
  explicit Worker(size_t index) : context_{index, &ioc_, nullptr} {
    thread_ = std::thread([this] {
      http::set_current_worker(&context_);
      auto guard = asio::make_work_guard(ioc_);
      ioc_.run();
    });
  }
  ~Worker() {
    ioc_.stop();
    thread_.join();
  }
  http::WorkerContext* context() { return &context_; }
  asio::io_context& ioc() { return ioc_; }

 private:
  asio::io_context ioc_;
  http::WorkerContext context_;
  std::thread thread_;
};

class HostServicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = open_sqlite_store(":memory:");
    ASSERT_TRUE(opened) << opened.error().message;
    store_ = std::move(opened.value());
    services_ = std::make_unique<HostServices>(
        std::vector<http::WorkerContext*>{first_.context(), second_.context()}, *cache_, metrics_,
        store_.get(), &pool_);
  }
  void TearDown() override { pool_.join(); }

  // Runs `call(pending)` on `worker`'s thread (or this thread when null) and waits for the reply.
  template <typename Call>
  QueueReply run(Worker* worker, Call call) {
    auto* pending = new PendingReply;
    auto future = pending->promise.get_future();
    if (worker) {
      asio::post(worker->ioc(), [call, pending] { call(pending); });
    } else {
      call(pending);
    }
    if (future.wait_for(30s) != std::future_status::ready) {
      ADD_FAILURE() << "the queue callback never came";
      return {};
    }
    return future.get();
  }

  QueueReply put(const x402_host_api* api, std::string_view id, std::string_view state,
                 std::string_view data = "{}", Worker* worker = nullptr) {
    return run(worker, [=](PendingReply* p) {
      api->queue_put(api->host, s(id), s("lane-1"), s(state), s(data), on_queue, p);
    });
  }

  Worker first_{0};
  Worker second_{1};
  std::unique_ptr<Cache> cache_ = make_memory_cache();
  Metrics metrics_;
  std::unique_ptr<Store> store_;
  asio::thread_pool pool_{2};
  std::unique_ptr<HostServices> services_;
};

TEST_F(HostServicesTest, TheTableCoversTheMinorOneFields) {
  const x402_host_api* api = services_->api_for("selfhosted");
  EXPECT_EQ(api->struct_size, sizeof(x402_host_api));
  EXPECT_EQ(api->abi_minor, static_cast<uint32_t>(X402_ABI_MINOR));
  EXPECT_TRUE(X402_HAS_FIELD(api, x402_host_api, emit_event));
  EXPECT_NE(api->queue_put, nullptr);
  EXPECT_NE(api->queue_update, nullptr);
  EXPECT_NE(api->queue_claim, nullptr);
  EXPECT_NE(api->queue_list, nullptr);
  EXPECT_NE(api->emit_event, nullptr);
}

TEST_F(HostServicesTest, PutStoresTheJobInTheInstancesNamespace) {
  const x402_host_api* api = services_->api_for("selfhosted");
  auto reply = put(api, "pay-1", "pending", R"({"amount":"10000"})");
  ASSERT_EQ(reply.ok, 1) << reply.error;
  ASSERT_EQ(reply.jobs.size(), 1u);
  EXPECT_EQ(reply.jobs[0].id, "pay-1");
  EXPECT_EQ(reply.jobs[0].lane, "lane-1");
  EXPECT_EQ(reply.jobs[0].state, "pending");
  EXPECT_EQ(reply.jobs[0].data, R"({"amount":"10000"})");
  EXPECT_GT(reply.jobs[0].created_ms, 0);

  auto stored = store_->queue_list("selfhosted", "pay-1", "", 10);
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ(stored->front().data, R"({"amount":"10000"})");
  EXPECT_TRUE(store_->queue_list("other", "", "", 10)->empty());
}

TEST_F(HostServicesTest, PutOfAnExistingJobAnswersTheStoredOne) {
  const x402_host_api* api = services_->api_for("selfhosted");
  ASSERT_EQ(put(api, "pay-1", "pending", R"({"v":1})").ok, 1);
  auto again = put(api, "pay-1", "submitted", R"({"v":2})");
  ASSERT_EQ(again.ok, 1);
  ASSERT_EQ(again.jobs.size(), 1u);
  EXPECT_EQ(again.jobs[0].state, "pending");
  EXPECT_EQ(again.jobs[0].data, R"({"v":1})");
}

TEST_F(HostServicesTest, CallbacksComeBackOnTheWorkerThatMadeTheCall) {
  const x402_host_api* api = services_->api_for("selfhosted");
  for (Worker* worker : {&first_, &second_, &second_, &first_}) {
    auto reply = put(api, "pay-1", "pending", "{}", worker);
    ASSERT_EQ(reply.ok, 1) << reply.error;
    EXPECT_EQ(reply.delivered_on, worker->context());
  }
}

TEST_F(HostServicesTest, CallsFromOtherThreadsAreAnsweredOnSomeWorker) {
  const x402_host_api* api = services_->api_for("selfhosted");
  auto reply = put(api, "pay-1", "pending");
  ASSERT_EQ(reply.ok, 1);
  EXPECT_TRUE(reply.delivered_on == first_.context() || reply.delivered_on == second_.context());
}

TEST_F(HostServicesTest, UpdateIsACompareAndSet) {
  const x402_host_api* api = services_->api_for("selfhosted");
  ASSERT_EQ(put(api, "pay-1", "pending").ok, 1);

  auto moved = run(nullptr, [&](PendingReply* p) {
    api->queue_update(api->host, s("pay-1"), s("pending"), s("submitted"), s("lane-2"),
                      s(R"({"tx":"0xabc"})"), on_queue, p);
  });
  ASSERT_EQ(moved.ok, 1) << moved.error;
  ASSERT_EQ(moved.jobs.size(), 1u);
  EXPECT_EQ(moved.jobs[0].state, "submitted");
  EXPECT_EQ(moved.jobs[0].lane, "lane-2");
  EXPECT_EQ(moved.jobs[0].data, R"({"tx":"0xabc"})");

  auto stale = run(nullptr, [&](PendingReply* p) {
    api->queue_update(api->host, s("pay-1"), s("pending"), s("failed"), s(""), s("{}"), on_queue,
                      p);
  });
  EXPECT_EQ(stale.ok, 1);
  EXPECT_TRUE(stale.jobs.empty());
  EXPECT_EQ(store_->queue_list("selfhosted", "pay-1", "", 1)->front().state, "submitted");
}

TEST_F(HostServicesTest, ClaimMovesJobsOldestFirstAndListReadsThem) {
  const x402_host_api* api = services_->api_for("selfhosted");
  // Timestamps are the store's clock: give each job its own, so "oldest" is well defined.
  for (auto [id, created] : {std::pair{"c", 3000}, {"a", 1000}, {"b", 2000}}) {
    QueueJob job{id, "", "pending", "{}", created, created};
    ASSERT_TRUE(store_->queue_put("selfhosted", job));
  }
  auto claimed = run(&first_, [&](PendingReply* p) {
    api->queue_claim(api->host, s("pending"), s("working"), 2, on_queue, p);
  });
  ASSERT_EQ(claimed.ok, 1) << claimed.error;
  ASSERT_EQ(claimed.jobs.size(), 2u);
  EXPECT_EQ(claimed.jobs[0].id, "a");
  EXPECT_EQ(claimed.jobs[1].id, "b");
  EXPECT_EQ(claimed.jobs[0].state, "working");

  auto pending = run(nullptr, [&](PendingReply* p) {
    api->queue_list(api->host, s(""), s("pending"), 10, on_queue, p);
  });
  ASSERT_EQ(pending.ok, 1);
  ASSERT_EQ(pending.jobs.size(), 1u);
  EXPECT_EQ(pending.jobs[0].id, "c");

  auto one = run(nullptr, [&](PendingReply* p) {
    api->queue_list(api->host, s("a"), s(""), 10, on_queue, p);
  });
  ASSERT_EQ(one.jobs.size(), 1u);
  EXPECT_EQ(one.jobs[0].state, "working");

  // Another instance sees none of it.
  const x402_host_api* other = services_->api_for("other");
  auto none = run(nullptr, [&](PendingReply* p) {
    other->queue_list(other->host, s(""), s(""), 10, on_queue, p);
  });
  EXPECT_EQ(none.ok, 1);
  EXPECT_TRUE(none.jobs.empty());
}

TEST_F(HostServicesTest, PluginStringsAreCopiedBeforeTheCallReturns) {
  const x402_host_api* api = services_->api_for("selfhosted");
  auto reply = run(nullptr, [&](PendingReply* p) {
    std::string id = "pay-7", state = "pending", data = R"({"k":"v"})";
    api->queue_put(api->host, s(id), s(""), s(state), s(data), on_queue, p);
    // The plugin may reuse its buffers as soon as the call returns.
    std::fill(id.begin(), id.end(), 'x');
    std::fill(data.begin(), data.end(), 'x');
  });
  ASSERT_EQ(reply.ok, 1);
  EXPECT_EQ(reply.jobs[0].id, "pay-7");
  EXPECT_EQ(reply.jobs[0].data, R"({"k":"v"})");
}

TEST_F(HostServicesTest, EmittedEventsReachTheOutboxInOrderAndAreCounted) {
  const x402_host_api* api = services_->api_for("selfhosted");
  api->emit_event(api->host, s("settlement.submitted"), s(R"({"payment_id":"p1"})"));
  api->emit_event(api->host, s("settlement.completed"), s(R"({"payment_id":"p1","tx":"0x1"})"));
  api->emit_event(api->host, s("settlement.completed"), s("not json"));
  pool_.join();  // the appends run on the blocking pool; this waits for them

  auto events = store_->list_events(10, std::nullopt);
  ASSERT_TRUE(events) << events.error().message;
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[0].type, "settlement.submitted");
  EXPECT_EQ((*events)[0].source, "selfhosted");
  EXPECT_EQ(boost::json::parse((*events)[0].json), boost::json::parse(R"({"payment_id":"p1"})"));
  EXPECT_EQ((*events)[1].type, "settlement.completed");
  // The outbox holds JSON only: a payload that is not JSON is kept as a JSON string.
  EXPECT_EQ(boost::json::parse((*events)[2].json), boost::json::value("not json"));

  EXPECT_EQ(
      metrics_.counter("x402_plugin_events_total", "instance=selfhosted,type=settlement.completed"),
      2u);
  EXPECT_EQ(
      metrics_.counter("x402_plugin_events_total", "instance=selfhosted,type=settlement.submitted"),
      1u);
}

TEST(HostServicesWithoutStore, QueueCallsFailAndEventsAreOnlyCounted) {
  Worker worker(0);
  auto cache = make_memory_cache();
  Metrics metrics;
  HostServices services({worker.context()}, *cache, metrics);
  const x402_host_api* api = services.api_for("selfhosted");

  auto* pending = new PendingReply;
  auto future = pending->promise.get_future();
  api->queue_list(api->host, s(""), s(""), 10, on_queue, pending);
  ASSERT_EQ(future.wait_for(30s), std::future_status::ready);
  auto reply = future.get();
  EXPECT_EQ(reply.ok, 0);
  EXPECT_FALSE(reply.error.empty());
  EXPECT_EQ(reply.delivered_on, worker.context());

  api->emit_event(api->host, s("x.y"), s("{}"));
  EXPECT_EQ(metrics.counter("x402_plugin_events_total", "instance=selfhosted,type=x.y"), 1u);
}

// One cache_eval reply, copied out of the callback's views (nil values as nullopt).
struct EvalReply {
  int ok = -1;
  std::vector<std::optional<std::string>> values;
  std::string error;
};

void on_eval(void* user, int ok, const x402_str* values, size_t count, x402_str error) {
  auto* promise = static_cast<std::promise<EvalReply>*>(user);
  EvalReply reply;
  reply.ok = ok;
  for (size_t i = 0; i < count; ++i) {
    if (values[i].data) {
      reply.values.emplace_back(std::string(values[i].data, values[i].len));
    } else {
      reply.values.emplace_back(std::nullopt);
    }
  }
  reply.error.assign(error.data ? error.data : "", error.len);
  promise->set_value(std::move(reply));
  delete promise;
}

EvalReply eval(const x402_host_api* api, std::string_view script, std::vector<std::string> keys,
               std::vector<std::string> args) {
  std::vector<x402_str> key_views, arg_views;
  for (const auto& k : keys) key_views.push_back(s(k));
  for (const auto& a : args) arg_views.push_back(s(a));
  auto* promise = new std::promise<EvalReply>;
  auto future = promise->get_future();
  api->cache_eval(api->host, s(script), key_views.data(), key_views.size(), arg_views.data(),
                  arg_views.size(), on_eval, promise);
  if (future.wait_for(30s) != std::future_status::ready) {
    ADD_FAILURE() << "the cache_eval callback never came";
    return {};
  }
  return future.get();
}

TEST_F(HostServicesTest, CacheEvalOnTheInMemoryCacheSaysItHasNoScripts) {
  const x402_host_api* api = services_->api_for("ratelimit:standard");
  ASSERT_TRUE(X402_HAS_FIELD(api, x402_host_api, cache_eval));
  auto reply = eval(api, "return 1", {"k"}, {});
  EXPECT_EQ(reply.ok, 0);
  EXPECT_TRUE(reply.error.starts_with("cache_scripts_unsupported")) << reply.error;
}

class HostServicesRedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string started = redis_.start();
    ASSERT_EQ(started, "") << started;
    RedisOptions options;
    options.port = redis_.port();
    cache_ = make_redis_cache(options);
    services_ = std::make_unique<HostServices>(std::vector<http::WorkerContext*>{worker_.context()},
                                               *cache_, metrics_);
  }

  test::RedisServer redis_;
  Worker worker_{0};
  std::unique_ptr<Cache> cache_;
  Metrics metrics_;
  std::unique_ptr<HostServices> services_;
};

TEST_F(HostServicesRedisTest, CacheEvalRunsTheScriptOnTheInstancesKeysAndFlattensTheReply) {
  const x402_host_api* api = services_->api_for("ratelimit:standard");
  const char* script = "return {KEYS[1], redis.call('INCRBY', KEYS[1], ARGV[1]), ARGV[2]}";
  EvalReply reply;
  // The cache connects in the background; until then calls fail with cache_unavailable.
  for (int i = 0; i < 100 && reply.ok != 1; ++i) {
    reply = eval(api, script, {"{client}:count"}, {"5", "two"});
    if (reply.ok != 1) std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(reply.ok, 1) << reply.error;
  ASSERT_EQ(reply.values.size(), 3u);
  EXPECT_EQ(reply.values[0], "x402:plugin:ratelimit:standard:{client}:count");
  EXPECT_EQ(reply.values[1], "5");
  EXPECT_EQ(reply.values[2], "two");
  EXPECT_EQ(redis_.command({{"GET", "x402:plugin:ratelimit:standard:{client}:count"}}), "5");

  // A nil scalar is one value without data; braces in an instance's name never become the
  // key's hash tag.
  auto nil = eval(services_->api_for("odd{name}"), "return redis.call('GET', KEYS[1])", {"k"}, {});
  ASSERT_EQ(nil.ok, 1) << nil.error;
  ASSERT_EQ(nil.values.size(), 1u);
  EXPECT_EQ(nil.values[0], std::nullopt);
  auto key = eval(services_->api_for("odd{name}"), "return KEYS[1]", {"k"}, {});
  EXPECT_EQ(key.values.at(0), "x402:plugin:odd_name_:k");

  auto broken = eval(api, "return redis.call('NO-SUCH-COMMAND')", {"k"}, {});
  EXPECT_EQ(broken.ok, 0);
  EXPECT_FALSE(broken.error.empty());

  redis_.kill();
  auto down = eval(api, script, {"{client}:count"}, {"1", ""});
  EXPECT_EQ(down.ok, 0);
  EXPECT_TRUE(down.error.starts_with("cache_unavailable")) << down.error;
}

}  // namespace
}  // namespace x402
