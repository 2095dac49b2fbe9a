// `books.platform_fee_bps` and its per-merchant override: defaults, the override, and errors
// naming the field.
#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"

namespace x402 {
namespace {

std::string yaml_with(const std::string& books, const std::string& merchant_extra) {
  return books +
         "merchants:\n"
         "  - id: acme\n"
         "    upstream: \"http://127.0.0.1:9000\"\n"
         "    pay_to: \"0x209693Bc6afc0C5328bA36FaF03C514EF312287C\"\n" +
         merchant_extra +
         "    routes:\n"
         "      - { path: /public/**, free: true }\n"
         "  - id: beta\n"
         "    upstream: \"http://127.0.0.1:9000\"\n"
         "    pay_to: \"0x209693Bc6afc0C5328bA36FaF03C514EF312287C\"\n"
         "    routes:\n"
         "      - { path: /public/**, free: true }\n";
}

TEST(BooksConfig, DefaultsToNoFee) {
  auto config = load_config_from_string(yaml_with("", ""), "gw.yaml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ((*config)->books.platform_fee_bps, 0u);
  EXPECT_EQ((*config)->platform_fee_bps(*(*config)->find_merchant("acme")), 0u);
}

TEST(BooksConfig, MerchantOverrideWinsOverThePlatformRate) {
  auto config = load_config_from_string(
      yaml_with("books: { platform_fee_bps: 250 }\n", "    platform_fee_bps: 0\n"), "gw.yaml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ((*config)->books.platform_fee_bps, 250u);
  EXPECT_EQ((*config)->platform_fee_bps(*(*config)->find_merchant("acme")), 0u);
  EXPECT_EQ((*config)->platform_fee_bps(*(*config)->find_merchant("beta")), 250u);

  auto all =
      load_config_from_string(yaml_with("books: { platform_fee_bps: 10000 }\n", ""), "gw.yaml");
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ((*all)->books.platform_fee_bps, 10000u);
}

TEST(BooksConfig, ErrorsNameTheField) {
  struct Case {
    std::string books;
    std::string merchant;
    std::string field;
  };
  for (const Case& c : {
           Case{"books: { platform_fee_bps: 10001 }\n", "", "books.platform_fee_bps"},
           Case{"books: { platform_fee_bps: -1 }\n", "", "books.platform_fee_bps"},
           Case{"books: { platform_fee_bps: 2.5 }\n", "", "books.platform_fee_bps"},
           Case{"books: { fee: 1 }\n", "", "books.fee"},
           Case{"", "    platform_fee_bps: 20000\n", "merchants[0].platform_fee_bps"},
           Case{"", "    platform_fee_bps: lots\n", "merchants[0].platform_fee_bps"},
       }) {
    auto config = load_config_from_string(yaml_with(c.books, c.merchant), "gw.yaml");
    ASSERT_FALSE(config) << c.books << c.merchant;
    EXPECT_EQ(config.error().field, c.field) << config.error().message;
  }
}

}  // namespace
}  // namespace x402
