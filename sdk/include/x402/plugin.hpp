#pragma once
// x402 plugin SDK — a header-only C++ layer over plugin_abi.h so a plugin author writes an ordinary
// class. Read top to bottom:
//   1. string views and owning HTTP types,
//   2. Host: the host services with std::function callbacks,
//   3. the four base classes (Facilitator, RoutingStrategy, RateLimitTier, WebhookSink),
//   4. the adapters that turn a class into a C vtable (nothing throws across the boundary),
//   5. X402_PLUGIN(...): the exported entry point.
//
// A plugin class is constructed from an InstanceContext and may throw from its constructor to
// refuse a config: the message reaches the operator through x402_error_buf.
#include <x402/plugin_abi.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace x402::sdk {

// ---------------------------------------------------------------------------------------------
// 1. Strings and HTTP types
// ---------------------------------------------------------------------------------------------

inline std::string_view view(x402_str s) {
  return s.data ? std::string_view(s.data, s.len) : "";
}
inline x402_str str(std::string_view s) {
  return x402_str{s.data(), s.size()};
}

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

struct HttpHeader {
  std::string name;
  std::string value;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<HttpHeader> headers;
  std::string body;
  uint32_t timeout_ms = 0;  // 0 = host default
};

// An owning copy of x402_http_response: safe to keep after the callback returns.
struct HttpResponse {
  x402_transport_outcome outcome = X402_TRANSPORT_NOT_SENT;
  int status = 0;
  std::vector<HttpHeader> headers;
  std::string body;
  std::string error;
  bool timed_out = false;

  std::optional<std::string_view> header(std::string_view name) const {
    for (const auto& h : headers)
      if (iequals(h.name, name)) return std::string_view(h.value);
    return std::nullopt;
  }

  static HttpResponse copy_of(const x402_http_response& r) {
    HttpResponse out;
    out.outcome = r.outcome;
    out.status = r.status;
    for (size_t i = 0; i < r.header_count; ++i)
      out.headers.push_back(
          {std::string(view(r.headers[i].name)), std::string(view(r.headers[i].value))});
    out.body = view(r.body);
    out.error = view(r.error);
    out.timed_out = r.timed_out != 0;
    return out;
  }
};

// An owning copy of x402_queue_job.
struct QueueJob {
  std::string id;
  std::string lane;
  std::string state;
  std::string data;
  uint64_t created_unix_ms = 0;
  uint64_t updated_unix_ms = 0;

  static QueueJob copy_of(const x402_queue_job& j) {
    return {std::string(view(j.id)),   std::string(view(j.lane)), std::string(view(j.state)),
            std::string(view(j.data)), j.created_unix_ms,         j.updated_unix_ms};
  }
};

using QueueDone = std::function<void(bool ok, std::vector<QueueJob> jobs, std::string error)>;

// ---------------------------------------------------------------------------------------------
// 2. Host services
// ---------------------------------------------------------------------------------------------

namespace detail {

// Timers need bookkeeping because a cancelled timer never fires, so its heap-allocated handler
// would leak. One table per plugin library (hidden visibility keeps it private to the plugin).
struct TimerSlot {
  std::function<void()> fn;
  uint64_t id = 0;
  bool has_id = false;
};

struct TimerTable {
  std::mutex mutex;
  std::unordered_set<TimerSlot*> live;
  std::unordered_map<uint64_t, TimerSlot*> by_id;

  static TimerTable& instance() {
    static TimerTable table;
    return table;
  }
};

}  // namespace detail

class Host {
 public:
  Host() = default;
  Host(const x402_host_api* api, std::string instance_name)
      : api_(api), instance_name_(std::move(instance_name)) {}

  const x402_host_api* api() const { return api_; }
  const std::string& instance_name() const { return instance_name_; }

  void log(x402_log_level level, std::string_view message) const {
    api_->log(api_->host, level, str(instance_name_), str(message));
  }
  void debug(std::string_view m) const { log(X402_LOG_DEBUG, m); }
  void info(std::string_view m) const { log(X402_LOG_INFO, m); }
  void warn(std::string_view m) const { log(X402_LOG_WARN, m); }
  void error(std::string_view m) const { log(X402_LOG_ERROR, m); }

