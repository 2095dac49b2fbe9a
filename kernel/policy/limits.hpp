#pragma once
// Budgets for one merchant's pricing policy (DESIGN.md §6). Defaults suit a pricing function that
// looks at a request and a few summaries; a merchant may raise them up to the hard maxima, which
// bound what one request can cost a worker thread.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/result.hpp"

namespace x402::policy {

struct PolicyLimits {
  // Execution budget of one evaluation (and, separately, of loading the script).
  uint64_t max_instructions = 100'000;  // VM instructions, counted in steps of 1000
  std::chrono::microseconds max_wall = std::chrono::milliseconds(5);
  // Bytes the merchant's code may hold in its state on top of the sandbox itself (script, globals,
  // the per-call request view, garbage not yet collected).
  size_t max_memory_bytes = 1024 * 1024;
  // Pattern functions (find, match, gmatch, gsub) refuse larger subjects / patterns outright.
  size_t max_pattern_subject_bytes = 4096;
  size_t max_pattern_bytes = 256;
  // string.rep refuses to build a larger result.
  size_t max_string_bytes = 64 * 1024;

  // Bounds on what the policy may return.
  std::string max_amount = "1000000000";  // atomic units (1000 USDC at 6 decimals)
  uint64_t max_pass_seconds = 30 * 24 * 3600;
  uint64_t max_package_calls = 100'000;
  uint64_t max_package_seconds = 365 * 24 * 3600;  // also the lifetime of a package by default
  size_t max_description_bytes = 256;

  // Checks every field against the hard maxima below; code "policy_invalid_limits".
  Status validate() const;
};

// Hard maxima a merchant configuration may not exceed.
struct PolicyHardMaxima {
  static constexpr uint64_t kInstructions = 10'000'000;
  static constexpr std::chrono::microseconds kWall = std::chrono::milliseconds(50);
  static constexpr size_t kMemoryBytes = 16 * 1024 * 1024;
  static constexpr size_t kPatternSubjectBytes = 64 * 1024;
  static constexpr size_t kPatternBytes = 1024;
  static constexpr size_t kStringBytes = 1024 * 1024;
  static constexpr uint64_t kPassSeconds = 366ULL * 24 * 3600;
  static constexpr uint64_t kPackageCalls = 10'000'000;
  static constexpr uint64_t kPackageSeconds = 366ULL * 24 * 3600;
  static constexpr size_t kDescriptionBytes = 1024;
  static constexpr size_t kSourceBytes = 64 * 1024;  // policy source text
};

}  // namespace x402::policy
