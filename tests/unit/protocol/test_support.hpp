#pragma once
// Shared helpers for the protocol tests: golden files and hand-built payment headers.
#include <boost/json.hpp>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "protocol/base64.hpp"

namespace x402::test {

inline boost::json::value load_golden(const std::string& name) {
  const std::string path = std::string(X402_SOURCE_DIR) + "/tests/unit/protocol/golden/" + name;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open golden file " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return boost::json::parse(buffer.str());
}

inline std::string header_of(const boost::json::value& v) {
  return base64::encode(boost::json::serialize(v));
}

inline const std::string kPayTo = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";
inline const std::string kAsset = "0x036CbD53842c5426634e7929541eC2318f3dCF7e";
inline const std::string kFrom = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
inline const std::string kNonce = "0x" + std::string(64, 'a');
inline const std::string kSignature = "0x" + std::string(130, '1');

// A well-formed v2 payment for 10000 units of Base Sepolia USDC, valid in [1000, 2000].
inline boost::json::object v2_payment_json() {
  return boost::json::object{{"x402Version", 2},
                             {"resource", {{"url", "https://gw.example/acme/api/signal"}}},
                             {"accepted",
                              {{"scheme", "exact"},
                               {"network", "eip155:84532"},
                               {"amount", "10000"},
                               {"asset", kAsset},
                               {"payTo", kPayTo},
                               {"maxTimeoutSeconds", 60},
                               {"extra", {{"name", "USDC"}, {"version", "2"}}}}},
                             {"payload",
                              {{"signature", kSignature},
                               {"authorization",
                                {{"from", kFrom},
                                 {"to", kPayTo},
                                 {"value", "10000"},
                                 {"validAfter", "1000"},
                                 {"validBefore", "2000"},
                                 {"nonce", kNonce}}}}}};
}

inline boost::json::object v1_payment_json() {
  boost::json::object o = v2_payment_json();
  o["x402Version"] = 1;
  o.erase("accepted");
  o.erase("resource");
  o["scheme"] = "exact";
  o["network"] = "base-sepolia";
  return o;
}

}  // namespace x402::test
