#pragma once
// x402d's runtime: worker threads with their event loops, the server, the current config
// snapshot and its live replacement, the store and cache, and the background loops (facilitator
// /supported refresh, breaker probes, settlement reconciliation).
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"
#include "config/watcher.hpp"
#include "gateway/facilitator_chain.hpp"
#include "gateway/policy_service.hpp"
#include "gateway/request_context.hpp"
#include "gateway/snapshot.hpp"
#include "http/client.hpp"
#include "http/server.hpp"
#include "http/worker_context.hpp"
#include "observability/metrics.hpp"
#include "plugin_host/host_services.hpp"
#include "plugin_host/registry.hpp"
#include "state/cache.hpp"
#include "state/store.hpp"

namespace x402 {

struct GatewayOptions {
  // Where to look for plugins when the config names no directory: the build or install folder.
  std::vector<std::string> default_plugin_dirs;
  bool watch_config_file = true;
  // Extra trust anchors for outbound TLS (tests with self-signed facilitators).
  std::string extra_ca_file;
};

class Gateway {
 public:
  explicit Gateway(GatewayOptions options);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Opens state, builds the first snapshot, binds the listener and starts the workers.
  Status start(std::shared_ptr<const Config> config);
  uint16_t port() const;
  // The facilitator API listener's port (config facilitator_api), 0 when it is not served.
  uint16_t facilitator_api_port() const;
  // The admin API listener's port (config admin), 0 when it is not served.
  uint16_t admin_api_port() const;

  // Re-reads the config file and swaps it in if, and only if, it is valid completely.
  Status reload();
  // Validates and applies a config (reload and tests).
  Status apply(std::shared_ptr<const Config> config);

  // Graceful: stop accepting, drain in-flight requests (bounded by shutdown_grace), stop.
  void stop();
  // Blocks until stop() finished (e.g. from a signal).
  void wait();

  // Runs one reconciliation round now and waits for it (the loop runs one every 5 s).
  void reconcile_now();

  std::shared_ptr<const Snapshot> snapshot() const { return snapshot_.load(); }
  Store& store() { return *store_; }
  PolicyService& policies() { return *policies_; }
  // Reloads the active policies from the store now (an activation on this node).
  Status refresh_policies();
  Metrics& metrics() { return metrics_; }

  // Builds and validates a snapshot without serving it (x402d --check-config).
  static Status check(std::shared_ptr<const Config> config, const GatewayOptions& options);

 private:
  Result<std::shared_ptr<const Snapshot>> build_snapshot(std::shared_ptr<const Config> config);
  boost::asio::awaitable<http::OutgoingResponse> handle(http::IncomingRequest& request,
                                                        const http::PeerInfo& peer);
  boost::asio::awaitable<http::OutgoingResponse> handle_facilitator_api(
      http::IncomingRequest& request, const http::PeerInfo& peer);
  // A reload cannot open, move or close the facilitator API listener: says so in the log.
  void warn_if_state_backends_changed(const Config& config) const;
  void warn_if_facilitator_api_listener_changed(const Config& config) const;
  void start_background_loops();
  // Fetches /supported for every facilitator, or only for those whose support is still unknown.
  boost::asio::awaitable<void> refresh_supported(std::shared_ptr<const Snapshot> snapshot,
                                                 bool only_unknown);
  boost::asio::awaitable<void> probe_loop();
  // Picks up policy activations from the store (this node's, or another's sharing the database).
  boost::asio::awaitable<void> policy_poll_loop();
  void listen_for_policy_notices();
  boost::asio::awaitable<void> spool_drain_loop();
  boost::asio::awaitable<http::OutgoingResponse> handle_admin_api(http::IncomingRequest& request,
                                                                  const http::PeerInfo& peer);
  boost::asio::awaitable<void> reconcile_loop();
  boost::asio::awaitable<void> reconcile_once();
  void watch_signals_and_file();

  GatewayOptions options_;
  Metrics metrics_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Cache> cache_;
  std::unique_ptr<Spool> spool_;
  // As opened at start; a reload that changes them warns that a restart is needed.
  StorageConfig storage_config_;
  CacheConfig cache_config_;
  std::unique_ptr<boost::asio::thread_pool> store_pool_;
  std::unique_ptr<PolicyService> policies_;
  std::unique_ptr<GatewayServices> services_;

  // Workers: one io_context and one HTTP client each.
  std::vector<std::unique_ptr<boost::asio::io_context>> worker_loops_;
  std::vector<std::unique_ptr<http::HttpClient>> worker_clients_;
  std::vector<std::unique_ptr<http::WorkerContext>> worker_contexts_;
  std::vector<std::thread> worker_threads_;
  std::shared_ptr<boost::asio::ssl::context> tls_;

  // Control loop: signals, file watch, reloads and background tasks.
  boost::asio::io_context control_;
  std::unique_ptr<http::HttpClient> control_client_;
  std::unique_ptr<http::WorkerContext> control_context_;
  std::thread control_thread_;

  // Change notices from other nodes arrive on the cache's own thread; they reach the control
  // loop through this relay, which stop() closes before the loop goes away.
  struct NoticeRelay {
    std::mutex mutex;
    std::function<void()> deliver;
  };
  std::shared_ptr<NoticeRelay> policy_notices_;

  std::unique_ptr<HostServices> host_services_;
  BreakerBoard breakers_;
  std::unique_ptr<http::Server> server_;
  // x402d as a facilitator: opened at start from config facilitator_api, as configured then.
  std::unique_ptr<http::Server> facilitator_api_server_;
  std::optional<FacilitatorApiConfig> facilitator_api_listen_;
  std::unique_ptr<http::Server> admin_api_server_;

  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
  std::mutex apply_mutex_;
  uint64_t generation_ = 0;

  std::mutex stop_mutex_;
  std::condition_variable stopped_cv_;
  bool stopping_ = false;
  bool stopped_ = false;
  std::unique_ptr<ConfigWatcher> watcher_;
  std::string config_path_;
};

}  // namespace x402
