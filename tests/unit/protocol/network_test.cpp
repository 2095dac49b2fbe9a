#include "protocol/network.hpp"

#include <gtest/gtest.h>

namespace x402 {
namespace {

TEST(NetworkTable, BuiltinMapsV1NamesToChainIds) {
  const auto t = NetworkTable::builtin();
  const std::pair<const char*, uint64_t> expected[] = {{"base", 8453},
                                                       {"base-sepolia", 84532},
                                                       {"avalanche", 43114},
                                                       {"avalanche-fuji", 43113},
                                                       {"polygon", 137},
                                                       {"polygon-amoy", 80002},
                                                       {"sei", 1329},
                                                       {"sei-testnet", 1328},
                                                       {"iotex", 4689},
                                                       {"peaq", 3338},
                                                       {"story", 1514},
                                                       {"educhain", 41923},
                                                       {"abstract", 2741},
                                                       {"abstract-testnet", 11124},
                                                       {"skale-base-sepolia", 324705682},
                                                       {"ethereum", 1},
                                                       {"sepolia", 11155111}};
  for (const auto& [name, id] : expected) {
    auto n = t.resolve(name);
    ASSERT_TRUE(n.ok()) << name;
    EXPECT_EQ(n->chain_id, id) << name;
    EXPECT_EQ(n->name, name);
    EXPECT_EQ(t.by_chain_id(id)->name, name);
  }
}

TEST(NetworkTable, ResolvesCaip2ToTheNamedEntryWhenThereIsOne) {
  const auto t = NetworkTable::builtin();
  auto n = t.resolve("eip155:84532");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, (Network{"base-sepolia", 84532}));
  EXPECT_EQ(n->caip2(), "eip155:84532");
  EXPECT_EQ(n->v1_name(), "base-sepolia");
}

TEST(NetworkTable, ResolvesAnyEip155ChainWithoutAName) {
  auto n = NetworkTable::builtin().resolve("eip155:31337");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->chain_id, 31337u);
  EXPECT_TRUE(n->name.empty());
  EXPECT_EQ(n->v1_name(), "eip155:31337");
  EXPECT_TRUE(NetworkTable::builtin().resolve("eip155:18446744073709551615").ok());
}

TEST(NetworkTable, RejectsMalformedAndUnknownIdentifiers) {
  const auto t = NetworkTable::builtin();
  for (const char* bad :
       {"eip155:", "eip155:01", "eip155:0", "eip155:abc", "eip155:-1", "eip155:+1", "eip155:1.0",
        "eip155:18446744073709551616", "EIP155:1", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
        "Base", "base ", "", "mainnet"}) {
    auto r = t.resolve(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, "unknown_network") << bad;
    EXPECT_EQ(r.error().field, "network");
  }
}

TEST(NetworkTable, UnknownNameMessageSaysHowToFixIt) {
  auto r = NetworkTable::builtin().resolve("my-devnet");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("networks:"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("eip155:"), std::string::npos) << r.error().message;
  auto solana = NetworkTable::builtin().resolve("solana:mainnet");
  EXPECT_NE(solana.error().message.find("EVM"), std::string::npos) << solana.error().message;
}

TEST(NetworkTable, AddNamesANewChainBothWays) {
  auto t = NetworkTable::builtin();
  ASSERT_TRUE(t.add("my-devnet", 31337).ok());
  EXPECT_EQ(t.resolve("my-devnet")->chain_id, 31337u);
  EXPECT_EQ(t.resolve("eip155:31337")->name, "my-devnet");
  EXPECT_EQ(t.by_chain_id(31337)->name, "my-devnet");
}

TEST(NetworkTable, AddCanRepointANameButNotGiveAChainTwoNames) {
  auto t = NetworkTable::builtin();
  EXPECT_TRUE(t.add("base-sepolia", 84532).ok());  // same mapping: no-op
  ASSERT_TRUE(t.add("base-sepolia", 31337).ok());  // operators point it at a devnet
  EXPECT_EQ(t.resolve("base-sepolia")->chain_id, 31337u);
  EXPECT_FALSE(t.by_chain_id(84532).has_value());

  auto conflict = t.add("base-alias", 8453);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code, "network_conflict");
  EXPECT_NE(conflict.error().message.find("\"base\""), std::string::npos);
}

TEST(NetworkTable, AddRejectsBadNamesAndChainZero) {
  auto t = NetworkTable::builtin();
  EXPECT_FALSE(t.add("", 5).ok());
  EXPECT_FALSE(t.add("eip155:5", 5).ok());
  EXPECT_FALSE(t.add("Has Space", 5).ok());
  EXPECT_FALSE(t.add("zero", 0).ok());
  EXPECT_FALSE(t.resolve("zero").ok());
}

}  // namespace
}  // namespace x402
