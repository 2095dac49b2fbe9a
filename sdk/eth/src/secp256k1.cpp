#include "x402/eth/secp256k1.hpp"

#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <sys/random.h>

#include <algorithm>

#include "x402/eth/keccak.hpp"

namespace x402::eth {
namespace {

// The curve order n and n/2 (EIP-2: a valid s is at most n/2, so each signature has one form).
constexpr Hash32 kCurveOrder = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48,
                                0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
constexpr Hash32 kHalfCurveOrder = {
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0};

// One context for the whole process: creating one costs far more than a verification, and after
// creation (and the one-time randomisation) libsecp256k1 only reads it, so threads may share it.
// Never destroyed: signing may still run on a detached thread while statics are torn down.
const secp256k1_context* context() {
  static const secp256k1_context* const ctx = [] {
    secp256k1_context* c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    // Blinding against side channels while signing; without entropy the context still works.
    unsigned char seed[32];
    if (getrandom(seed, sizeof seed, 0) == static_cast<ssize_t>(sizeof seed)) {
      // Fails only on API misuse; an unrandomised context still computes correct results.
      [[maybe_unused]] const int randomized = secp256k1_context_randomize(c, seed);
    }
    return c;
  }();
  return ctx;
}

}  // namespace

Bytes Signature::to_bytes() const {
  Bytes out(r.begin(), r.end());
  out.insert(out.end(), s.begin(), s.end());
  out.push_back(static_cast<uint8_t>(27 + recovery_id()));
  return out;
}

std::string_view to_string(RecoverError e) {
  switch (e) {
    case RecoverError::BadLength:
      return "signature is not 65 bytes";
    case RecoverError::BadV:
      return "signature v is not 0, 1, 27 or 28";
    case RecoverError::HighS:
      return "signature s is in the upper half of the curve order";
    case RecoverError::Invalid:
      return "signature does not recover to a public key";
  }
  return "unknown signature error";
}

std::optional<Signature> parse_signature(std::span<const uint8_t> bytes, RecoverError* why) {
  auto fail = [why](RecoverError e) -> std::optional<Signature> {
    if (why) *why = e;
    return std::nullopt;
  };
  if (bytes.size() != 65) return fail(RecoverError::BadLength);
  Signature sig;
  std::copy(bytes.begin(), bytes.begin() + 32, sig.r.begin());
  std::copy(bytes.begin() + 32, bytes.begin() + 64, sig.s.begin());
  sig.v = bytes[64];
  if (sig.v != 0 && sig.v != 1 && sig.v != 27 && sig.v != 28) return fail(RecoverError::BadV);
  constexpr Hash32 kZero{};
  if (sig.r == kZero || sig.s == kZero || sig.r >= kCurveOrder || sig.s >= kCurveOrder) {
    return fail(RecoverError::Invalid);
  }
  // Byte-wise comparison of big-endian arrays is numeric comparison.
  if (sig.s > kHalfCurveOrder) return fail(RecoverError::HighS);
  return sig;
}

Recovered recover_address(const Hash32& digest, std::span<const uint8_t> signature65) {
  Recovered out;
  auto sig = parse_signature(signature65, &out.error);
  if (!sig) return out;
  out.error = RecoverError::Invalid;

  unsigned char compact[64];
  std::copy(sig->r.begin(), sig->r.end(), compact);
  std::copy(sig->s.begin(), sig->s.end(), compact + 32);
  secp256k1_ecdsa_recoverable_signature rsig;
  if (!secp256k1_ecdsa_recoverable_signature_parse_compact(context(), &rsig, compact,
                                                           sig->recovery_id())) {
    return out;
  }
  secp256k1_pubkey pubkey;
  if (!secp256k1_ecdsa_recover(context(), &pubkey, &rsig, digest.data())) return out;
  unsigned char serialized[65];
  size_t len = sizeof serialized;
  if (!secp256k1_ec_pubkey_serialize(context(), serialized, &len, &pubkey,
                                     SECP256K1_EC_UNCOMPRESSED) ||
      len != sizeof serialized) {
    return out;
  }
  out.address = address_from_public_key(std::span<const uint8_t>(serialized, len));
  return out;
}

std::optional<PrivateKey> PrivateKey::from_hex(std::string_view text) {
  auto secret = parse_hash32(text);
  // Rejects zero and values >= n, which are not keys.
  if (!secret || !secp256k1_ec_seckey_verify(context(), secret->data())) return std::nullopt;
  secp256k1_pubkey pubkey;
  if (!secp256k1_ec_pubkey_create(context(), &pubkey, secret->data())) return std::nullopt;
  unsigned char serialized[65];
  size_t len = sizeof serialized;
  if (!secp256k1_ec_pubkey_serialize(context(), serialized, &len, &pubkey,
                                     SECP256K1_EC_UNCOMPRESSED)) {
    return std::nullopt;
  }
  PrivateKey key;
  key.secret_ = *secret;
  key.address_ = address_from_public_key(std::span<const uint8_t>(serialized, len));
  return key;
}

Signature PrivateKey::sign(const Hash32& digest) const {
  secp256k1_ecdsa_recoverable_signature rsig;
  // nonce function NULL = RFC 6979; the library always emits low-s, as EIP-2 requires. Signing
  // cannot fail for a key that passed seckey_verify, which from_hex guarantees.
  if (!secp256k1_ecdsa_sign_recoverable(context(), &rsig, digest.data(), secret_.data(), nullptr,
                                        nullptr)) {
    return Signature{};  // unreachable for a verified key; an all-zero signature never verifies
  }
  unsigned char compact[64];
  int recid = 0;
  (void)secp256k1_ecdsa_recoverable_signature_serialize_compact(context(), compact, &recid, &rsig);
  Signature sig;
  std::copy(compact, compact + 32, sig.r.begin());
  std::copy(compact + 32, compact + 64, sig.s.begin());
  sig.v = static_cast<uint8_t>(27 + recid);
  return sig;
}

Address address_from_public_key(std::span<const uint8_t> uncompressed65) {
  Address out{};
  // Anything but an uncompressed point (0x04 ‖ X ‖ Y) gives the zero address, which no key owns.
  if (uncompressed65.size() != 65 || uncompressed65[0] != 0x04) return out;
  const Hash32 h = keccak256(uncompressed65.subspan(1));
  std::copy(h.begin() + 12, h.end(), out.begin());
  return out;
}

}  // namespace x402::eth
