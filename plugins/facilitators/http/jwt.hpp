#pragma once
// JWTs for the facilitators that want them (PROTOCOL.md §2):
//  - Coinbase CDP: a fresh token per request, ES256 (PEM EC P-256 key) or EdDSA (base64 of
//    Ed25519 seed || public key), bound to "METHOD host/path" of that exact request.
//  - PayAI: EdDSA (base64 PKCS#8 DER, optional "payai_sk_" prefix), reusable for ~100 s.
// Signatures are JOSE-shaped: ES256 is raw r||s (64 bytes), never DER.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

using EVP_PKEY = struct evp_pkey_st;

namespace x402::plugins::facilitator_http {

enum class JwtAlgorithm { ES256, EdDSA };

class JwtSigningKey {
 public:
  // Both throw std::invalid_argument saying what is wrong with the secret (never echoing it).
  static JwtSigningKey from_cdp_secret(std::string_view secret);
  static JwtSigningKey from_payai_secret(std::string_view secret);

  JwtAlgorithm algorithm() const { return algorithm_; }
  std::string_view alg_name() const {
    return algorithm_ == JwtAlgorithm::ES256 ? "ES256" : "EdDSA";
  }
  // JWS compact serialization of header.claims (both JSON texts), signed with this key.
  std::string sign_compact(std::string_view header_json, std::string_view claims_json) const;
  std::string public_key_pem() const;  // SubjectPublicKeyInfo, for verifiers and tests

 private:
  JwtSigningKey(std::shared_ptr<EVP_PKEY> key, JwtAlgorithm algorithm)
      : key_(std::move(key)), algorithm_(algorithm) {}
  std::shared_ptr<EVP_PKEY> key_;
  JwtAlgorithm algorithm_;
};

// "POST api.cdp.coinbase.com/platform/v2/x402/verify": method, authority and full path (no query).
std::string cdp_uri_claim(std::string_view method, std::string_view url);

std::string make_cdp_jwt(const JwtSigningKey& key, std::string_view key_id, std::string_view method,
                         std::string_view url, uint64_t now_unix_s);
std::string make_payai_jwt(const JwtSigningKey& key, std::string_view key_id, uint64_t now_unix_s);

// Helpers shared with tests.
std::string base64url_encode(std::string_view bytes);
std::string random_hex(size_t bytes);
std::string random_uuid_v4();

}  // namespace x402::plugins::facilitator_http
