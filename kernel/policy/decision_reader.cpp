#include "policy/decision_reader.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <string_view>

#include "policy/amount_text.hpp"
#include "policy/errors.hpp"

namespace x402::policy::detail {
namespace {

constexpr std::array<std::string_view, 8> kKnownFields = {
    "amount", "asset", "network", "mode", "duration_seconds", "scope", "calls", "description"};

Error invalid(std::string field, std::string message) {
  return make_error(std::string(errc::kInvalidResult), std::move(field), std::move(message));
}

std::string_view type_name(lua_State* L, int index) {
  return lua_typename(L, lua_type(L, index));
}

std::string_view string_at(lua_State* L, int index) {
  size_t length = 0;
  const char* text = lua_tolstring(L, index, &length);
  return {text, length};
}

// Pushes result[field] without metamethods.
void push_field(lua_State* L, int table, const char* field) {
  lua_pushstring(L, field);
  lua_rawget(L, table);
}

bool is_valid_utf8_text(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) return false;  // control characters have no place in a description
    size_t extra = 0;
    if (c < 0x80) {
      extra = 0;
    } else if (c >= 0xc2 && c <= 0xdf) {
      extra = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      extra = 2;
    } else if (c >= 0xf0 && c <= 0xf4) {
      extra = 3;
    } else {
      return false;
    }
    if (i + extra >= text.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= extra; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return false;
    }
    // Overlong three/four-byte forms, surrogates and code points above U+10FFFF.
    const auto next = extra > 0 ? static_cast<unsigned char>(text[i + 1]) : 0;
    if ((c == 0xe0 && next < 0xa0) || (c == 0xed && next > 0x9f) || (c == 0xf0 && next < 0x90) ||
        (c == 0xf4 && next > 0x8f)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

Result<std::string> read_amount(lua_State* L, int index, const PolicyLimits& limits) {
  std::string canonical;
  if (lua_type(L, index) == LUA_TNUMBER) {
    const double value = lua_tonumber(L, index);
    if (std::isnan(value) || std::isinf(value)) {
      return invalid("amount", "amount must be a finite integer, got " +
                                   std::string(std::isnan(value) ? "NaN" : "infinity"));
    }
    if (value < 0) return invalid("amount", "amount must not be negative");
    if (std::trunc(value) != value) {
      return invalid("amount", "amount must be a whole number of atomic units, got a fraction");
    }
    auto text = exact_integer_text(value);
    if (!text) {
      return invalid("amount",
                     "amount numbers above 2^53 are not exact; return the amount as a string");
    }
    canonical = std::move(*text);
  } else if (lua_type(L, index) == LUA_TSTRING) {
    auto text = canonical_digits(string_at(L, index));
    if (!text) {
      return invalid("amount",
                     "amount must be atomic units as a string of digits, such as \"10000\"");
    }
    canonical = std::move(*text);
  } else {
    return invalid("amount", "amount must be an integer string or number, got " +
                                 std::string(type_name(L, index)));
  }
  if (canonical_less(limits.max_amount, canonical)) {
    return invalid("amount",
                   "amount " + canonical + " exceeds this merchant's maximum " + limits.max_amount);
  }
  return canonical;
}

// A bounded positive integer given as a Lua number (durations and call counts).
Result<uint64_t> read_count(lua_State* L, int index, const char* field, uint64_t max) {
  if (lua_type(L, index) != LUA_TNUMBER) {
    return invalid(
        field, std::string(field) + " must be an integer, got " + std::string(type_name(L, index)));
  }
  const double value = lua_tonumber(L, index);
  if (!(value >= 1 && value <= static_cast<double>(max) && std::trunc(value) == value)) {
    return invalid(
        field, std::string(field) + " must be a whole number between 1 and " + std::to_string(max));
  }
  return static_cast<uint64_t>(value);
}

Result<std::optional<std::string>> read_choice(lua_State* L, int index, const char* field,
                                               const std::vector<std::string>& allowed) {
  if (lua_isnil(L, index)) return std::optional<std::string>{};
  if (lua_type(L, index) != LUA_TSTRING) {
    return invalid(field, std::string(field) + " must be a string");
  }
  const std::string_view value = string_at(L, index);
  if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    return invalid(field, std::string(field) + " '" + std::string(value) +
                              "' is not accepted on this route (allowed: " +
                              (list.empty() ? "none, leave it unset" : list) + ")");
  }
  return std::optional<std::string>(std::string(value));
}

Status check_field_names(lua_State* L, int table) {
  lua_pushnil(L);
  while (lua_next(L, table) != 0) {
    lua_pop(L, 1);  // the value
    if (lua_type(L, -1) != LUA_TSTRING) {
      lua_pop(L, 1);
      return invalid("", "result keys must be field names");
    }
    const std::string_view key = string_at(L, -1);
    if (std::find(kKnownFields.begin(), kKnownFields.end(), key) == kKnownFields.end()) {
      std::string name(key.substr(0, 64));
      lua_pop(L, 1);
      return invalid(name, "unknown field '" + name + "' in the result");
    }
  }
  return Ok{};
}

Result<BillingMode> read_mode(lua_State* L, int index) {
  if (lua_isnil(L, index)) return BillingMode::kPerRequest;
  if (lua_type(L, index) == LUA_TSTRING) {
    const std::string_view mode = string_at(L, index);
    if (mode == "per_request") return BillingMode::kPerRequest;
    if (mode == "time_pass") return BillingMode::kTimePass;
    if (mode == "package") return BillingMode::kPackage;
    if (mode == "free") return BillingMode::kFree;
  }
  return invalid("mode",
                 "mode must be one of \"per_request\", \"time_pass\", \"package\", \"free\"");
}

// Reads every field; the caller pops the stack back afterwards.
Result<PriceDecision> read_fields(lua_State* L, int table, const PolicyLimits& limits,
                                  const RouteOffer& offer) {
  if (auto names = check_field_names(L, table); !names) return names.error();

  PriceDecision decision;
  push_field(L, table, "mode");
  auto mode = read_mode(L, -1);
  if (!mode) return mode.error();
  decision.mode = *mode;

  push_field(L, table, "amount");
  if (decision.mode == BillingMode::kFree) {
    const bool zero_or_absent =
        lua_isnil(L, -1) || (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) == 0) ||
        (lua_type(L, -1) == LUA_TSTRING && canonical_digits(string_at(L, -1)) == "0");
    if (!zero_or_absent) return invalid("amount", "mode \"free\" must not carry an amount");
    decision.amount = "0";
  } else {
    if (lua_isnil(L, -1)) return invalid("amount", "amount is required (atomic units)");
    auto amount = read_amount(L, lua_gettop(L), limits);
    if (!amount) return amount.error();
    if (*amount == "0") {
      return invalid("amount", "amount must be positive; return mode = \"free\" for free access");
    }
    decision.amount = std::move(*amount);
  }

