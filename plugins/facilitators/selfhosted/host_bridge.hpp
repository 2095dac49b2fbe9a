#pragma once
// Host services as Asio awaitables. The host calls back on one of x402d's worker threads; the
// bridge posts each completion into the plugin's own io_context, so the engine's coroutines run
// on one thread and read top to bottom without locks.
#include <boost/asio.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>
#include <x402/plugin.hpp>

namespace x402::plugins::selfhosted {

namespace asio = boost::asio;

// Closed when the instance is destroyed. A host callback that arrives later must not touch the
// dead io_context: it deliberately leaks its (tiny) handler instead.
struct Gate {
  std::mutex mutex;
  bool open = true;
};

struct QueueResult {
  bool ok = false;
  std::vector<sdk::QueueJob> jobs;
  std::string error;
};

class HostBridge {
 public:
  HostBridge(sdk::Host host, asio::any_io_executor executor, std::shared_ptr<Gate> gate)
      : host_(std::move(host)), executor_(std::move(executor)), gate_(std::move(gate)) {}

  const sdk::Host& host() const { return host_; }

  asio::awaitable<sdk::HttpResponse> http(sdk::HttpRequest request) {
    return call<sdk::HttpResponse>([this, request = std::move(request)](auto deliver) {
      host_.http(request, [deliver](const sdk::HttpResponse& r) { deliver(r); });
    });
  }

  asio::awaitable<QueueResult> queue_put(std::string id, std::string lane, std::string state,
                                         std::string data) {
    return call<QueueResult>([=, this](auto deliver) {
      host_.queue_put(id, lane, state, data, to_queue_done(deliver));
    });
  }
  asio::awaitable<QueueResult> queue_update(std::string id, std::string expected, std::string next,
                                            std::string lane, std::string data) {
    return call<QueueResult>([=, this](auto deliver) {
      host_.queue_update(id, expected, next, lane, data, to_queue_done(deliver));
    });
  }
  asio::awaitable<QueueResult> queue_claim(std::string from, std::string to, uint32_t limit) {
    return call<QueueResult>(
        [=, this](auto deliver) { host_.queue_claim(from, to, limit, to_queue_done(deliver)); });
  }
  asio::awaitable<QueueResult> queue_list(std::string id, std::string state, uint32_t limit) {
    return call<QueueResult>(
        [=, this](auto deliver) { host_.queue_list(id, state, limit, to_queue_done(deliver)); });
  }

 private:
  template <class Deliver>
  static sdk::QueueDone to_queue_done(Deliver deliver) {
    return [deliver](bool ok, std::vector<sdk::QueueJob> jobs, std::string error) {
      deliver(QueueResult{ok, std::move(jobs), std::move(error)});
    };
  }

  // `start(deliver)` issues the host call; `deliver(result)` may run on any thread, once. The
  // result is posted to the plugin thread, which wakes the waiting coroutine through a timer.
  // (A plain timer rather than async_initiate: GCC 12 mishandles the initiation temporaries.)
  template <class R>
  struct Pending {
    explicit Pending(asio::any_io_executor ex) : wake(ex) {}
    asio::steady_timer wake;
    std::optional<R> result;
  };

  template <class R, class Start>
  asio::awaitable<R> call(Start start) {
    auto pending = std::make_shared<Pending<R>>(executor_);
    auto gate = gate_;
    auto executor = executor_;
    start([gate, executor, pending](R result) {
      std::lock_guard lock(gate->mutex);
      if (!gate->open) {
        new std::shared_ptr<Pending<R>>(pending);  // leak: its io_context is gone
        return;
      }
      asio::post(executor, [pending, result = std::move(result)]() mutable {
        pending->result = std::move(result);
        pending->wake.cancel();
      });
    });
    while (!pending->result) {
      pending->wake.expires_at(asio::steady_timer::time_point::max());
      boost::system::error_code ec;
      co_await pending->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    co_return std::move(*pending->result);
  }

  sdk::Host host_;
  asio::any_io_executor executor_;
  std::shared_ptr<Gate> gate_;
};

}  // namespace x402::plugins::selfhosted
