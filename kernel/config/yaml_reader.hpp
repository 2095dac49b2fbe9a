#pragma once
// Private to the config loader: typed, located access to a YAML tree. Every accessor either returns
// a checked value or throws ConfigError carrying "file:line: key.path: problem", so the schema
// code in config_loader.cpp reads as a list of rules. ConfigError never leaves load_config().
#include <yaml-cpp/yaml.h>

#include <boost/json/object.hpp>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace x402::config_detail {

struct ConfigError : std::runtime_error {
  explicit ConfigError(Error e) : std::runtime_error(e.message), error(std::move(e)) {}
  Error error;
};

// Formats and throws errors for one source file.
class ErrorSink {
 public:
  explicit ErrorSink(std::string source) : source_(std::move(source)) {}
  [[noreturn]] void fail(int line, const std::string& key_path, const std::string& problem) const;
  const std::string& source() const { return source_; }

 private:
  std::string source_;
};

// A YAML node with the key path and line it came from.
class Field {
 public:
  Field(const ErrorSink& sink, YAML::Node node, std::string path, int fallback_line);

  const YAML::Node& node() const { return node_; }
  const std::string& path() const { return path_; }
  int line() const { return line_; }
  [[noreturn]] void fail(const std::string& problem) const { sink_->fail(line_, path_, problem); }

  std::string as_string() const;  // any scalar, as written
  std::string as_nonempty_string() const;
  uint64_t as_uint(uint64_t min, uint64_t max) const;  // plain decimal digits, in range
  bool as_bool() const;                                // true / false
  std::vector<Field> as_list() const;                  // a sequence (may be empty)
  std::vector<std::string> as_string_list() const;
  // A mapping converted for plugins: quoted scalars are strings; plain true/false are booleans,
  // plain decimal integers that fit int64 are numbers, plain null/~/empty is null; everything
  // else stays a string (no floats: a price "0.01" reaches the plugin as written).
  boost::json::object as_json_object() const;

  Field child(YAML::Node node, std::string path) const {
    return Field(*sink_, std::move(node), std::move(path), line_);
  }
  const ErrorSink& sink() const { return *sink_; }

 private:
  const ErrorSink* sink_;
  YAML::Node node_;
  std::string path_;
  int line_;
};

// A mapping with a closed set of keys. Construction rejects non-mappings, duplicate keys and
// unknown keys (suggesting the closest valid key), so a typo is never silently ignored.
class Section {
 public:
  Section(const Field& field, std::initializer_list<std::string_view> allowed_keys);

  // The value of `key`; nullopt when absent or written with no value ("key:" or "key: ~").
  std::optional<Field> get(std::string_view key) const;
  Field require(std::string_view key) const;
  bool has(std::string_view key) const { return get(key).has_value(); }
  const Field& field() const { return field_; }
  [[noreturn]] void fail(const std::string& problem) const { field_.fail(problem); }
  std::string key_path(std::string_view key) const;

 private:
  struct Entry {
    std::string key;
    YAML::Node value;
    int key_line;
  };
  Field field_;
  std::vector<Entry> entries_;
};

// Levenshtein distance, for "did you mean" suggestions.
size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace x402::config_detail
