#include "gateway/gateway.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <future>

#include "gateway/admin_api.hpp"
#include "gateway/blocking.hpp"
#include "gateway/facilitator_api.hpp"
#include "gateway/request_router.hpp"
#include "gateway/responses.hpp"
#include "gateway/state_backends.hpp"
#include "observability/log.hpp"
#include "plugin_host/instance.hpp"

namespace x402 {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;

namespace {

std::string request_id_of(const http::IncomingRequest& request) {
  // Keep a caller's id when it is short and printable, so logs line up across hops.
  std::string_view given = request["X-Request-Id"];
  if (!given.empty() && given.size() <= 64 && std::all_of(given.begin(), given.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
      })) {
    return std::string(given);
  }
  return random_id();
}

http::OutgoingResponse text_response(unsigned status, std::string body, std::string_view type) {
  http::OutgoingResponse res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, type);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

}  // namespace

Gateway::Gateway(GatewayOptions options) : options_(std::move(options)) {}

Gateway::~Gateway() {
  stop();
  // When start() failed, stop() had nothing to stop; plugin queue calls may still be running on
  // the pool, and they post to the worker loops, which are destroyed before the pool.
  if (store_pool_) store_pool_->join();
}

uint16_t Gateway::port() const {
  return server_ ? server_->port() : 0;
}

uint16_t Gateway::facilitator_api_port() const {
  return facilitator_api_server_ ? facilitator_api_server_->port() : 0;
}

uint16_t Gateway::admin_api_port() const {
  return admin_api_server_ ? admin_api_server_->port() : 0;
}

Status Gateway::refresh_policies() {
  auto snapshot = snapshot_.load();
  if (!snapshot || !store_ || !policies_) return Ok{};
  return policies_->refresh(*store_, *snapshot->config, false);
}

