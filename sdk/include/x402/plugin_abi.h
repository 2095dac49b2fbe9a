/*
 * x402 gateway plugin ABI — the C boundary between x402d (the host) and a plugin.
 *
 * Rules that keep this boundary stable (modelled on DuckDB's C extension API):
 *  - Only POD structs, plain C types and function pointers cross it. No C++ types, no exceptions.
 *  - A plugin exports exactly one symbol, `x402_plugin_entry`, returning a static x402_plugin_info.
 *  - The host checks `abi_major == X402_ABI_MAJOR` and `abi_minor <= host minor` before touching
 *    anything else. The first two fields of x402_plugin_info never move.
 *  - Every table (host API, vtables) starts with `struct_size`. Tables are append-only: a minor
 *    version may add fields at the end, never reorder or remove. Read a field only when
 *    `struct_size` says it is there (X402_HAS_FIELD).
 *  - Strings are (pointer, length) views, not NUL-terminated unless said. A view handed to a
 *    callback is valid only during that callback: copy what you keep. Likewise, what a plugin
 *    passes into a host call (request structs, headers, keys) is read during the call only: the
 *    host copies what it keeps.
 *  - Lifetime: the host calls an instance's destroy only after every completion callback it handed
 *    to that instance has been invoked; a plugin cancels its own pending timers in destroy.
 *  - Threading: x402d runs one event loop per worker thread. A plugin method may be called from
 *    several workers at once, so instances must be thread-safe. A completion callback handed to
 *    the plugin may be invoked from any thread, exactly once. Host services called by the plugin
 *    deliver their callback on the worker thread that made the call when the call was made on a
 *    worker, otherwise on some worker.
 */
#ifndef X402_PLUGIN_ABI_H
#define X402_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define X402_ABI_MAJOR 1
#define X402_ABI_MINOR 2

#if defined(__GNUC__)
#define X402_EXPORT __attribute__((visibility("default")))
#else
#define X402_EXPORT
#endif

#define X402_HAS_FIELD(table_ptr, type, field) \
  ((table_ptr)->struct_size >= offsetof(type, field) + sizeof(((type*)0)->field))

typedef struct x402_str {
  const char* data;
  size_t len;
} x402_str;

typedef struct x402_header {
  x402_str name;
  x402_str value;
} x402_header;

typedef enum x402_log_level {
  X402_LOG_DEBUG = 0,
  X402_LOG_INFO = 1,
  X402_LOG_WARN = 2,
  X402_LOG_ERROR = 3
} x402_log_level;

/* ---------------------------------------------------------------------------------------------
 * Host services: what x402d offers every plugin. The kernel owns sockets, TLS, pooling and
 * timeouts; plugins ask for work through this table.
 * ------------------------------------------------------------------------------------------- */

typedef struct x402_http_request {
  x402_str method; /* "GET", "POST" */
  x402_str url;    /* absolute http:// or https:// URL; https verifies certificates */
  const x402_header* headers;
  size_t header_count;
  x402_str body;
  uint32_t timeout_ms; /* whole exchange; 0 = host default */
} x402_http_request;

/* Where a failed exchange stopped. Drives failover: a request that surely never left this
 * process (NOT_SENT) may be retried elsewhere; after MAYBE_SENT the peer may have acted on it. */
typedef enum x402_transport_outcome {
  X402_TRANSPORT_OK = 0,         /* a complete HTTP response arrived (any status) */
  X402_TRANSPORT_NOT_SENT = 1,   /* DNS failure, connect refused/timeout, TLS handshake failure */
  X402_TRANSPORT_MAYBE_SENT = 2, /* failed or timed out after the first request byte was written */
} x402_transport_outcome;

typedef struct x402_http_response {
  x402_transport_outcome outcome;
  int status; /* HTTP status when outcome == OK, else 0 */
  const x402_header* headers;
  size_t header_count;
  x402_str body;
  x402_str error;    /* human-readable transport error when outcome != OK */
  uint8_t timed_out; /* 1 when the failure was the timeout */
} x402_http_response;

typedef void (*x402_http_callback)(void* user, const x402_http_response* response);
typedef void (*x402_timer_callback)(void* user);
typedef void (*x402_cache_get_callback)(void* user, int found, x402_str value, x402_str error);
typedef void (*x402_cache_set_callback)(void* user, int ok, x402_str error);
/* Minor 2. ok = 1: `values` is the script's reply flattened (a scalar reply is one value, an array
 * reply its elements, one level deep; integers as decimal text; nil as {NULL, 0}). ok = 0:
 * `error` says why, starting with a code: "cache_scripts_unsupported" when the cache has no script
 * engine (the in-memory cache of a single node, whose own memory is then the whole truth),
 * anything else when the shared cache could not answer (e.g. "cache_unavailable"). */
