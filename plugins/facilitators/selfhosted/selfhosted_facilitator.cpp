#include "selfhosted_facilitator.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "networks.hpp"

namespace x402::plugins::selfhosted {

namespace {

std::optional<std::string> read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The network the request names, for failure answers given before the payment parsed.
std::string requested_network(std::string_view request) {
  boost::system::error_code ec;
  json::value v = json::parse(request, ec);
  if (ec || !v.is_object()) return {};
  const auto* req = v.get_object().if_contains("paymentRequirements");
  if (!req || !req->is_object()) return {};
  const auto* n = req->get_object().if_contains("network");
  return n && n->is_string() ? std::string(n->get_string()) : std::string();
}

asio::awaitable<void> deliver(asio::awaitable<sdk::FacilitatorResult> work,
                              sdk::FacilitatorDone done) {
  sdk::FacilitatorResult result;
  try {
    result = co_await std::move(work);
  } catch (const std::exception& e) {
    result = sdk::FacilitatorResult::unavailable(0, std::string("plugin error: ") + e.what());
  }
  done(result);
}

}  // namespace

SelfhostedFacilitator::SelfhostedFacilitator(sdk::InstanceContext context)
    : SelfhostedFacilitator(std::move(context), &std::getenv, &read_whole_file) {}

SelfhostedFacilitator::SelfhostedFacilitator(sdk::InstanceContext context, const EnvLookup& getenv,
                                             const FileReader& read_file)
    : host_(context.host),
      config_(parse_config(context.config_json, getenv, read_file)),
      bridge_(std::make_unique<HostBridge>(host_, io_.get_executor(), gate_)),
      rpc_(std::make_unique<RpcClient>(*bridge_, config_.rpc_url, config_.rpc_timeout_ms)),
      engine_(std::make_unique<SettlementEngine>(config_, *bridge_, *rpc_, io_.get_executor())),
      work_(asio::make_work_guard(io_)),
      start_timer_(io_) {
  if (!host_.has_queue())
    throw std::invalid_argument(
        "config: this x402d has no durable job queue (plugin ABI 1.1); upgrade x402d");
  if (config_.chain_id) chain_id_ = *config_.chain_id;
  relayer_addresses_ = engine_->relayer_addresses();
  thread_ = std::thread([this] {
    io_.run();
    stopped_.set_value();
  });
  asio::post(io_, [this] { asio::co_spawn(io_, keep_starting(), asio::detached); });
  host_.info("self-hosted facilitator on " + config_.rpc_url + " with " +
             std::to_string(relayer_addresses_.size()) + " relayer key(s)");
}

SelfhostedFacilitator::~SelfhostedFacilitator() {
  closing_ = true;
  asio::post(io_, [this] {
    engine_->stop();
    start_timer_.cancel();
    work_.reset();
  });
  // Let in-flight work finish its step (a broadcast result recorded, say), but never wait long:
  // a host that is itself shutting down may never answer, and whatever is cut short here is
  // exactly what recovery re-examines at the next start. Late host callbacks hit the closed gate.
  auto finished = stopped_.get_future();
  if (finished.wait_for(std::chrono::milliseconds(2000)) != std::future_status::ready) {
    host_.warn("stopping with host calls still in flight");
    io_.stop();
  }
  thread_.join();
  std::lock_guard lock(gate_->mutex);
  gate_->open = false;
}

template <class Make>
void SelfhostedFacilitator::spawn(sdk::FacilitatorDone done, Make make) {
  if (closing_) {
    done(sdk::FacilitatorResult::unavailable(0, "facilitator-selfhosted is shutting down"));
    return;
  }
  // The coroutine is created on the plugin thread, where all of its state lives.
  asio::post(io_, [this, done = std::move(done), make = std::move(make)]() mutable {
    asio::co_spawn(io_, deliver(make(), std::move(done)), asio::detached);
  });
}

VerifyPolicy SelfhostedFacilitator::policy() const {
  return VerifyPolicy{chain_id_.load(), config_.assets, config_.valid_before_margin_seconds,
                      config_.v1_network};
}

asio::awaitable<bool> SelfhostedFacilitator::ensure_chain() {
  if (chain_checked_) co_return true;
  if (!fatal_.empty()) co_return false;
  RpcBatch b = co_await rpc_->call(rpc::chain_id());
  auto id = b.ok() ? rpc::quantity_u64(b.replies[0]) : std::nullopt;
  if (!id) co_return false;
  if (chain_checked_) co_return true;  // another coroutine got there first
  if (config_.chain_id && *config_.chain_id != *id) {
    fatal_ = "config.chain_id: " + std::to_string(*config_.chain_id) + ", but the node at " +
             config_.rpc_url + " serves chain " + std::to_string(*id);
    host_.error(fatal_);
    co_return false;
  }
  chain_id_ = *id;
  engine_->set_chain_id(*id);
  chain_checked_ = true;
  co_return true;
}

asio::awaitable<void> SelfhostedFacilitator::keep_starting() {
  while (!closing_) {
    if (co_await ensure_chain() && co_await engine_->start()) {
      host_.info("settlement queue running on chain " + std::to_string(chain_id_.load()));
      co_return;
    }
    if (!fatal_.empty() || closing_) co_return;
    start_timer_.expires_after(std::chrono::seconds(2));
    boost::system::error_code ec;
    co_await start_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

sdk::FacilitatorResult SelfhostedFacilitator::supported_now() const {
  uint64_t id = chain_id_.load();
  if (id == 0) return sdk::FacilitatorResult::unavailable(0, "chain id not known yet");
  json::array kinds;
  std::string v1 = config_.v1_network.empty() ? v1_network_name(id) : config_.v1_network;
  if (!v1.empty())
    kinds.push_back(json::object{{"x402Version", 1}, {"scheme", "exact"}, {"network", v1}});
  kinds.push_back(json::object{
      {"x402Version", 2}, {"scheme", "exact"}, {"network", "eip155:" + std::to_string(id)}});
  json::array signers;
  for (const auto& a : relayer_addresses_) signers.push_back(json::string(a));
  json::object body{{"kinds", kinds},
                    {"extensions", json::array{}},
                    {"signers", json::object{{"eip155:*", signers}}}};
  return sdk::FacilitatorResult::answered(200, json::serialize(body));
}

void SelfhostedFacilitator::supported(sdk::FacilitatorDone done) {
  if (chain_id_.load() != 0) {
    done(supported_now());
    return;
  }
  spawn(std::move(done), [this]() -> asio::awaitable<sdk::FacilitatorResult> {
    return [](SelfhostedFacilitator* self) -> asio::awaitable<sdk::FacilitatorResult> {
      co_await self->ensure_chain();
      co_return self->supported_now();
    }(this);
  });
}

void SelfhostedFacilitator::verify(std::string_view request_json, sdk::FacilitatorDone done) {
  spawn(std::move(done),
        [this, request = std::string(request_json)] { return do_verify(request); });
}

void SelfhostedFacilitator::settle(std::string_view request_json, sdk::FacilitatorDone done) {
  spawn(std::move(done), [this, request = std::string(request_json)] {
    return do_settle(request, sdk::SettleWait::confirmed, "");
  });
}

void SelfhostedFacilitator::settle_with_options(std::string_view request_json,
                                                const sdk::SettleOptions& options,
                                                sdk::FacilitatorDone done) {
  spawn(std::move(done), [this, request = std::string(request_json), wait = options.wait,
                          payment_id = std::string(options.payment_id)] {
    return do_settle(request, wait, payment_id);
  });
}

void SelfhostedFacilitator::health(sdk::FacilitatorDone done) {
  spawn(std::move(done), [this] { return do_health(); });
}

asio::awaitable<sdk::FacilitatorResult> SelfhostedFacilitator::do_health() {
  RpcBatch b = co_await rpc_->call(rpc::block_number());
  if (b.transport == Transport::not_sent)
    co_return sdk::FacilitatorResult::not_sent("chain RPC: " + b.transport_error);
  if (!b.ok() || !rpc::quantity_u64(b.replies[0]))
    co_return sdk::FacilitatorResult::unavailable(0, "chain RPC not answering eth_blockNumber");
  if (!fatal_.empty()) co_return sdk::FacilitatorResult::unavailable(0, fatal_);
  co_return supported_now();
}

asio::awaitable<sdk::FacilitatorResult> SelfhostedFacilitator::do_verify(std::string request) {
  if (!co_await ensure_chain())
    co_return sdk::FacilitatorResult::unavailable(
        0, fatal_.empty() ? "chain RPC unreachable (eth_chainId)" : fatal_);
  LocalCheck local = check_locally(request, policy(), host_.now_unix_ms() / 1000);
  if (!local.payment) co_return sdk::FacilitatorResult::answered(200, local.verdict.to_json());
  ChainCheck chain =
      co_await check_on_chain(*rpc_, *local.payment, engine_->next_simulation_sender());
  if (chain.outcome == ChainOutcome::not_sent)
    co_return sdk::FacilitatorResult::not_sent(chain.error);
  if (chain.outcome == ChainOutcome::unavailable)
    co_return sdk::FacilitatorResult::unavailable(0, chain.error);
  co_return sdk::FacilitatorResult::answered(200, chain.verdict.to_json());
}

asio::awaitable<sdk::FacilitatorResult> SelfhostedFacilitator::do_settle(std::string request,
                                                                         sdk::SettleWait wait,
                                                                         std::string payment_id) {
  if (!co_await ensure_chain())
    co_return sdk::FacilitatorResult::unavailable(
        0, fatal_.empty() ? "chain RPC unreachable (eth_chainId)" : fatal_);
  LocalCheck local = check_locally(request, policy(), host_.now_unix_ms() / 1000);
  const Payment* p = local.payment ? &*local.payment : nullptr;
  std::string network = p ? p->network : requested_network(request);
  // A retry, or the kernel reconciling: once queued, the job is the only truth, even when the
  // authorization has expired since.
  if (auto id = job_id_of_request(request, chain_id_.load())) {
    QueueResult existing = co_await engine_->find(*id);
    if (!existing.ok)
      co_return sdk::FacilitatorResult::unavailable(0, "settlement queue: " + existing.error);
    if (!existing.jobs.empty())
      co_return co_await engine_->answer_for(*id, wait, network, local.verdict.payer);
  }
  if (!p)
    co_return sdk::FacilitatorResult::answered(
        200, settle_body(false, "", network, local.verdict.payer, "", local.verdict.reason,
                         local.verdict.message));
  ChainCheck chain = co_await check_on_chain(*rpc_, *p, engine_->next_simulation_sender());
  if (chain.outcome == ChainOutcome::not_sent)
    co_return sdk::FacilitatorResult::not_sent(chain.error);
  if (chain.outcome == ChainOutcome::unavailable)
    co_return sdk::FacilitatorResult::unavailable(0, chain.error);
  if (!chain.verdict.valid)
    co_return sdk::FacilitatorResult::answered(
        200, settle_body(false, "", network, p->payer, p->auth.value.to_decimal(),
                         chain.verdict.reason, chain.verdict.message));
  co_return co_await engine_->settle(*p, chain.block, std::move(request), wait,
                                     std::move(payment_id));
}

}  // namespace x402::plugins::selfhosted
