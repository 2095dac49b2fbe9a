#pragma once
// Validates a plugin instance's config against the JSON Schema the plugin declares, before the
// plugin ever sees it. Supported subset (what plugin_abi.h promises): type, properties, required,
// enum, additionalProperties (boolean or schema), applied recursively. Unknown keywords are
// ignored, as JSON Schema does.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string_view>

#include "common/result.hpp"

namespace x402::plugin_host {

// Error.field is the path of the offending key ("config.preset", "config.auth.key_id");
// Error.message starts with it: "config.preset: must be one of generic, x402-rs, payai, cdp".
// An empty schema accepts anything; an unparsable schema is reported as code "plugin_schema".
Status validate_plugin_config(std::string_view schema_json, const boost::json::value& config);

}  // namespace x402::plugin_host