  uint64_t now_unix_ms() const { return api_->now_unix_ms(api_->host); }
  uint64_t monotonic_ms() const { return api_->monotonic_ms(api_->host); }

  // Asynchronous HTTP(S). `done` runs exactly once with an owning copy of the response.
  void http(const HttpRequest& request, std::function<void(const HttpResponse&)> done) const {
    std::vector<x402_header> headers;
    headers.reserve(request.headers.size());
    for (const auto& h : request.headers) headers.push_back({str(h.name), str(h.value)});
    x402_http_request c{str(request.method), str(request.url),  headers.data(),
                        headers.size(),      str(request.body), request.timeout_ms};
    auto* handler = new std::function<void(const HttpResponse&)>(std::move(done));
    api_->http_request(api_->host, &c, &Host::on_http, handler);
  }

  // One-shot timer; returns an id for cancel_timer.
  uint64_t start_timer(uint32_t delay_ms, std::function<void()> fn) const {
    auto& table = detail::TimerTable::instance();
    auto* slot = new detail::TimerSlot{std::move(fn)};
    {
      std::lock_guard lock(table.mutex);
      table.live.insert(slot);
    }
    uint64_t id = api_->timer_start(api_->host, delay_ms, &Host::on_timer, slot);
    std::lock_guard lock(table.mutex);
    if (table.live.count(slot)) {  // it may already have fired on another thread
      slot->id = id;
      slot->has_id = true;
      table.by_id[id] = slot;
    }
    return id;
  }

  void cancel_timer(uint64_t id) const {
    auto& table = detail::TimerTable::instance();
    detail::TimerSlot* slot = nullptr;
    {
      std::lock_guard lock(table.mutex);
      auto it = table.by_id.find(id);
      if (it == table.by_id.end()) return;  // already fired
      slot = it->second;
      table.by_id.erase(it);
      table.live.erase(slot);
    }
    api_->timer_cancel(api_->host, id);
    delete slot;
  }

  void counter_add(std::string_view name, std::string_view labels, uint64_t delta = 1) const {
    api_->metric_counter_add(api_->host, str(name), str(labels), delta);
  }
  void gauge_set(std::string_view name, std::string_view labels, int64_t value) const {
    api_->metric_gauge_set(api_->host, str(name), str(labels), value);
  }

  // Shared cache. `done(value, error)`: value is nullopt when the key is absent or on error.
  void cache_get(std::string_view key,
                 std::function<void(std::optional<std::string>, std::string)> done) const {
    auto* handler =
        new std::function<void(std::optional<std::string>, std::string)>(std::move(done));
    api_->cache_get(api_->host, str(key), &Host::on_cache_get, handler);
  }
  void cache_set(std::string_view key, std::string_view value, uint32_t ttl_ms,
                 std::function<void(bool ok, std::string error)> done = {}) const {
    auto* handler = new std::function<void(bool, std::string)>(std::move(done));
    api_->cache_set(api_->host, str(key), str(value), ttl_ms, &Host::on_cache_set, handler);
  }

  // ---- ABI minor 1: the durable job queue and operator events ----

  // False when the host predates them (an x402d older than this SDK).
  bool has_queue() const { return X402_HAS_FIELD(api_, x402_host_api, emit_event); }

  // `done(ok, jobs, error)`: jobs are owning copies.
  void queue_put(std::string_view id, std::string_view lane, std::string_view state,
                 std::string_view data, QueueDone done) const {
    api_->queue_put(api_->host, str(id), str(lane), str(state), str(data), &Host::on_queue,
                    new QueueDone(std::move(done)));
  }
  void queue_update(std::string_view id, std::string_view expected_state,
                    std::string_view new_state, std::string_view lane, std::string_view data,
                    QueueDone done) const {
    api_->queue_update(api_->host, str(id), str(expected_state), str(new_state), str(lane),
                       str(data), &Host::on_queue, new QueueDone(std::move(done)));
  }
  void queue_claim(std::string_view from_state, std::string_view to_state, uint32_t limit,
                   QueueDone done) const {
    api_->queue_claim(api_->host, str(from_state), str(to_state), limit, &Host::on_queue,
                      new QueueDone(std::move(done)));
  }
  void queue_list(std::string_view id, std::string_view state, uint32_t limit,
                  QueueDone done) const {
    api_->queue_list(api_->host, str(id), str(state), limit, &Host::on_queue,
                     new QueueDone(std::move(done)));
  }
  void emit_event(std::string_view type, std::string_view json) const {
    if (has_queue()) api_->emit_event(api_->host, str(type), str(json));
  }

