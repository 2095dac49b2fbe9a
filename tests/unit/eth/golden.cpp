// Boost.JSON compiled into this test binary (header-only mode), so unit_eth links nothing beyond
// x402_eth and GoogleTest.
#include "golden.hpp"

#include <gtest/gtest.h>

#include <boost/json/src.hpp>
#include <fstream>
#include <sstream>

namespace x402::eth::test {

const boost::json::object& golden() {
  static const boost::json::object vectors = [] {
    std::ifstream in(X402_SOURCE_DIR "/tests/unit/eth/golden/vectors.json");
    std::stringstream text;
    text << in.rdbuf();
    boost::json::error_code ec;
    boost::json::value v = boost::json::parse(text.str(), ec);
    if (ec || !v.is_object()) {
      ADD_FAILURE() << "cannot read golden/vectors.json: " << ec.message();
      return boost::json::object{};
    }
    return v.as_object();
  }();
  return vectors;
}

std::string str(const boost::json::value& v) {
  if (!v.is_string()) {
    ADD_FAILURE() << "expected a string, got " << boost::json::serialize(v);
    return {};
  }
  return std::string(v.as_string());
}

Bytes hex_bytes(const boost::json::value& v) {
  auto bytes = from_hex(str(v));
  EXPECT_TRUE(bytes.has_value()) << boost::json::serialize(v);
  return bytes.value_or(Bytes{});
}

Hash32 hash(const boost::json::value& v) {
  auto h = parse_hash32(str(v));
  EXPECT_TRUE(h.has_value()) << boost::json::serialize(v);
  return h.value_or(Hash32{});
}

Address address(const boost::json::value& v) {
  auto a = parse_address(str(v));
  EXPECT_TRUE(a.has_value()) << boost::json::serialize(v);
  return a.value_or(Address{});
}

U256 decimal(const boost::json::value& v) {
  auto n = U256::from_decimal(str(v));
  EXPECT_TRUE(n.has_value()) << boost::json::serialize(v);
  return n.value_or(U256{});
}

}  // namespace x402::eth::test