Status Gateway::start(std::shared_ptr<const Config> config) {
  config_path_ = config->source_path;
  const auto& server_config = config->server;

  auto store = open_store(config->storage);
  if (!store) return store.error();
  store_ = std::move(store.value());
  cache_ = make_cache(config->cache);
  if (config->cache.backend == "redis" && !wait_for_cache(*cache_, 3s)) {
    log::warn("Redis does not answer yet; paid requests are refused (503) until it does",
              {{"redis", config->cache.host + ":" + std::to_string(config->cache.port)}});
  }
  auto spool = Spool::open(config->storage.spool_dir);
  if (!spool) return spool.error();
  spool_ = std::move(spool.value());
  if (spool_->pending() > 0) {
    log::warn("the spool holds records the database has not taken yet; applying them",
              {{"spool", spool_->path()}, {"pending", spool_->pending()}});
  }
  storage_config_ = config->storage;
  cache_config_ = config->cache;
  store_pool_ = std::make_unique<asio::thread_pool>(4);
  unsigned workers = server_config.workers;
  if (workers == 0) workers = std::max(1u, std::thread::hardware_concurrency());
  policies_ = std::make_unique<PolicyService>(workers + 1);  // + the control thread
  services_ = std::make_unique<GatewayServices>(
      GatewayServices{*store_, *cache_, *store_pool_, metrics_, *policies_, *spool_});

  tls_ = http::make_client_tls_context();
  if (!options_.extra_ca_file.empty()) tls_->load_verify_file(options_.extra_ca_file);

  std::vector<http::WorkerContext*> contexts;
  std::vector<asio::io_context*> loops;
  for (unsigned i = 0; i < workers; ++i) {
    worker_loops_.push_back(std::make_unique<asio::io_context>(1));
    worker_clients_.push_back(std::make_unique<http::HttpClient>(*worker_loops_.back(), tls_));
    worker_contexts_.push_back(std::make_unique<http::WorkerContext>(
        http::WorkerContext{i, worker_loops_.back().get(), worker_clients_.back().get()}));
    contexts.push_back(worker_contexts_.back().get());
    loops.push_back(worker_loops_.back().get());
  }
  control_client_ = std::make_unique<http::HttpClient>(control_, tls_);
  control_context_ = std::make_unique<http::WorkerContext>(
      http::WorkerContext{workers, &control_, control_client_.get()});
  host_services_ =
      std::make_unique<HostServices>(contexts, *cache_, metrics_, store_.get(), store_pool_.get());

  if (auto applied = apply(config); !applied) return applied;

  http::ServerLimits limits;
  limits.max_header_bytes = server_config.max_header_bytes;
  limits.max_body_bytes = server_config.max_body_bytes;
  limits.max_connections = server_config.max_connections;
  limits.header_timeout = server_config.header_timeout;
  limits.body_timeout = server_config.body_timeout;
  limits.idle_timeout = server_config.idle_timeout;
  // Before the main listener: when this one fails, nothing serves yet and start() ends cleanly.
  if (const auto& api = config->facilitator_api) {
    facilitator_api_server_ = std::make_unique<http::Server>(
        loops,
        [this](http::IncomingRequest& req, const http::PeerInfo& peer) {
          return handle_facilitator_api(req, peer);
        },
        limits);
    if (auto listening = facilitator_api_server_->listen(api->listen_address, api->listen_port);
        !listening) {
      facilitator_api_server_.reset();  // nothing was started on it: safe to drop
      Error error = listening.error();
      error.field = "facilitator_api.listen";
      error.message = "facilitator_api: " + error.message;
      return error;
    }
    facilitator_api_listen_ = api;
    log::info("facilitator API listening", {{"address", api->listen_address},
                                            {"port", facilitator_api_server_->port()},
                                            {"facilitator", api->facilitator}});
  }

  if (const auto& admin = config->admin) {
    admin_api_server_ = std::make_unique<http::Server>(
        loops,
        [this](http::IncomingRequest& req, const http::PeerInfo& peer) {
          return handle_admin_api(req, peer);
        },
        limits);
    if (auto listening = admin_api_server_->listen(admin->listen_address, admin->listen_port);
        !listening) {
      admin_api_server_.reset();
      Error error = listening.error();
      error.field = "admin.listen";
      error.message = "admin: " + error.message;
      return error;
    }
    log::info("admin API listening",
              {{"address", admin->listen_address}, {"port", admin_api_server_->port()}});
  }

  server_ = std::make_unique<http::Server>(
      loops,
      [this](http::IncomingRequest& req, const http::PeerInfo& peer) { return handle(req, peer); },
      limits);
  if (auto listening = server_->listen(server_config.listen_address, server_config.listen_port);
      !listening) {
    return listening;
  }

  for (auto& context : worker_contexts_) {
    worker_threads_.emplace_back([ctx = context.get()] {
      http::set_current_worker(ctx);
      auto guard = asio::make_work_guard(*ctx->ioc);
      ctx->ioc->run();
    });
  }
  start_background_loops();
  control_thread_ = std::thread([this] {
    http::set_current_worker(control_context_.get());
    auto guard = asio::make_work_guard(control_);
    control_.run();
  });
  log::info("x402d listening", {{"address", server_config.listen_address},
                                {"port", server_->port()},
                                {"workers", workers},
                                {"config", config_path_}});
  return Ok{};
}