  // ---- ABI minor 2: atomic scripts in the shared cache ----

  // False when the host predates it (an x402d older than this SDK).
  bool has_cache_eval() const { return X402_HAS_FIELD(api_, x402_host_api, cache_eval); }

  // Runs `script` atomically against `keys` with `args`. `done(reply, error)`: on success the
  // flattened reply (nil elements as nullopt) and an empty error; on failure nullopt and the
  // host's error, whose code "cache_scripts_unsupported" means a single node's in-memory cache.
  using EvalReply = std::vector<std::optional<std::string>>;
  using EvalDone = std::function<void(std::optional<EvalReply> reply, std::string error)>;
  void cache_eval(std::string_view script, const std::vector<std::string>& keys,
                  const std::vector<std::string>& args, EvalDone done) const {
    std::vector<x402_str> key_views, arg_views;
    for (const auto& k : keys) key_views.push_back(str(k));
    for (const auto& a : args) arg_views.push_back(str(a));
    api_->cache_eval(api_->host, str(script), key_views.data(), key_views.size(), arg_views.data(),
                     arg_views.size(), &Host::on_cache_eval, new EvalDone(std::move(done)));
  }

 private:
  static void on_queue(void* user, int ok, const x402_queue_job* jobs, size_t count,
                       x402_str error) {
    std::unique_ptr<QueueDone> handler(static_cast<QueueDone*>(user));
    try {
      std::vector<QueueJob> out;
      out.reserve(count);
      for (size_t i = 0; i < count; ++i) out.push_back(QueueJob::copy_of(jobs[i]));
      if (*handler) (*handler)(ok != 0, std::move(out), std::string(view(error)));
    } catch (...) {
    }
  }

  // The trampolines own the handler and never let an exception reach the host.
  static void on_http(void* user, const x402_http_response* response) {
    std::unique_ptr<std::function<void(const HttpResponse&)>> handler(
        static_cast<std::function<void(const HttpResponse&)>*>(user));
    try {
      (*handler)(HttpResponse::copy_of(*response));
    } catch (...) {
    }
  }

  static void on_timer(void* user) {
    auto* slot = static_cast<detail::TimerSlot*>(user);
    auto& table = detail::TimerTable::instance();
    {
      std::lock_guard lock(table.mutex);
      if (!table.live.erase(slot)) return;  // cancelled concurrently: cancel_timer frees it
      if (slot->has_id) table.by_id.erase(slot->id);
    }
    std::unique_ptr<detail::TimerSlot> owned(slot);
    try {
      if (owned->fn) owned->fn();
    } catch (...) {
    }
  }

  static void on_cache_get(void* user, int found, x402_str value, x402_str error) {
    std::unique_ptr<std::function<void(std::optional<std::string>, std::string)>> handler(
        static_cast<std::function<void(std::optional<std::string>, std::string)>*>(user));
    try {
      std::optional<std::string> v;
      if (found) v = std::string(view(value));
      (*handler)(std::move(v), std::string(view(error)));
    } catch (...) {
    }
  }

  static void on_cache_eval(void* user, int ok, const x402_str* values, size_t count,
                            x402_str error) {
    std::unique_ptr<EvalDone> handler(static_cast<EvalDone*>(user));
    try {
      if (!ok) {
        (*handler)(std::nullopt, std::string(view(error)));
        return;
      }
      EvalReply reply;
      reply.reserve(count);
      for (size_t i = 0; i < count; ++i) {
        if (values[i].data) {
          reply.emplace_back(std::string(values[i].data, values[i].len));
        } else {
          reply.emplace_back(std::nullopt);
        }
      }
      (*handler)(std::move(reply), {});
    } catch (...) {
    }
  }

  static void on_cache_set(void* user, int ok, x402_str error) {
    std::unique_ptr<std::function<void(bool, std::string)>> handler(
        static_cast<std::function<void(bool, std::string)>*>(user));
    try {
      if (*handler) (*handler)(ok != 0, std::string(view(error)));
    } catch (...) {
    }
  }

  const x402_host_api* api_ = nullptr;
  std::string instance_name_;
};