  push_field(L, table, "asset");
  auto asset = read_choice(L, lua_gettop(L), "asset", offer.assets);
  if (!asset) return asset.error();
  decision.asset = std::move(*asset);

  push_field(L, table, "network");
  auto network = read_choice(L, lua_gettop(L), "network", offer.networks);
  if (!network) return network.error();
  decision.network = std::move(*network);

  push_field(L, table, "duration_seconds");
  const bool buys_credential =
      decision.mode == BillingMode::kTimePass || decision.mode == BillingMode::kPackage;
  if (decision.mode == BillingMode::kTimePass) {
    auto duration = read_count(L, lua_gettop(L), "duration_seconds", limits.max_pass_seconds);
    if (!duration) return duration.error();
    decision.duration_seconds = *duration;
  } else if (decision.mode == BillingMode::kPackage) {
    if (lua_isnil(L, -1)) {
      decision.duration_seconds = std::min(kDefaultPackageSeconds, limits.max_package_seconds);
    } else {
      auto duration = read_count(L, lua_gettop(L), "duration_seconds", limits.max_package_seconds);
      if (!duration) return duration.error();
      decision.duration_seconds = *duration;
    }
  } else if (!lua_isnil(L, -1)) {
    return invalid("duration_seconds",
                   "duration_seconds is only valid with mode \"time_pass\" or \"package\"");
  }

  push_field(L, table, "scope");
  if (!lua_isnil(L, -1)) {
    if (!buys_credential) {
      return invalid("scope", "scope is only valid with mode \"time_pass\" or \"package\"");
    }
    const std::string_view scope = lua_type(L, -1) == LUA_TSTRING ? string_at(L, -1) : "";
    if (scope == "route") {
      decision.scope = PassScope::kRoute;
    } else if (scope == "merchant") {
      decision.scope = PassScope::kMerchant;
    } else {
      return invalid("scope", "scope must be \"route\" or \"merchant\"");
    }
  }

  push_field(L, table, "calls");
  if (decision.mode == BillingMode::kPackage) {
    auto calls = read_count(L, lua_gettop(L), "calls", limits.max_package_calls);
    if (!calls) return calls.error();
    decision.calls = *calls;
  } else if (!lua_isnil(L, -1)) {
    return invalid("calls", "calls is only valid with mode \"package\"");
  }

  push_field(L, table, "description");
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING)
      return invalid("description", "description must be a string");
    const std::string_view text = string_at(L, -1);
    if (text.size() > limits.max_description_bytes) {
      return invalid("description", "description is longer than " +
                                        std::to_string(limits.max_description_bytes) + " bytes");
    }
    if (!is_valid_utf8_text(text)) {
      return invalid("description", "description must be UTF-8 text without control characters");
    }
    decision.description = std::string(text);
  }
  return decision;
}

}  // namespace

Result<PriceDecision> read_decision(lua_State* L, int index, const PolicyLimits& limits,
                                    const RouteOffer& offer) {
  if (lua_type(L, index) != LUA_TTABLE) {
    return invalid("", "price(req) must return a table such as { amount = \"10000\" }, got " +
                           std::string(type_name(L, index)));
  }
  const int table = lua_gettop(L) >= index && index > 0 ? index : lua_gettop(L) + index + 1;
  const int top = lua_gettop(L);
  auto decision = read_fields(L, table, limits, offer);
  lua_settop(L, top);
  return decision;
}

}  // namespace x402::policy::detail
