#include "x402/eth/secp256k1.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "golden.hpp"
#include "x402/eth/keccak.hpp"
#include "x402/eth/uint256.hpp"

namespace x402::eth {
namespace {

constexpr const char* kAnvilKey =
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const char* const kCurveOrder =
    "0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";

PrivateKey anvil_key() {
  auto key = PrivateKey::from_hex(kAnvilKey);
  EXPECT_TRUE(key);
  return key.value_or(PrivateKey{});
}

// The other valid signature for the same digest: s' = n - s with the recovery id flipped.
Bytes high_s_twin(const Signature& sig) {
  const U256 n = *U256::from_hex(kCurveOrder);
  const U256 s2 = *n.sub(U256{sig.s});
  Signature twin = sig;
  twin.s = s2.be;
  twin.v = static_cast<uint8_t>(sig.v == 27 ? 28 : 27);
  return twin.to_bytes();
}

TEST(PrivateKey, AnvilDevKeyHasItsWellKnownAddress) {
  EXPECT_EQ(checksum_address(anvil_key().address()), "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
  EXPECT_TRUE(PrivateKey::from_hex(std::string(kAnvilKey).substr(2)));
}

TEST(PrivateKey, RejectsInvalidSecrets) {
  EXPECT_FALSE(PrivateKey::from_hex("0x" + std::string(64, '0')));  // zero
  EXPECT_FALSE(PrivateKey::from_hex(kCurveOrder));                  // n itself
  EXPECT_FALSE(PrivateKey::from_hex("0x" + std::string(64, 'f')));  // above n
  EXPECT_FALSE(PrivateKey::from_hex("0x1234"));
  EXPECT_FALSE(PrivateKey::from_hex("not hex"));
}

TEST(Secp256k1, SignRecoverRoundTrip) {
  const PrivateKey key = anvil_key();
  for (const char* message : {"one", "two", "three", "four"}) {
    const Hash32 digest = keccak256(std::string_view(message));
    const Signature sig = key.sign(digest);
    EXPECT_TRUE(sig.v == 27 || sig.v == 28);
    EXPECT_EQ(key.sign(digest).to_bytes(), sig.to_bytes()) << "RFC 6979 is deterministic";
    const Recovered r = recover_address(digest, sig.to_bytes());
    ASSERT_TRUE(r.address) << to_string(r.error);
    EXPECT_EQ(*r.address, key.address());
    // Another digest recovers some other address, never the signer's.
    const Recovered other = recover_address(keccak256(std::string_view("other")), sig.to_bytes());
    EXPECT_NE(other.address, std::optional<Address>(key.address()));
  }
}

TEST(Secp256k1, AcceptsVAsZeroOrOne) {
  const PrivateKey key = anvil_key();
  const Hash32 digest = keccak256(std::string_view("v form"));
  Bytes sig = key.sign(digest).to_bytes();
  sig[64] = static_cast<uint8_t>(sig[64] - 27);
  const Recovered r = recover_address(digest, sig);
  ASSERT_TRUE(r.address);
  EXPECT_EQ(*r.address, key.address());
}

TEST(Secp256k1, RefusesTheHighSTwin) {
  const PrivateKey key = anvil_key();
  const Hash32 digest = keccak256(std::string_view("malleable"));
  const Bytes twin = high_s_twin(key.sign(digest));
  RecoverError why = RecoverError::Invalid;
  EXPECT_FALSE(parse_signature(twin, &why));
  EXPECT_EQ(why, RecoverError::HighS);
  const Recovered r = recover_address(digest, twin);
  EXPECT_FALSE(r.address);
  EXPECT_EQ(r.error, RecoverError::HighS);
}

TEST(Secp256k1, ParseSignatureRejections) {
  const Bytes good = anvil_key().sign(keccak256(std::string_view("x"))).to_bytes();
  RecoverError why = RecoverError::Invalid;
  ASSERT_TRUE(parse_signature(good, &why));

  EXPECT_FALSE(parse_signature(Bytes(good.begin(), good.end() - 1), &why));
  EXPECT_EQ(why, RecoverError::BadLength);
  Bytes longer = good;
  longer.push_back(0);
  EXPECT_FALSE(parse_signature(longer, &why));
  EXPECT_EQ(why, RecoverError::BadLength);

  for (uint8_t v : {2, 26, 29, 35, 255}) {
    Bytes bad = good;
    bad[64] = v;
    EXPECT_FALSE(parse_signature(bad, &why)) << int(v);
    EXPECT_EQ(why, RecoverError::BadV);
  }

  Bytes zero_r = good;
  std::fill(zero_r.begin(), zero_r.begin() + 32, 0);
  EXPECT_FALSE(parse_signature(zero_r, &why));
  EXPECT_EQ(why, RecoverError::Invalid);
  Bytes zero_s = good;
  std::fill(zero_s.begin() + 32, zero_s.begin() + 64, 0);
  EXPECT_FALSE(parse_signature(zero_s, &why));
  EXPECT_EQ(why, RecoverError::Invalid);
  Bytes r_is_n = good;
  const Bytes n = *from_hex(kCurveOrder);
  std::copy(n.begin(), n.end(), r_is_n.begin());
  EXPECT_FALSE(parse_signature(r_is_n, &why));
  EXPECT_EQ(why, RecoverError::Invalid);

  // A null `why` is allowed.
  EXPECT_FALSE(parse_signature(zero_s, nullptr));
}

TEST(Secp256k1, ViemTypedDataSignatureRecoversToTheSigner) {
  for (const auto& p : test::golden().at("eip712").as_array()) {
    const Recovered r =
        recover_address(test::hash(p.at("digest")), test::hex_bytes(p.at("signature")));
    ASSERT_TRUE(r.address) << to_string(r.error);
    EXPECT_EQ(checksum_address(*r.address), test::str(p.at("signer")));
    // Our own signer, being RFC 6979 too, reproduces viem's signature byte for byte.
    EXPECT_EQ(to_hex(anvil_key().sign(test::hash(p.at("digest"))).to_bytes()),
              test::str(p.at("signature")));
  }
}

TEST(Secp256k1, SharedContextWorksAcrossThreads) {
  const PrivateKey key = anvil_key();
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const Hash32 digest = keccak256("thread " + std::to_string(t) + " " + std::to_string(i));
        const Recovered r = recover_address(digest, key.sign(digest).to_bytes());
        if (r.address == std::optional<Address>(key.address())) ++ok[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int n : ok) EXPECT_EQ(n, 50);
}

TEST(Secp256k1, AddressFromPublicKeyNeedsAnUncompressedPoint) {
  EXPECT_EQ(address_from_public_key(Bytes(33, 0x02)), Address{});
  EXPECT_EQ(address_from_public_key(Bytes(65, 0x03)), Address{});
}

}  // namespace
}  // namespace x402::eth