// What every plugin class is constructed from.
struct InstanceContext {
  Host host;
  std::string instance_name;
  std::string config_json;  // the instance's `config:` block as JSON ("{}" when absent)
};

// ---------------------------------------------------------------------------------------------
// 3. The four kinds
// ---------------------------------------------------------------------------------------------

struct FacilitatorResult {
  x402_facilitator_outcome outcome = X402_FAC_UNAVAILABLE;
  int http_status = 0;
  std::string body;   // normalized JSON when ANSWERED / PENDING
  std::string error;  // when not ANSWERED
  uint32_t retry_after_ms = 0;

  static FacilitatorResult answered(int status, std::string body) {
    return {X402_FAC_ANSWERED, status, std::move(body), {}, 0};
  }
  static FacilitatorResult pending(int status, std::string body, std::string error) {
    return {X402_FAC_PENDING, status, std::move(body), std::move(error), 0};
  }
  static FacilitatorResult not_sent(std::string error) {
    return {X402_FAC_NOT_SENT, 0, {}, std::move(error), 0};
  }
  static FacilitatorResult unavailable(int status, std::string error, uint32_t retry_after_ms = 0) {
    return {X402_FAC_UNAVAILABLE, status, {}, std::move(error), retry_after_ms};
  }
};

using FacilitatorDone = std::function<void(const FacilitatorResult&)>;

enum class SettleWait { confirmed, broadcast };

struct SettleOptions {
  SettleWait wait = SettleWait::confirmed;
  std::string_view payment_id;  // the host's payment id; valid during the call

  static SettleOptions copy_of(const x402_settle_options* o) {
    SettleOptions out;
    if (!o) return out;
    if (X402_HAS_FIELD(o, x402_settle_options, wait) && o->wait == X402_SETTLE_BROADCAST)
      out.wait = SettleWait::broadcast;
    if (X402_HAS_FIELD(o, x402_settle_options, payment_id)) out.payment_id = view(o->payment_id);
    return out;
  }
};

class Facilitator {
 public:
  virtual ~Facilitator() = default;
  virtual void supported(FacilitatorDone done) = 0;
  virtual void verify(std::string_view request_json, FacilitatorDone done) = 0;
  virtual void settle(std::string_view request_json, FacilitatorDone done) = 0;
  // Settle with the route's options (ABI minor 1). By default the options are ignored: a remote
  // facilitator answers once it has settled, which is what `confirmed` asks for.
  virtual void settle_with_options(std::string_view request_json, const SettleOptions& /*options*/,
                                   FacilitatorDone done) {
    settle(request_json, std::move(done));
  }
  // Active probe for the circuit breaker; by default a /supported call.
  virtual void health(FacilitatorDone done) { supported(std::move(done)); }
};

struct PaymentKind {
  uint32_t x402_version = 0;
  std::string_view scheme;
  std::string_view network;
};

struct RoutingCandidate {
  std::string_view name;
  uint32_t priority = 0;
  bool supports = false;
  bool healthy = true;
  bool supported_known = false;
  uint32_t recent_latency_ms = 0;
};

class RoutingStrategy {
 public:
  virtual ~RoutingStrategy() = default;
  // Indexes into `candidates`, most preferred first; leaving one out means "do not try it".
  virtual std::vector<uint32_t> order(const PaymentKind& kind,
                                      std::span<const RoutingCandidate> candidates) = 0;
};

// The host turns these into the 429 and the RateLimit / RateLimit-Policy response headers.
struct RateLimitDecision {
  bool allowed = true;
  uint64_t limit = 0;           // the quota: requests a client may make in one full burst
  uint64_t remaining = 0;       // requests still admitted right now
  uint64_t reset_ms = 0;        // until the whole quota is available again
  uint32_t retry_after_ms = 0;  // refused: until the next request would be admitted
  bool degraded = false;        // the shared state was unreachable; a local limiter decided
};

class RateLimitTier {
 public:
  virtual ~RateLimitTier() = default;
  virtual void admit(std::string_view key, std::string_view scope,
                     std::function<void(const RateLimitDecision&)> done) = 0;
  virtual void release(std::string_view /*key*/, std::string_view /*scope*/) {}
};

struct DeliveryResult {
  x402_delivery_outcome outcome = X402_DELIVERY_OK;
  uint32_t retry_after_ms = 0;
  std::string error;
};

