#include "policy/limits.hpp"

#include "policy/amount_text.hpp"
#include "policy/errors.hpp"

namespace x402::policy {
namespace {

Error limit_error(std::string field, std::string message) {
  return make_error(std::string(errc::kInvalidLimits), std::move(field), std::move(message));
}

template <typename T>
std::optional<Error> check_range(std::string_view field, T value, T max) {
  if (value == T{} || value > max) {
    return limit_error(std::string(field),
                       std::string(field) + " must be between 1 and " + std::to_string(max));
  }
  return std::nullopt;
}

}  // namespace

Status PolicyLimits::validate() const {
  using H = PolicyHardMaxima;
  const std::optional<Error> errors[] = {
      check_range<uint64_t>("max_instructions", max_instructions, H::kInstructions),
      check_range<int64_t>("max_wall_us", max_wall.count(), H::kWall.count()),
      check_range<size_t>("max_memory_bytes", max_memory_bytes, H::kMemoryBytes),
      check_range<size_t>("max_pattern_subject_bytes", max_pattern_subject_bytes,
                          H::kPatternSubjectBytes),
      check_range<size_t>("max_pattern_bytes", max_pattern_bytes, H::kPatternBytes),
      check_range<size_t>("max_string_bytes", max_string_bytes, H::kStringBytes),
      check_range<uint64_t>("max_pass_seconds", max_pass_seconds, H::kPassSeconds),
      check_range<uint64_t>("max_package_calls", max_package_calls, H::kPackageCalls),
      check_range<uint64_t>("max_package_seconds", max_package_seconds, H::kPackageSeconds),
      check_range<size_t>("max_description_bytes", max_description_bytes, H::kDescriptionBytes),
  };
  for (const auto& error : errors) {
    if (error) return *error;
  }
  if (max_wall.count() < 0) return limit_error("max_wall_us", "max_wall_us must be positive");
  const auto canonical = canonical_digits(max_amount);
  if (!canonical || canonical_less(kMaxUint256, *canonical)) {
    return limit_error("max_amount",
                       "max_amount must be atomic units: digits only, at most 2^256-1");
  }
  return Ok{};
}

}  // namespace x402::policy
