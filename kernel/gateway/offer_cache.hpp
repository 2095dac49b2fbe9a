#pragma once
// The rendered 402s of one fixed-price route. Its body and PAYMENT-REQUIRED header depend only on
// the resource URL once the route's requirements are fixed, and unpaid requests repeat a handful
// of URLs, so rendering (JSON, base64) is done once per URL instead of once per request: in the
// unpaid-path benchmark rendering was the largest cost of a 402 (docs/BENCHMARKS.md).
// Lives in the route's plan, so a new config snapshot starts empty. Thread-safe.
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace x402 {

struct RenderedOffer {
  std::string body;                     // the v1 PaymentRequired JSON
  std::string payment_required_header;  // base64 of the v2 PaymentRequired
};

class OfferCache {
 public:
  std::shared_ptr<const RenderedOffer> find(const std::string& resource_url) const {
    std::lock_guard lock(mutex_);
    auto it = offers_.find(resource_url);
    return it == offers_.end() ? nullptr : it->second;
  }

  void insert(const std::string& resource_url, std::shared_ptr<const RenderedOffer> offer) {
    std::lock_guard lock(mutex_);
    // Query strings make URLs unbounded; a full cache starts over rather than growing.
    if (offers_.size() >= kMaxOffers) offers_.clear();
    offers_.insert_or_assign(resource_url, std::move(offer));
  }

 private:
  static constexpr size_t kMaxOffers = 1024;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<const RenderedOffer>> offers_;
};

}  // namespace x402
