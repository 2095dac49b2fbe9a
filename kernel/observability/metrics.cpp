#include "observability/metrics.hpp"

#include <set>
#include <sstream>

namespace x402 {

namespace {

// "k1=v1,k2=v2" → name{k1="v1",k2="v2"}
std::string series_key(std::string_view name, std::string_view labels) {
  std::string key(name);
  if (labels.empty()) return key;
  key += '{';
  size_t start = 0;
  bool first = true;
  while (start <= labels.size()) {
    size_t end = labels.find(',', start);
    if (end == std::string_view::npos) end = labels.size();
    auto pair = labels.substr(start, end - start);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos) {
      if (!first) key += ',';
      first = false;
      key.append(pair.substr(0, eq));
      key += "=\"";
      for (char c : pair.substr(eq + 1)) {
        if (c == '"' || c == '\\') key += '\\';
        key += c;
      }
      key += '"';
    }
    start = end + 1;
  }
  key += '}';
  return key;
}

std::string_view metric_name(std::string_view key) {
  return key.substr(0, key.find('{'));
}

}  // namespace

void Metrics::counter_add(std::string_view name, std::string_view labels, uint64_t delta) {
  auto key = series_key(name, labels);
  std::lock_guard lock(mu_);
  counters_[key] += delta;
}

void Metrics::gauge_set(std::string_view name, std::string_view labels, int64_t value) {
  auto key = series_key(name, labels);
  std::lock_guard lock(mu_);
  gauges_[key] = value;
}

uint64_t Metrics::counter(std::string_view name, std::string_view labels) const {
  auto key = series_key(name, labels);
  std::lock_guard lock(mu_);
  auto it = counters_.find(key);
  return it == counters_.end() ? 0 : it->second;
}

std::string Metrics::render_prometheus() const {
  std::ostringstream out;
  std::lock_guard lock(mu_);
  std::set<std::string, std::less<>> typed;
  for (const auto& [key, value] : counters_) {
    auto name = std::string(metric_name(key));
    if (typed.insert(name).second) out << "# TYPE " << name << " counter\n";
    out << key << ' ' << value << '\n';
  }
  for (const auto& [key, value] : gauges_) {
    auto name = std::string(metric_name(key));
    if (typed.insert(name).second) out << "# TYPE " << name << " gauge\n";
    out << key << ' ' << value << '\n';
  }
  return out.str();
}

}  // namespace x402
