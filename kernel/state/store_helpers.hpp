#pragma once
// Small pieces both store backends use on the way in and out of SQL.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>

#include "state/store.hpp"

namespace x402::store_helpers {

inline int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The replay key is compared byte for byte, so "0xABC" and "0xabc" would be two claims of one
// authorization. Callers pass lower-case hex; the stores lower-case again so a forgotten
// normalisation cannot open a replay hole.
inline std::string lower_ascii(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

inline PaymentKey normalised(const PaymentKey& key) {
  return PaymentKey{key.chain_id, lower_ascii(key.asset), lower_ascii(key.payer),
                    lower_ascii(key.nonce)};
}

inline int64_t sql_limit(size_t limit) {
  return static_cast<int64_t>(
      std::min<size_t>(limit, static_cast<size_t>(std::numeric_limits<int64_t>::max())));
}

}  // namespace x402::store_helpers
