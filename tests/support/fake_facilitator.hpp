#pragma once
// TEST DOUBLE: a facilitator speaking the standard HTTP API (PROTOCOL.md §2) whose behaviour
// each test scripts, so that faults a real facilitator cannot be made to produce on demand
// (hanging after "broadcasting", garbage, settlement_pending) can be shown. It checks nothing
// on chain: verify says what it is told to say.
#include <atomic>
#include <boost/json.hpp>
#include <mutex>
#include <string>
#include <vector>

#include "support/http_test_server.hpp"

namespace x402::testing {

class FakeFacilitator {
 public:
  enum class Behaviour {
    Answer,              // 200 with a positive verdict (isValid / success)
    Refuse,              // 200 with a negative verdict
    RefuseWith400,       // x402-rs style: 400 with the negative verdict in the body
    Hang,                // accepts the request and never answers (a timeout after "sending")
    Garbage,             // 200 with a body that is not JSON
    Error502,            // 502 without a verdict
    SettlementPending,   // CDP style: 500 {success:false, errorReason:"settlement_pending", tx}
    CloseWithoutAnswer,  // reads the request, closes the connection
  };

  FakeFacilitator() : server_([this](const http::Request& r, int) { return handle(r); }) {}

  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }

  std::atomic<Behaviour> verify_behaviour{Behaviour::Answer};
  std::atomic<Behaviour> settle_behaviour{Behaviour::Answer};
  std::atomic<Behaviour> supported_behaviour{Behaviour::Answer};
  std::string invalid_reason = "insufficient_funds";

  std::atomic<int> verify_calls{0};
  std::atomic<int> settle_calls{0};
  std::atomic<int> supported_calls{0};

  std::vector<boost::json::value> settle_requests() const {
    std::lock_guard lock(mu_);
    return settle_requests_;
  }
  std::vector<boost::json::value> verify_requests() const {
    std::lock_guard lock(mu_);
    return verify_requests_;
  }

 private:
  static http::testing::Action json(unsigned status, const boost::json::value& body) {
    return http::testing::respond(http::testing::make_response(
        static_cast<boost::beast::http::status>(status), boost::json::serialize(body)));
  }

  static std::string payer_of(const boost::json::value& request) {
    try {
      return std::string(
          request.at("paymentPayload").at("payload").at("authorization").at("from").as_string());
    } catch (...) {
      return {};
    }
  }

  static std::string network_of(const boost::json::value& request) {
    try {
      return std::string(request.at("paymentRequirements").at("network").as_string());
    } catch (...) {
      return {};
    }
  }

  http::testing::Action handle(const http::Request& request) {
    const std::string target(request.target());
    boost::system::error_code ec;
    auto body = boost::json::parse(request.body(), ec);

    Behaviour behaviour;
    if (target.ends_with("/supported")) {
      ++supported_calls;
      behaviour = supported_behaviour;
    } else if (target.ends_with("/verify")) {
      ++verify_calls;
      behaviour = verify_behaviour;
      std::lock_guard lock(mu_);
      verify_requests_.push_back(body);
    } else if (target.ends_with("/settle")) {
      ++settle_calls;
      behaviour = settle_behaviour;
      std::lock_guard lock(mu_);
      settle_requests_.push_back(body);
    } else {
      return json(404, {{"error", "not found"}});
    }

    switch (behaviour) {
      case Behaviour::Hang:
        return http::testing::hang();
      case Behaviour::CloseWithoutAnswer:
        return http::testing::close_without_answer();
      case Behaviour::Garbage:
        return http::testing::respond(
            http::testing::make_response(boost::beast::http::status::ok, "<html>oops</html>"));
      case Behaviour::Error502:
        return http::testing::respond(
            http::testing::make_response(boost::beast::http::status::bad_gateway, ""));
      default:
        break;
    }

    if (target.ends_with("/supported")) {
      boost::json::array kinds;
      for (int version : {1, 2}) {
        kinds.push_back({{"x402Version", version},
                         {"scheme", "exact"},
                         {"network", version == 1 ? "base-sepolia" : "eip155:84532"}});
      }
      return json(200, {{"kinds", kinds}, {"extensions", boost::json::array{}}});
    }

    const std::string payer = payer_of(body);
    if (target.ends_with("/verify")) {
      if (behaviour == Behaviour::Answer) return json(200, {{"isValid", true}, {"payer", payer}});
      return json(behaviour == Behaviour::RefuseWith400 ? 400 : 200,
                  {{"isValid", false}, {"invalidReason", invalid_reason}, {"payer", payer}});
    }

    const std::string tx = "0x" + std::string(60, 'a') + std::to_string(1000 + settle_calls.load());
    if (behaviour == Behaviour::SettlementPending) {
      return json(500, {{"success", false},
                        {"errorReason", "settlement_pending"},
                        {"transaction", tx},
                        {"network", network_of(body)},
                        {"payer", payer}});
    }
    if (behaviour == Behaviour::Answer) {
      return json(200, {{"success", true},
                        {"transaction", tx},
                        {"network", network_of(body)},
                        {"payer", payer}});
    }
    return json(behaviour == Behaviour::RefuseWith400 ? 400 : 200, {{"success", false},
                                                                    {"errorReason", invalid_reason},
                                                                    {"transaction", ""},
                                                                    {"network", network_of(body)},
                                                                    {"payer", payer}});
  }

  mutable std::mutex mu_;
  std::vector<boost::json::value> verify_requests_;
  std::vector<boost::json::value> settle_requests_;
  http::testing::TestServer server_;  // last: stops before the members its handler uses
};

// A loopback port with nothing listening: connecting to it is refused at once.
inline uint16_t closed_port() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  auto port = acceptor.local_endpoint().port();
  acceptor.close();
  return port;
}

}  // namespace x402::testing
