#include "config.hpp"

#include <gtest/gtest.h>

#include <map>

#include "payments.hpp"

namespace x402::plugins::selfhosted {
namespace {

using test::selfhosted::kRelayerKey;

std::string error_of(const std::string& json, std::map<std::string, std::string> env = {},
                     std::map<std::string, std::string> files = {}) {
  try {
    parse_config(
        json,
        [&](const char* n) -> const char* {
          auto it = env.find(n);
          return it == env.end() ? nullptr : it->second.c_str();
        },
        [&](const std::string& p) -> std::optional<std::string> {
          auto it = files.find(p);
          if (it == files.end()) return std::nullopt;
          return it->second;
        });
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

SelfhostedConfig parse(const std::string& json, std::map<std::string, std::string> env = {},
                       std::map<std::string, std::string> files = {}) {
  return parse_config(
      json,
      [&](const char* n) -> const char* {
        auto it = env.find(n);
        return it == env.end() ? nullptr : it->second.c_str();
      },
      [&](const std::string& p) -> std::optional<std::string> {
        auto it = files.find(p);
        if (it == files.end()) return std::nullopt;
        return it->second;
      });
}

TEST(SelfhostedConfig, DefaultsAndInlineKey) {
  auto c = parse(std::string(R"({"rpc_url":"http://127.0.0.1:8545","relayer_keys":[")") +
                 kRelayerKey + "\"]}");
  EXPECT_EQ(c.rpc_url, "http://127.0.0.1:8545");
  ASSERT_EQ(c.relayer_keys.size(), 1u);
  EXPECT_EQ(c.relayer_keys[0].address(), eth::PrivateKey::from_hex(kRelayerKey)->address());
  EXPECT_EQ(c.gas.limit, 150000u);
  EXPECT_EQ(c.confirmations, 1u);
  EXPECT_EQ(c.receipt_poll_ms, 200u);
  EXPECT_FALSE(c.chain_id.has_value());
  EXPECT_FALSE(c.gas.max_fee_per_gas_wei.has_value());
}

TEST(SelfhostedConfig, KeysFromEnvironmentAndFile) {
  auto c = parse(R"({"rpc_url":"https://rpc.example","chain_id":84532,
                     "relayer_keys":["env:RELAYER_A","file:/run/secrets/b"]})",
                 {{"RELAYER_A", kRelayerKey}},
                 {{"/run/secrets/b", std::string(test::selfhosted::kRelayerKey2) + "\n"}});
  ASSERT_EQ(c.relayer_keys.size(), 2u);
  EXPECT_EQ(c.relayer_keys[1].address(),
            eth::PrivateKey::from_hex(test::selfhosted::kRelayerKey2)->address());
  EXPECT_EQ(c.chain_id, 84532u);
}

TEST(SelfhostedConfig, ErrorsNameTheKey) {
  EXPECT_EQ(error_of(R"({"relayer_keys":["0x01"]})").rfind("config.rpc_url:", 0), 0u);
  EXPECT_EQ(error_of(R"({"rpc_url":"ftp://x","relayer_keys":[]})").rfind("config.rpc_url:", 0), 0u);
  EXPECT_EQ(error_of(R"({"rpc_url":"http://x"})").rfind("config.relayer_keys:", 0), 0u);
  EXPECT_EQ(error_of(R"({"rpc_url":"http://x","relayer_keys":["env:NOPE"]})"),
            "config.relayer_keys[0]: environment variable NOPE is not set");
  EXPECT_EQ(error_of(R"({"rpc_url":"http://x","relayer_keys":["file:/missing"]})"),
            "config.relayer_keys[0]: cannot read /missing");
  EXPECT_EQ(error_of(std::string(R"({"rpc_url":"http://x","relayer_keys":[")") + kRelayerKey +
                     R"("],"gas":{"limit":1}})")
                .rfind("config.gas.limit:", 0),
            0u);
  EXPECT_EQ(error_of(std::string(R"({"rpc_url":"http://x","relayer_keys":[")") + kRelayerKey +
                     R"("],"gas":{"max_fee":1}})")
                .rfind("config.gas.max_fee:", 0),
            0u);
  EXPECT_EQ(error_of(std::string(R"({"rpc_url":"http://x","relayer_keys":[")") + kRelayerKey +
                     R"("],"assets":["0x12"]})"),
            "config.assets[0]: must be a 0x-prefixed address");
  EXPECT_EQ(error_of(std::string(R"({"rpc_url":"http://x","relayer_keys":[")") + kRelayerKey +
                     R"("],"colour":"red"})"),
            "config.colour: unknown key");
  EXPECT_EQ(error_of(std::string(R"({"rpc_url":"http://x","relayer_keys":[")") + kRelayerKey +
                     "\",\"" + kRelayerKey + "\"]}"),
            "config.relayer_keys[1]: duplicate relayer key");
}

TEST(SelfhostedConfig, RelayerLeaseTimingsHaveDefaultsAndMustLeaveTimeToRenew) {
  const std::string base =
      std::string(R"({"rpc_url":"http://x","relayer_keys":[")") + kRelayerKey + "\"]";
  auto c = parse(base + "}");
  EXPECT_EQ(c.lease_ttl_ms, 10000u);
  EXPECT_EQ(c.lease_renew_ms, 2000u);
  EXPECT_EQ(c.lease_clock_margin_ms, 3000u);
  c = parse(base + R"(,"lease_ttl_ms":30000,"lease_renew_ms":5000,"lease_clock_margin_ms":10000})");
  EXPECT_EQ(c.lease_ttl_ms, 30000u);
  EXPECT_EQ(c.lease_renew_ms, 5000u);
  EXPECT_EQ(c.lease_clock_margin_ms, 10000u);
  EXPECT_EQ(error_of(base + R"(,"lease_ttl_ms":5000,"lease_clock_margin_ms":5000})"),
            "config.lease_clock_margin_ms: must be less than lease_ttl_ms");
  EXPECT_EQ(error_of(base + R"(,"lease_ttl_ms":10000,"lease_renew_ms":7000})"),
            "config.lease_renew_ms: must be less than lease_ttl_ms - lease_clock_margin_ms");
  EXPECT_EQ(error_of(base + R"(,"lease_ttl_ms":10})").rfind("config.lease_ttl_ms:", 0), 0u);
}

TEST(SelfhostedConfig, AMalformedKeyIsNeverEchoed) {
  const std::string secret = "0xdeadbeefdeadbeefdeadbeefdeadbeef";
  std::string e = error_of(R"({"rpc_url":"http://x","relayer_keys":[")" + secret + "\"]}");
  EXPECT_EQ(e.rfind("config.relayer_keys[0]:", 0), 0u);
  EXPECT_EQ(e.find("deadbeef"), std::string::npos);
  std::string e2 = error_of(R"({"rpc_url":"http://x","relayer_keys":["env:K"]})", {{"K", secret}});
  EXPECT_EQ(e2.find("deadbeef"), std::string::npos);
}

TEST(SelfhostedConfig, GasInGweiIsExact) {
  EXPECT_EQ(gwei_to_wei("1"), 1'000'000'000u);
  EXPECT_EQ(gwei_to_wei("1.5"), 1'500'000'000u);
  EXPECT_EQ(gwei_to_wei("0.000000001"), 1u);
  EXPECT_EQ(gwei_to_wei("0010"), 10'000'000'000u);  // leading zeros are decimal
  EXPECT_FALSE(gwei_to_wei("0.0000000001"));        // finer than a wei: refused, not rounded
  EXPECT_FALSE(gwei_to_wei("1e3"));
  EXPECT_FALSE(gwei_to_wei("-1"));
  EXPECT_FALSE(gwei_to_wei("1."));
  EXPECT_FALSE(gwei_to_wei(""));
  auto c = parse(std::string(R"({"rpc_url":"http://x","relayer_keys":[")") + kRelayerKey +
                 R"("],"gas":{"max_fee_per_gas_gwei":"2.5","priority_fee_gwei":1}})");
  EXPECT_EQ(c.gas.max_fee_per_gas_wei, 2'500'000'000u);
  EXPECT_EQ(c.gas.priority_fee_wei, 1'000'000'000u);
  EXPECT_EQ(error_of(std::string(R"({"rpc_url":"http://x","relayer_keys":[")") + kRelayerKey +
                     R"("],"gas":{"max_fee_per_gas_gwei":1,"priority_fee_gwei":2}})")
                .rfind("config.gas.priority_fee_gwei:", 0),
            0u);
}

}  // namespace
}  // namespace x402::plugins::selfhosted