class WebhookSink {
 public:
  virtual ~WebhookSink() = default;
  virtual void deliver(std::string_view event_id, std::string_view event_type,
                       std::string_view event_json,
                       std::function<void(const DeliveryResult&)> done) = 0;
};

// ---------------------------------------------------------------------------------------------
// 4. Adapters: class -> C vtable
// ---------------------------------------------------------------------------------------------

namespace detail {

inline void write_error(x402_error_buf* buf, std::string_view message) {
  if (!buf || !buf->data || buf->capacity == 0) return;
  size_t n = std::min(message.size(), buf->capacity - 1);
  std::memcpy(buf->data, message.data(), n);
  buf->data[n] = '\0';
}

template <class T>
void* create(const x402_host_api* host, x402_str instance_name, x402_str config_json,
             x402_error_buf* error) noexcept {
  try {
    std::string name(view(instance_name));
    std::string config(view(config_json));
    if (config.empty()) config = "{}";
    return new T(InstanceContext{Host(host, name), name, std::move(config)});
  } catch (const std::exception& e) {
    write_error(error, e.what());
  } catch (...) {
    write_error(error, "plugin create() failed with an unknown exception");
  }
  return nullptr;
}

template <class T>
void destroy(void* instance) noexcept {
  delete static_cast<T*>(instance);
}

// Delivers a facilitator result to the host exactly once. If the plugin drops its handler without
// calling it (a bug), the host still gets an answer instead of waiting forever.
class FacilitatorCompletion {
 public:
  FacilitatorCompletion(x402_facilitator_callback cb, void* user) : cb_(cb), user_(user) {}
  ~FacilitatorCompletion() {
    if (!called_)
      deliver(FacilitatorResult::unavailable(0, "plugin dropped the request without an answer"));
  }
  FacilitatorCompletion(const FacilitatorCompletion&) = delete;
  FacilitatorCompletion& operator=(const FacilitatorCompletion&) = delete;

  void deliver(const FacilitatorResult& r) {
    {
      std::lock_guard lock(mutex_);
      if (called_) return;
      called_ = true;
    }
    x402_facilitator_result c{r.outcome, r.http_status, str(r.body), str(r.error),
                              r.retry_after_ms};
    cb_(user_, &c);
  }

  static FacilitatorDone handler(x402_facilitator_callback cb, void* user) {
    auto completion = std::make_shared<FacilitatorCompletion>(cb, user);
    return [completion](const FacilitatorResult& r) { completion->deliver(r); };
  }

 private:
  x402_facilitator_callback cb_;
  void* user_;
  std::mutex mutex_;
  bool called_ = false;
};

// Runs a plugin method; an exception becomes an UNAVAILABLE answer (unless one was already sent).
template <class Call>
void guarded(const FacilitatorDone& done, Call&& call) noexcept {
  try {
    call();
  } catch (const std::exception& e) {
    try {
      done(FacilitatorResult::unavailable(0, std::string("plugin error: ") + e.what()));
    } catch (...) {
    }
  } catch (...) {
    try {
      done(FacilitatorResult::unavailable(0, "plugin error"));
    } catch (...) {
    }
  }
}

template <class T>
struct FacilitatorAdapter {
  static void supported(void* self, x402_facilitator_callback cb, void* user) noexcept {
    FacilitatorDone done;
    try {
      done = FacilitatorCompletion::handler(cb, user);
    } catch (...) {
      return;  // out of memory: nothing sensible left to do
    }
    guarded(done, [&] { static_cast<T*>(self)->supported(done); });
  }
  static void verify(void* self, x402_str request, x402_facilitator_callback cb,
                     void* user) noexcept {
    FacilitatorDone done;
    try {
      done = FacilitatorCompletion::handler(cb, user);
    } catch (...) {
      return;
    }
    guarded(done, [&] { static_cast<T*>(self)->verify(view(request), done); });
  }
  static void settle(void* self, x402_str request, x402_facilitator_callback cb,
                     void* user) noexcept {
    FacilitatorDone done;
    try {
      done = FacilitatorCompletion::handler(cb, user);
    } catch (...) {
      return;
    }
    guarded(done, [&] { static_cast<T*>(self)->settle(view(request), done); });
  }
  static void health(void* self, x402_facilitator_callback cb, void* user) noexcept {
    FacilitatorDone done;
    try {
      done = FacilitatorCompletion::handler(cb, user);
    } catch (...) {
      return;
    }
    guarded(done, [&] { static_cast<T*>(self)->health(done); });
  }
  static void settle_with_options(void* self, x402_str request, const x402_settle_options* options,
                                  x402_facilitator_callback cb, void* user) noexcept {
    FacilitatorDone done;
    try {
      done = FacilitatorCompletion::handler(cb, user);
    } catch (...) {
      return;
    }
    guarded(done, [&] {
      static_cast<T*>(self)->settle_with_options(view(request), SettleOptions::copy_of(options),
                                                 done);
    });
  }

