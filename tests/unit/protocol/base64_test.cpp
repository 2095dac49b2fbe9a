#include "protocol/base64.hpp"

#include <gtest/gtest.h>

#include "protocol/hex.hpp"

namespace x402 {
namespace {

TEST(Base64, EncodesRfc4648Vectors) {
  EXPECT_EQ(base64::encode(""), "");
  EXPECT_EQ(base64::encode("f"), "Zg==");
  EXPECT_EQ(base64::encode("fo"), "Zm8=");
  EXPECT_EQ(base64::encode("foo"), "Zm9v");
  EXPECT_EQ(base64::encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64::encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64::encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64::encode("\xfb\xff\xbf"), "+/+/");
}

TEST(Base64, DecodesPaddedUnpaddedAndUrlSafe) {
  EXPECT_EQ(*base64::decode("Zm9vYg=="), "foob");
  EXPECT_EQ(*base64::decode("Zm9vYg"), "foob");
  EXPECT_EQ(*base64::decode("Zm9vYmE="), "fooba");
  EXPECT_EQ(*base64::decode("Zm9vYmE"), "fooba");
  EXPECT_EQ(*base64::decode("Zm9vYmFy"), "foobar");
  EXPECT_EQ(*base64::decode("+/+/"), "\xfb\xff\xbf");
  EXPECT_EQ(*base64::decode("-_-_"), "\xfb\xff\xbf");
  EXPECT_EQ(*base64::decode(""), "");
}

TEST(Base64, RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t len = 0; len <= all.size(); len += 37) {
    const std::string bytes = all.substr(0, len);
    auto back = base64::decode(base64::encode(bytes));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, bytes);
  }
}

TEST(Base64, RejectsWhitespaceBadCharactersPaddingAndLengths) {
  for (const char* bad : {"Zm9v Yg==", " Zm9v", "Zm9v\n", "Zm9v\r\nYg==", "Zm9v*g==", "Zm9v.g==",
                          "Zm9vY===", "Zm9vYg=", "Zm9vYmE==", "Zm=9", "=Zm9", "Z", "Zm9vY",
                          "====", "Zm9vYh==",  // non-zero unused bits
                          "Zm9vYmF="}) {
    auto r = base64::decode(bad);
    ASSERT_FALSE(r.ok()) << "accepted \"" << bad << "\"";
    EXPECT_EQ(r.error().code, "invalid_base64");
  }
}

TEST(Hex, RecognisesAddressesAndHashes) {
  EXPECT_TRUE(is_address("0x209693Bc6afc0C5328bA36FaF03C514EF312287C"));
  EXPECT_FALSE(is_address("209693Bc6afc0C5328bA36FaF03C514EF312287C"));
  EXPECT_FALSE(is_address("0x209693Bc6afc0C5328bA36FaF03C514EF312287"));
  EXPECT_FALSE(is_address("0x209693Bc6afc0C5328bA36FaF03C514EF312287CC"));
  EXPECT_FALSE(is_address("0X209693Bc6afc0C5328bA36FaF03C514EF312287C"));
  EXPECT_FALSE(is_address("0x209693Bc6afc0C5328bA36FaF03C514EF312287G"));
  EXPECT_TRUE(is_hex32("0x" + std::string(64, 'F')));
  EXPECT_FALSE(is_hex32("0x" + std::string(62, 'f')));
  EXPECT_FALSE(is_hex32("0x" + std::string(66, 'f')));
}

TEST(Hex, LowercasesAndComparesIgnoringCase) {
  EXPECT_EQ(lowercase_hex("0xABCdef12"), "0xabcdef12");
  EXPECT_TRUE(same_hex("0xABCdef", "0xabcDEF"));
  EXPECT_FALSE(same_hex("0xabcdef", "0xabcdee"));
  EXPECT_FALSE(same_hex("0xabc", "0xabcd"));
}

}  // namespace
}  // namespace x402
