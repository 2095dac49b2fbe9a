#include "plugin_host/host_services.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>

#include "http/client.hpp"
#include "observability/log.hpp"

namespace x402 {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

namespace {

std::string_view view(x402_str s) {
  return {s.data ? s.data : "", s.len};
}
x402_str str(std::string_view s) {
  return {s.data(), s.size()};
}

uint64_t now_unix_ms(void*) {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

uint64_t monotonic_ms(void*) {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// An owning copy of a plugin's request: the plugin's views die when http_request returns.
struct OwnedRequest {
  std::string method, url, body;
  std::vector<std::pair<std::string, std::string>> headers;
  uint32_t timeout_ms = 0;
};

asio::awaitable<void> run_http(http::WorkerContext& worker, OwnedRequest req,
                               x402_http_callback callback, void* user) {
  x402_http_response out{};
  std::vector<x402_header> headers;
  std::string error;
  http::Outcome outcome = http::TransportError{http::TransportError::Stage::NotSent, false, ""};

  auto target = http::parse_url(req.url);
  if (!target) {
    out.outcome = X402_TRANSPORT_NOT_SENT;
    error = target.error().message;
  } else {
    http::Request request;
    request.version(11);
    request.method_string(req.method);
    request.target(target->second);
    for (auto& [name, value] : req.headers) request.set(name, value);
    request.body() = std::move(req.body);
    http::Timeouts timeouts;
    if (req.timeout_ms > 0) {
      timeouts.total = std::chrono::milliseconds(req.timeout_ms);
      timeouts.connect = std::min(timeouts.connect, timeouts.total);
    }
    outcome = co_await worker.client->send(target->first, std::move(request), timeouts);
    if (auto* response = std::get_if<http::Response>(&outcome)) {
      out.outcome = X402_TRANSPORT_OK;
      out.status = static_cast<int>(response->result_int());
      for (const auto& field : *response) {
        headers.push_back({str(field.name_string()), str(field.value())});
      }
      out.body = str(response->body());
    } else {
      const auto& failure = std::get<http::TransportError>(outcome);
      out.outcome = failure.stage == http::TransportError::Stage::NotSent
                        ? X402_TRANSPORT_NOT_SENT
                        : X402_TRANSPORT_MAYBE_SENT;
      out.timed_out = failure.timed_out ? 1 : 0;
      error = failure.message;
    }
  }
  out.headers = headers.data();
  out.header_count = headers.size();
  out.error = str(error);
  callback(user, &out);
}

// The job views handed to a plugin point into `outcome`, which lives until the callback returns.
void deliver_queue_outcome(const HostServices::QueueOutcome& outcome, x402_queue_callback callback,
                           void* user) {
  std::vector<x402_queue_job> jobs;
  jobs.reserve(outcome.jobs.size());
  for (const auto& j : outcome.jobs) {
    jobs.push_back({str(j.id), str(j.lane), str(j.state), str(j.data),
                    static_cast<uint64_t>(j.created_ms), static_cast<uint64_t>(j.updated_ms)});
  }
  callback(user, outcome.ok ? 1 : 0, jobs.data(), jobs.size(), str(outcome.error));
}

HostServices::QueueOutcome queue_outcome(Result<std::vector<QueueJob>> jobs) {
  if (!jobs) return {false, {}, jobs.error().message};
  return {true, std::move(jobs.value()), {}};
}

// Where an instance's cache keys live: "x402:plugin:<instance>:<key>". Braces in the instance
// name are replaced so that the plugin's own "{...}" stays the key's Redis Cluster hash tag.
std::string plugin_key(const std::string& instance, std::string_view key) {
  std::string out = "x402:plugin:";
  for (char c : instance) out += (c == '{' || c == '}') ? '_' : c;
  out += ':';
  out += key;
  return out;
}

// A plugin names its event types; they become a metric label, so keep them to a safe alphabet
// and a bounded length (an unbounded label set would be a memory leak in the metrics map).
std::string label_value(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 64)) {
    const bool safe =
        std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == ':';
    out += safe ? c : '_';
  }
  return out.empty() ? "unnamed" : out;
}

// A `broadcast` route answered (and recorded the payment SETTLED) as soon as the transaction was
// sent; the facilitator confirms later. Its verdict corrects the books: a revert makes the
// payment FAILED, a different final transaction (a fee replacement, or someone else submitting
// the authorization first) replaces the recorded hash. Payments still in flight are left to the
// request that owns them and to the reconciler.
void correct_broadcast_payment(Store& store, const StoredEvent& event,
                               const boost::json::value& payload) {
  bool failed = event.type == "settlement.confirmation_failed";
  if (!failed && event.type != "settlement.completed") return;
  const auto* fields = payload.if_object();
  const auto* id = fields ? fields->if_contains("payment_id") : nullptr;
  if (!id || !id->is_string() || id->get_string().empty()) return;
  auto payment = store.find_payment(std::string(id->get_string()));
  if (!payment || !payment.value() || payment.value()->status != PaymentStatus::Settled) return;
  const auto* tx = fields->if_contains("transaction");
  std::string tx_hash = tx && tx->is_string() ? std::string(tx->get_string()) : "";
  const PaymentRecord& record = *payment.value();
  Status updated = Ok{};
  if (failed) {
    const auto* reason = fields->if_contains("reason");
    updated =
        store.update_payment(record.id, PaymentStatus::Failed, record.facilitator,
                             tx_hash.empty() ? record.tx_hash : tx_hash,
                             "confirmation_failed" + (reason && reason->is_string()
                                                          ? ": " + std::string(reason->get_string())
                                                          : std::string()));
  } else if (!tx_hash.empty() && tx_hash != record.tx_hash) {
    updated =
        store.update_payment(record.id, PaymentStatus::Settled, record.facilitator, tx_hash, "");
  }
  if (!updated) {
    log::error(
        "payment not corrected after settlement event",
        {{"payment_id", record.id}, {"event_id", event.id}, {"error", updated.error().message}});
  } else if (failed) {
    log::warn("broadcast settlement failed on chain; payment marked FAILED",
              {{"payment_id", record.id}, {"transaction", tx_hash}, {"event_id", event.id}});
  }
}

}  // namespace

struct HostServices::Instance {
  HostServices* services = nullptr;
  std::string name;
  x402_host_api api{};
};

struct HostServices::Timer {
  explicit Timer(asio::io_context& io) : timer(io) {}
  asio::steady_timer timer;
  std::atomic<bool> cancelled{false};
};

HostServices::HostServices(std::vector<http::WorkerContext*> workers, Cache& cache,
                           Metrics& metrics, Store* store, asio::thread_pool* blocking)
    : workers_(std::move(workers)),
      cache_(cache),
      metrics_(metrics),
      store_(store),
      blocking_(blocking) {
  // Events of all instances are appended one after another, so the outbox keeps emission order.
  if (blocking_) event_strand_.emplace(asio::make_strand(blocking_->get_executor()));
}

HostServices::~HostServices() {
  std::lock_guard lock(mu_);
  for (auto& [id, timer] : timers_) timer->cancelled = true;
}

http::WorkerContext& HostServices::pick_worker() {
  if (auto* own = http::current_worker()) return *own;
  return *workers_[next_worker_.fetch_add(1) % workers_.size()];
}

uint64_t HostServices::start_timer(uint32_t delay_ms, x402_timer_callback callback, void* user) {
  auto& worker = pick_worker();
  auto timer = std::make_shared<Timer>(*worker.ioc);
  uint64_t id;
  {
    std::lock_guard lock(mu_);
    id = next_timer_id_++;
    timers_[id] = timer;
  }
  // The timer is armed on its own worker's thread: asio timers are not thread-safe.
  asio::post(*worker.ioc, [this, id, timer, delay_ms, callback, user] {
    timer->timer.expires_after(std::chrono::milliseconds(delay_ms));
    timer->timer.async_wait([this, id, timer, callback, user](boost::system::error_code ec) {
      {
        std::lock_guard lock(mu_);
        timers_.erase(id);
      }
      if (!ec && !timer->cancelled) callback(user);
    });
  });
  return id;
}

void HostServices::run_queue_call(std::function<QueueOutcome(Store&)> work,
                                  x402_queue_callback callback, void* user) {
  // Chosen now, on the calling thread: that is what makes "the worker that made the call" work.
  asio::io_context& reply_on = *pick_worker().ioc;
  if (!store_ || !blocking_) {
    asio::post(reply_on, [callback, user] {
      deliver_queue_outcome({false, {}, "no durable store is available in this mode"}, callback,
                            user);
    });
    return;
  }
  asio::post(*blocking_, [store = store_, work = std::move(work), &reply_on, callback, user] {
    auto outcome = std::make_shared<QueueOutcome>(work(*store));
    asio::post(reply_on,
               [outcome, callback, user] { deliver_queue_outcome(*outcome, callback, user); });
  });
}

void HostServices::emit_event(const std::string& instance, std::string_view type,
                              std::string_view json) {
  metrics_.counter_add("x402_plugin_events_total",
                       "instance=" + label_value(instance) + ",type=" + label_value(type));
  // The outbox promises JSON to webhook sinks: a payload that is not JSON travels as a string.
  boost::system::error_code ec;
  boost::json::value payload = boost::json::parse(json, ec);
  if (ec) payload = boost::json::string(json);

  StoredEvent event;
  event.type = std::string(type);
  event.json = boost::json::serialize(payload);
  event.source = instance;
  auto log_line = [](const StoredEvent& e, boost::json::value payload, const std::string& error) {
    boost::json::object fields{
        {"type", e.type}, {"instance", e.source}, {"payload", std::move(payload)}};
    if (!e.id.empty()) fields["event_id"] = e.id;
    if (error.empty()) {
      log::info("plugin event", std::move(fields));
    } else {
      fields["error"] = "event not stored: " + error;
      log::error("plugin event", std::move(fields));
    }
  };
  if (!store_ || !event_strand_) {
    log_line(event, std::move(payload), "");
    return;
  }
  asio::post(*event_strand_, [store = store_, event = std::move(event),
                              payload = std::move(payload), log_line]() mutable {
    auto stored = store->append_event(event);
    if (stored) {
      log_line(stored.value(), payload, "");
      correct_broadcast_payment(*store, stored.value(), payload);
    } else {
      log_line(event, std::move(payload), stored.error().message);
    }
  });
}

void HostServices::cancel_timer(uint64_t id) {
  std::shared_ptr<Timer> timer;
  {
    std::lock_guard lock(mu_);
    auto it = timers_.find(id);
    if (it == timers_.end()) return;
    timer = it->second;
  }
  timer->cancelled = true;  // the wait handler checks this; no cross-thread cancel() needed
}

const x402_host_api* HostServices::api_for(const std::string& instance_name) {
  std::lock_guard lock(mu_);
  auto& slot = instances_[instance_name];
  if (slot) return &slot->api;
  slot = std::make_unique<Instance>();
  slot->services = this;
  slot->name = instance_name;
  auto& api = slot->api;
  api.struct_size = sizeof(x402_host_api);
  api.abi_minor = X402_ABI_MINOR;
  api.host = slot.get();

  api.log = [](void* host, x402_log_level level, x402_str instance, x402_str message) {
    auto* self = static_cast<Instance*>(host);
    auto lvl = level >= X402_LOG_ERROR  ? log::Level::Error
               : level == X402_LOG_WARN ? log::Level::Warn
               : level == X402_LOG_INFO ? log::Level::Info
                                        : log::Level::Debug;
    log::write(lvl, view(message),
               {{"plugin_instance", instance.len ? view(instance) : std::string_view(self->name)}});
  };
  api.now_unix_ms = now_unix_ms;
  api.monotonic_ms = monotonic_ms;

  api.http_request = [](void* host, const x402_http_request* request, x402_http_callback callback,
                        void* user) {
    auto* self = static_cast<Instance*>(host);
    OwnedRequest owned{std::string(view(request->method)),
                       std::string(view(request->url)),
                       std::string(view(request->body)),
                       {},
                       request->timeout_ms};
    for (size_t i = 0; i < request->header_count; ++i) {
      owned.headers.emplace_back(view(request->headers[i].name), view(request->headers[i].value));
    }
    auto& worker = self->services->pick_worker();
    asio::co_spawn(*worker.ioc, run_http(worker, std::move(owned), callback, user), asio::detached);
  };

  api.timer_start = [](void* host, uint32_t delay_ms, x402_timer_callback callback, void* user) {
    return static_cast<Instance*>(host)->services->start_timer(delay_ms, callback, user);
  };
  api.timer_cancel = [](void* host, uint64_t id) {
    static_cast<Instance*>(host)->services->cancel_timer(id);
  };

  api.metric_counter_add = [](void* host, x402_str name, x402_str labels, uint64_t delta) {
    static_cast<Instance*>(host)->services->metrics().counter_add(view(name), view(labels), delta);
  };
  api.metric_gauge_set = [](void* host, x402_str name, x402_str labels, int64_t value) {
    static_cast<Instance*>(host)->services->metrics().gauge_set(view(name), view(labels), value);
  };

  api.cache_get = [](void* host, x402_str key, x402_cache_get_callback callback, void* user) {
    auto* self = static_cast<Instance*>(host);
    auto full_key = plugin_key(self->name, view(key));
    auto& worker = self->services->pick_worker();
    asio::co_spawn(
        *worker.ioc,
        [self, full_key, callback, user]() -> asio::awaitable<void> {
          auto got = co_await self->services->cache().get(full_key);
          if (!got) {
            callback(user, 0, {}, str(got.error().message));
          } else if (!got->has_value()) {
            callback(user, 0, {}, {});
          } else {
            callback(user, 1, str(**got), {});
          }
        },
        asio::detached);
  };
  api.cache_set = [](void* host, x402_str key, x402_str value, uint32_t ttl_ms,
                     x402_cache_set_callback callback, void* user) {
    auto* self = static_cast<Instance*>(host);
    auto full_key = plugin_key(self->name, view(key));
    std::string owned_value(view(value));
    auto& worker = self->services->pick_worker();
    asio::co_spawn(
        *worker.ioc,
        [self, full_key, owned_value, ttl_ms, callback, user]() -> asio::awaitable<void> {
          auto done = co_await self->services->cache().set(full_key, owned_value,
                                                           std::chrono::milliseconds(ttl_ms));
          if (callback) callback(user, done ? 1 : 0, done ? x402_str{} : str(done.error().message));
        },
        asio::detached);
  };

  // ---- minor 1: durable job queue and events. Every string is copied before the call returns.
  api.queue_put = [](void* host, x402_str id, x402_str lane, x402_str state, x402_str data,
                     x402_queue_callback callback, void* user) {
    auto* self = static_cast<Instance*>(host);
    QueueJob job{std::string(view(id)),
                 std::string(view(lane)),
                 std::string(view(state)),
                 std::string(view(data)),
                 0,
                 0};
    self->services->run_queue_call(
        [instance = self->name, job = std::move(job)](Store& store) {
          auto stored = store.queue_put(instance, job);
          if (!stored) return QueueOutcome{false, {}, stored.error().message};
          return QueueOutcome{true, {std::move(stored.value())}, {}};
        },
        callback, user);
  };
  api.queue_update = [](void* host, x402_str id, x402_str expected_state, x402_str new_state,
                        x402_str lane, x402_str data, x402_queue_callback callback, void* user) {
    auto* self = static_cast<Instance*>(host);
    self->services->run_queue_call(
        [instance = self->name, id = std::string(view(id)),
         expected = std::string(view(expected_state)), next = std::string(view(new_state)),
         lane = std::string(view(lane)), data = std::string(view(data))](Store& store) {
          auto updated = store.queue_update(instance, id, expected, next, lane, data);
          if (!updated) return QueueOutcome{false, {}, updated.error().message};
          QueueOutcome outcome{true, {}, {}};
          if (updated->has_value()) outcome.jobs.push_back(std::move(**updated));
          return outcome;
        },
        callback, user);
  };
  api.queue_claim = [](void* host, x402_str from_state, x402_str to_state, uint32_t limit,
                       x402_queue_callback callback, void* user) {
    auto* self = static_cast<Instance*>(host);
    self->services->run_queue_call(
        [instance = self->name, from = std::string(view(from_state)),
         to = std::string(view(to_state)), limit](Store& store) {
          return queue_outcome(store.queue_claim(instance, from, to, limit));
        },
        callback, user);
  };
  api.queue_list = [](void* host, x402_str id, x402_str state, uint32_t limit,
                      x402_queue_callback callback, void* user) {
    auto* self = static_cast<Instance*>(host);
    self->services->run_queue_call(
        [instance = self->name, id = std::string(view(id)), state = std::string(view(state)),
         limit](Store& store) {
          return queue_outcome(store.queue_list(instance, id, state, limit));
        },
        callback, user);
  };
  api.emit_event = [](void* host, x402_str type, x402_str json) {
    auto* self = static_cast<Instance*>(host);
    self->services->emit_event(self->name, view(type), view(json));
  };

  // ---- minor 2: atomic scripts in the shared cache.
  api.cache_eval = [](void* host, x402_str script, const x402_str* keys, size_t key_count,
                      const x402_str* args, size_t arg_count, x402_cache_eval_callback callback,
                      void* user) {
    auto* self = static_cast<Instance*>(host);
    std::vector<std::string> full_keys, owned_args;
    for (size_t i = 0; i < key_count; ++i)
      full_keys.push_back(plugin_key(self->name, view(keys[i])));
    for (size_t i = 0; i < arg_count; ++i) owned_args.emplace_back(view(args[i]));
    auto& worker = self->services->pick_worker();
    asio::co_spawn(
        *worker.ioc,
        [self, script = std::string(view(script)), full_keys = std::move(full_keys),
         owned_args = std::move(owned_args), callback, user]() mutable -> asio::awaitable<void> {
          auto reply = co_await self->services->cache().eval(script, std::move(full_keys),
                                                             std::move(owned_args));
          if (!reply) {
            const auto& e = reply.error();
            const std::string error = e.message.empty() ? e.code : e.code + ": " + e.message;
            callback(user, 0, nullptr, 0, str(error));
            co_return;
          }
          std::vector<x402_str> values;
          const auto add = [&](const std::optional<std::string>& v) {
            values.push_back(v ? str(*v) : x402_str{nullptr, 0});
          };
          if (reply->elements.empty()) {
            add(reply->value);
          } else {
            for (const auto& element : reply->elements) add(element);
          }
          callback(user, 1, values.data(), values.size(), {});
        },
        asio::detached);
  };
  return &api;
}

}  // namespace x402
