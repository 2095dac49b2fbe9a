#include "gateway/state_backends.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace x402 {

Result<std::unique_ptr<Store>> open_store(const StorageConfig& storage) {
  if (storage.backend == "postgres") {
    PostgresOptions options;
    options.url = storage.url;
    options.pool_size = storage.pool_size;
    return open_postgres_store(options);
  }
  return open_sqlite_store(storage.path);
}

std::unique_ptr<Cache> make_cache(const CacheConfig& cache) {
  if (cache.backend != "redis") return make_memory_cache();
  RedisOptions options;
  options.host = cache.host;
  options.port = cache.port;
  options.password = cache.password;
  options.database = cache.database;
  options.cluster = cache.cluster;
  options.command_timeout = cache.command_timeout;
  return make_redis_cache(options);
}

bool wait_for_cache(Cache& cache, std::chrono::milliseconds patience) {
  namespace asio = boost::asio;
  asio::io_context io;
  bool answered = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(io);
        const auto deadline = std::chrono::steady_clock::now() + patience;
        for (;;) {
          if (auto probe = co_await cache.get("x402:startup-probe"); probe) {
            answered = true;
            co_return;
          }
          if (std::chrono::steady_clock::now() >= deadline) co_return;
          timer.expires_after(std::chrono::milliseconds(50));
          co_await timer.async_wait(asio::use_awaitable);
        }
      },
      asio::detached);
  io.run();
  return answered;
}

}  // namespace x402
