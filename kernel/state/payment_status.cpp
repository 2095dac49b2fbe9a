#include <array>
#include <string_view>
#include <utility>

#include "state/store.hpp"

namespace x402 {
namespace {

// The spellings are stored in the database and shown in APIs: changing one is a migration.
constexpr std::array<std::pair<PaymentStatus, std::string_view>, 7> kStatusNames = {{
    {PaymentStatus::Pending, "PENDING"},
    {PaymentStatus::Verified, "VERIFIED"},
    {PaymentStatus::Settling, "SETTLING"},
    {PaymentStatus::Settled, "SETTLED"},
    {PaymentStatus::Unknown, "UNKNOWN"},
    {PaymentStatus::Failed, "FAILED"},
    {PaymentStatus::Refunded, "REFUNDED"},
}};

}  // namespace

std::string_view to_string(PaymentStatus s) {
  for (const auto& [status, name] : kStatusNames) {
    if (status == s) return name;
  }
  return "UNKNOWN";  // unreachable for valid enum values
}

std::optional<PaymentStatus> parse_payment_status(std::string_view s) {
  for (const auto& [status, name] : kStatusNames) {
    if (name == s) return status;
  }
  return std::nullopt;
}

}  // namespace x402
