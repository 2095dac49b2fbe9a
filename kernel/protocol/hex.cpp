#include "protocol/hex.hpp"

#include <algorithm>

namespace x402 {
namespace {

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_hex_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool is_prefixed_hex(std::string_view text, size_t digits) {
  return text.size() == digits + 2 && text.starts_with("0x") && is_hex_digits(text.substr(2));
}

}  // namespace

std::string lowercase_hex(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

bool is_hex_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), is_hex_char);
}

bool is_address(std::string_view text) {
  return is_prefixed_hex(text, 40);
}

bool is_hex32(std::string_view text) {
  return is_prefixed_hex(text, 64);
}

bool same_hex(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

}  // namespace x402
