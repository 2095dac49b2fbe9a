#include "jwt.hpp"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <boost/json.hpp>
#include <stdexcept>
#include <vector>

namespace x402::plugins::facilitator_http {
namespace {

using PkeyPtr = std::shared_ptr<EVP_PKEY>;
PkeyPtr own(EVP_PKEY* k) {
  return PkeyPtr(k, EVP_PKEY_free);
}

// Standard base64 (RFC 4648 §4), whitespace ignored; nullopt-like empty result + flag on error.
bool base64_decode(std::string_view in, std::string& out) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  out.clear();
  uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (char c : in) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    int v = value(c);
    if (v < 0 || padding) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return true;
}

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    throw std::runtime_error("no randomness available (RAND_bytes failed)");
  return out;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xF]);
  }
  return out;
}

PkeyPtr ed25519_from_seed_and_public(const std::string& raw) {
  auto key = own(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(raw.data()), 32));
  if (!key) throw std::invalid_argument("not a valid Ed25519 seed");
  unsigned char pub[32];
  size_t pub_len = sizeof pub;
  if (EVP_PKEY_get_raw_public_key(key.get(), pub, &pub_len) != 1 ||
      std::string_view(reinterpret_cast<char*>(pub), pub_len) != std::string_view(raw).substr(32))
    throw std::invalid_argument("the last 32 bytes are not the public key of the seed");
  return key;
}

std::string digest_sign(EVP_PKEY* key, const EVP_MD* md, std::string_view data) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, in, data.size()) != 1)
    throw std::runtime_error("JWT signing failed");
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                     data.size()) != 1)
    throw std::runtime_error("JWT signing failed");
  sig.resize(len);
  return sig;
}

// OpenSSL produces DER (SEQUENCE {r, s}); JOSE wants r and s as fixed 32-byte big-endian halves.
std::string der_to_jose_p256(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())), ECDSA_SIG_free);
  if (!sig) throw std::runtime_error("JWT signing produced an unreadable ECDSA signature");
  std::string out(64, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), o, 32) != 32 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), o + 32, 32) != 32)
    throw std::runtime_error("JWT signing produced an oversized ECDSA signature");
  return out;
}

std::string unescape_newlines(std::string_view s) {
  // Key files downloaded from CDP hold the PEM inside JSON with literal "\n" sequences.
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == 'n') {
      out.push_back('\n');
      ++i;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3F]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3F]);
  return out;
}

std::string random_hex(size_t bytes) {
  return to_hex(random_bytes(bytes));
}

std::string random_uuid_v4() {
  std::string b = random_bytes(16);
  b[6] = static_cast<char>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<char>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  std::string h = to_hex(b);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

JwtSigningKey JwtSigningKey::from_cdp_secret(std::string_view secret) {
  if (secret.find("-----BEGIN") != std::string_view::npos) {
    std::string pem = unescape_newlines(secret);
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
    auto key = own(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!key) throw std::invalid_argument("PEM secret is not a readable private key");
    char group[64] = {};
    size_t group_len = 0;
    if (!EVP_PKEY_is_a(key.get(), "EC") ||
        EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &group_len) != 1 ||
        std::string_view(group) != "prime256v1")
      throw std::invalid_argument("PEM secret must be an EC P-256 (prime256v1) private key");
    return JwtSigningKey(std::move(key), JwtAlgorithm::ES256);
  }
  std::string raw;
  if (!base64_decode(secret, raw) || raw.size() != 64)
    throw std::invalid_argument(
        "secret must be a PEM EC P-256 key or base64 of 64 bytes (Ed25519 seed || public key)");
  return JwtSigningKey(ed25519_from_seed_and_public(raw), JwtAlgorithm::EdDSA);
}

JwtSigningKey JwtSigningKey::from_payai_secret(std::string_view secret) {
  constexpr std::string_view kPrefix = "payai_sk_";
  if (secret.substr(0, kPrefix.size()) == kPrefix) secret.remove_prefix(kPrefix.size());
  std::string der;
  if (!base64_decode(secret, der) || der.empty())
    throw std::invalid_argument("secret must be base64 of a PKCS#8 DER Ed25519 private key");
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  auto key = own(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der.size())));
  if (!key || !EVP_PKEY_is_a(key.get(), "ED25519"))
    throw std::invalid_argument("secret must be base64 of a PKCS#8 DER Ed25519 private key");
  return JwtSigningKey(std::move(key), JwtAlgorithm::EdDSA);
}

std::string JwtSigningKey::sign_compact(std::string_view header_json,
                                        std::string_view claims_json) const {
  std::string input = base64url_encode(header_json) + "." + base64url_encode(claims_json);
  std::string signature = algorithm_ == JwtAlgorithm::ES256
                              ? der_to_jose_p256(digest_sign(key_.get(), EVP_sha256(), input))
                              : digest_sign(key_.get(), nullptr, input);  // Ed25519: no digest
  return input + "." + base64url_encode(signature);
}

std::string JwtSigningKey::public_key_pem() const {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1)
    throw std::runtime_error("cannot export public key");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string cdp_uri_claim(std::string_view method, std::string_view url) {
  auto scheme_end = url.find("://");
  std::string_view rest = scheme_end == std::string_view::npos ? url : url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find_first_of("?#"));
  return std::string(method) + " " + std::string(rest);
}

std::string make_cdp_jwt(const JwtSigningKey& key, std::string_view key_id, std::string_view method,
                         std::string_view url, uint64_t now_unix_s) {
  boost::json::object header{
      {"alg", key.alg_name()}, {"kid", key_id}, {"typ", "JWT"}, {"nonce", random_hex(16)}};
  boost::json::object claims{{"sub", key_id},
                             {"iss", "cdp"},
                             {"aud", boost::json::array{"cdp_service"}},
                             {"uris", boost::json::array{cdp_uri_claim(method, url).c_str()}},
                             {"iat", now_unix_s},
                             {"nbf", now_unix_s},
                             {"exp", now_unix_s + 120}};
  return key.sign_compact(boost::json::serialize(header), boost::json::serialize(claims));
}

std::string make_payai_jwt(const JwtSigningKey& key, std::string_view key_id, uint64_t now_unix_s) {
  boost::json::object header{{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", key_id}};
  boost::json::object claims{{"sub", key_id},
                             {"iss", "payai-merchant"},
                             {"iat", now_unix_s},
                             {"exp", now_unix_s + 120},
                             {"jti", random_uuid_v4()}};
  return key.sign_compact(boost::json::serialize(header), boost::json::serialize(claims));
}

}  // namespace x402::plugins::facilitator_http
