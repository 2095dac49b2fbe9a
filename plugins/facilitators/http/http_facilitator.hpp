#pragma once
// One facilitator reached over the standard HTTP API (PROTOCOL.md §2), through the host's HTTP
// client: POST {url}/verify, POST {url}/settle, GET {url}/supported (cached), health probe.
#include <mutex>
#include <optional>
#include <string>
#include <x402/plugin.hpp>

#include "config.hpp"
#include "jwt.hpp"
#include "outcome.hpp"

namespace x402::plugins::facilitator_http {

class HttpFacilitator final : public sdk::Facilitator {
 public:
  // Throws std::invalid_argument naming the config key when the config is unusable.
  explicit HttpFacilitator(sdk::InstanceContext context);
  HttpFacilitator(sdk::Host host, HttpFacilitatorConfig config);

  void supported(sdk::FacilitatorDone done) override;
  void verify(std::string_view request_json, sdk::FacilitatorDone done) override;
  void settle(std::string_view request_json, sdk::FacilitatorDone done) override;
  void health(sdk::FacilitatorDone done) override;

  const HttpFacilitatorConfig& config() const { return config_; }

 private:
  struct Call {
    Endpoint endpoint;
    std::string method;
    std::string path;
    std::string body;
    sdk::FacilitatorDone done;
    uint32_t attempt = 0;  // 429 retries so far
  };

  void send(std::shared_ptr<Call> call);
  void on_response(std::shared_ptr<Call> call, const sdk::HttpResponse& response);
  // Authorization header value for this exact request; empty when the preset needs none.
  std::string authorization(std::string_view method, std::string_view url);

  sdk::Host host_;
  HttpFacilitatorConfig config_;
  std::optional<JwtSigningKey> key_;

  std::mutex mutex_;  // guards the two caches below
  std::string supported_body_;
  uint64_t supported_expires_ms_ = 0;  // monotonic; 0 = nothing cached
  std::string payai_token_;
  uint64_t payai_token_expires_s_ = 0;
};

}  // namespace x402::plugins::facilitator_http