Result<std::shared_ptr<const Snapshot>> Gateway::build_snapshot(
    std::shared_ptr<const Config> config) {
  std::vector<std::string> dirs = config->plugins.directories;
  for (const auto& d : options_.default_plugin_dirs) dirs.push_back(d);
  auto registry = plugin_host::PluginRegistry::create(dirs, config->plugins.load);
  if (!registry) return registry.error();

  auto snapshot = std::make_shared<Snapshot>();
  snapshot->config = config;

  std::vector<ChainMember> members;
  for (size_t i = 0; i < config->facilitators.size(); ++i) {
    const auto& fc = config->facilitators[i];
    const std::string where = "facilitators[" + std::to_string(i) + "] (" + fc.name + ")";
    auto plugin = (*registry)->find(fc.plugin, plugin_host::PluginKind::facilitator);
    if (!plugin) {
      return make_error("invalid_config", where + ".plugin",
                        config->source_path + ": " + where + ": " + plugin.error().message);
    }
    auto instance = plugin_host::create_facilitator(
        plugin.value(), host_services_->api_for(fc.name), fc.name, fc.plugin_config, where);
    if (!instance) {
      return make_error("invalid_config", where,
                        config->source_path + ": " + instance.error().message);
    }
    auto timeout =
        fc.attempt_timeout.count() > 0 ? fc.attempt_timeout : config->failover.attempt_timeout;
    auto facilitator = std::make_shared<Facilitator>(std::move(instance.value()),
                                                     static_cast<uint32_t>(i), timeout);
    // Keep what the previous snapshot learned from /supported until the refresh lands.
    if (auto previous = snapshot_.load()) {
      for (const auto& m : previous->chain->members()) {
        if (m.facilitator->name() == fc.name) {
          if (auto kinds = m.facilitator->supported_kinds())
            facilitator->set_supported_kinds(*kinds);
        }
      }
    }
    members.push_back(
        {facilitator, breakers_.get(fc.name, config->failover.breaker.failure_threshold,
                                    config->failover.breaker.open_for)});
  }

  // The routing strategy: "priority" is the shipped routing-priority plugin.
  const auto& strategy = config->routing.strategy;
  const std::string plugin_name = strategy == "priority" ? "routing-priority" : strategy;
  auto routing_plugin = (*registry)->find(plugin_name, plugin_host::PluginKind::routing);
  if (!routing_plugin) {
    return make_error(
        "invalid_config", "routing.strategy",
        config->source_path + ": routing.strategy: " + routing_plugin.error().message);
  }
  auto routing = plugin_host::create_routing(
      routing_plugin.value(), host_services_->api_for("routing:" + plugin_name), plugin_name,
      config->routing.strategy_config, "routing");
  if (!routing) {
    return make_error("invalid_config", "routing",
                      config->source_path + ": " + routing.error().message);
  }
  RoutingStrategy strategy_entry{&routing.value()->vtable(), routing.value()->get()};
  snapshot->owned.push_back(std::shared_ptr<const void>(std::move(routing.value())));

  for (size_t i = 0; i < config->rate_limits.size(); ++i) {
    const auto& tier = config->rate_limits[i];
    const std::string where = "rate_limits[" + std::to_string(i) + "] (" + tier.name + ")";
    auto plugin = (*registry)->find(tier.plugin, plugin_host::PluginKind::ratelimit);
    if (!plugin) {
      return make_error("invalid_config", where + ".plugin",
                        config->source_path + ": " + where + ": " + plugin.error().message);
    }
    // "ratelimit:<tier>" namespaces the tier's cache keys and tags its log lines.
    auto instance = plugin_host::create_ratelimit(plugin.value(),
                                                  host_services_->api_for("ratelimit:" + tier.name),
                                                  tier.name, tier.plugin_config, where);
    if (!instance) {
      return make_error("invalid_config", where,
                        config->source_path + ": " + instance.error().message);
    }
    snapshot->rate_limiters.emplace(
        tier.name, std::make_shared<RateLimiter>(std::move(instance.value()), tier, metrics_));
  }

  snapshot->chain = std::make_shared<FacilitatorChain>(
      std::move(members), strategy_entry,
      FacilitatorChain::Timing{config->failover.verify_deadline, config->failover.settle_timeout});

  for (const auto& merchant : config->merchants) {
    for (const auto& route : merchant.routes) {
      if (route.policy_priced) snapshot->policy_offers.emplace(&route, policy_offer_for(route));
      if (route.free || (route.policy_priced && !route.policy_fallback)) continue;
      snapshot->plans.emplace(&route, plan_route(merchant, route));
    }
  }
  return std::shared_ptr<const Snapshot>(std::move(snapshot));
}

