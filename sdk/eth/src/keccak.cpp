#include "x402/eth/keccak.hpp"

#include <cstring>

namespace x402::eth {
namespace {

// Keccak-f[1600] round constants and rotation offsets (FIPS 202, §3.2).
constexpr uint64_t kRoundConstants[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL};

// Rho offsets and pi lane order, walked together along the pi permutation's single cycle.
constexpr int kRho[24] = {1,  3,  6,  10, 15, 21, 28, 36, 45, 55, 2,  14,
                          27, 41, 56, 8,  25, 43, 62, 18, 39, 61, 20, 44};
constexpr int kPi[24] = {10, 7,  11, 17, 18, 3, 5,  16, 8,  21, 24, 4,
                         15, 23, 19, 13, 12, 2, 20, 14, 22, 9,  6,  1};

constexpr size_t kRate = 136;  // bytes: 1600 - 2 * 256 bits of capacity

uint64_t rotl(uint64_t x, int n) {
  return (x << n) | (x >> (64 - n));
}

void keccak_f1600(uint64_t s[25]) {
  for (uint64_t rc : kRoundConstants) {
    // theta
    uint64_t c[5];
    for (int x = 0; x < 5; ++x) c[x] = s[x] ^ s[x + 5] ^ s[x + 10] ^ s[x + 15] ^ s[x + 20];
    for (int x = 0; x < 5; ++x) {
      const uint64_t d = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1);
      for (int y = 0; y < 25; y += 5) s[y + x] ^= d;
    }
    // rho and pi
    uint64_t carry = s[1];
    for (int i = 0; i < 24; ++i) {
      const int j = kPi[i];
      const uint64_t next = s[j];
      s[j] = rotl(carry, kRho[i]);
      carry = next;
    }
    // chi
    for (int y = 0; y < 25; y += 5) {
      uint64_t row[5];
      for (int x = 0; x < 5; ++x) row[x] = s[y + x];
      for (int x = 0; x < 5; ++x) s[y + x] = row[x] ^ (~row[(x + 1) % 5] & row[(x + 2) % 5]);
    }
    // iota
    s[0] ^= rc;
  }
}

// Lanes are little-endian regardless of the host, so bytes are absorbed one at a time.
void xor_block(uint64_t s[25], const uint8_t* block, size_t len) {
  for (size_t i = 0; i < len; ++i) s[i / 8] ^= static_cast<uint64_t>(block[i]) << (8 * (i % 8));
}

}  // namespace

Hash32 keccak256(std::span<const uint8_t> data) {
  uint64_t state[25] = {};
  const uint8_t* p = data.data();
  size_t remaining = data.size();
  while (remaining >= kRate) {
    xor_block(state, p, kRate);
    keccak_f1600(state);
    p += kRate;
    remaining -= kRate;
  }
  // Final block: original Keccak multi-rate padding 0x01 ... 0x80 (SHA3-256 would use 0x06).
  uint8_t last[kRate] = {};
  if (remaining > 0) std::memcpy(last, p, remaining);
  last[remaining] ^= 0x01;
  last[kRate - 1] ^= 0x80;
  xor_block(state, last, kRate);
  keccak_f1600(state);

  Hash32 out{};
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<uint8_t>(state[i / 8] >> (8 * (i % 8)));
  return out;
}

Hash32 keccak256(std::string_view data) {
  return keccak256(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

}  // namespace x402::eth
