#pragma once
// Money is an unsigned integer of atomic units (uint256 on chain), parsed with a strict grammar of
// our own (PROTOCOL.md §4). Never a float, never Boost's own string parser (it reads a leading 0
// as octal).
#include <boost/multiprecision/cpp_int.hpp>
#include <compare>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace x402 {

class Amount {
 public:
  using uint256 = boost::multiprecision::uint256_t;

  Amount() = default;
  explicit Amount(uint64_t v) : v_(v) {}

  // Atomic units as a decimal string: ASCII digits only, 1..78 characters, at most 2^256-1.
  // Leading zeros are decimal ("0010000" is 10000). Rejects empty, signs, spaces, '.', exponents.
  // Errors have code "invalid_amount" and the given field name.
  static Result<Amount> parse_atomic(std::string_view text, std::string_view field = "amount");

  // A human price such as "0.01" in an asset with `decimals` decimals, converted exactly:
  // "0.01" with 6 decimals is 10000. Grammar: digits, optionally '.' and at least one digit.
  // More fractional digits than `decimals` is an error, never a rounding. An optional leading '$'
  // is accepted ("$0.01"). Errors have code "invalid_price".
  static Result<Amount> parse_human(std::string_view text, unsigned decimals,
                                    std::string_view field = "price");

  std::string to_string() const;  // canonical decimal, no leading zeros ("0" for zero)
  // Human form with exactly the needed fraction digits: 10000 with 6 decimals → "0.01".
  std::string to_human(unsigned decimals) const;
  bool is_zero() const { return v_ == 0; }
  const uint256& raw() const { return v_; }

  friend bool operator==(const Amount&, const Amount&) = default;
  friend std::strong_ordering operator<=>(const Amount& a, const Amount& b) {
    return a.v_ < b.v_    ? std::strong_ordering::less
           : a.v_ == b.v_ ? std::strong_ordering::equal
                          : std::strong_ordering::greater;
  }

 private:
  uint256 v_ = 0;
};

}  // namespace x402
