#include "x402/eth/uint256.hpp"

#include <algorithm>
#include <array>

namespace x402::eth {
namespace {

// Arithmetic works on four little-endian 64-bit limbs; storage stays big-endian bytes because
// that is what ABI words and RLP want.
using Limbs = std::array<uint64_t, 4>;

Limbs to_limbs(const U256& v) {
  Limbs out{};
  for (size_t i = 0; i < 32; ++i) {
    out[3 - i / 8] |= static_cast<uint64_t>(v.be[i]) << (8 * (7 - i % 8));
  }
  return out;
}

U256 from_limbs(const Limbs& limbs) {
  U256 out;
  for (size_t i = 0; i < 32; ++i) {
    out.be[i] = static_cast<uint8_t>(limbs[3 - i / 8] >> (8 * (7 - i % 8)));
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

U256 U256::from_u64(uint64_t v) {
  return from_limbs({v, 0, 0, 0});
}

std::optional<U256> U256::from_decimal(std::string_view text) {
  // 2^256 has 78 digits; the bound keeps hostile input from costing more than 78 steps.
  if (text.empty() || text.size() > 78) return std::nullopt;
  U256 acc;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    auto scaled = acc.mul_u64(10);
    if (!scaled) return std::nullopt;
    auto next = scaled->add(from_u64(static_cast<uint64_t>(c - '0')));
    if (!next) return std::nullopt;
    acc = *next;
  }
  return acc;
}

std::optional<U256> U256::from_hex(std::string_view text) {
  if (text.size() < 3 || text[0] != '0' || (text[1] != 'x' && text[1] != 'X')) return std::nullopt;
  text.remove_prefix(2);
  if (text.size() > 64) return std::nullopt;
  U256 out;
  // Fill nibbles from the least significant end so shorter quantities right-align.
  for (size_t i = 0; i < text.size(); ++i) {
    const int v = hex_value(text[text.size() - 1 - i]);
    if (v < 0) return std::nullopt;
    uint8_t& byte = out.be[31 - i / 2];
    byte = static_cast<uint8_t>(byte | (i % 2 == 0 ? v : v << 4));
  }
  return out;
}

U256 U256::from_be(std::span<const uint8_t> bytes) {
  U256 out;
  // More than 32 bytes cannot fit; keep the low 32 rather than reading out of bounds.
  if (bytes.size() > 32) bytes = bytes.subspan(bytes.size() - 32);
  std::copy(bytes.begin(), bytes.end(), out.be.begin() + (32 - bytes.size()));
  return out;
}

std::string U256::to_decimal() const {
  Limbs limbs = to_limbs(*this);
  std::string digits;
  // Divide by 10^19 (the largest power of ten in a limb) and emit 19 digits per round.
  constexpr uint64_t kChunk = 10000000000000000000ULL;
  while (limbs != Limbs{}) {
    unsigned __int128 rem = 0;
    for (int i = 3; i >= 0; --i) {
      const unsigned __int128 cur = (rem << 64) | limbs[i];
      limbs[i] = static_cast<uint64_t>(cur / kChunk);
      rem = cur % kChunk;
    }
    uint64_t chunk = static_cast<uint64_t>(rem);
    for (int d = 0; d < 19; ++d) {
      digits.push_back(static_cast<char>('0' + chunk % 10));
      chunk /= 10;
    }
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  if (digits.empty()) digits.push_back('0');
  std::reverse(digits.begin(), digits.end());
  return digits;
}

std::string U256::to_hex_quantity() const {
  constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : be) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0x0f]);
  }
  const size_t first = out.find_first_not_of('0');
  // Built by append rather than operator+, which trips GCC 12's -Wrestrict false positive at -O3.
  std::string quantity = "0x";
  quantity.append(first == std::string::npos ? std::string_view("0")
                                             : std::string_view(out).substr(first));
  return quantity;
}

bool U256::is_zero() const {
  return std::all_of(be.begin(), be.end(), [](uint8_t b) { return b == 0; });
}

std::optional<uint64_t> U256::to_u64() const {
  const Limbs limbs = to_limbs(*this);
  if (limbs[1] != 0 || limbs[2] != 0 || limbs[3] != 0) return std::nullopt;
  return limbs[0];
}

std::optional<U256> U256::add(const U256& other) const {
  const Limbs a = to_limbs(*this), b = to_limbs(other);
  Limbs out{};
  uint64_t carry = 0;
  for (size_t i = 0; i < 4; ++i) {
    const unsigned __int128 sum = static_cast<unsigned __int128>(a[i]) + b[i] + carry;
    out[i] = static_cast<uint64_t>(sum);
    carry = static_cast<uint64_t>(sum >> 64);
  }
  if (carry != 0) return std::nullopt;
  return from_limbs(out);
}

std::optional<U256> U256::sub(const U256& other) const {
  if (*this < other) return std::nullopt;
  const Limbs a = to_limbs(*this), b = to_limbs(other);
  Limbs out{};
  uint64_t borrow = 0;
  for (size_t i = 0; i < 4; ++i) {
    const uint64_t sub = b[i] + borrow;
    // borrow out when b[i] + borrow wrapped, or when it exceeds a[i]
    const bool wrapped = sub < b[i];
    out[i] = a[i] - sub;
    borrow = (wrapped || a[i] < sub) ? 1 : 0;
  }
  return from_limbs(out);
}

std::optional<U256> U256::mul_u64(uint64_t factor) const {
  const Limbs a = to_limbs(*this);
  Limbs out{};
  uint64_t carry = 0;
  for (size_t i = 0; i < 4; ++i) {
    const unsigned __int128 prod = static_cast<unsigned __int128>(a[i]) * factor + carry;
    out[i] = static_cast<uint64_t>(prod);
    carry = static_cast<uint64_t>(prod >> 64);
  }
  if (carry != 0) return std::nullopt;
  return from_limbs(out);
}

}  // namespace x402::eth
