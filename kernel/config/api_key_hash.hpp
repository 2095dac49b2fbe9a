#pragma once
// The form API keys are kept in: lower-case hex SHA-256 of the key. The config loader hashes the
// configured keys once; the admin API hashes each presented bearer token and compares hashes, so
// no key is ever held in memory in the clear after start-up.
#include <string>
#include <string_view>

namespace x402 {

std::string api_key_sha256_hex(std::string_view key);

}  // namespace x402