Status Gateway::apply(std::shared_ptr<const Config> config) {
  std::lock_guard lock(apply_mutex_);
  auto built = build_snapshot(config);
  if (!built) {
    metrics_.counter_add("x402_config_reloads_total", "result=rejected");
    return built.error();
  }
  // Before the first start the listeners do not exist yet: start() opens them from this config.
  if (server_) {
    warn_if_facilitator_api_listener_changed(*config);
    warn_if_state_backends_changed(*config);
  }
  auto snapshot = std::const_pointer_cast<Snapshot>(built.value());
  snapshot->generation = ++generation_;
  // The merchants' limits may have changed with the config: rebuild the active set for it before
  // it serves. A store failure keeps the previous set (the poll loop retries).
  if (policies_ && store_) {
    if (auto loaded = policies_->refresh(*store_, *config, true); !loaded) {
      log::error("active policies could not be loaded", {{"error", loaded.error().message}});
    }
  }
  snapshot_.store(snapshot);
  metrics_.counter_add("x402_config_reloads_total", "result=applied");
  metrics_.gauge_set("x402_config_generation", "", static_cast<int64_t>(generation_));
  log::info("config applied", {{"generation", generation_},
                               {"facilitators", config->facilitators.size()},
                               {"merchants", config->merchants.size()}});
  if (control_context_) {
    asio::co_spawn(control_, refresh_supported(snapshot, false), asio::detached);
  }
  return Ok{};
}

void Gateway::warn_if_state_backends_changed(const Config& config) const {
  // Switching databases under live traffic would split the books between two stores; the
  // connections stay as opened until a restart, deliberately.
  if (!(config.storage == storage_config_)) {
    log::warn("storage changed; restart x402d to apply it. The store opened at start keeps serving",
              {{"backend", storage_config_.backend}, {"configured", config.storage.backend}});
  }
  if (!(config.cache == cache_config_)) {
    log::warn("cache changed; restart x402d to apply it. The cache opened at start keeps serving",
              {{"backend", cache_config_.backend}, {"configured", config.cache.backend}});
  }
}

void Gateway::warn_if_facilitator_api_listener_changed(const Config& config) const {
  // Requests on the listener follow the applied config (facilitator name, removal); only the
  // socket itself stays as it was opened, which is simplest and never drops a connection.
  const auto& was = facilitator_api_listen_;
  const auto& now = config.facilitator_api;
  const auto where = [](const std::optional<FacilitatorApiConfig>& api) {
    return api ? api->listen_address + ":" + std::to_string(api->listen_port)
               : std::string("not served");
  };
  const bool same = (!was && !now) || (was && now && was->listen_address == now->listen_address &&
                                       was->listen_port == now->listen_port);
  if (same) return;
  log::warn(
      "facilitator_api.listen changed; restart x402d to apply it. The facilitator API keeps its "
      "current listener until then",
      {{"listening", where(was)}, {"configured", where(now)}});
}

Status Gateway::reload() {
  auto config = load_config(config_path_);
  if (!config) {
    metrics_.counter_add("x402_config_reloads_total", "result=rejected");
    log::error("config reload rejected; the previous config keeps serving",
               {{"error", config.error().message}});
    return config.error();
  }
  auto applied = apply(config.value());
  if (!applied) {
    log::error("config reload rejected; the previous config keeps serving",
               {{"error", applied.error().message}});
  }
  return applied;
}

Status Gateway::check(std::shared_ptr<const Config> config, const GatewayOptions& options) {
  // Plugin instances are created for real (that is most of the validation) but never called.
  Gateway probe(options);
  probe.cache_ = make_memory_cache();
  asio::io_context idle_loop;
  http::WorkerContext idle_worker{0, &idle_loop, nullptr};
  probe.host_services_ = std::make_unique<HostServices>(
      std::vector<http::WorkerContext*>{&idle_worker}, *probe.cache_, probe.metrics_);
  auto built = probe.build_snapshot(std::move(config));
  if (!built) return built.error();
  return Ok{};
}

