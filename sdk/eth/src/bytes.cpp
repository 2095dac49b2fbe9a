#include "x402/eth/bytes.hpp"

#include "x402/eth/keccak.hpp"

namespace x402::eth {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view strip_prefix(std::string_view text) {
  if (text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    return text.substr(2);
  }
  return text;
}

// The 40 hex digits of an address in EIP-55 case: a letter is upper-case when the matching nibble
// of keccak256(lower-case hex) is >= 8.
std::string checksum_digits(std::string_view lower40) {
  const Hash32 h = keccak256(lower40);
  std::string out(lower40);
  for (size_t i = 0; i < out.size(); ++i) {
    const uint8_t nibble = (i % 2 == 0) ? (h[i / 2] >> 4) : (h[i / 2] & 0x0f);
    if (out[i] >= 'a' && out[i] <= 'f' && nibble >= 8) out[i] = static_cast<char>(out[i] - 32);
  }
  return out;
}

}  // namespace

std::string to_hex(std::span<const uint8_t> bytes, bool prefix) {
  std::string out;
  out.reserve(bytes.size() * 2 + 2);
  if (prefix) out = "0x";
  for (uint8_t b : bytes) {
    out.push_back(kHexDigits[b >> 4]);
    out.push_back(kHexDigits[b & 0x0f]);
  }
  return out;
}

std::optional<Bytes> from_hex(std::string_view text) {
  text = strip_prefix(text);
  if (text.size() % 2 != 0) return std::nullopt;
  Bytes out(text.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_value(text[2 * i]);
    const int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

std::optional<Hash32> parse_hash32(std::string_view text) {
  auto bytes = from_hex(text);
  if (!bytes || bytes->size() != 32) return std::nullopt;
  Hash32 out{};
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

std::optional<Address> parse_address(std::string_view text) {
  // The prefix is mandatory here: a bare 40-digit string is more likely a mistake than an address.
  if (text.size() != 42 || text[0] != '0' || (text[1] != 'x' && text[1] != 'X')) {
    return std::nullopt;
  }
  auto bytes = from_hex(text);
  if (!bytes) return std::nullopt;
  Address out{};
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

std::string checksum_address(const Address& address) {
  return "0x" + checksum_digits(to_hex(address, false));
}

bool is_valid_checksum(std::string_view text) {
  if (!parse_address(text)) return false;
  const std::string_view digits = text.substr(2);
  bool has_lower = false, has_upper = false;
  std::string lower(digits);
  for (char& c : lower) {
    if (c >= 'a' && c <= 'f') has_lower = true;
    if (c >= 'A' && c <= 'F') {
      has_upper = true;
      c = static_cast<char>(c + 32);
    }
  }
  // Single-case addresses carry no checksum (EIP-55 treats them as unchecked, not wrong).
  if (!has_lower || !has_upper) return true;
  return checksum_digits(lower) == digits;
}

}  // namespace x402::eth
