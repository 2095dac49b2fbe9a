#pragma once
// Process-wide counters and gauges, rendered as Prometheus text on /metrics.
// Cheap enough for the request path: one mutex-protected map lookup per update.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace x402 {

class Metrics {
 public:
  // labels: "k1=v1,k2=v2" (values without quotes), may be empty.
  void counter_add(std::string_view name, std::string_view labels, uint64_t delta = 1);
  void gauge_set(std::string_view name, std::string_view labels, int64_t value);
  uint64_t counter(std::string_view name, std::string_view labels) const;
  std::string render_prometheus() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, uint64_t, std::less<>> counters_;  // key: name{labels}
  std::map<std::string, int64_t, std::less<>> gauges_;
};

}  // namespace x402
