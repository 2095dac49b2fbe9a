#include "protocol/base64.hpp"

#include <array>
#include <cstdint>

namespace x402::base64 {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr uint8_t kInvalid = 0xff;

constexpr std::array<uint8_t, 256> make_reverse_table() {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = kInvalid;
  for (size_t i = 0; i < kAlphabet.size(); ++i) t[static_cast<uint8_t>(kAlphabet[i])] = i;
  t[static_cast<uint8_t>('-')] = 62;  // URL-safe alphabet
  t[static_cast<uint8_t>('_')] = 63;
  return t;
}
constexpr auto kReverse = make_reverse_table();

Error bad(std::string why) {
  return make_error("invalid_base64", "", "invalid base64: " + why);
}

}  // namespace

std::string encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t n = static_cast<uint8_t>(bytes[i]) << 16 |
                       static_cast<uint8_t>(bytes[i + 1]) << 8 | static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += kAlphabet[n >> 6 & 63];
    out += kAlphabet[n & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    if (rest == 2) n |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += rest == 2 ? kAlphabet[n >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> decode(std::string_view text) {
  size_t padding = 0;
  while (padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
  if (padding > 2) return bad("more than two '=' padding characters");
  if (padding > 0 && text.size() % 4 != 0) return bad("padded input must be a multiple of 4 long");
  const std::string_view body = text.substr(0, text.size() - padding);
  if (body.size() % 4 == 1) return bad("length " + std::to_string(text.size()) + " is impossible");

  std::string out;
  out.reserve(body.size() / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    const uint8_t v = kReverse[static_cast<uint8_t>(body[i])];
    if (v == kInvalid) {
      return bad(body[i] == '=' ? "'=' before the end"
                                : "unexpected character at offset " + std::to_string(i));
    }
    acc = (acc << 6 | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>(acc >> bits & 0xff);
    }
  }
  if ((acc & ((1u << bits) - 1)) != 0) return bad("non-zero bits after the last byte");
  return out;
}

}  // namespace x402::base64
