#include "plugin_host/config_schema.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>

namespace x402::plugin_host {
namespace {

namespace json = boost::json;

Error invalid(const std::string& path, const std::string& what) {
  return make_error("invalid_plugin_config", path, path + ": " + what);
}

bool has_type(const json::value& v, std::string_view type) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_bool();
  if (type == "null") return v.is_null();
  if (type == "number") return v.is_number();
  if (type == "integer") {
    if (v.is_int64() || v.is_uint64()) return true;
    return v.is_double() && std::trunc(v.get_double()) == v.get_double();
  }
  return true;  // an unknown type name constrains nothing
}

std::string type_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::object:
      return "an object";
    case json::kind::array:
      return "an array";
    case json::kind::string:
      return "a string";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::null:
      return "null";
    default:
      return "a number";
  }
}

// Enum values read best unquoted when they are strings: "one of generic, x402-rs".
std::string enum_text(const json::array& values) {
  std::string out;
  for (const auto& e : values) {
    if (!out.empty()) out += ", ";
    out += e.is_string() ? std::string(e.get_string()) : json::serialize(e);
  }
  return out;
}

Status check(const json::value& schema_value, const json::value& v, const std::string& path) {
  if (!schema_value.is_object()) return Ok{};  // `true` / `{}`-like schemas accept anything
  const auto& schema = schema_value.get_object();

  if (const auto* type = schema.if_contains("type")) {
    bool matches = false;
    std::string expected;
    if (type->is_string()) {
      matches = has_type(v, type->get_string());
      expected = type->get_string();
    } else if (type->is_array()) {
      for (const auto& t : type->get_array()) {
        if (!t.is_string()) continue;
        matches = matches || has_type(v, t.get_string());
        expected += (expected.empty() ? "" : " or ") + std::string(t.get_string());
      }
    } else {
      matches = true;
    }
    if (!matches) return invalid(path, "must be " + expected + ", not " + type_name(v));
  }

  if (const auto* values = schema.if_contains("enum"); values && values->is_array()) {
    bool found = false;
    for (const auto& e : values->get_array()) found = found || e == v;
    if (!found) return invalid(path, "must be one of " + enum_text(values->get_array()));
  }

  if (!v.is_object()) return Ok{};
  const auto& object = v.get_object();
  const json::object* properties = nullptr;
  if (const auto* p = schema.if_contains("properties"); p && p->is_object())
    properties = &p->get_object();

  if (const auto* required = schema.if_contains("required"); required && required->is_array()) {
    for (const auto& key : required->get_array())
      if (key.is_string() && !object.contains(key.get_string()))
        return invalid(path + "." + std::string(key.get_string()), "required");
  }

  const auto* additional = schema.if_contains("additionalProperties");
  for (const auto& member : object) {
    std::string child = path + "." + std::string(member.key());
    if (properties) {
      if (const auto* sub = properties->if_contains(member.key())) {
        if (auto s = check(*sub, member.value(), child); !s) return s;
        continue;
      }
    }
    if (!additional) continue;
    if (additional->is_bool()) {
      if (!additional->get_bool()) {
        std::string known;
        if (properties)
          for (const auto& p : *properties)
            known += (known.empty() ? "" : ", ") + std::string(p.key());
        return invalid(child, known.empty() ? "unknown key (this plugin takes no options)"
                                            : "unknown key (known: " + known + ")");
      }
    } else if (auto s = check(*additional, member.value(), child); !s) {
      return s;
    }
  }
  return Ok{};
}

}  // namespace

Status validate_plugin_config(std::string_view schema_json, const boost::json::value& config) {
  if (schema_json.empty()) return Ok{};
  boost::system::error_code ec;
  json::value schema = json::parse(schema_json, ec);
  if (ec) return make_error("plugin_schema", "", "the plugin's config schema is not valid JSON");
  return check(schema, config, "config");
}

}  // namespace x402::plugin_host