  static constexpr x402_facilitator_vtable vtable{sizeof(x402_facilitator_vtable),
                                                  &create<T>,
                                                  &destroy<T>,
                                                  &supported,
                                                  &verify,
                                                  &settle,
                                                  &health,
                                                  &settle_with_options};
};

template <class T>
struct RoutingAdapter {
  static size_t order(void* self, const x402_payment_kind* kind,
                      const x402_routing_candidate* candidates, size_t count,
                      uint32_t* out_order) noexcept {
    try {
      std::vector<RoutingCandidate> list;
      list.reserve(count);
      for (size_t i = 0; i < count; ++i) {
        const auto& c = candidates[i];
        list.push_back({view(c.name), c.priority, c.supports != 0, c.healthy != 0,
                        c.supported_known != 0, c.recent_latency_ms});
      }
      PaymentKind k{kind->x402_version, view(kind->scheme), view(kind->network)};
      std::vector<uint32_t> order = static_cast<T*>(self)->order(k, list);
      // Never hand the host an index out of range or the same candidate twice.
      std::vector<bool> taken(count, false);
      size_t n = 0;
      for (uint32_t index : order) {
        if (index >= count || taken[index] || n == count) continue;
        taken[index] = true;
        out_order[n++] = index;
      }
      return n;
    } catch (...) {
      // A broken strategy must not stop payments: fall back to YAML order.
      for (size_t i = 0; i < count; ++i) out_order[i] = static_cast<uint32_t>(i);
      return count;
    }
  }

  static constexpr x402_routing_vtable vtable{sizeof(x402_routing_vtable), &create<T>, &destroy<T>,
                                              &order};
};

// Delivers a rate-limit decision to the host exactly once, from any thread. A tier that throws or
// drops its handler without deciding admits the request and reports `degraded`: a rate limiter bug
// must not take the gateway down, and the metric says a decision was not the tier's.
class RateLimitCompletion {
 public:
  RateLimitCompletion(x402_ratelimit_callback cb, void* user) : cb_(cb), user_(user) {}
  ~RateLimitCompletion() { deliver(undecided()); }
  RateLimitCompletion(const RateLimitCompletion&) = delete;
  RateLimitCompletion& operator=(const RateLimitCompletion&) = delete;

  static RateLimitDecision undecided() {
    RateLimitDecision d;
    d.degraded = true;
    return d;
  }

  void deliver(const RateLimitDecision& d) {
    {
      std::lock_guard lock(mutex_);
      if (called_) return;
      called_ = true;
    }
    x402_ratelimit_decision c{d.allowed,  d.limit,          d.remaining,
                              d.reset_ms, d.retry_after_ms, d.degraded};
    cb_(user_, &c);
  }

 private:
  x402_ratelimit_callback cb_;
  void* user_;
  std::mutex mutex_;
  bool called_ = false;
};

template <class T>
struct RateLimitAdapter {
  static void admit(void* self, x402_str key, x402_str scope, x402_ratelimit_callback cb,
                    void* user) noexcept {
    std::shared_ptr<RateLimitCompletion> completion;
    try {
      completion = std::make_shared<RateLimitCompletion>(cb, user);
    } catch (...) {
      return;  // out of memory: nothing sensible left to do
    }
    try {
      static_cast<T*>(self)->admit(
          view(key), view(scope),
          [completion](const RateLimitDecision& d) { completion->deliver(d); });
    } catch (...) {
      completion->deliver(RateLimitCompletion::undecided());
    }
  }
  static void release(void* self, x402_str key, x402_str scope) noexcept {
    try {
      static_cast<T*>(self)->release(view(key), view(scope));
    } catch (...) {
    }
  }

