#include "gateway/policy_service.hpp"

#include <boost/json/parse.hpp>
#include <mutex>

#include "http/worker_context.hpp"
#include "observability/log.hpp"
#include "policy/amount_text.hpp"

namespace x402 {

namespace {

Error invalid_limit(const std::string& field, const std::string& why) {
  return make_error("policy_invalid_limits", "limits." + field, "limits." + field + ": " + why);
}

// The requested value when it is a whole number 1..ceiling; errors say which bound it broke.
Result<uint64_t> lowered(const boost::json::object& requested, const char* key, uint64_t ceiling) {
  const auto* v = requested.if_contains(key);
  if (!v) return ceiling;
  uint64_t n = 0;
  if (v->is_uint64()) {
    n = v->get_uint64();
  } else if (v->is_int64() && v->get_int64() > 0) {
    n = static_cast<uint64_t>(v->get_int64());
  } else {
    return invalid_limit(key, "must be a positive whole number");
  }
  if (n == 0 || n > ceiling) {
    return invalid_limit(
        key, "must be 1.." + std::to_string(ceiling) + " (the operator's limit for this merchant)");
  }
  return n;
}

}  // namespace

Result<policy::PolicyLimits> effective_limits(const MerchantPolicyConfig& op,
                                              const boost::json::object& requested) {
  policy::PolicyLimits limits;
  if (op.max_instructions) limits.max_instructions = *op.max_instructions;
  if (op.max_wall_ms) limits.max_wall = std::chrono::milliseconds(*op.max_wall_ms);
  if (op.max_memory_bytes) limits.max_memory_bytes = *op.max_memory_bytes;
  if (op.max_amount) limits.max_amount = *policy::canonical_digits(*op.max_amount);

  for (const auto& [key, value] : requested) {
    (void)value;
    if (key != "max_instructions" && key != "max_wall_ms" && key != "max_memory_bytes" &&
        key != "max_amount") {
      return invalid_limit(std::string(key),
                           "unknown limit; use max_instructions, max_wall_ms, max_memory_bytes "
                           "or max_amount");
    }
  }
  auto instructions = lowered(requested, "max_instructions", limits.max_instructions);
  if (!instructions) return instructions.error();
  limits.max_instructions = *instructions;
  auto wall_ms =
      lowered(requested, "max_wall_ms", std::max<uint64_t>(1, limits.max_wall.count() / 1000));
  if (!wall_ms) return wall_ms.error();
  if (requested.contains("max_wall_ms")) limits.max_wall = std::chrono::milliseconds(*wall_ms);
  auto memory = lowered(requested, "max_memory_bytes", limits.max_memory_bytes);
  if (!memory) return memory.error();
  limits.max_memory_bytes = *memory;
  if (const auto* v = requested.if_contains("max_amount")) {
    auto digits = v->is_string() ? policy::canonical_digits(v->get_string()) : std::nullopt;
    if (!digits || *digits == "0" || policy::canonical_less(limits.max_amount, *digits)) {
      return invalid_limit("max_amount", "must be a digit string 1.." + limits.max_amount);
    }
    limits.max_amount = *digits;
  }
  if (auto valid = limits.validate(); !valid) return valid.error();
  return limits;
}

PolicyService::PolicyService(size_t runtimes) {
  active_.store(std::make_shared<const ActiveMap>());
  for (size_t i = 0; i < runtimes; ++i) {
    runtimes_.push_back(std::make_unique<policy::PolicyRuntime>());
  }
}

std::shared_ptr<const ActivePolicy> PolicyService::active(std::string_view merchant) const {
  auto map = active_.load();
  auto it = map->find(std::string(merchant));
  return it == map->end() ? nullptr : it->second;
}

policy::PolicyRuntime& PolicyService::runtime() {
  if (auto* worker = http::current_worker(); worker && worker->index < runtimes_.size()) {
    return *runtimes_[worker->index];
  }
  thread_local policy::PolicyRuntime own;
  return own;
}

Status PolicyService::refresh(Store& store, const Config& config, bool force) {
  // Two refreshes (poll loop, an admin activation) may race; the later load must not lose.
  static std::mutex refreshing;
  std::lock_guard lock(refreshing);
  auto stamp = store.policy_change_stamp();
  if (!stamp) return stamp.error();
  if (!force && *stamp == stamp_.load()) return Ok{};
  auto rows = store.active_policies();
  if (!rows) return rows.error();

  const uint64_t load = ++loads_;
  const auto previous = active_.load();
  auto map = std::make_shared<ActiveMap>();
  for (const StoredPolicy& row : *rows) {
    const MerchantConfig* merchant = config.find_merchant(row.merchant_id);
    if (!merchant) continue;  // the merchant left the config
    boost::system::error_code ec;
    auto requested = boost::json::parse(row.limits_json, ec);
    auto limits =
        effective_limits(merchant->policy, !ec && requested.is_object() ? requested.get_object()
                                                                        : boost::json::object{});
    if (!limits) {
      // The operator lowered a limit below what the upload asked for: the operator wins.
      log::warn("policy limits no longer fit the merchant's config; using the config's",
                {{"merchant", row.merchant_id},
                 {"policy_version", row.version},
                 {"error", limits.error().message}});
      limits = effective_limits(merchant->policy, {});
      if (!limits) continue;
    }
    // Unchanged version and limits: keep the entry, so workers keep their warm states.
    if (auto it = previous->find(row.merchant_id); it != previous->end()) {
      const auto& was = it->second->spec.limits;
      if (it->second->version == row.version && was.max_instructions == limits->max_instructions &&
          was.max_wall == limits->max_wall && was.max_memory_bytes == limits->max_memory_bytes &&
          was.max_amount == limits->max_amount) {
        map->emplace(row.merchant_id, it->second);
        continue;
      }
    }
    auto entry = std::make_shared<ActivePolicy>();
    entry->version = row.version;
    entry->spec = policy::PolicySpec{row.merchant_id,
                                     std::to_string(row.version) + ":" + std::to_string(load),
                                     row.source, *limits};
    entry->reads_payer = row.source.find("payer") != std::string::npos;
    entry->reads_merchant_stats = row.source.find("merchant_stats") != std::string::npos;
    map->emplace(row.merchant_id, std::move(entry));
  }
  active_.store(std::shared_ptr<const ActiveMap>(std::move(map)));
  stamp_.store(*stamp);
  return Ok{};
}

}  // namespace x402
