#include "config/route_matcher.hpp"

#include <algorithm>

namespace x402 {
namespace {

// Walks "/a/b/c" segment by segment without allocating. A leading '/' is skipped once; every
// further '/' starts a new (possibly empty) segment, so "/a/" has segments "a" and "".
class SegmentCursor {
 public:
  explicit SegmentCursor(std::string_view path) : rest_(path) {
    if (!rest_.empty() && rest_.front() == '/') rest_.remove_prefix(1);
    done_ = rest_.empty();
  }
  bool done() const { return done_; }
  std::string_view next() {
    const size_t slash = rest_.find('/');
    std::string_view segment = rest_.substr(0, slash);
    if (slash == std::string_view::npos) {
      rest_ = {};
      done_ = true;
    } else {
      rest_.remove_prefix(slash + 1);
    }
    return segment;
  }

 private:
  std::string_view rest_;
  bool done_ = false;
};

bool is_dot(std::string_view s, size_t& i) {
  if (i < s.size() && s[i] == '.') {
    i += 1;
    return true;
  }
  if (i + 2 < s.size() && s[i] == '%' && s[i + 1] == '2' && (s[i + 2] == 'e' || s[i + 2] == 'E')) {
    i += 3;
    return true;
  }
  return false;
}

// "." or ".." where each dot may be written "%2e" / "%2E".
bool is_dot_segment(std::string_view segment) {
  size_t i = 0;
  if (!is_dot(segment, i)) return false;
  if (i == segment.size()) return true;
  if (!is_dot(segment, i)) return false;
  return i == segment.size();
}

bool is_param_name(std::string_view name) {
  if (name.empty()) return false;
  const auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  return std::all_of(name.begin(), name.end(), word) && !(name[0] >= '0' && name[0] <= '9');
}

Error pattern_error(std::string message) {
  return make_error("invalid_config", "path", std::move(message));
}

}  // namespace

bool has_dot_segment(std::string_view path) {
  SegmentCursor cursor(path);
  while (!cursor.done()) {
    if (is_dot_segment(cursor.next())) return true;
  }
  return false;
}

Result<PathPattern> PathPattern::compile(std::string_view pattern) {
  if (pattern.empty() || pattern.front() != '/') {
    return pattern_error("must start with '/', e.g. \"/api/signal\"");
  }
  if (pattern.find_first_of("?#") != std::string_view::npos) {
    return pattern_error("must not contain '?' or '#': routes match the path only, not the query");
  }
  PathPattern compiled;
  compiled.text_ = std::string(pattern);
  if (pattern == "/") return compiled;

  SegmentCursor cursor(pattern);
  while (!cursor.done()) {
    const std::string_view segment = cursor.next();
    if (compiled.any_remainder_) {
      return pattern_error("'**' is only allowed as the last segment, e.g. \"/public/**\"");
    }
    if (segment.empty()) {
      return pattern_error(cursor.done() ? "must not end with '/'; write \"" +
                                               std::string(pattern.substr(0, pattern.size() - 1)) +
                                               "\" or \"" + std::string(pattern) + "**\""
                                         : "must not contain an empty segment ('//')");
    }
    if (segment == "**") {
      compiled.any_remainder_ = true;
      continue;
    }
    if (segment == "*") {
      compiled.segments_.push_back({true, {}});
      continue;
    }
    if (segment.front() == '{' && segment.back() == '}') {
      if (!is_param_name(segment.substr(1, segment.size() - 2))) {
        return pattern_error("'" + std::string(segment) +
                             "' is not a valid parameter; use letters, digits and '_', e.g. {id}");
      }
      compiled.segments_.push_back({true, {}});
      continue;
    }
    if (segment.find_first_of("*{}") != std::string_view::npos) {
      return pattern_error("segment '" + std::string(segment) +
                           "': '*' and '{name}' must be a whole segment, e.g. \"/api/*/quote\"");
    }
    if (is_dot_segment(segment)) {
      return pattern_error("must not contain '.' or '..' segments");
    }
    compiled.segments_.push_back({false, std::string(segment)});
  }
  return compiled;
}

bool PathPattern::matches(std::string_view path) const {
  if (path.empty()) path = "/";
  if (path.front() != '/' || has_dot_segment(path)) return false;

  SegmentCursor cursor(path);
  for (const Segment& expected : segments_) {
    if (cursor.done()) return false;
    const std::string_view actual = cursor.next();
    if (expected.wildcard ? actual.empty() : actual != expected.literal) return false;
  }
  return any_remainder_ || cursor.done();
}

const RouteConfig* match_route(const MerchantConfig& merchant, std::string_view method,
                               std::string_view path_below_merchant) {
  for (const RouteConfig& route : merchant.routes) {
    if (!route.methods.empty() &&
        std::find(route.methods.begin(), route.methods.end(), method) == route.methods.end()) {
      continue;
    }
    if (route.pattern && route.pattern->matches(path_below_merchant)) return &route;
  }
  return nullptr;
}

}  // namespace x402
