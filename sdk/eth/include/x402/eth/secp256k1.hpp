#pragma once
// secp256k1 through libsecp256k1 (with its recovery module): public-key recovery for payment
// signatures and signing for the relayer.
#include <memory>
#include <optional>
#include <string>

#include "x402/eth/bytes.hpp"

namespace x402::eth {

// A 65-byte Ethereum signature r ‖ s ‖ v, v in {27, 28} (also accepted: {0, 1}).
struct Signature {
  Hash32 r{};
  Hash32 s{};
  uint8_t v = 27;

  Bytes to_bytes() const;  // 65 bytes, v as 27/28
  uint8_t recovery_id() const { return static_cast<uint8_t>(v >= 27 ? v - 27 : v); }
};

enum class RecoverError { BadLength, BadV, HighS, Invalid };
std::string_view to_string(RecoverError e);

// Parses and checks a 65-byte signature: v in {0,1,27,28}; s in the lower half of the curve
// order (a high-s twin is refused, EIP-2); r and s non-zero and below the order.
std::optional<Signature> parse_signature(std::span<const uint8_t> bytes, RecoverError* why);

// The address whose key signed `digest`, or the reason it cannot be recovered.
struct Recovered {
  std::optional<Address> address;
  RecoverError error = RecoverError::Invalid;
};
Recovered recover_address(const Hash32& digest, std::span<const uint8_t> signature65);

// An owned private key. Never logged; to_hex() exists for tests only.
class PrivateKey {
 public:
  // 32 bytes hex, optional 0x; nullopt when not a valid secp256k1 secret key.
  static std::optional<PrivateKey> from_hex(std::string_view text);

  const Address& address() const { return address_; }
  // Deterministic (RFC 6979) low-s recoverable signature; v = 27 + recovery id.
  Signature sign(const Hash32& digest) const;

 private:
  Hash32 secret_{};
  Address address_{};
};

// keccak256(uncompressed public key without the 0x04 prefix)[12..32].
Address address_from_public_key(std::span<const uint8_t> uncompressed65);

}  // namespace x402::eth
