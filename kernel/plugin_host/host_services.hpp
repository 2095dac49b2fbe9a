#pragma once
// The kernel's side of x402_host_api: what plugins may ask of x402d (DESIGN.md §4). The kernel
// owns sockets, TLS, pooling and timeouts; plugins ask through this table and get callbacks.
#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "http/worker_context.hpp"
#include "observability/metrics.hpp"
#include "state/cache.hpp"
#include "x402/plugin_abi.h"

namespace x402 {

class HostServices {
 public:
  // `workers` outlive this object; their loops deliver callbacks. `cache` and `metrics` too.
  HostServices(std::vector<http::WorkerContext*> workers, Cache& cache, Metrics& metrics);
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

 private:
  struct Instance;
  struct Timer;

  std::vector<http::WorkerContext*> workers_;
  Cache& cache_;
  Metrics& metrics_;
  std::atomic<size_t> next_worker_{0};

  std::mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<Instance>> instances_;
  std::unordered_map<uint64_t, std::shared_ptr<Timer>> timers_;
  uint64_t next_timer_id_ = 1;
};

}  // namespace x402
