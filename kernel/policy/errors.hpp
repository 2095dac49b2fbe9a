#pragma once
// Stable Error::code values of the policy runtime. The gateway maps every one of them to "pricing
// unavailable" for the client; the admin API shows them to the merchant.
#include <string_view>

namespace x402::policy::errc {

inline constexpr std::string_view kInvalidLimits = "policy_invalid_limits";
inline constexpr std::string_view kSourceTooLarge = "policy_source_too_large";
inline constexpr std::string_view kBytecodeRefused = "policy_bytecode_refused";
inline constexpr std::string_view kCompileError = "policy_compile_error";
inline constexpr std::string_view kMissingPrice = "policy_missing_price";
inline constexpr std::string_view kRuntimeError = "policy_runtime_error";
inline constexpr std::string_view kInstructionLimit = "policy_instruction_limit";
inline constexpr std::string_view kTimeLimit = "policy_time_limit";
inline constexpr std::string_view kMemoryLimit = "policy_memory_limit";
inline constexpr std::string_view kStringLimit = "policy_string_limit";
inline constexpr std::string_view kInvalidResult = "policy_invalid_result";
inline constexpr std::string_view kInternal = "policy_internal_error";

}  // namespace x402::policy::errc
