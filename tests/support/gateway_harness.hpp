#pragma once
// Runs a real x402d (the Gateway class x402d runs) in the test process on an ephemeral port,
// with a config written to a temp folder, plus a fake upstream that records what it received and
// a client that builds x402 payments the way the official clients do (from the 402's offers).
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "gateway/gateway.hpp"
#include "protocol/base64.hpp"
#include "support/http_test_server.hpp"

namespace x402::testing {

namespace bhttp = boost::beast::http;
using Headers = std::vector<std::pair<std::string, std::string>>;

inline constexpr const char* kPayTo = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";
inline constexpr const char* kUsdc = "0x036CbD53842c5426634e7929541eC2318f3dCF7e";

inline std::string random_hex(size_t bytes) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "0x";
  for (size_t i = 0; i < bytes * 2; ++i) out += kHex[rng() & 0xf];
  return out;
}

inline uint64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One blocking HTTP/1.1 exchange on a fresh connection.
inline http::Response send_request(uint16_t port, bhttp::verb method, const std::string& target,
                                   const Headers& headers = {}, const std::string& body = {}) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket(ioc);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  http::Request request{method, target, 11};
  request.set(bhttp::field::host, "127.0.0.1:" + std::to_string(port));
  for (const auto& [k, v] : headers) request.set(k, v);
  request.body() = body;
  request.prepare_payload();
  bhttp::write(socket, request);
  boost::beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(16 * 1024 * 1024);
  if (method == bhttp::verb::head) parser.skip(true);  // a HEAD answer has headers only
  bhttp::read(socket, buffer, parser);
  return parser.release();
}

inline http::Response get(uint16_t port, const std::string& target, const Headers& headers = {}) {
  return send_request(port, bhttp::verb::get, target, headers);
}

inline boost::json::object parse_object(std::string_view text) {
  return boost::json::parse(text).as_object();
}

inline boost::json::object decode_header_json(std::string_view header) {
  auto bytes = base64::decode(header);
  EXPECT_TRUE(bytes.ok()) << "header is not base64: " << header;
  return bytes.ok() ? parse_object(*bytes) : boost::json::object{};
}

// The payer's side of EIP-3009, minus the cryptography (the fake facilitator checks none).
struct Authorization {
  std::string from = random_hex(20);
  std::string to = kPayTo;
  std::string value;  // empty: the requirement's amount
  uint64_t valid_after = unix_now() - 10;
  uint64_t valid_before = unix_now() + 120;
  std::string nonce = random_hex(32);
};

inline boost::json::object payload_of(const Authorization& a, const std::string& value) {
  return {{"signature", random_hex(65)},
          {"authorization",
           {{"from", a.from},
            {"to", a.to},
            {"value", value},
            {"validAfter", std::to_string(a.valid_after)},
            {"validBefore", std::to_string(a.valid_before)},
            {"nonce", a.nonce}}}};
}

// PAYMENT-SIGNATURE value answering the first v2 offer of a 402, as @x402/fetch builds it.
inline std::string pay_v2(const http::Response& offer, const Authorization& a = {}) {
  auto required = decode_header_json(offer["PAYMENT-REQUIRED"]);
  auto accepted = required.at("accepts").as_array().at(0).as_object();
  std::string value = a.value.empty() ? std::string(accepted.at("amount").as_string()) : a.value;
  boost::json::object payment{{"x402Version", 2},
                              {"resource", required.at("resource")},
                              {"accepted", accepted},
                              {"payload", payload_of(a, value)}};
  return base64::encode(boost::json::serialize(payment));
}

// X-PAYMENT value answering the first v1 offer of a 402, as x402-fetch builds it.
inline std::string pay_v1(const http::Response& offer, const Authorization& a = {}) {
  auto body = parse_object(offer.body());
  auto requirement = body.at("accepts").as_array().at(0).as_object();
  std::string value =
      a.value.empty() ? std::string(requirement.at("maxAmountRequired").as_string()) : a.value;
  boost::json::object payment{{"x402Version", 1},
                              {"scheme", requirement.at("scheme")},
                              {"network", requirement.at("network")},
                              {"payload", payload_of(a, value)}};
  return base64::encode(boost::json::serialize(payment));
}

// The merchant's API: answers 200 (or what a test says) and remembers what reached it.
class FakeUpstream {
 public:
  FakeUpstream()
      : server_([this](const http::Request& r, int) {
          std::lock_guard lock(mu_);
          received_.push_back(r);
          ++hits_;  // after the request is recorded: a test that saw the hit finds the request
          return http::testing::respond(custom_ ? custom_answer() : default_answer(r));
        }) {}