asio::awaitable<http::OutgoingResponse> Gateway::handle(http::IncomingRequest& request,
                                                        const http::PeerInfo& peer) {
  auto snapshot = snapshot_.load();
  RequestContext ctx{snapshot, *services_, request, peer, request_id_of(request)};
  ctx.log.reserve(16);  // the access line's fields, added along the way: no rehash per field

  const std::string_view target = request.target();
  http::OutgoingResponse response;
  if (target == "/healthz") {
    response = json_response(200, {{"status", "ok"}});
  } else if (target == "/readyz") {
    response = json_response(snapshot ? 200 : 503,
                             {{"ready", snapshot != nullptr},
                              {"config_generation", snapshot ? snapshot->generation : 0}});
  } else if (target == "/metrics") {
    response = text_response(200, metrics_.render_prometheus(), "text/plain; version=0.0.4");
  } else {
    response = co_await route_request(ctx);
  }
  response.set("X-Request-Id", ctx.request_id);

  const auto status = response.result_int();
  const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::steady_clock::now() - ctx.started)
                           .count();
  metrics_.counter_add("x402_requests_total", "status=" + std::to_string(status));
  boost::json::object line = std::move(ctx.log);
  line["request_id"] = ctx.request_id;
  line["method"] = request.method_string();
  line["path"] = target.substr(0, target.find('?'));
  line["status"] = status;
  line["duration_us"] = elapsed;
  if (!ctx.attempts.empty()) line["facilitator_attempts"] = std::move(ctx.attempts);
  log::access("request", std::move(line));
  co_return response;
}

asio::awaitable<http::OutgoingResponse> Gateway::handle_facilitator_api(
    http::IncomingRequest& request, const http::PeerInfo&) {
  const auto started = std::chrono::steady_clock::now();
  const std::string request_id = request_id_of(request);
  auto response = co_await serve_facilitator_api(request, snapshot_.load());
  response.set("X-Request-Id", request_id);

  const std::string_view target = request.target();
  const auto path = target.substr(0, target.find('?'));
  const auto status = response.result_int();
  const bool known = path == "/verify" || path == "/settle" || path == "/supported";
  metrics_.counter_add("x402_facilitator_api_requests_total",
                       "endpoint=" + std::string(known ? path.substr(1) : "other") +
                           ",status=" + std::to_string(status));
  log::access("facilitator api request",
              {{"request_id", request_id},
               {"method", request.method_string()},
               {"path", path},
               {"status", status},
               {"duration_us", std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::steady_clock::now() - started)
                                   .count()}});
  co_return response;
}

asio::awaitable<http::OutgoingResponse> Gateway::handle_admin_api(http::IncomingRequest& request,
                                                                  const http::PeerInfo&) {
  const auto started = std::chrono::steady_clock::now();
  const std::string request_id = request_id_of(request);
  auto snapshot = snapshot_.load();
  auto response = co_await serve_admin_api(request, snapshot, *services_,
                                           [this] { return refresh_policies(); });
  response.set("X-Request-Id", request_id);
  const std::string_view target = request.target();
  const auto status = response.result_int();
  metrics_.counter_add("x402_admin_api_requests_total", "status=" + std::to_string(status));
  log::info("admin api request",
            {{"request_id", request_id},
             {"method", request.method_string()},
             {"path", target.substr(0, target.find('?'))},
             {"status", status},
             {"duration_us", std::chrono::duration_cast<std::chrono::microseconds>(
                                 std::chrono::steady_clock::now() - started)
                                 .count()}});
  co_return response;
}

asio::awaitable<void> Gateway::policy_poll_loop() {
  // One indexed MAX() every 250 ms: an activation reaches this node within ~0.5 s.
  asio::steady_timer timer(control_);
  while (!stopping_) {
    timer.expires_after(250ms);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (stopping_) break;
    auto refreshed = co_await run_blocking(*store_pool_, [this] { return refresh_policies(); });
    if (!refreshed) {
      metrics_.counter_add("x402_store_errors_total", "op=policy_refresh");
    }
  }
}

