#pragma once
// What the cache tests share: driving one awaitable cache call to completion from a test thread,
// retrying a check until it holds, and collecting pub/sub deliveries.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace x402::test {

// Long enough for a loaded 2-core machine; only ever a limit, never an expected duration.
inline constexpr std::chrono::milliseconds kCachePatience{30000};

// Drives one cache operation to completion on a private io_context, as a worker would. The
// operation is awaited inside a void coroutine because co_spawn's completion handler needs a
// default-constructible result type, which Result<T> deliberately is not.
template <typename T>
T run(boost::asio::awaitable<T> op) {
  boost::asio::io_context io;
  std::optional<T> out;
  boost::asio::co_spawn(
      io, [&]() -> boost::asio::awaitable<void> { out.emplace(co_await std::move(op)); },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  io.run();
  return std::move(*out);
}

// Retries `attempt` until it returns true or `patience` runs out.
inline bool eventually(const std::function<bool()>& attempt,
                       std::chrono::milliseconds patience = kCachePatience) {
  const auto give_up = std::chrono::steady_clock::now() + patience;
  while (std::chrono::steady_clock::now() < give_up) {
    if (attempt()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return attempt();
}

// Collects what a subscription delivers (on the cache's thread) for the test thread to read.
class Mailbox {
 public:
  std::function<void(const std::string&)> handler() {
    return [this](const std::string& message) {
      std::lock_guard lock(mutex_);
      messages_.push_back(message);
      arrived_.notify_all();
    };
  }

  // The next message, or nullopt if none arrives within `patience`.
  std::optional<std::string> next(std::chrono::milliseconds patience = kCachePatience) {
    std::unique_lock lock(mutex_);
    if (!arrived_.wait_for(lock, patience, [&] { return !messages_.empty(); })) return std::nullopt;
    std::string message = std::move(messages_.front());
    messages_.pop_front();
    return message;
  }

 private:
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::deque<std::string> messages_;
};

}  // namespace x402::test