typedef void (*x402_cache_eval_callback)(void* user, int ok, const x402_str* values, size_t count,
                                         x402_str error);

/* Minor 1: a durable job queue kept in the host's store (SQLite, PostgreSQL), namespaced per
 * plugin instance. The self-hosted facilitator keeps its settlement queue here so that jobs
 * survive a crash and, with a shared database, are processed once across gateway nodes.
 * `state` and `data` (JSON) belong to the plugin; the host only stores and moves them. */
typedef struct x402_queue_job {
  x402_str id;    /* unique within the instance */
  x402_str lane;  /* partition, e.g. the relayer address; may be empty */
  x402_str state; /* plugin-defined, e.g. "pending" */
  x402_str data;  /* plugin-owned JSON */
  uint64_t created_unix_ms;
  uint64_t updated_unix_ms;
} x402_queue_job;

/* ok = 0 on a store failure (error says why; nothing changed). Jobs are valid during the call. */
typedef void (*x402_queue_callback)(void* user, int ok, const x402_queue_job* jobs, size_t count,
                                    x402_str error);

typedef struct x402_host_api {
  uint32_t struct_size;
  uint32_t abi_minor; /* the host's minor version */
  void* host;         /* pass back as the first argument of every call */

  void (*log)(void* host, x402_log_level level, x402_str plugin_instance, x402_str message);
  uint64_t (*now_unix_ms)(void* host);  /* wall clock */
  uint64_t (*monotonic_ms)(void* host); /* for durations */

  /* Asynchronous HTTP(S) through the host's pooled client. */
  void (*http_request)(void* host, const x402_http_request* request, x402_http_callback callback,
                       void* user);

  /* One-shot timer. Returns an id for timer_cancel; a cancelled timer never fires. */
  uint64_t (*timer_start)(void* host, uint32_t delay_ms, x402_timer_callback callback, void* user);
  void (*timer_cancel)(void* host, uint64_t timer_id);

  /* Metrics: Prometheus names; labels as "k1=v1,k2=v2" (may be empty). */
  void (*metric_counter_add)(void* host, x402_str name, x402_str labels, uint64_t delta);
  void (*metric_gauge_set)(void* host, x402_str name, x402_str labels, int64_t value);

  /* Shared key-value cache (in-memory on one node, Redis across nodes). Keys are namespaced by
   * the host per plugin instance. */
  void (*cache_get)(void* host, x402_str key, x402_cache_get_callback callback, void* user);
  void (*cache_set)(void* host, x402_str key, x402_str value, uint32_t ttl_ms,
                    x402_cache_set_callback callback, void* user);

  /* ---- minor 1 ---- */

  /* Inserts job `id` in `state` unless it exists. Calls back with the stored job (count 1):
   * the new one, or the existing one untouched. */
  void (*queue_put)(void* host, x402_str id, x402_str lane, x402_str state, x402_str data,
                    x402_queue_callback callback, void* user);
  /* Compare-and-set: when job `id` is in `expected_state`, sets state, lane and data. Calls back
   * with the updated job (count 1), or count 0 when the job is missing or in another state. */
  void (*queue_update)(void* host, x402_str id, x402_str expected_state, x402_str new_state,
                       x402_str lane, x402_str data, x402_queue_callback callback, void* user);
  /* Atomically moves up to `limit` jobs in `from_state`, oldest first, to `to_state` and calls
   * back with them (as moved). Two concurrent claims never return the same job. */
  void (*queue_claim)(void* host, x402_str from_state, x402_str to_state, uint32_t limit,
                      x402_queue_callback callback, void* user);
  /* Up to `limit` jobs in `state` (all states when empty), oldest first; `id` non-empty selects
   * that one job. */
  void (*queue_list)(void* host, x402_str id, x402_str state, uint32_t limit,
                     x402_queue_callback callback, void* user);
  /* An event for the operator: written to the store's event outbox (delivered to webhook sinks)
   * and to the log. type e.g. "settlement.completed"; json is the event payload. */
  void (*emit_event)(void* host, x402_str type, x402_str json);

  /* ---- minor 2 ---- */

  /* Runs the Lua `script` atomically in the shared cache (Redis: EVALSHA, loading the script on
   * first use and after NOSCRIPT). Keys are namespaced per instance like cache_get's. Keys one
   * script touches together must share a Redis Cluster hash tag, e.g. "{client-7}:minute" and
   * "{client-7}:day"; a script with one key needs none. Scripts should take the time from
   * redis.call('TIME') so that every gateway node agrees on it. */
  void (*cache_eval)(void* host, x402_str script, const x402_str* keys, size_t key_count,
                     const x402_str* args, size_t arg_count, x402_cache_eval_callback callback,
                     void* user);
} x402_host_api;

