#pragma once
// Runs a blocking call (a SQLite transaction, later a PostgreSQL round trip) on a bounded thread
// pool and resumes the awaiting coroutine on its own worker, so a slow disk never stalls the
// event loop that serves unrelated requests.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <type_traits>

namespace x402 {

template <typename F>
boost::asio::awaitable<std::invoke_result_t<F&>> run_blocking(boost::asio::thread_pool& pool,
                                                              F fn) {
  using R = std::invoke_result_t<F&>;
  // The pool's completion hands back an optional: asio wants default-constructible results.
  auto result = co_await boost::asio::co_spawn(
      pool.get_executor(),
      [&fn]() -> boost::asio::awaitable<std::optional<R>> { co_return std::optional<R>(fn()); },
      boost::asio::use_awaitable);
  co_return std::move(*result);
}

}  // namespace x402
