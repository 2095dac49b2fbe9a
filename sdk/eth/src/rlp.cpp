#include "x402/eth/rlp.hpp"

#include <algorithm>

namespace x402::eth::rlp {
namespace {

// Minimal big-endian bytes of n (no leading zeros; empty for zero).
Bytes minimal_be(uint64_t n) {
  Bytes out;
  for (; n != 0; n >>= 8) out.insert(out.begin(), static_cast<uint8_t>(n & 0xff));
  return out;
}

// Short form: one byte `short_base + len` for len <= 55; long form: `short_base + 55 +
// len(len)` followed by the length itself. Strings use 0x80, lists 0xc0.
Bytes header(uint8_t short_base, size_t payload_size) {
  if (payload_size <= 55) return {static_cast<uint8_t>(short_base + payload_size)};
  Bytes len = minimal_be(payload_size);
  Bytes out = {static_cast<uint8_t>(short_base + 55 + len.size())};
  out.insert(out.end(), len.begin(), len.end());
  return out;
}

}  // namespace

Bytes encode_bytes(std::span<const uint8_t> data) {
  // A single byte below 0x80 is its own encoding.
  if (data.size() == 1 && data[0] < 0x80) return {data[0]};
  Bytes out = header(0x80, data.size());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

Bytes encode_uint(const U256& value) {
  const auto first =
      std::find_if(value.be.begin(), value.be.end(), [](uint8_t b) { return b != 0; });
  return encode_bytes(std::span<const uint8_t>(first, value.be.end()));
}

Bytes encode_uint(uint64_t value) {
  return encode_bytes(minimal_be(value));
}

Bytes encode_list(const std::vector<Bytes>& encoded_items) {
  size_t payload = 0;
  for (const Bytes& item : encoded_items) payload += item.size();
  Bytes out = header(0xc0, payload);
  out.reserve(out.size() + payload);
  for (const Bytes& item : encoded_items) out.insert(out.end(), item.begin(), item.end());
  return out;
}

}  // namespace x402::eth::rlp