  uint16_t port() const { return server_.port(); }
  int hits() const { return hits_.load(); }
  std::vector<http::Request> received() const {
    std::lock_guard lock(mu_);
    return received_;
  }
  std::atomic<unsigned> status{200};

  // From now on: `body` as text/plain with `fields` added (in order, duplicates kept), sent
  // chunked when asked, instead of the JSON answer.
  void answer_with(Headers fields, std::string body, bool chunked = false) {
    std::lock_guard lock(mu_);
    custom_ = Custom{std::move(fields), std::move(body), chunked};
  }

 private:
  struct Custom {
    Headers fields;
    std::string body;
    bool chunked = false;
  };

  http::Response default_answer(const http::Request& r) const {
    auto res = http::testing::make_response(
        static_cast<bhttp::status>(status.load()),
        R"({"weather":"sunny","path":")" + std::string(r.target()) + "\"}");
    res.set(bhttp::field::content_type, "application/json");
    if (r.method() == bhttp::verb::head) {
      res.content_length(res.body().size());  // what a GET would carry, but no body
      res.body().clear();
    }
    return res;
  }

  http::Response custom_answer() const {
    http::Response res{static_cast<bhttp::status>(status.load()), 11};
    for (const auto& [name, value] : custom_->fields) res.insert(name, value);
    res.set(bhttp::field::content_type, "text/plain");
    res.body() = custom_->body;
    if (custom_->chunked) {
      res.chunked(true);
    } else {
      res.prepare_payload();
    }
    return res;
  }

  mutable std::mutex mu_;
  std::vector<http::Request> received_;
  std::optional<Custom> custom_;
  std::atomic<int> hits_{0};
  http::testing::TestServer server_;  // last: stops before the members its handler uses
};

struct FacilitatorEntry {
  std::string name;
  std::string url;
};

struct ConfigOptions {
  std::vector<FacilitatorEntry> facilitators;
  uint16_t upstream_port = 0;
  std::string settle = "after";
  unsigned attempt_timeout_ms = 400;
  unsigned settle_timeout_ms = 600;
  unsigned breaker_threshold = 2;
  unsigned breaker_open_ms = 60000;
  std::string routing_strategy = "priority";
  unsigned upstream_timeout_ms = 0;  // 0: the default
};

inline std::string gateway_yaml(const ConfigOptions& o) {
  std::string y;
  y += "server:\n  listen: \"127.0.0.1:0\"\n  workers: 2\n";
  y += "storage: { backend: sqlite, path: ./x402d.db }\n";
  y += std::string("plugins: { directories: [ \"") + X402_PLUGIN_DIR + "\" ] }\n";
  y += "routing: { strategy: " + o.routing_strategy + " }\n";
  y += "failover:\n  attempt_timeout_ms: " + std::to_string(o.attempt_timeout_ms) +
       "\n  verify_deadline_ms: 3000\n  settle_timeout_ms: " + std::to_string(o.settle_timeout_ms) +
       "\n  retry_after_seconds: 2\n  breaker: { failure_threshold: " +
       std::to_string(o.breaker_threshold) + ", open_ms: " + std::to_string(o.breaker_open_ms) +
       " }\n";
  y += "facilitators:\n";
  for (const auto& f : o.facilitators) {
    y += "  - name: " + f.name +
         "\n    plugin: facilitator-http\n    config: { preset: generic, "
         "url: \"" +
         f.url + "\", max_429_retries: 0 }\n";
  }
  y += "assets:\n  - symbol: USDC\n    network: base-sepolia\n    address: \"" +
       std::string(kUsdc) + "\"\n    decimals: 6\n    eip712: { name: USDC, version: \"2\" }\n";
  y += "merchants:\n  - id: acme\n    upstream: \"http://127.0.0.1:" +
       std::to_string(o.upstream_port) + "\"\n    pay_to: \"" + kPayTo + "\"\n";
  if (o.upstream_timeout_ms) {
    y += "    upstream_timeout_ms: " + std::to_string(o.upstream_timeout_ms) + "\n";
  }
  y += "    routes:\n";
  y += "      - path: /api/signal\n        price: \"0.01\"\n        settle: " + o.settle +
       "\n        description: Trading signal\n        mime_type: application/json\n";
  y += "      - path: /public/**\n        free: true\n";
  return y;
}

