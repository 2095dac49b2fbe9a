#pragma once
// One asynchronous plugin call seen from a coroutine: start it with user(), await wait(). The
// plugin's completion callback may run on any thread, at most once, possibly long after the
// waiter gave up at its deadline; the call keeps the plugin instance (`owner`) alive until then,
// because the ABI promises a plugin no destroy() while one of its callbacks is outstanding.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>

namespace x402 {

template <typename Answer>
class PluginCall : public std::enable_shared_from_this<PluginCall<Answer>> {
 public:
  // Create on the waiter's executor (a worker's single-threaded loop) right before starting the
  // plugin call; `timeout` runs from here.
  static std::shared_ptr<PluginCall> create(boost::asio::any_io_executor executor,
                                            std::shared_ptr<const void> owner,
                                            std::chrono::milliseconds timeout) {
    auto call = std::shared_ptr<PluginCall>(new PluginCall(executor, std::move(owner)));
    call->timer_.expires_after(timeout);
    return call;
  }

  // The `user` pointer to hand the plugin; complete() takes it back.
  void* user() { return new std::shared_ptr<PluginCall>(this->shared_from_this()); }

  // From the plugin's callback, with the answer already copied out of the plugin's views.
  static void complete(void* user, Answer answer) {
    auto* holder = static_cast<std::shared_ptr<PluginCall>*>(user);
    std::shared_ptr<PluginCall> call = std::move(*holder);
    delete holder;
    {
      std::lock_guard lock(call->mu_);
      if (!call->abandoned_) call->answer_ = std::move(answer);
    }
    // Waking the waiter on its own loop also means the last reference to the owner (and so the
    // plugin's destroy()) is never dropped inside the plugin's own callback.
    boost::asio::post(call->executor_, [call] { call->timer_.cancel(); });
  }

  // The answer, or nullopt when the deadline passed first (a late answer is then dropped).
  boost::asio::awaitable<std::optional<Answer>> wait() {
    {
      std::lock_guard lock(mu_);
      if (answer_) co_return std::move(answer_);  // answered synchronously
    }
    co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    std::lock_guard lock(mu_);
    if (!answer_) abandoned_ = true;
    co_return std::move(answer_);
  }

 private:
  PluginCall(boost::asio::any_io_executor executor, std::shared_ptr<const void> owner)
      : executor_(executor), timer_(executor), owner_(std::move(owner)) {}

  boost::asio::any_io_executor executor_;
  boost::asio::steady_timer timer_;  // touched only on `executor_`
  std::shared_ptr<const void> owner_;
  std::mutex mu_;
  std::optional<Answer> answer_;
  bool abandoned_ = false;
};

}  // namespace x402
