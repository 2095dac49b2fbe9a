#include "gateway/facilitator.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/json/parse.hpp>

#include "gateway/plugin_call.hpp"

namespace x402 {

namespace asio = boost::asio;

namespace {

FacilitatorAnswer to_answer(const x402_facilitator_result* r) {
  FacilitatorAnswer a;
  a.outcome = r->outcome;
  a.http_status = r->http_status;
  a.retry_after_ms = r->retry_after_ms;
  a.error.assign(r->error.data ? r->error.data : "", r->error.len);
  if (r->body.len > 0) {
    boost::system::error_code ec;
    a.body = boost::json::parse(std::string_view(r->body.data, r->body.len), ec);
    if (ec && (a.outcome == X402_FAC_ANSWERED || a.outcome == X402_FAC_PENDING)) {
      // A plugin promised a verdict but handed us garbage: that is no verdict at all.
      a.outcome = X402_FAC_UNAVAILABLE;
      a.error = "plugin returned a malformed verdict: " + ec.message();
      a.body = nullptr;
    }
  } else if (a.outcome == X402_FAC_ANSWERED) {
    a.outcome = X402_FAC_UNAVAILABLE;
    a.error = "plugin returned an empty verdict";
  }
  return a;
}

void on_plugin_result(void* user, const x402_facilitator_result* result) {
  PluginCall<FacilitatorAnswer>::complete(user, to_answer(result));
}

}  // namespace

Facilitator::Facilitator(std::unique_ptr<plugin_host::FacilitatorInstance> instance,
                         uint32_t priority, std::chrono::milliseconds attempt_timeout)
    : instance_(std::move(instance)), priority_(priority), attempt_timeout_(attempt_timeout) {}

asio::awaitable<FacilitatorAnswer> Facilitator::call(StartFn start,
                                                     std::chrono::milliseconds timeout) {
  auto call = PluginCall<FacilitatorAnswer>::create(co_await asio::this_coro::executor,
                                                    shared_from_this(), timeout);
  start(on_plugin_result, call->user());
  if (auto answer = co_await call->wait()) co_return std::move(*answer);
  FacilitatorAnswer timed_out;
  timed_out.outcome = X402_FAC_UNAVAILABLE;
  timed_out.timed_out = true;
  timed_out.error = "timeout after " + std::to_string(timeout.count()) + " ms";
  co_return timed_out;
}

asio::awaitable<FacilitatorAnswer> Facilitator::verify(std::string request_json,
                                                       std::chrono::milliseconds timeout) {
  // The coroutine frame keeps request_json alive for the whole call.
  co_return co_await call(
      [this, &request_json](x402_facilitator_callback cb, void* user) {
        instance_->vtable().verify(instance_->get(), {request_json.data(), request_json.size()}, cb,
                                   user);
      },
      timeout);
}

asio::awaitable<FacilitatorAnswer> Facilitator::settle(std::string request_json,
                                                       std::chrono::milliseconds timeout,
                                                       SettleCallOptions options) {
  co_return co_await call(
      [this, &request_json, &options](x402_facilitator_callback cb, void* user) {
        const x402_facilitator_vtable* vt = &instance_->vtable();
        const x402_str body{request_json.data(), request_json.size()};
        if (X402_HAS_FIELD(vt, x402_facilitator_vtable, settle_with_options) &&
            vt->settle_with_options) {
          x402_settle_options opts{};
          opts.struct_size = sizeof(x402_settle_options);
          opts.wait = options.wait;
          opts.payment_id = {options.payment_id.data(), options.payment_id.size()};
          vt->settle_with_options(instance_->get(), body, &opts, cb, user);
        } else {
          vt->settle(instance_->get(), body, cb, user);
        }
      },
      timeout);
}

asio::awaitable<FacilitatorAnswer> Facilitator::supported(std::chrono::milliseconds timeout) {
  co_return co_await call(
      [this](x402_facilitator_callback cb, void* user) {
        instance_->vtable().supported(instance_->get(), cb, user);
      },
      timeout);
}

asio::awaitable<FacilitatorAnswer> Facilitator::probe(std::chrono::milliseconds timeout) {
  co_return co_await call(
      [this](x402_facilitator_callback cb, void* user) {
        const x402_facilitator_vtable* vt = &instance_->vtable();
        if (X402_HAS_FIELD(vt, x402_facilitator_vtable, health) && vt->health) {
          vt->health(instance_->get(), cb, user);
        } else {
          vt->supported(instance_->get(), cb, user);
        }
      },
      timeout);
}

std::vector<SupportedKind> parse_supported_kinds(const boost::json::value& body) {
  std::vector<SupportedKind> kinds;
  const auto* obj = body.if_object();
  if (!obj) return kinds;
  const auto* list = obj->if_contains("kinds");
  if (!list || !list->is_array()) return kinds;
  for (const auto& entry : list->get_array()) {
    const auto* kind = entry.if_object();
    if (!kind) continue;
    const auto* version = kind->if_contains("x402Version");
    const auto* scheme = kind->if_contains("scheme");
    const auto* network = kind->if_contains("network");
    if (!version || !version->is_int64() || !scheme || !scheme->is_string() || !network ||
        !network->is_string()) {
      continue;
    }
    kinds.push_back({static_cast<int>(version->get_int64()), std::string(scheme->get_string()),
                     std::string(network->get_string())});
  }
  return kinds;
}

}  // namespace x402
