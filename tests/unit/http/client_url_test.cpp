// parse_origin / parse_url: what config accepts as an upstream or facilitator URL.
#include <gtest/gtest.h>

#include "http/client.hpp"

namespace x402::http {
namespace {

TEST(ParseOrigin, HttpsDefaultsToPort443) {
  auto origin = parse_origin("https://api.example.com");
  ASSERT_TRUE(origin.ok()) << origin.error().message;
  EXPECT_TRUE(origin->tls);
  EXPECT_EQ(origin->host, "api.example.com");
  EXPECT_EQ(origin->port, 443);
  EXPECT_EQ(origin->base_path, "");
  EXPECT_EQ(origin->host_header(), "api.example.com");
  EXPECT_EQ(origin->key(), "https://api.example.com:443");
}

TEST(ParseOrigin, HttpDefaultsToPort80) {
  auto origin = parse_origin("http://10.0.0.5/");
  ASSERT_TRUE(origin.ok()) << origin.error().message;
  EXPECT_FALSE(origin->tls);
  EXPECT_EQ(origin->host, "10.0.0.5");
  EXPECT_EQ(origin->port, 80);
  EXPECT_EQ(origin->base_path, "");
  EXPECT_EQ(origin->key(), "http://10.0.0.5:80");
}

TEST(ParseOrigin, ExplicitPortAndBasePathWithoutTrailingSlash) {
  auto origin = parse_origin("http://Facilitator.Example:8080/x402/v1/");
  ASSERT_TRUE(origin.ok()) << origin.error().message;
  EXPECT_EQ(origin->host, "facilitator.example");
  EXPECT_EQ(origin->port, 8080);
  EXPECT_EQ(origin->base_path, "/x402/v1");
  EXPECT_EQ(origin->host_header(), "facilitator.example:8080");
  EXPECT_EQ(origin->key(), "http://facilitator.example:8080");
}

TEST(ParseOrigin, DefaultPortWrittenExplicitlyIsLeftOutOfHostHeader) {
  auto origin = parse_origin("https://a.example:443");
  ASSERT_TRUE(origin.ok());
  EXPECT_EQ(origin->host_header(), "a.example");
}

TEST(ParseOrigin, Ipv6LiteralKeepsBracketsOnlyInHeaders) {
  auto origin = parse_origin("https://[::1]:8443/api");
  ASSERT_TRUE(origin.ok()) << origin.error().message;
  EXPECT_EQ(origin->host, "::1");
  EXPECT_EQ(origin->port, 8443);
  EXPECT_EQ(origin->host_header(), "[::1]:8443");
  EXPECT_EQ(origin->key(), "https://[::1]:8443");
}

TEST(ParseOrigin, SchemeSelectsThePoolKey) {
  auto plain = parse_origin("http://a.example:8000");
  auto tls = parse_origin("https://a.example:8000");
  ASSERT_TRUE(plain.ok() && tls.ok());
  EXPECT_NE(plain->key(), tls->key());
}

TEST(ParseOrigin, RejectsWhatIsNotAnHttpOrigin) {
  for (const char* url : {
           "ftp://a.example",             // scheme
           "a.example",                   // no scheme
           "https://user:pw@a.example",   // userinfo
           "https://a.example/#frag",     // fragment
           "https://a.example/path?q=1",  // query
           "https://",                    // empty host
           "https:///path",               // empty host
           "https://a.example:0",         // port 0
           "https://a.example:70000",     // port out of range
           "https://a.example:12ab",      // port not a number
           "https://a example",           // not a URL
           "",
       }) {
    auto origin = parse_origin(url);
    EXPECT_FALSE(origin.ok()) << url;
    if (!origin.ok()) {
      EXPECT_EQ(origin.error().code, "invalid_url") << url;
    }
  }
}

TEST(ParseUrl, SplitsOriginAndTargetWithQuery) {
  auto parsed = parse_url("https://rpc.example:8545/v1/verify?x=1&y=%20");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const auto& [origin, target] = parsed.value();
  EXPECT_TRUE(origin.tls);
  EXPECT_EQ(origin.host, "rpc.example");
  EXPECT_EQ(origin.port, 8545);
  EXPECT_EQ(origin.base_path, "");
  EXPECT_EQ(target, "/v1/verify?x=1&y=%20");
}

TEST(ParseUrl, EmptyPathBecomesSlash) {
  auto bare = parse_url("http://a.example");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->second, "/");
  auto query_only = parse_url("http://a.example?x=1");
  ASSERT_TRUE(query_only.ok());
  EXPECT_EQ(query_only->second, "/?x=1");
}

TEST(ParseUrl, RejectsUserinfoFragmentAndOtherSchemes) {
  for (const char* url : {"https://u@a.example/x", "https://a.example/x#f", "ws://a.example/x"}) {
    auto parsed = parse_url(url);
    EXPECT_FALSE(parsed.ok()) << url;
  }
}

}  // namespace
}  // namespace x402::http
