#pragma once
// The kernel's side of x402_host_api: what plugins may ask of x402d (DESIGN.md §4). The kernel
// owns sockets, TLS, pooling and timeouts; plugins ask through this table and get callbacks.
#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "http/worker_context.hpp"
#include "observability/metrics.hpp"
#include "state/cache.hpp"
#include "state/store.hpp"
#include "x402/plugin_abi.h"

namespace x402 {

class HostServices {
 public:
  // `workers` outlive this object; their loops deliver callbacks. `cache` and `metrics` too.
  // `store` backs the plugins' job queues and the event outbox; its calls block, so they run on
  // `blocking` and their callbacks come back on a worker. Both may be null (x402d --check-config
  // builds instances that are never called): queue calls then fail and events are only logged.
  // `store` and `blocking` must outlive every call in flight (the gateway joins the pool first).
  HostServices(std::vector<http::WorkerContext*> workers, Cache& cache, Metrics& metrics,
               Store* store = nullptr, boost::asio::thread_pool* blocking = nullptr);
  ~HostServices();

  // The table handed to one plugin instance. Each instance gets its own so that logs name it and
  // its cache keys live in its own namespace. Valid as long as this object lives.
  const x402_host_api* api_for(const std::string& instance_name);

  // The worker a call from this thread runs on: the caller's own when it is a worker thread,
  // otherwise one picked round-robin.
  http::WorkerContext& pick_worker();

  Cache& cache() { return cache_; }
  Metrics& metrics() { return metrics_; }

  uint64_t start_timer(uint32_t delay_ms, x402_timer_callback callback, void* user);
  void cancel_timer(uint64_t id);

  // What a queue call produced, owned until its callback has been delivered.
  struct QueueOutcome {
    bool ok = false;
    std::vector<QueueJob> jobs;
    std::string error;
  };
  // Runs `work` (a blocking store call) on the blocking pool and delivers its outcome to
  // `callback` on the calling thread's worker (or some worker).
  void run_queue_call(std::function<QueueOutcome(Store&)> work, x402_queue_callback callback,
                      void* user);
  // emit_event: outbox row, log line, metric.
  void emit_event(const std::string& instance, std::string_view type, std::string_view json);

 private:
  struct Instance;
  struct Timer;

  std::vector<http::WorkerContext*> workers_;
  Cache& cache_;
  Metrics& metrics_;
  Store* store_;
  boost::asio::thread_pool* blocking_;
  std::optional<boost::asio::strand<boost::asio::thread_pool::executor_type>> event_strand_;
  std::atomic<size_t> next_worker_{0};

  std::mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<Instance>> instances_;
  std::unordered_map<uint64_t, std::shared_ptr<Timer>> timers_;
  uint64_t next_timer_id_ = 1;
};

}  // namespace x402
