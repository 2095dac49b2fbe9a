#pragma once
// FakeHost: a test double for x402_host_api. HTTP requests are recorded and answered
// synchronously from a script of canned responses; timers never fire by themselves (the test
// fires them), and both clocks are plain numbers the test moves. Nothing here is timing-sensitive.
// cache_eval calls are recorded too and answered synchronously from `eval_answers`.
#include <x402/plugin_abi.h>

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace x402::test {

struct CannedResponse {
  x402_transport_outcome outcome = X402_TRANSPORT_OK;
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string error;
  bool timed_out = false;
};

struct RecordedRequest {
  std::string method;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  uint32_t timeout_ms = 0;

  std::string header(const std::string& name) const {
    for (const auto& [n, v] : headers)
      if (n == name) return v;
    return {};
  }
};

struct RecordedEval {
  std::string script;
  std::vector<std::string> keys;
  std::vector<std::string> args;
};

// One answer to cache_eval: the script's flattened reply (nil as nullopt), or an error.
struct CannedEval {
  std::optional<std::vector<std::optional<std::string>>> reply;
  std::string error;

  static CannedEval values(std::vector<std::optional<std::string>> reply) {
    return {std::move(reply), {}};
  }
  static CannedEval failure(std::string error) { return {std::nullopt, std::move(error)}; }
};

class FakeHost {
 public:
  FakeHost() {
    api_.struct_size = sizeof(x402_host_api);
    api_.abi_minor = X402_ABI_MINOR;
    api_.host = this;
    api_.log = [](void* h, x402_log_level, x402_str, x402_str message) {
      self(h).logs.emplace_back(message.data, message.len);
    };
    api_.now_unix_ms = [](void* h) { return self(h).now_unix_ms; };
    api_.monotonic_ms = [](void* h) { return self(h).monotonic_ms; };
    api_.http_request = [](void* h, const x402_http_request* r, x402_http_callback cb, void* user) {
      self(h).on_http(*r, cb, user);
    };
    api_.timer_start = [](void* h, uint32_t delay, x402_timer_callback cb, void* user) {
      auto& s = self(h);
      s.timers.push_back({++s.last_timer_id, delay, cb, user});
      return s.last_timer_id;
    };
    api_.timer_cancel = [](void* h, uint64_t id) {
      auto& t = self(h).timers;
      std::erase_if(t, [id](const Timer& x) { return x.id == id; });
    };
    api_.metric_counter_add = [](void*, x402_str, x402_str, uint64_t) {};
    api_.metric_gauge_set = [](void*, x402_str, x402_str, int64_t) {};
    api_.cache_get = [](void*, x402_str, x402_cache_get_callback cb, void* user) {
      cb(user, 0, x402_str{nullptr, 0}, x402_str{nullptr, 0});
    };
    api_.cache_set = [](void*, x402_str, x402_str, uint32_t, x402_cache_set_callback cb,
                        void* user) {
      cb(user, 1, x402_str{nullptr, 0});
    };
    api_.cache_eval = [](void* h, x402_str script, const x402_str* keys, size_t key_count,
                         const x402_str* args, size_t arg_count, x402_cache_eval_callback cb,
                         void* user) {
      self(h).on_cache_eval(script, keys, key_count, args, arg_count, cb, user);
    };
  }
  FakeHost(const FakeHost&) = delete;
  FakeHost& operator=(const FakeHost&) = delete;

  const x402_host_api* api() const { return &api_; }

  // Pretends to be a host older than ABI minor 2 (no cache_eval in the table).
  void drop_cache_eval() {
    api_.struct_size = static_cast<uint32_t>(offsetof(x402_host_api, cache_eval));
    api_.abi_minor = 1;
  }

  // Fires every timer pending now (not ones they start); returns how many fired.
  size_t fire_timers() {
    auto due = std::move(timers);
    timers.clear();
    for (auto& t : due) t.callback(t.user);
    return due.size();
  }

  struct Timer {
    uint64_t id;
    uint32_t delay_ms;
    x402_timer_callback callback;
    void* user;
  };

  std::deque<CannedResponse> script;  // answers, in order; running out is a test failure
  std::vector<RecordedRequest> requests;
  std::vector<Timer> timers;
  std::vector<std::string> logs;
  std::deque<CannedEval> eval_answers;  // in order; when empty: "cache_unavailable: ..."
  std::vector<RecordedEval> evals;
  uint64_t now_unix_ms = 1'700'000'000'000;
  uint64_t monotonic_ms = 1'000;
  uint64_t last_timer_id = 0;

 private:
  static FakeHost& self(void* h) { return *static_cast<FakeHost*>(h); }

  void on_http(const x402_http_request& r, x402_http_callback cb, void* user) {
    RecordedRequest rec{std::string(r.method.data, r.method.len),
                        std::string(r.url.data, r.url.len),
                        {},
                        std::string(r.body.data, r.body.len),
                        r.timeout_ms};
    for (size_t i = 0; i < r.header_count; ++i)
      rec.headers.emplace_back(std::string(r.headers[i].name.data, r.headers[i].name.len),
                               std::string(r.headers[i].value.data, r.headers[i].value.len));
    requests.push_back(std::move(rec));

    CannedResponse canned;
    if (script.empty()) {
      canned = {X402_TRANSPORT_NOT_SENT, 0, {}, "", "FakeHost: no canned response left", false};
    } else {
      canned = std::move(script.front());
      script.pop_front();
    }
    std::vector<x402_header> headers;
    for (const auto& [n, v] : canned.headers)
      headers.push_back({{n.data(), n.size()}, {v.data(), v.size()}});
    x402_http_response response{canned.outcome,
                                canned.status,
                                headers.data(),
                                headers.size(),
                                {canned.body.data(), canned.body.size()},
                                {canned.error.data(), canned.error.size()},
                                static_cast<uint8_t>(canned.timed_out ? 1 : 0)};
    cb(user, &response);
  }

  void on_cache_eval(x402_str script, const x402_str* keys, size_t key_count, const x402_str* args,
                     size_t arg_count, x402_cache_eval_callback cb, void* user) {
    RecordedEval rec{std::string(script.data, script.len), {}, {}};
    for (size_t i = 0; i < key_count; ++i) rec.keys.emplace_back(keys[i].data, keys[i].len);
    for (size_t i = 0; i < arg_count; ++i) rec.args.emplace_back(args[i].data, args[i].len);
    evals.push_back(std::move(rec));

    CannedEval canned = CannedEval::failure("cache_unavailable: no scripted answer");
    if (!eval_answers.empty()) {
      canned = std::move(eval_answers.front());
      eval_answers.pop_front();
    }
    if (!canned.reply) {
      cb(user, 0, nullptr, 0, x402_str{canned.error.data(), canned.error.size()});
      return;
    }
    std::vector<x402_str> values;
    for (const auto& v : *canned.reply)
      values.push_back(v ? x402_str{v->data(), v->size()} : x402_str{nullptr, 0});
    cb(user, 1, values.data(), values.size(), x402_str{nullptr, 0});
  }

  x402_host_api api_{};
};

}  // namespace x402::test
