#pragma once
// Builds signed EIP-3009 facilitator requests (v1 and v2) for the tests.
#include <boost/json.hpp>
#include <string>
#include <x402/eth/eip712.hpp>
#include <x402/eth/secp256k1.hpp>

namespace x402::test::selfhosted {

// anvil's public test keys: worthless anywhere.
inline constexpr const char* kPayerKey =
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
inline constexpr const char* kOtherPayerKey =
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
inline constexpr const char* kRelayerKey =
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
inline constexpr const char* kRelayerKey2 =
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6";
inline constexpr const char* kToken = "0x036cbd53842c5426634e7929541ec2318f3dcf7e";
inline constexpr const char* kMerchant = "0x209693bc6afc0c5328ba36faf03c514ef312287c";
inline constexpr uint64_t kNow = 1'700'000'000;  // TestHost's clock, in seconds

struct PaymentSpec {
  std::string payer_key = kPayerKey;
  std::string to = kMerchant;
  std::string value = "10000";
  std::string amount = "10000";  // what the requirements ask
  uint64_t valid_after = kNow - 600;
  uint64_t valid_before = kNow + 60;
  uint8_t nonce_byte = 1;
  std::string domain_name = "USDC";
  std::string requirements_name = "USDC";
  uint64_t chain_id = 84532;
  uint32_t version = 2;
  std::string network = "eip155:84532";
  std::string scheme = "exact";
  std::string asset = kToken;
  bool high_s = false;
  bool drop_extra = false;
};

inline eth::Hash32 nonce_of(uint8_t b) {
  eth::Hash32 n{};
  n.fill(b);
  return n;
}

inline std::string signed_request(const PaymentSpec& s) {
  namespace json = boost::json;
  auto key = *eth::PrivateKey::from_hex(s.payer_key);
  eth::TransferAuthorization a;
  a.from = key.address();
  a.to = *eth::parse_address(s.to);
  a.value = *eth::U256::from_decimal(s.value);
  a.valid_after = eth::U256::from_u64(s.valid_after);
  a.valid_before = eth::U256::from_u64(s.valid_before);
  a.nonce = nonce_of(s.nonce_byte);
  eth::Eip712Domain d{s.domain_name, "2", s.chain_id, *eth::parse_address(s.asset)};
  eth::Signature sig = key.sign(eth::transfer_with_authorization_digest(d, a));
  eth::Bytes sig_bytes = sig.to_bytes();
  if (s.high_s) {
    // s' = n - s, v flipped: the same signer, a second valid-looking encoding (EIP-2 forbids it).
    static const uint8_t n[32] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                  0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48,
                                  0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41};
    int borrow = 0;
    for (int i = 31; i >= 0; --i) {
      int v = n[i] - sig_bytes[32 + i] - borrow;
      borrow = v < 0;
      sig_bytes[32 + i] = static_cast<uint8_t>(v + (borrow ? 256 : 0));
    }
    sig_bytes[64] = sig_bytes[64] == 27 ? 28 : 27;
  }
  json::object authorization{{"from", eth::checksum_address(a.from)},
                             {"to", s.to},
                             {"value", s.value},
                             {"validAfter", std::to_string(s.valid_after)},
                             {"validBefore", std::to_string(s.valid_before)},
                             {"nonce", eth::to_hex(a.nonce)}};
  json::object requirements{{"scheme", s.scheme},
                            {"network", s.network},
                            {"asset", s.asset},
                            {"payTo", kMerchant},
                            {"maxTimeoutSeconds", 60}};
  requirements[s.version == 1 ? "maxAmountRequired" : "amount"] = s.amount;
  if (s.version == 1) {
    requirements["resource"] = "https://gw.example/r";
    requirements["description"] = "";
    requirements["mimeType"] = "application/json";
  }
  if (!s.drop_extra)
    requirements["extra"] = json::object{{"name", s.requirements_name}, {"version", "2"}};
  json::object payload{{"x402Version", s.version},
                       {"payload", json::object{{"signature", eth::to_hex(sig_bytes)},
                                                {"authorization", authorization}}}};
  if (s.version == 1) {
    payload["scheme"] = s.scheme;
    payload["network"] = s.network;
  } else {
    payload["accepted"] = requirements;
  }
  return json::serialize(json::object{{"x402Version", s.version},
                                      {"paymentPayload", payload},
                                      {"paymentRequirements", requirements}});
}

}  // namespace x402::test::selfhosted
