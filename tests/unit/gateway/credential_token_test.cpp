// The signed access credential of time passes and packages: round trip, and every way a token
// can be wrong is refused with its own code.
#include "gateway/credential_token.hpp"

#include <gtest/gtest.h>

#include "protocol/base64.hpp"

namespace x402 {
namespace {

constexpr std::string_view kSecret = "unit-test-secret-0123456789abcdef0123";

CredentialClaims sample(int64_t exp = 2'000'000'000) {
  return {1, "cred-1", "acme", "0xabc", "/api/**", "time_pass", exp, "3"};
}

TEST(CredentialToken, RoundTripsItsClaims) {
  const auto token = sign_credential(sample(), kSecret);
  EXPECT_EQ(token.find('='), std::string::npos);  // base64url without padding
  EXPECT_EQ(token.find('+'), std::string::npos);
  auto claims = verify_credential(token, kSecret, 1'000'000'000);
  ASSERT_TRUE(claims.ok()) << claims.error().message;
  EXPECT_EQ(*claims, sample());
}

TEST(CredentialToken, AnotherSecretIsAForgery) {
  const auto token = sign_credential(sample(), "some-other-secret-0123456789abcdef");
  auto claims = verify_credential(token, kSecret, 0);
  ASSERT_FALSE(claims.ok());
  EXPECT_EQ(claims.error().code, "credential_forged");
}

TEST(CredentialToken, ChangedClaimsUnderTheOldSignatureAreAForgery) {
  const auto token = sign_credential(sample(), kSecret);
  const auto signature = token.substr(token.find('.'));
  auto widened = sample();
  widened.scope = "*";
  const auto other = sign_credential(widened, kSecret);
  const auto spliced = other.substr(0, other.find('.')) + signature;
  auto claims = verify_credential(spliced, kSecret, 0);
  ASSERT_FALSE(claims.ok());
  EXPECT_EQ(claims.error().code, "credential_forged");
}

TEST(CredentialToken, ExpiryIsChecked) {
  const auto token = sign_credential(sample(1000), kSecret);
  EXPECT_TRUE(verify_credential(token, kSecret, 999).ok());
  auto expired = verify_credential(token, kSecret, 1000);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().code, "credential_expired");
}

TEST(CredentialToken, MalformedTokensAreRefused) {
  for (const std::string& bad :
       std::vector<std::string>{"", "nodot", ".sig", "a.b.c", std::string(3000, 'a') + ".x"}) {
    auto claims = verify_credential(bad, kSecret, 0);
    ASSERT_FALSE(claims.ok()) << bad;
    EXPECT_TRUE(claims.error().code == "credential_malformed" ||
                claims.error().code == "credential_forged")
        << bad << ": " << claims.error().code;
  }
}

TEST(CredentialToken, ScopeCoversTheRouteOrTheWholeMerchant) {
  auto claims = sample();
  EXPECT_TRUE(credential_covers(claims, "acme", "/api/**"));
  EXPECT_FALSE(credential_covers(claims, "acme", "/other/**"));
  EXPECT_FALSE(credential_covers(claims, "beta", "/api/**"));
  claims.scope = "*";
  EXPECT_TRUE(credential_covers(claims, "acme", "/other/**"));
  EXPECT_FALSE(credential_covers(claims, "beta", "/other/**"));
}

}  // namespace
}  // namespace x402
