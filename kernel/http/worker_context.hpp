#pragma once
// The event loop and HTTP client of the current worker thread. Each worker thread sets it once at
// start, so code deep in a request (plugin host services, proxying) finds its own loop and
// connection pool without passing them through every call.
#include <boost/asio/io_context.hpp>
#include <cstddef>

namespace x402::http {

class HttpClient;

struct WorkerContext {
  size_t index = 0;
  boost::asio::io_context* ioc = nullptr;
  HttpClient* client = nullptr;
};

// nullptr on threads that are not workers.
WorkerContext* current_worker();
void set_current_worker(WorkerContext* worker);

}  // namespace x402::http