class GatewayHarness {
 public:
  explicit GatewayHarness(const std::string& yaml) {
    dir_ = std::filesystem::temp_directory_path() /
           ("x402-it-" + std::to_string(::getpid()) + "-" + random_hex(4).substr(2));
    std::filesystem::create_directories(dir_);
    config_path_ = (dir_ / "gateway.yaml").string();
    write_config(yaml);
    auto config = load_config(config_path_);
    if (!config) throw std::runtime_error("test config invalid: " + config.error().message);
    GatewayOptions options;
    options.watch_config_file = watch_file_;
    gateway_ = std::make_unique<Gateway>(options);
    auto started = gateway_->start(config.value());
    if (!started) throw std::runtime_error("gateway did not start: " + started.error().message);
  }

  ~GatewayHarness() {
    gateway_->stop();
    gateway_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void write_config(const std::string& yaml) {
    // Write then rename, as deploy tools do, so a watcher never sees half a file.
    auto tmp = config_path_ + ".tmp";
    std::ofstream(tmp) << yaml;
    std::filesystem::rename(tmp, config_path_);
  }

  uint16_t port() const { return gateway_->port(); }
  Gateway& gateway() { return *gateway_; }
  Store& store() { return gateway_->store(); }
  const std::string& config_path() const { return config_path_; }

  http::Response get(const std::string& target, const Headers& headers = {}) const {
    return testing::get(port(), target, headers);
  }

 private:
  std::filesystem::path dir_;
  std::string config_path_;
  bool watch_file_ = true;
  std::unique_ptr<Gateway> gateway_;
};

}  // namespace x402::testing

#include <condition_variable>

namespace x402::testing {

// The merchant's API, slowed down: it holds each request until release() is called or `delay`
// has passed, then answers 200. A test can act (stop the gateway, send signals) while a request
// is known to be in flight, without guessing how long anything takes. The hold blocks the
// upstream's single thread, so it serves one request at a time; that is all the tests need.
class DelayedUpstream {
 public:
  explicit DelayedUpstream(std::chrono::milliseconds delay = std::chrono::seconds(10))
      : delay_(delay), server_([this](const http::Request& r, int) { return hold(r); }) {}

  ~DelayedUpstream() { release(); }  // before server_ joins its thread

  uint16_t port() const { return server_.port(); }
  int arrived() const { return arrived_.load(); }

  void release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

  // True once `count` requests have reached the upstream (and are being held).
  bool wait_for_arrivals(int count, std::chrono::milliseconds within) {
    std::unique_lock lock(mu_);
    return arrivals_cv_.wait_for(lock, within, [&] { return arrived_.load() >= count; });
  }

 private:
  http::testing::Action hold(const http::Request& request) {
    std::unique_lock lock(mu_);
    ++arrived_;
    arrivals_cv_.notify_all();
    cv_.wait_for(lock, delay_, [this] { return released_; });
    auto res = http::testing::make_response(
        bhttp::status::ok, R"({"slow":true,"path":")" + std::string(request.target()) + "\"}");
    res.set(bhttp::field::content_type, "application/json");
    return http::testing::respond(std::move(res));
  }

  std::chrono::milliseconds delay_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable arrivals_cv_;
  bool released_ = false;
  std::atomic<int> arrived_{0};
  http::testing::TestServer server_;  // last: stops before the members its handler uses
};

}  // namespace x402::testing

namespace x402::testing {

// One HTTP/1.1 GET that gives up after `limit` (throwing, like get() on any failure). For requests
// that hang when the code under test is wrong, so such a test fails instead of never ending.
inline http::Response get_within(uint16_t port, const std::string& target,
                                 std::chrono::milliseconds limit, const Headers& headers = {}) {
  namespace asio = boost::asio;
  asio::io_context ioc;
  boost::beast::tcp_stream stream(ioc);
  http::Request request{bhttp::verb::get, target, 11};
  request.set(bhttp::field::host, "127.0.0.1:" + std::to_string(port));
  for (const auto& [k, v] : headers) request.set(k, v);
  request.prepare_payload();
  auto exchange = [&]() -> asio::awaitable<http::Response> {
    stream.expires_after(limit);
    co_await stream.async_connect({asio::ip::make_address("127.0.0.1"), port}, asio::use_awaitable);
    co_await bhttp::async_write(stream, request, asio::use_awaitable);
    boost::beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(16 * 1024 * 1024);
    co_await bhttp::async_read(stream, buffer, parser, asio::use_awaitable);
    co_return parser.release();
  };
  auto response = asio::co_spawn(ioc, exchange(), asio::use_future);
  ioc.run();
  return response.get();
}

}  // namespace x402::testing
