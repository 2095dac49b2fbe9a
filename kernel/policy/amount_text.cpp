#include "policy/amount_text.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>

namespace x402::policy {

std::optional<std::string> exact_integer_text(double value) {
  if (!std::isfinite(value) || value < 0 || value > kMaxExactLuaInteger) return std::nullopt;
  if (std::trunc(value) != value) return std::nullopt;
  // Exact: every integer up to 2^53 converts to uint64_t without loss; -0.0 becomes 0.
  const auto integer = static_cast<uint64_t>(value);
  char buffer[24];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, integer);
  if (ec != std::errc{}) return std::nullopt;
  return std::string(buffer, end);
}

std::optional<std::string> canonical_digits(std::string_view text) {
  if (text.empty() || text.size() > kMaxUint256.size()) return std::nullopt;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  const size_t first_significant = text.find_first_not_of('0');
  if (first_significant == std::string_view::npos) return std::string("0");
  return std::string(text.substr(first_significant));
}

bool canonical_less(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return a.size() < b.size();
  return a < b;
}

}  // namespace x402::policy
