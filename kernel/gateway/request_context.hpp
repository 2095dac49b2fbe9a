#pragma once
// What one request carries through the pipeline, and the shared services it may use.
#include <boost/asio/thread_pool.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "gateway/snapshot.hpp"
#include "http/server.hpp"
#include "observability/metrics.hpp"
#include "state/cache.hpp"
#include "state/spool.hpp"
#include "state/store.hpp"

namespace x402 {

class PolicyService;

struct GatewayServices {
  Store& store;
  Cache& cache;
  boost::asio::thread_pool& store_pool;  // blocking store calls run here, never on a worker
  Metrics& metrics;
  PolicyService& policies;
  // Where completions and usage records go when the store fails after money moved or a response
  // was served (state/spool.hpp); a background loop applies them once the store answers.
  Spool& spool;
};

struct RequestContext {
  std::shared_ptr<const Snapshot> snapshot;
  GatewayServices& services;
  http::IncomingRequest& request;
  const http::PeerInfo& peer;
  std::string request_id;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  const MerchantConfig* merchant = nullptr;
  const RouteConfig* route = nullptr;
  std::string path_below_merchant;  // "/api/x?q=1": what the upstream sees

  // Filled in as the request goes, for the one log line per request.
  boost::json::object log;
  boost::json::array attempts;
};

}  // namespace x402