void Gateway::listen_for_policy_notices() {
  policy_notices_ = std::make_shared<NoticeRelay>();
  policy_notices_->deliver = [this] {
    asio::co_spawn(
        control_,
        [this]() -> asio::awaitable<void> {
          auto refreshed =
              co_await run_blocking(*store_pool_, [this] { return refresh_policies(); });
          if (!refreshed) metrics_.counter_add("x402_store_errors_total", "op=policy_refresh");
        },
        asio::detached);
  };
  cache_->subscribe(std::string(kPolicyChangeChannel),
                    [relay = policy_notices_](const std::string&) {
                      std::lock_guard lock(relay->mutex);
                      if (relay->deliver) relay->deliver();
                    });
}

asio::awaitable<void> Gateway::spool_drain_loop() {
  // Once a second while anything waits: the spool only fills while the store is failing.
  asio::steady_timer timer(control_);
  while (!stopping_) {
    metrics_.gauge_set("x402_spool_pending", "", static_cast<int64_t>(spool_->pending()));
    if (spool_->pending() > 0) {
      auto drained = co_await run_blocking(*store_pool_, [this] { return spool_->drain(*store_); });
      if (!drained) {
        metrics_.counter_add("x402_store_errors_total", "op=spool_drain");
      } else if (drained->applied + drained->set_aside > 0) {
        log::info("spooled records applied to the store",
                  {{"applied", drained->applied}, {"pending", spool_->pending()}});
        if (drained->set_aside > 0) {
          log::error("spooled records that can never apply were set aside for the operator",
                     {{"count", drained->set_aside}, {"file", spool_->path() + " (.rejected)"}});
        }
      }
    }
    timer.expires_after(1s);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

void Gateway::start_background_loops() {
  listen_for_policy_notices();
  asio::co_spawn(control_, spool_drain_loop(), asio::detached);
  asio::co_spawn(control_, policy_poll_loop(), asio::detached);
  asio::co_spawn(control_, probe_loop(), asio::detached);
  asio::co_spawn(control_, reconcile_loop(), asio::detached);
  // Forgets idempotency keys past their retention (docs/idempotency.md). Every node purges; the
  // indexed DELETE is idempotent, so nodes doing it at once only repeat cheap work.
  asio::co_spawn(
      control_,
      [this]() -> asio::awaitable<void> {
        asio::steady_timer timer(control_);
        while (!stopping_) {
          auto purged = co_await run_blocking(*store_pool_, [this] {
            return store_->idempotency_purge_expired(
                std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count());
          });
          if (!purged) metrics_.counter_add("x402_store_errors_total", "op=idempotency_purge");
          timer.expires_after(60s);
          co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
      },
      asio::detached);
  watch_signals_and_file();
}

asio::awaitable<void> Gateway::refresh_supported(std::shared_ptr<const Snapshot> snapshot,
                                                 bool only_unknown) {
  for (const auto& member : snapshot->chain->members()) {
    if (only_unknown && (member.facilitator->supported_kinds() || member.breaker->is_open())) {
      continue;
    }
    auto answer = co_await member.facilitator->supported(member.facilitator->attempt_timeout());
    if (answer.outcome == X402_FAC_ANSWERED) {
      member.facilitator->set_supported_kinds(parse_supported_kinds(answer.body));
    } else if (!only_unknown) {
      log::warn("facilitator /supported unavailable; it stays eligible for every payment",
                {{"facilitator", member.facilitator->name()}, {"error", answer.error}});
    }
  }
}

asio::awaitable<void> Gateway::probe_loop() {
  // A dead facilitator is skipped by routing; only this loop talks to it until it answers again.
  asio::steady_timer timer(control_);
  int ticks = 0;
  while (!stopping_) {
    timer.expires_after(250ms);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    auto snapshot = snapshot_.load();
    if (!snapshot) continue;
    for (const auto& member : snapshot->chain->members()) {
      if (!member.breaker->probe_due()) continue;
      auto answer = co_await member.facilitator->probe(member.facilitator->attempt_timeout());
      if (answer.outcome == X402_FAC_ANSWERED) {
        member.breaker->record_success();
        member.facilitator->set_supported_kinds(parse_supported_kinds(answer.body));
        log::info("facilitator recovered", {{"facilitator", member.facilitator->name()}});
      } else {
        member.breaker->probe_failed();
      }
    }
    // /supported is cached by the plugin; refresh our view every five minutes, and every five
    // seconds for a facilitator whose support is still unknown (it would otherwise lose its
    // YAML priority to those whose support is known).
    ++ticks;
    if (ticks % (4 * 300) == 0) {
      co_await refresh_supported(snapshot, false);
    } else if (ticks % (4 * 5) == 0) {
      co_await refresh_supported(snapshot, true);
    }
  }
}

asio::awaitable<void> Gateway::reconcile_loop() {
  asio::steady_timer timer(control_);
  while (!stopping_) {
    timer.expires_after(5s);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (stopping_) break;
    co_await reconcile_once();
  }
}

void Gateway::reconcile_now() {
  asio::co_spawn(control_, reconcile_once(), asio::use_future).get();
}

asio::awaitable<void> Gateway::reconcile_once() {
  // A row left SETTLING long after any settle could still be running belongs to a request that
  // died with the process: its outcome is unknown.
  auto snapshot = snapshot_.load();
  const auto stale_before = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count() -
                            2 * snapshot->config->failover.settle_timeout.count() - 10000;
  auto settling = co_await run_blocking(
      *store_pool_, [this] { return store_->payments_with_status(PaymentStatus::Settling, 50); });
  if (settling) {
    for (const auto& payment : settling.value()) {
      if (payment.updated_ms > stale_before) continue;
      co_await run_blocking(*store_pool_, [&] {
        return store_->update_payment(payment.id, PaymentStatus::Unknown, "", "",
                                      "interrupted_settlement");
      });
    }
  }

  // UNKNOWN settlements: ask the same facilitator again. EIP-3009 authorizations settle at most
  // once on chain, so repeating the same settle cannot charge twice.
  auto unknown = co_await run_blocking(
      *store_pool_, [this] { return store_->payments_with_status(PaymentStatus::Unknown, 50); });
  if (!unknown || unknown->empty()) co_return;
  for (const auto& payment : unknown.value()) {
    const ChainMember* member = nullptr;
    for (const auto& m : snapshot->chain->members()) {
      if (m.facilitator->name() == payment.facilitator) member = &m;
    }
    if (!member) continue;  // its facilitator left the config; an operator must look
    boost::system::error_code ec;
    auto payload = boost::json::parse(payment.payload_json, ec);
    auto requirements = boost::json::parse(payment.requirements_json, ec);
    if (ec) continue;
    boost::json::object body{{"x402Version", payment.x402_version},
                             {"paymentPayload", payload},
                             {"paymentRequirements", requirements}};
    SettleCallOptions options;
    options.payment_id = payment.id;  // asks again as the request did: CONFIRMED
    auto answer = co_await member->facilitator->settle(
        boost::json::serialize(body), snapshot->config->failover.settle_timeout, options);
    if (answer.outcome != X402_FAC_ANSWERED) continue;  // still unknown; next round
    const auto* verdict = answer.body.if_object();
    if (!verdict || !verdict->contains("success") || !verdict->at("success").is_bool()) continue;
    std::string tx;
    if (const auto* t = verdict->if_contains("transaction"); t && t->is_string())
      tx = std::string(t->get_string());
    if (verdict->at("success").get_bool()) {
      co_await run_blocking(*store_pool_, [&] {
        return store_->update_payment(payment.id, PaymentStatus::Settled, payment.facilitator, tx,
                                      "");
      });
      metrics_.counter_add("x402_reconciled_total", "result=settled");
      log::info("unknown settlement reconciled", {{"payment_id", payment.id}, {"transaction", tx}});
    } else {
      // A refusal here may mean our first settle already went through ("nonce used"): that
      // needs the chain to decide, so the payment stays UNKNOWN with the reason noted.
      std::string reason;
      if (const auto* r = verdict->if_contains("errorReason"); r && r->is_string())
        reason = std::string(r->get_string());
      co_await run_blocking(*store_pool_, [&] {
        return store_->update_payment(payment.id, PaymentStatus::Unknown, payment.facilitator, tx,
                                      reason);
      });
      metrics_.counter_add("x402_reconciled_total", "result=needs_chain_check");
    }
  }
}

void Gateway::watch_signals_and_file() {
  auto signals = std::make_shared<asio::signal_set>(control_, SIGHUP, SIGTERM, SIGINT);
  auto on_signal = std::make_shared<std::function<void(boost::system::error_code, int)>>();
  *on_signal = [this, signals, on_signal](boost::system::error_code ec, int signo) {
    if (ec) return;
    if (signo == SIGHUP) {
      log::info("SIGHUP: reloading config", {{"config", config_path_}});
      (void)reload();
      signals->async_wait(*on_signal);
      return;
    }
    log::info("shutting down: draining in-flight requests", {{"signal", signo}});
    std::thread([this] { stop(); }).detach();
  };
  signals->async_wait(*on_signal);

  if (options_.watch_config_file && !config_path_.empty()) {
    auto watcher = ConfigWatcher::start(control_, config_path_, [this] {
      log::info("config file changed: reloading", {{"config", config_path_}});
      (void)reload();
    });
    if (watcher) {
      watcher_ = std::move(watcher.value());
    } else {
      log::warn("config file is not watched; use SIGHUP to reload",
                {{"error", watcher.error().message}});
    }
  }
}

void Gateway::stop() {
  {
    std::lock_guard lock(stop_mutex_);
    if (stopping_ || !server_) {
      if (!server_) stopped_ = true;
      return;
    }
    stopping_ = true;
  }
  auto grace = snapshot_.load() ? snapshot_.load()->config->server.shutdown_grace : 15000ms;
  std::promise<void> drained;
  auto drained_future = drained.get_future();
  server_->drain(grace, [&drained] { drained.set_value(); });
  std::promise<void> api_drained;
  auto api_drained_future = api_drained.get_future();
  if (facilitator_api_server_) {
    facilitator_api_server_->drain(grace, [&api_drained] { api_drained.set_value(); });
  } else {
    api_drained.set_value();
  }
  std::promise<void> admin_drained;
  auto admin_drained_future = admin_drained.get_future();
  if (admin_api_server_) {
    admin_api_server_->drain(grace, [&admin_drained] { admin_drained.set_value(); });
  } else {
    admin_drained.set_value();
  }
  const auto drain_deadline = std::chrono::steady_clock::now() + grace + 1s;
  drained_future.wait_until(drain_deadline);
  api_drained_future.wait_until(drain_deadline);
  admin_drained_future.wait_until(drain_deadline);

  for (auto& loop : worker_loops_) loop->stop();
  for (auto& t : worker_threads_) {
    if (t.joinable()) t.join();
  }
  if (policy_notices_) {
    std::lock_guard lock(policy_notices_->mutex);
    policy_notices_->deliver = nullptr;
  }
  control_.stop();
  if (control_thread_.joinable()) control_thread_.join();
  watcher_.reset();  // its loop has stopped: safe to tear down here
  store_pool_->join();
  log::info("x402d stopped");
  std::lock_guard lock(stop_mutex_);
  stopped_ = true;
  stopped_cv_.notify_all();
}

void Gateway::wait() {
  std::unique_lock lock(stop_mutex_);
  stopped_cv_.wait(lock, [this] { return stopped_; });
}

}  // namespace x402
