#pragma once
// Route path patterns, compiled once when config is loaded and matched on every request.
//
// Grammar (a pattern is the path below the merchant prefix):
//   "/"                 only the root
//   "/api/signal"       literal segments, compared byte for byte (case-sensitive)
//   "/api/*/quote"      '*' matches exactly one non-empty segment
//   "/users/{id}"       '{name}' is the same as '*', named for readers of the config
//   "/public/**"        a trailing '**' matches any remainder, including none ("/public" too)
//
// Paths are matched as raw bytes: the caller passes the path without the query string and without
// percent-decoding. The server normalizes or rejects dot segments before matching; as a second
// line of defence a path with a "." or ".." segment (also percent-encoded, e.g. "%2e%2E") never
// matches any pattern, so "/public/../admin" cannot reach a route it would otherwise escape.
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"

namespace x402 {

class PathPattern {
 public:
  // Errors have code "invalid_config" and a message saying what to change (no location: the
  // config loader adds file, line and key).
  static Result<PathPattern> compile(std::string_view pattern);

  // Allocation-free. An empty `path` is treated as "/".
  bool matches(std::string_view path) const;

  const std::string& text() const { return text_; }

 private:
  struct Segment {
    bool wildcard = false;  // '*' or '{name}'
    std::string literal;    // when !wildcard
  };

  std::string text_;
  std::vector<Segment> segments_;
  bool any_remainder_ = false;  // trailing "/**"
};

// True for a path that contains a "." or ".." segment, plain or percent-encoded.
bool has_dot_segment(std::string_view path);

// The first route of `merchant` whose methods include `method` (or that has no method list) and
// whose pattern matches `path_below_merchant` ("/api/signal" for a request to
// "/acme/api/signal"). nullptr when none matches. Allocation-free.
const RouteConfig* match_route(const MerchantConfig& merchant, std::string_view method,
                               std::string_view path_below_merchant);

}  // namespace x402
