#include "config/route_matcher.hpp"

#include <gtest/gtest.h>

namespace x402 {
namespace {

PathPattern compile(std::string_view text) {
  Result<PathPattern> pattern = PathPattern::compile(text);
  EXPECT_TRUE(pattern.ok()) << text << ": " << (pattern.ok() ? "" : pattern.error().message);
  return pattern.ok() ? pattern.value() : PathPattern();
}

TEST(PathPattern, ExactMatchIsWholePathAndCaseSensitive) {
  const PathPattern p = compile("/api/signal");
  EXPECT_TRUE(p.matches("/api/signal"));
  EXPECT_FALSE(p.matches("/api/signal/"));
  EXPECT_FALSE(p.matches("/api/signals"));
  EXPECT_FALSE(p.matches("/api"));
  EXPECT_FALSE(p.matches("/API/signal"));
  EXPECT_FALSE(p.matches("/api/signal/x"));
  EXPECT_FALSE(p.matches("api/signal"));
}

TEST(PathPattern, RootMatchesOnlyRoot) {
  const PathPattern p = compile("/");
  EXPECT_TRUE(p.matches("/"));
  EXPECT_TRUE(p.matches(""));  // "/acme" with nothing below the merchant
  EXPECT_FALSE(p.matches("/a"));
}

TEST(PathPattern, StarAndNamedParamMatchOneNonEmptySegment) {
  for (std::string_view text : {"/users/*/orders", "/users/{user_id}/orders"}) {
    const PathPattern p = compile(text);
    EXPECT_TRUE(p.matches("/users/42/orders")) << text;
    EXPECT_TRUE(p.matches("/users/a.b-c/orders")) << text;
    EXPECT_FALSE(p.matches("/users//orders")) << text;
    EXPECT_FALSE(p.matches("/users/1/2/orders")) << text;
    EXPECT_FALSE(p.matches("/users/orders")) << text;
  }
}

TEST(PathPattern, DoubleStarMatchesAnyRemainderIncludingNone) {
  const PathPattern p = compile("/public/**");
  EXPECT_TRUE(p.matches("/public"));
  EXPECT_TRUE(p.matches("/public/"));
  EXPECT_TRUE(p.matches("/public/a"));
  EXPECT_TRUE(p.matches("/public/a/b/c.txt"));
  EXPECT_FALSE(p.matches("/publicity"));
  EXPECT_FALSE(p.matches("/"));

  const PathPattern all = compile("/**");
  EXPECT_TRUE(all.matches("/"));
  EXPECT_TRUE(all.matches("/anything/at/all"));
}

TEST(PathPattern, DotSegmentsNeverMatch) {
  const PathPattern all = compile("/**");
  EXPECT_FALSE(all.matches("/public/../admin"));
  EXPECT_FALSE(all.matches("/public/./x"));
  EXPECT_FALSE(all.matches("/.."));
  EXPECT_FALSE(all.matches("/a/%2e%2E/b"));
  EXPECT_FALSE(all.matches("/a/.%2e"));
  EXPECT_TRUE(all.matches("/a/...b/.hidden/..c"));  // dots inside a name are fine
  EXPECT_FALSE(compile("/*/x").matches("/../x"));
  EXPECT_TRUE(has_dot_segment("/a/.."));
  EXPECT_FALSE(has_dot_segment("/a/b.c"));
}

TEST(PathPattern, InvalidPatternsAreRejected) {
  for (std::string_view bad : {"", "api", "/api/", "/a//b", "/**/x", "/a/**/**", "/a*", "/{}",
                               "/{1x}", "/x{id}", "/a/../b", "/a?x=1", "/a#f"}) {
    const Result<PathPattern> p = PathPattern::compile(bad);
    EXPECT_FALSE(p.ok()) << "accepted: '" << bad << "'";
    if (!p.ok()) {
      EXPECT_EQ(p.error().code, "invalid_config");
    }
  }
}

RouteConfig route(std::string path, std::vector<std::string> methods = {}) {
  RouteConfig r;
  r.path = path;
  r.pattern = std::make_shared<const PathPattern>(compile(path));
  r.methods = std::move(methods);
  return r;
}

TEST(MatchRoute, FirstMatchWinsAndMethodsFilter) {
  MerchantConfig m;
  m.routes.push_back(route("/api/signal", {"POST"}));
  m.routes.push_back(route("/api/*"));
  m.routes.push_back(route("/api/signal"));  // shadowed by /api/* for every method
  m.routes.push_back(route("/**", {"GET", "HEAD"}));

  EXPECT_EQ(match_route(m, "POST", "/api/signal"), &m.routes[0]);
  EXPECT_EQ(match_route(m, "GET", "/api/signal"), &m.routes[1]);
  EXPECT_EQ(match_route(m, "DELETE", "/api/other"), &m.routes[1]);
  EXPECT_EQ(match_route(m, "GET", "/docs/index.html"), &m.routes[3]);
  EXPECT_EQ(match_route(m, "POST", "/docs/index.html"), nullptr);
  EXPECT_EQ(match_route(m, "get", "/docs"), nullptr);  // methods are case-sensitive on the wire
  EXPECT_EQ(match_route(m, "GET", "/api/../secret"), nullptr);
}

TEST(MatchRoute, NoRoutesMatchesNothing) {
  MerchantConfig m;
  EXPECT_EQ(match_route(m, "GET", "/"), nullptr);
}

}  // namespace
}  // namespace x402
