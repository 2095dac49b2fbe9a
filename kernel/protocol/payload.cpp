#include "protocol/payload.hpp"

#include <exception>

#include "protocol/base64.hpp"
#include "protocol/hex.hpp"

namespace x402 {
namespace {

namespace json = boost::json;

constexpr size_t kMinSignatureBytes = 65;  // r ‖ s ‖ v of an EOA signature

Error invalid(std::string field, std::string message) {
  return make_error("invalid_payment", std::move(field), std::move(message));
}

std::string kind_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
      return "an integer";
    case json::kind::double_:
      return "a non-integer number";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "an array";
    case json::kind::object:
      return "an object";
  }
  return "an unknown value";
}

std::string join(std::string_view prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : std::string(prefix) + "." + std::string(key);
}

// Typed access to one member of a JSON object, reporting the full path on failure.
class Fields {
 public:
  Fields(const json::object& object, std::string path) : object_(object), path_(std::move(path)) {}

  Result<const json::value*> any(std::string_view key, std::string_view expected) const {
    const json::value* v = object_.if_contains(key);
    if (v == nullptr)
      return invalid(join(path_, key),
                     join(path_, key) + " is missing: expected " + std::string(expected));
    return v;
  }

  Result<std::string> string(std::string_view key, std::string_view expected = "a string") const {
    auto v = any(key, expected);
    if (!v) return v.error();
    if (!(*v)->is_string()) return wrong_type(key, expected, **v);
    return std::string((*v)->get_string());
  }

  Result<std::string> non_empty_string(std::string_view key) const {
    auto s = string(key, "a non-empty string");
    if (s && s->empty()) return invalid(join(path_, key), join(path_, key) + " must not be empty");
    return s;
  }

  Result<const json::object*> object(std::string_view key) const {
    auto v = any(key, "an object");
    if (!v) return v.error();
    if (!(*v)->is_object()) return wrong_type(key, "an object", **v);
    return &(*v)->get_object();
  }

  Error wrong_type(std::string_view key, std::string_view expected, const json::value& got) const {
    return invalid(join(path_, key), join(path_, key) + " must be " + std::string(expected) +
                                         ", got " + kind_name(got));
  }

  std::string path(std::string_view key) const { return join(path_, key); }

 private:
  const json::object& object_;
  std::string path_;
};

Result<std::string> address(const Fields& f, std::string_view key) {
  auto s = f.string(key, "an address (0x + 40 hex digits)");
  if (s && !is_address(*s)) {
    return invalid(f.path(key), f.path(key) + " must be an address (0x + 40 hex digits), got \"" +
                                    s->substr(0, 100) + "\"");
  }
  return s;
}

// Decimal strings per the spec; some clients send JSON integers for the validity window.
Result<uint64_t> unix_seconds(const Fields& f, std::string_view key) {
  constexpr std::string_view kExpected = "unix seconds as a decimal string";
  auto v = f.any(key, kExpected);
  if (!v) return v.error();
  const json::value& value = **v;
  if (value.is_uint64()) return value.get_uint64();
  if (value.is_int64() && value.get_int64() >= 0) return static_cast<uint64_t>(value.get_int64());
  if (!value.is_string()) {
    return invalid(f.path(key), f.path(key) + " must be " + std::string(kExpected) + ", got " +
                                    (value.is_int64() ? "a negative integer" : kind_name(value)));
  }
  auto amount = Amount::parse_atomic(value.get_string(), f.path(key));
  if (!amount || amount->raw() > UINT64_MAX) {
    return invalid(f.path(key), f.path(key) + " must be " + std::string(kExpected) +
                                    " (digits only, at most 2^64-1), got \"" +
                                    std::string(value.get_string().subview(0, 100)) + "\"");
  }
  return amount->raw().convert_to<uint64_t>();
}

Status decode_exact_evm(const json::object& payload, PaymentPayload& out) {
  const Fields p(payload, "payload");
  auto signature = p.string("signature", "a 0x-prefixed hex signature");
  if (!signature) return signature.error();
  const std::string_view sig = *signature;
  if (!sig.starts_with("0x") || !is_hex_digits(sig.substr(2)) || sig.size() % 2 != 0 ||
      (sig.size() - 2) / 2 < kMinSignatureBytes) {
    return invalid("payload.signature",
                   "payload.signature must be 0x followed by an even number of hex digits, at "
                   "least 65 bytes (130 digits); got " +
                       std::to_string(sig.size()) + " characters");
  }
  out.signature = std::move(*signature);

  auto auth_object = p.object("authorization");
  if (!auth_object) return auth_object.error();
  const Fields a(**auth_object, "payload.authorization");
  Authorization& auth = out.authorization;

  auto from = address(a, "from");
  if (!from) return from.error();
  auth.from = std::move(*from);
  auto to = address(a, "to");
  if (!to) return to.error();
  auth.to = std::move(*to);

  auto value_text = a.string("value", "atomic units as a decimal string");
  if (!value_text) return value_text.error();
  auto value = Amount::parse_atomic(*value_text, a.path("value"));
  if (!value) return invalid(value.error().field, value.error().message);
  auth.value = *value;

  auto valid_after = unix_seconds(a, "validAfter");
  if (!valid_after) return valid_after.error();
  auth.valid_after = *valid_after;
  auto valid_before = unix_seconds(a, "validBefore");
  if (!valid_before) return valid_before.error();
  auth.valid_before = *valid_before;

  auto nonce = a.string("nonce", "32 bytes as 0x + 64 hex digits");
  if (!nonce) return nonce.error();
  if (!is_hex32(*nonce)) {
    return invalid("payload.authorization.nonce",
                   "payload.authorization.nonce must be 32 bytes as 0x + 64 hex digits, got " +
                       std::to_string(nonce->size()) + " characters");
  }
  auth.nonce = std::move(*nonce);
  return Ok{};
}

