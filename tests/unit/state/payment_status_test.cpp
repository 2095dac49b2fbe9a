#include <gtest/gtest.h>

#include "state/store.hpp"

namespace x402 {
namespace {

TEST(PaymentStatus, EveryStatusRoundTripsThroughItsName) {
  const PaymentStatus all[] = {PaymentStatus::Pending,  PaymentStatus::Verified,
                               PaymentStatus::Settling, PaymentStatus::Settled,
                               PaymentStatus::Unknown,  PaymentStatus::Failed,
                               PaymentStatus::Refunded};
  for (PaymentStatus s : all) {
    auto parsed = parse_payment_status(to_string(s));
    ASSERT_TRUE(parsed.has_value()) << to_string(s);
    EXPECT_EQ(*parsed, s);
  }
}

TEST(PaymentStatus, NamesAreTheUpperCaseDatabaseSpellings) {
  EXPECT_EQ(to_string(PaymentStatus::Pending), "PENDING");
  EXPECT_EQ(to_string(PaymentStatus::Settling), "SETTLING");
  EXPECT_EQ(to_string(PaymentStatus::Refunded), "REFUNDED");
}

TEST(PaymentStatus, UnknownSpellingsDoNotParse) {
  EXPECT_FALSE(parse_payment_status("pending").has_value());
  EXPECT_FALSE(parse_payment_status("").has_value());
  EXPECT_FALSE(parse_payment_status("RELEASED").has_value());
}

}  // namespace
}  // namespace x402
