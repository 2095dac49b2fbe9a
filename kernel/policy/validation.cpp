#include "policy/validation.hpp"

#include <algorithm>

namespace x402::policy {
namespace {

// A fixed instant keeps dry runs reproducible: 2025-01-01T00:00:00Z.
constexpr int64_t kSampleNow = 1735689600;

PolicyRequest base_request(const std::string& merchant, const std::string& route) {
  PolicyRequest request;
  request.method = "GET";
  request.path = "/";
  request.merchant = merchant;
  request.route = route;
  request.now = kSampleNow;
  request.headers = {{"host", "api.example.com"}, {"user-agent", "x402-dry-run"}};
  return request;
}

}  // namespace

bool ValidationReport::accepted() const {
  return failures() == 0;
}

size_t ValidationReport::failures() const {
  return static_cast<size_t>(std::count_if(outcomes.begin(), outcomes.end(),
                                           [](const SampleOutcome& o) { return !o.result.ok(); }));
}

std::vector<SampleRequest> builtin_samples(const std::string& merchant, const std::string& route) {
  std::vector<SampleRequest> samples;
  const auto add = [&](std::string name, auto customise) {
    PolicyRequest request = base_request(merchant, route);
    customise(request);
    samples.push_back({std::move(name), std::move(request)});
  };
  add("get_root", [](PolicyRequest&) {});
  add("get_with_query", [](PolicyRequest& r) {
    r.path = "/search";
    r.query = {{"q", "weather in paris"}, {"limit", "10"}, {"page", "2"}};
  });
  add("post_large_body", [](PolicyRequest& r) {
    r.method = "POST";
    r.path = "/v1/completions";
    r.body_size = 10 * 1024 * 1024;
    r.headers.emplace_back("Content-Type", "application/json");
  });
  add("head_no_body", [](PolicyRequest& r) { r.method = "HEAD"; });
  add("returning_payer", [](PolicyRequest& r) {
    r.payer.address = "0x857b06519E91e3A54538791bDbb0E22373e36b66";
    r.payer.calls_this_period = 5000;
    r.payer.active_passes = 1;
    r.payer.package_balance = 3;
    r.merchant_stats.calls_this_period = 100000;
    r.merchant_stats.calls_last_minute = 600;
  });
  add("many_headers", [](PolicyRequest& r) {
    for (int i = 0; i < 64; ++i) {
      r.headers.emplace_back("X-Custom-" + std::to_string(i), std::string(64, 'v'));
    }
  });
  add("long_odd_path", [](PolicyRequest& r) {
    r.method = "DELETE";
    r.path = "/files/%E2%82%AC/" + std::string(2000, 'x') + "/..;/%00";
    r.query = {{"", ""}, {"a", std::string(1000, 'q')}};
  });
  add("epoch_time", [](PolicyRequest& r) { r.now = 0; });
  return samples;
}

Result<ValidationReport> validate_policy(const PolicySpec& spec, const RouteOffer& offer,
                                         const std::vector<SampleRequest>& merchant_samples,
                                         const std::string& route) {
  auto compiled = CompiledPolicy::compile(spec);
  if (!compiled) return compiled.error();
  ValidationReport report;
  for (const auto& sample : builtin_samples(spec.merchant, route)) {
    report.outcomes.push_back({sample.name, true, (*compiled)->evaluate(sample.request, offer)});
  }
  for (const auto& sample : merchant_samples) {
    report.outcomes.push_back({sample.name, false, (*compiled)->evaluate(sample.request, offer)});
  }
  return report;
}

}  // namespace x402::policy