Result<PaymentPayload> decode_checked(std::string_view header_value, bool from_v2_header) {
  const std::string header = from_v2_header ? "PAYMENT-SIGNATURE" : "X-PAYMENT";
  if (header_value.empty()) return invalid(header, header + " header is empty");
  if (header_value.size() > kMaxPaymentHeaderBytes) {
    return invalid(header, header + " header is " + std::to_string(header_value.size()) +
                               " bytes; at most " + std::to_string(kMaxPaymentHeaderBytes) +
                               " are accepted");
  }
  auto bytes = base64::decode(header_value);
  if (!bytes) {
    return invalid(header,
                   header + " header must be base64 of a JSON object; " + bytes.error().message);
  }

  boost::system::error_code ec;
  json::value doc = json::parse(*bytes, ec);  // also rejects invalid UTF-8 and deep nesting
  if (ec) {
    return invalid(header, header + " header must be base64 of a UTF-8 JSON object; JSON error: " +
                               ec.message());
  }
  if (!doc.is_object()) {
    return invalid(header, header + " header must hold a JSON object, got " + kind_name(doc));
  }
  const json::object& top = doc.get_object();
  const Fields f(top, "");

  PaymentPayload out;
  auto version = f.any("x402Version", "1 or 2");
  if (!version) return version.error();
  const json::value& v = **version;
  if (!((v.is_int64() && (v.get_int64() == 1 || v.get_int64() == 2)) ||
        (v.is_uint64() && (v.get_uint64() == 1 || v.get_uint64() == 2)))) {
    return invalid("x402Version", "x402Version must be the integer 1 or 2, got " +
                                      json::serialize(v).substr(0, 40));
  }
  out.x402_version =
      v.is_int64() ? static_cast<int>(v.get_int64()) : static_cast<int>(v.get_uint64());
  const int header_version = from_v2_header ? 2 : 1;
  if (out.x402_version != header_version) {
    return invalid("x402Version",
                   header + " carries x402Version " + std::to_string(header_version) +
                       " payloads, got " + std::to_string(out.x402_version) +
                       "; send v2 payloads in PAYMENT-SIGNATURE and v1 in X-PAYMENT");
  }

  if (out.x402_version == 2) {
    auto accepted = f.object("accepted");
    if (!accepted) return accepted.error();
    const Fields acc(**accepted, "accepted");
    auto scheme = acc.non_empty_string("scheme");
    if (!scheme) return scheme.error();
    auto network = acc.non_empty_string("network");
    if (!network) return network.error();
    for (std::string_view key : {"amount", "asset", "payTo"}) {
      if (auto s = acc.non_empty_string(key); !s) return s.error();
    }
    out.scheme = std::move(*scheme);
    out.network = std::move(*network);
    out.accepted = **accepted;
    if (const json::value* resource = top.if_contains("resource");
        resource != nullptr && !resource->is_null()) {
      if (!resource->is_object()) return f.wrong_type("resource", "an object", *resource);
      out.resource = resource->get_object();
    }
  } else {
    auto scheme = f.non_empty_string("scheme");
    if (!scheme) return scheme.error();
    auto network = f.non_empty_string("network");
    if (!network) return network.error();
    out.scheme = std::move(*scheme);
    out.network = std::move(*network);
  }

  auto payload = f.object("payload");
  if (!payload) return payload.error();
  if (auto s = decode_exact_evm(**payload, out); !s) return s.error();

  out.raw = std::move(doc);
  return out;
}

}  // namespace

Result<PaymentPayload> decode_payment(std::string_view header_value, bool from_v2_header) {
  try {
    return decode_checked(header_value, from_v2_header);
  } catch (const std::exception& e) {  // allocation failures inside Boost.JSON
    return invalid(from_v2_header ? "PAYMENT-SIGNATURE" : "X-PAYMENT",
                   std::string("payment header could not be decoded: ") + e.what());
  }
}

}  // namespace x402