  static constexpr x402_ratelimit_vtable vtable{sizeof(x402_ratelimit_vtable), &create<T>,
                                                &destroy<T>, &admit, &release};
};

template <class T>
struct WebhookAdapter {
  static void deliver(void* self, x402_str event_id, x402_str event_type, x402_str event_json,
                      x402_delivery_callback cb, void* user) noexcept {
    auto called = std::make_shared<bool>(false);
    auto finish = [cb, user, called](const DeliveryResult& r) {
      if (*called) return;
      *called = true;
      x402_delivery_result c{r.outcome, r.retry_after_ms, str(r.error)};
      cb(user, &c);
    };
    try {
      static_cast<T*>(self)->deliver(view(event_id), view(event_type), view(event_json), finish);
    } catch (const std::exception& e) {
      finish({X402_DELIVERY_RETRY, 0, std::string("plugin error: ") + e.what()});
    } catch (...) {
      finish({X402_DELIVERY_RETRY, 0, "plugin error"});
    }
  }

  static constexpr x402_webhook_vtable vtable{sizeof(x402_webhook_vtable), &create<T>, &destroy<T>,
                                              &deliver};
};

// `void` in X402_PLUGIN means "this plugin does not provide that kind".
template <class T>
constexpr const x402_facilitator_vtable* facilitator_vtable() {
  if constexpr (std::is_void_v<T>) {
    return nullptr;
  } else {
    static_assert(std::is_base_of_v<Facilitator, T>, "must derive from x402::sdk::Facilitator");
    return &FacilitatorAdapter<T>::vtable;
  }
}
template <class T>
constexpr const x402_routing_vtable* routing_vtable() {
  if constexpr (std::is_void_v<T>) {
    return nullptr;
  } else {
    static_assert(std::is_base_of_v<RoutingStrategy, T>,
                  "must derive from x402::sdk::RoutingStrategy");
    return &RoutingAdapter<T>::vtable;
  }
}
template <class T>
constexpr const x402_ratelimit_vtable* ratelimit_vtable() {
  if constexpr (std::is_void_v<T>) {
    return nullptr;
  } else {
    static_assert(std::is_base_of_v<RateLimitTier, T>, "must derive from x402::sdk::RateLimitTier");
    return &RateLimitAdapter<T>::vtable;
  }
}
template <class T>
constexpr const x402_webhook_vtable* webhook_vtable() {
  if constexpr (std::is_void_v<T>) {
    return nullptr;
  } else {
    static_assert(std::is_base_of_v<WebhookSink, T>, "must derive from x402::sdk::WebhookSink");
    return &WebhookAdapter<T>::vtable;
  }
}

}  // namespace detail
}  // namespace x402::sdk

// ---------------------------------------------------------------------------------------------
// 5. The entry point
// ---------------------------------------------------------------------------------------------
// Use once per plugin, at namespace scope in one .cpp file. Pass `void` for the kinds the plugin
// does not provide, e.g.
//   X402_PLUGIN("routing-round-robin", "1.0.0", "Rotates the first facilitator", nullptr,
//               void, RoundRobin, void, void)
#define X402_PLUGIN(NAME, VERSION, DESCRIPTION, CONFIG_SCHEMA_JSON, FACILITATOR, ROUTING,      \
                    RATELIMIT, WEBHOOK)                                                        \
  extern "C" X402_EXPORT const x402_plugin_info* x402_plugin_entry(void) {                     \
    static const x402_plugin_info info{X402_ABI_MAJOR,                                         \
                                       X402_ABI_MINOR,                                         \
                                       sizeof(x402_plugin_info),                               \
                                       NAME,                                                   \
                                       VERSION,                                                \
                                       DESCRIPTION,                                            \
                                       CONFIG_SCHEMA_JSON,                                     \
                                       ::x402::sdk::detail::facilitator_vtable<FACILITATOR>(), \
                                       ::x402::sdk::detail::routing_vtable<ROUTING>(),         \
                                       ::x402::sdk::detail::ratelimit_vtable<RATELIMIT>(),     \
                                       ::x402::sdk::detail::webhook_vtable<WEBHOOK>()};        \
    return &info;                                                                              \
  }
