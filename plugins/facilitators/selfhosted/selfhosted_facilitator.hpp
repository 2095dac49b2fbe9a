#pragma once
// facilitator-selfhosted: the sdk::Facilitator. x402d calls it on its worker threads; every call
// hops onto the plugin's own thread (one io_context, C++20 coroutines), where the verifier and
// the settlement engine run without locks.
#include <atomic>
#include <future>
#include <memory>
#include <thread>
#include <x402/plugin.hpp>

#include "config.hpp"
#include "host_bridge.hpp"
#include "rpc_client.hpp"
#include "settlement_engine.hpp"

namespace x402::plugins::selfhosted {

class SelfhostedFacilitator : public sdk::Facilitator {
 public:
  explicit SelfhostedFacilitator(sdk::InstanceContext context);
  // For tests: inject the environment and file readers used for relayer keys.
  SelfhostedFacilitator(sdk::InstanceContext context, const EnvLookup& getenv,
                        const FileReader& read_file);
  ~SelfhostedFacilitator() override;

  void supported(sdk::FacilitatorDone done) override;
  void verify(std::string_view request_json, sdk::FacilitatorDone done) override;
  void settle(std::string_view request_json, sdk::FacilitatorDone done) override;
  void settle_with_options(std::string_view request_json, const sdk::SettleOptions& options,
                           sdk::FacilitatorDone done) override;
  void health(sdk::FacilitatorDone done) override;

  // Runs `f` on the plugin thread and waits for it (tests: inspect the engine safely).
  template <class F>
  auto run_on_plugin_thread(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    asio::post(io_, [&task] { task(); });
    return result.get();
  }
  SettlementEngine& engine() { return *engine_; }
  asio::any_io_executor executor() { return io_.get_executor(); }

 private:
  template <class Make>
  void spawn(sdk::FacilitatorDone done, Make make);
  asio::awaitable<void> keep_starting();
  asio::awaitable<bool> ensure_chain();
  asio::awaitable<sdk::FacilitatorResult> do_verify(std::string request);
  asio::awaitable<sdk::FacilitatorResult> do_settle(std::string request, sdk::SettleWait wait,
                                                    std::string payment_id);
  asio::awaitable<sdk::FacilitatorResult> do_health();
  sdk::FacilitatorResult supported_now() const;
  VerifyPolicy policy() const;

  sdk::Host host_;
  SelfhostedConfig config_;
  std::shared_ptr<Gate> gate_ = std::make_shared<Gate>();
  std::atomic<bool> closing_{false};
  std::atomic<uint64_t> chain_id_{0};
  std::string fatal_;           // set on the plugin thread when the node serves another chain
  bool chain_checked_ = false;  // plugin thread
  std::vector<std::string> relayer_addresses_;
  std::promise<void> stopped_;
  // The io_context outlives the engine's timers (destroyed in reverse order).
  asio::io_context io_;
  std::unique_ptr<HostBridge> bridge_;
  std::unique_ptr<RpcClient> rpc_;
  std::unique_ptr<SettlementEngine> engine_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  asio::steady_timer start_timer_;
  std::thread thread_;
};

extern const char* const kPluginDescription;

}  // namespace x402::plugins::selfhosted