/* Instance creation gets its config as JSON (the host converts the plugin's YAML block). On
 * failure, create returns NULL and writes a message naming the offending key into `error`. */
typedef struct x402_error_buf {
  char* data;
  size_t capacity;
} x402_error_buf;

/* ---------------------------------------------------------------------------------------------
 * Facilitator: supported / verify / settle / health (PROTOCOL.md §2).
 * ------------------------------------------------------------------------------------------- */

typedef enum x402_facilitator_outcome {
  /* The facilitator answered with a parsable verdict (valid or not). `body` holds the
   * normalized JSON: verify {isValid, invalidReason?, invalidMessage?, payer?}, settle
   * {success, errorReason?, errorMessage?, payer?, transaction, network, amount?}. */
  X402_FAC_ANSWERED = 0,
  X402_FAC_NOT_SENT = 1,    /* surely never reached the facilitator: safe to fail over */
  X402_FAC_UNAVAILABLE = 2, /* reached it, no usable verdict: 5xx without verdict, garbage,
                               timeout after sending, 429 exhausted */
  X402_FAC_PENDING = 3,     /* settle broadcast but not confirmed (e.g. "settlement_pending");
                               body carries the normalized settle JSON with the transaction */
} x402_facilitator_outcome;

typedef struct x402_facilitator_result {
  x402_facilitator_outcome outcome;
  int http_status;         /* 0 when no response */
  x402_str body;           /* normalized verdict JSON when ANSWERED or PENDING, else empty */
  x402_str error;          /* short human-readable description when not ANSWERED */
  uint32_t retry_after_ms; /* from Retry-After, 0 if none */
} x402_facilitator_result;

typedef void (*x402_facilitator_callback)(void* user, const x402_facilitator_result* result);

/* Minor 1. When settle may answer: once the transaction is confirmed on chain, or as soon as it
 * has been broadcast (the facilitator confirms in the background and emits an event). */
typedef enum x402_settle_wait {
  X402_SETTLE_CONFIRMED = 0,
  X402_SETTLE_BROADCAST = 1,
} x402_settle_wait;

typedef struct x402_settle_options {
  uint32_t struct_size;
  x402_settle_wait wait;
  x402_str payment_id; /* the host's payment id, for the facilitator's records and events */
} x402_settle_options;

typedef struct x402_facilitator_vtable {
  uint32_t struct_size;
  void* (*create)(const x402_host_api* host, x402_str instance_name, x402_str config_json,
                  x402_error_buf* error);
  void (*destroy)(void* instance);
  /* GET /supported. ANSWERED body: {kinds:[{x402Version, scheme, network, extra?}], ...}.
   * The plugin may cache; the host also caches. */
  void (*supported)(void* instance, x402_facilitator_callback callback, void* user);
  /* request_json: {"x402Version":N,"paymentPayload":{...},"paymentRequirements":{...}} */
  void (*verify)(void* instance, x402_str request_json, x402_facilitator_callback callback,
                 void* user);
  void (*settle)(void* instance, x402_str request_json, x402_facilitator_callback callback,
                 void* user);
  /* Active probe for the circuit breaker. ANSWERED = healthy. May be NULL. */
  void (*health)(void* instance, x402_facilitator_callback callback, void* user);

  /* ---- minor 1 (read only when struct_size covers it; may be NULL) ---- */

  /* settle with the route's options. A facilitator without it gets plain settle(). */
  void (*settle_with_options)(void* instance, x402_str request_json,
                              const struct x402_settle_options* options,
                              x402_facilitator_callback callback, void* user);
} x402_facilitator_vtable;

/* ---------------------------------------------------------------------------------------------
 * Routing strategy: order the eligible facilitators for one payment. Synchronous, must be cheap.
 * ------------------------------------------------------------------------------------------- */

typedef struct x402_routing_candidate {
  x402_str name;              /* facilitator instance name from YAML */
  uint32_t priority;          /* 0-based position in the YAML list */
  uint8_t supports;           /* 1 when its /supported covers (x402Version, scheme, network) */
  uint8_t healthy;            /* 0 when its circuit breaker is open */
  uint8_t supported_known;    /* 0 when /supported has not been fetched successfully yet */
  uint32_t recent_latency_ms; /* moving average of recent attempts, 0 if unknown */
} x402_routing_candidate;

