#include "config/yaml_reader.hpp"

#include <algorithm>
#include <charconv>
#include <numeric>

namespace x402::config_detail {
namespace {

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "nothing";
    case YAML::NodeType::Scalar:
      return "'" + node.Scalar() + "'";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
  }
  return "something else";
}

// A scalar written without quotes (and without an explicit tag): only these may be read as
// numbers, booleans or null. yaml-cpp tags plain scalars "?" and quoted ones "!".
bool is_plain(const YAML::Node& node) {
  return node.Tag() == "?";
}

std::optional<uint64_t> parse_decimal(std::string_view text) {
  if (text.empty() ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

boost::json::value to_json(const Field& field) {
  const YAML::Node& node = field.node();
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Sequence: {
      boost::json::array array;
      for (const Field& item : field.as_list()) array.push_back(to_json(item));
      return array;
    }
    case YAML::NodeType::Map:
      return field.as_json_object();
    case YAML::NodeType::Scalar:
      break;
  }
  const std::string& text = node.Scalar();
  if (!is_plain(node)) return boost::json::string(text);
  if (text == "true") return true;
  if (text == "false") return false;
  int64_t number = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  const bool digits_only =
      !text.empty() && std::all_of(first + (text[0] == '-' ? 1 : 0), last,
                                   [](char c) { return c >= '0' && c <= '9'; });
  if (digits_only && text != "-") {
    const auto [end, ec] = std::from_chars(first, last, number);
    if (ec == std::errc() && end == last) return number;
  }
  return boost::json::string(text);
}

}  // namespace

void ErrorSink::fail(int line, const std::string& key_path, const std::string& problem) const {
  std::string message = source_ + ":" + std::to_string(line) + ": ";
  if (!key_path.empty()) message += key_path + ": ";
  message += problem;
  throw ConfigError(make_error("invalid_config", key_path, std::move(message)));
}

Field::Field(const ErrorSink& sink, YAML::Node node, std::string path, int fallback_line)
    : sink_(&sink), node_(std::move(node)), path_(std::move(path)), line_(fallback_line) {
  // Empty values ("key:") carry no useful mark; the key's line is then the better answer.
  if (node_.IsDefined() && !node_.IsNull() && node_.Mark().line >= 0) {
    line_ = node_.Mark().line + 1;
  }
}

std::string Field::as_string() const {
  if (!node_.IsScalar()) fail("expected a text value, got " + describe(node_));
  return node_.Scalar();
}

std::string Field::as_nonempty_string() const {
  std::string text = as_string();
  if (text.empty()) fail("must not be empty");
  return text;
}

uint64_t Field::as_uint(uint64_t min, uint64_t max) const {
  const std::string range = "between " + std::to_string(min) + " and " + std::to_string(max);
  if (!node_.IsScalar()) fail("expected a whole number " + range + ", got " + describe(node_));
  const std::optional<uint64_t> value = parse_decimal(node_.Scalar());
  if (!value) fail("expected a whole number " + range + ", got " + describe(node_));
  if (*value < min || *value > max) fail("must be " + range + ", got " + node_.Scalar());
  return *value;
}

bool Field::as_bool() const {
  if (node_.IsScalar() && is_plain(node_)) {
    if (node_.Scalar() == "true") return true;
    if (node_.Scalar() == "false") return false;
  }
  fail("expected true or false, got " + describe(node_));
}

std::vector<Field> Field::as_list() const {
  if (!node_.IsSequence()) fail("expected a list, got " + describe(node_));
  std::vector<Field> items;
  items.reserve(node_.size());
  for (size_t i = 0; i < node_.size(); ++i) {
    items.push_back(child(node_[i], path_ + "[" + std::to_string(i) + "]"));
  }
  return items;
}

std::vector<std::string> Field::as_string_list() const {
  std::vector<std::string> texts;
  for (const Field& item : as_list()) texts.push_back(item.as_nonempty_string());
  return texts;
}

boost::json::object Field::as_json_object() const {
  if (!node_.IsMap()) fail("expected a mapping, got " + describe(node_));
  boost::json::object object;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const Field key = child(it->first, path_);
    const std::string name = key.as_string();
    const std::string path = path_.empty() ? name : path_ + "." + name;
    if (object.contains(name)) key.fail("duplicate key '" + name + "'");
    object[name] = to_json(Field(*sink_, it->second, path, key.line()));
  }
  return object;
}

Section::Section(const Field& field, std::initializer_list<std::string_view> allowed_keys)
    : field_(field) {
  if (!field.node().IsMap())
    field.fail("expected a mapping (key: value lines), got " + describe(field.node()));
  for (auto it = field.node().begin(); it != field.node().end(); ++it) {
    const Field key_field = field.child(it->first, field.path());
    const std::string key = key_field.as_string();
    const std::string path = key_path(key);
    const auto is_key = [&](const Entry& e) { return e.key == key; };
    if (std::any_of(entries_.begin(), entries_.end(), is_key)) {
      field.sink().fail(key_field.line(), path, "duplicate key; remove one of them");
    }
    if (std::find(allowed_keys.begin(), allowed_keys.end(), key) == allowed_keys.end()) {
      std::string_view closest;
      size_t best = SIZE_MAX;
      for (std::string_view candidate : allowed_keys) {
        const size_t d = edit_distance(key, candidate);
        if (d < best) best = d, closest = candidate;
      }
      std::string problem = "unknown key";
      if (best <= std::max<size_t>(2, key.size() / 3)) {
        problem += "; did you mean '" + std::string(closest) + "'?";
      } else {
        problem += "; valid keys here: ";
        for (auto k = allowed_keys.begin(); k != allowed_keys.end(); ++k) {
          if (k != allowed_keys.begin()) problem += ", ";
          problem += *k;
        }
      }
      field.sink().fail(key_field.line(), path, problem);
    }
    entries_.push_back({key, it->second, key_field.line()});
  }
}

std::string Section::key_path(std::string_view key) const {
  return field_.path().empty() ? std::string(key) : field_.path() + "." + std::string(key);
}

std::optional<Field> Section::get(std::string_view key) const {
  for (const Entry& e : entries_) {
    if (e.key == key && !e.value.IsNull()) {
      return Field(field_.sink(), e.value, key_path(key), e.key_line);
    }
  }
  return std::nullopt;
}

Field Section::require(std::string_view key) const {
  if (std::optional<Field> value = get(key)) return *value;
  for (const Entry& e : entries_) {
    if (e.key == key) field_.sink().fail(e.key_line, key_path(key), "needs a value");
  }
  field_.sink().fail(field_.line(), key_path(key), "required key is missing");
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), size_t{0});
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace x402::config_detail
