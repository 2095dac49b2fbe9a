#include "gateway/credential_token.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "protocol/base64.hpp"

namespace x402 {
namespace {

std::string base64url(std::string_view bytes) {
  std::string text = base64::encode(bytes);
  while (!text.empty() && text.back() == '=') text.pop_back();
  for (char& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return text;
}

std::string hmac_sha256(std::string_view secret, std::string_view message) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &size);
  return std::string(reinterpret_cast<const char*>(mac), size);
}

Error malformed(std::string why) {
  return make_error("credential_malformed", "credential", "the credential is malformed: " + why);
}

// A claim that must be a string; empty when it is not.
std::string string_claim(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

}  // namespace

std::string sign_credential(const CredentialClaims& claims, std::string_view secret) {
  boost::json::object body{{"v", claims.v},     {"id", claims.id},   {"m", claims.merchant},
                           {"p", claims.payer}, {"s", claims.scope}, {"mode", claims.mode},
                           {"exp", claims.exp}, {"pv", claims.pv}};
  std::string head = base64url(boost::json::serialize(body));
  return head + "." + base64url(hmac_sha256(secret, head));
}

Result<CredentialClaims> verify_credential(std::string_view token, std::string_view secret,
                                           int64_t now_seconds) {
  if (token.size() > 2048) return malformed("longer than 2048 characters");
  const auto dot = token.find('.');
  if (dot == std::string_view::npos || dot == 0 || token.find('.', dot + 1) != token.npos) {
    return malformed("expected claims.signature");
  }
  const std::string_view head = token.substr(0, dot);
  auto signature = base64::decode(token.substr(dot + 1));
  if (!signature) return malformed("the signature is not base64url");
  // Signature before parsing: nothing an attacker wrote is interpreted until it is ours.
  const std::string expected = hmac_sha256(secret, head);
  if (signature->size() != expected.size() ||
      CRYPTO_memcmp(signature->data(), expected.data(), expected.size()) != 0) {
    return make_error("credential_forged", "credential",
                      "the credential's signature is not valid for this gateway");
  }
  auto json_text = base64::decode(head);
  if (!json_text) return malformed("the claims are not base64url");
  boost::system::error_code ec;
  auto parsed = boost::json::parse(*json_text, ec);
  if (ec || !parsed.is_object()) return malformed("the claims are not a JSON object");
  const auto& o = parsed.get_object();
  CredentialClaims claims;
  const auto* v = o.if_contains("v");
  const auto* exp = o.if_contains("exp");
  if (!v || !v->is_int64() || v->get_int64() != 1) return malformed("unsupported version");
  if (!exp || !exp->is_int64()) return malformed("exp is missing");
  claims.exp = exp->get_int64();
  claims.id = string_claim(o, "id");
  claims.merchant = string_claim(o, "m");
  claims.payer = string_claim(o, "p");
  claims.scope = string_claim(o, "s");
  claims.mode = string_claim(o, "mode");
  claims.pv = string_claim(o, "pv");
  if (claims.id.empty() || claims.merchant.empty() || claims.scope.empty() ||
      (claims.mode != "time_pass" && claims.mode != "package")) {
    return malformed("a claim is missing");
  }
  if (claims.exp <= now_seconds) {
    return make_error("credential_expired", "credential",
                      "the credential expired at " + std::to_string(claims.exp) +
                          " (unix seconds); buy a new one");
  }
  return claims;
}

bool credential_covers(const CredentialClaims& claims, std::string_view merchant,
                       std::string_view route) {
  return claims.merchant == merchant && (claims.scope == "*" || claims.scope == route);
}

}  // namespace x402