typedef struct x402_payment_kind {
  uint32_t x402_version;
  x402_str scheme;  /* "exact" */
  x402_str network; /* CAIP-2, e.g. "eip155:84532" */
} x402_payment_kind;

typedef struct x402_routing_vtable {
  uint32_t struct_size;
  void* (*create)(const x402_host_api* host, x402_str instance_name, x402_str config_json,
                  x402_error_buf* error);
  void (*destroy)(void* instance);
  /* Write indexes into `candidates` to `out_order`, most preferred first; return how many.
   * Leaving a candidate out means "do not try it". `out_order` has room for `count` entries. */
  size_t (*order)(void* instance, const x402_payment_kind* kind,
                  const x402_routing_candidate* candidates, size_t count, uint32_t* out_order);
} x402_routing_vtable;

/* ---------------------------------------------------------------------------------------------
 * Rate-limit tier: admit / release with remaining quota for response headers.
 * ------------------------------------------------------------------------------------------- */

typedef struct x402_ratelimit_decision {
  uint8_t allowed;
  uint64_t limit;
  uint64_t remaining;
  uint64_t reset_ms;       /* until the window resets */
  uint32_t retry_after_ms; /* when refused */
  uint8_t degraded;        /* 1 when the shared state was unreachable and a local limiter decided */
} x402_ratelimit_decision;

typedef void (*x402_ratelimit_callback)(void* user, const x402_ratelimit_decision* decision);

typedef struct x402_ratelimit_vtable {
  uint32_t struct_size;
  void* (*create)(const x402_host_api* host, x402_str instance_name, x402_str config_json,
                  x402_error_buf* error);
  void (*destroy)(void* instance);
  /* key: who is limited (payer address, API key or client IP); scope: merchant/route id. */
  void (*admit)(void* instance, x402_str key, x402_str scope, x402_ratelimit_callback callback,
                void* user);
  /* Give back a slot taken by admit (concurrency-style tiers); may be NULL. */
  void (*release)(void* instance, x402_str key, x402_str scope);
} x402_ratelimit_vtable;

/* ---------------------------------------------------------------------------------------------
 * Webhook sink: deliver one event; the host schedules retries from the reported outcome.
 * ------------------------------------------------------------------------------------------- */

typedef enum x402_delivery_outcome {
  X402_DELIVERY_OK = 0,
  X402_DELIVERY_RETRY = 1,     /* transient failure: retry later (retry_after_ms if set) */
  X402_DELIVERY_PERMANENT = 2, /* will never succeed: dead-letter it */
} x402_delivery_outcome;

typedef struct x402_delivery_result {
  x402_delivery_outcome outcome;
  uint32_t retry_after_ms;
  x402_str error;
} x402_delivery_result;

typedef void (*x402_delivery_callback)(void* user, const x402_delivery_result* result);

typedef struct x402_webhook_vtable {
  uint32_t struct_size;
  void* (*create)(const x402_host_api* host, x402_str instance_name, x402_str config_json,
                  x402_error_buf* error);
  void (*destroy)(void* instance);
  /* event_id is stable across retries (at-least-once delivery); event_json is the payload. */
  void (*deliver)(void* instance, x402_str event_id, x402_str event_type, x402_str event_json,
                  x402_delivery_callback callback, void* user);
} x402_webhook_vtable;

/* ---------------------------------------------------------------------------------------------
 * The entry point.
 * ------------------------------------------------------------------------------------------- */

typedef struct x402_plugin_info {
  /* These two fields never move: the host reads them before anything else. */
  uint32_t abi_major;
  uint32_t abi_minor;
  uint32_t struct_size;
  const char* name;    /* unique plugin name, e.g. "facilitator-http" */
  const char* version; /* the plugin's own version, free-form */
  const char* description;
  /* JSON Schema (draft 2020-12 subset: type, properties, required, enum, additionalProperties)
   * for the instance config; NULL when the plugin validates only in create(). */
  const char* config_schema_json;
  /* One or more of these is non-NULL. */
  const x402_facilitator_vtable* facilitator;
  const x402_routing_vtable* routing;
  const x402_ratelimit_vtable* ratelimit;
  const x402_webhook_vtable* webhook;
} x402_plugin_info;

typedef const x402_plugin_info* (*x402_plugin_entry_fn)(void);

#define X402_PLUGIN_ENTRY_SYMBOL "x402_plugin_entry"

#ifdef __cplusplus
}
#endif

#endif /* X402_PLUGIN_ABI_H */
