#include "protocol/amount.hpp"

#include <algorithm>
#include <string>

namespace x402 {
namespace {

constexpr size_t kMaxAtomicDigits = 78;  // 2^256-1 has 78 decimal digits

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Appends one decimal digit to `v`; false when the result would not fit in 256 bits. We do the
// arithmetic ourselves because Boost's string constructor reads "0010000" as octal.
bool push_digit(Amount::uint256& v, char digit) {
  static const Amount::uint256 kMax = ~Amount::uint256(0);
  const unsigned d = static_cast<unsigned>(digit - '0');
  if (v > (kMax - d) / 10) return false;
  v = v * 10 + d;
  return true;
}

}  // namespace

Result<Amount> Amount::parse_atomic(std::string_view text, std::string_view field) {
  auto fail = [&](std::string why) {
    return make_error("invalid_amount", std::string(field),
                      std::string(field) + " must be an unsigned decimal integer of atomic units " +
                          "(digits only, at most 78); " + why);
  };
  if (text.empty()) return fail("got an empty string");
  if (text.size() > kMaxAtomicDigits) {
    return fail("got " + std::to_string(text.size()) + " characters");
  }
  Amount out;
  for (char c : text) {
    if (!is_digit(c)) return fail("got \"" + std::string(text) + "\"");
    if (!push_digit(out.v_, c)) return fail("the value exceeds 2^256-1");
  }
  return out;
}

Result<Amount> Amount::parse_human(std::string_view text, unsigned decimals,
                                   std::string_view field) {
  const std::string original(text);
  auto fail = [&](std::string why) {
    return make_error("invalid_price", std::string(field),
                      std::string(field) + " \"" + original + "\" " + why);
  };
  if (!text.empty() && text.front() == '$') text.remove_prefix(1);

  const size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view fraction =
      dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  const bool digits_only = std::all_of(whole.begin(), whole.end(), is_digit) &&
                           std::all_of(fraction.begin(), fraction.end(), is_digit);
  if (whole.empty() || !digits_only || (dot != std::string_view::npos && fraction.empty())) {
    return fail(
        "is not a decimal price: use digits with an optional '.' and fraction, e.g. \"0.01\"");
  }
  if (fraction.size() > decimals) {
    return fail("has more than " + std::to_string(decimals) +
                " decimal places, the precision of the asset; it cannot be charged exactly");
  }

  Amount out;
  for (char c : whole) {
    if (!push_digit(out.v_, c)) return fail("is too large");
  }
  for (char c : fraction) {
    if (!push_digit(out.v_, c)) return fail("is too large");
  }
  for (size_t i = fraction.size(); i < decimals; ++i) {
    if (!push_digit(out.v_, '0')) return fail("is too large");
  }
  return out;
}

std::string Amount::to_string() const {
  return v_.str();
}

std::string Amount::to_human(unsigned decimals) const {
  std::string digits = to_string();
  if (decimals == 0) return digits;
  if (digits.size() <= decimals) digits.insert(0, decimals - digits.size() + 1, '0');
  std::string whole = digits.substr(0, digits.size() - decimals);
  std::string fraction = digits.substr(digits.size() - decimals);
  while (!fraction.empty() && fraction.back() == '0') fraction.pop_back();
  return fraction.empty() ? whole : whole + "." + fraction;
}

}  // namespace x402
