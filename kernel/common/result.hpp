#pragma once
// Errors are values on the request path (DESIGN.md §3). Result<T> carries either a value or an
// Error that names what went wrong precisely enough to put in a JSON error body.
#include <string>
#include <utility>
#include <variant>

namespace x402 {

struct Error {
  std::string code;  // machine-readable, stable: "invalid_amount", "payto_mismatch", ...
  std::string
      field;  // the offending field as a path, e.g. "payload.authorization.value"; may be empty
  std::string message;  // human-readable: what is wrong and, where useful, how to fix it
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success carries nothing.
struct Ok {};
using Status = Result<Ok>;

inline Error make_error(std::string code, std::string field, std::string message) {
  return Error{std::move(code), std::move(field), std::move(message)};
}

}  // namespace x402
