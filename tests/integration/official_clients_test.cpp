// The OFFICIAL x402 paying clients against a real x402d: @x402/fetch (v2, with @x402/evm's
// ExactEvmScheme and a viem local account) and x402-fetch (v1 only), driven by
// tests/e2e/pay.mjs. Each must understand our dual-stack 402, sign, retry and get the upstream's
// answer with a settlement header it can decode; the facilitator (a test double) must receive
// exactly what the client signed, and the signature must recover to the payer (checked with viem
// by tests/e2e/recover.mjs, independently of our own EIP-712 code).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <boost/algorithm/string/predicate.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/fake_facilitator.hpp"
#include "support/gateway_harness.hpp"

namespace x402::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs a shell command, stdout through the pipe and stderr through a file (kept apart so the
// one JSON line on stdout parses even when node warns).
CommandResult run(const std::string& command, const fs::path& stderr_file) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>'" + stderr_file.string() + "'").c_str(), "r");
  if (!pipe) {
    result.err = "popen failed";
    return result;
  }
  std::array<char, 4096> buffer{};
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    result.out.append(buffer.data(), n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(stderr_file);
  std::stringstream text;
  text << in.rdbuf();
  result.err = text.str();
  return result;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string str(const json::value& v) {
  return std::string(v.as_string());
}

class OfficialClientsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tests_dir_ = fs::path(X402_SOURCE_DIR) / "tests";
    const auto modules = tests_dir_ / "node_modules";
    bool have_clients = fs::exists(modules / "@x402" / "fetch" / "package.json") &&
                        fs::exists(modules / "@x402" / "evm" / "package.json") &&
                        fs::exists(modules / "x402-fetch" / "package.json") &&
                        fs::exists(modules / "viem" / "package.json");
    if (!have_clients && !std::getenv("X402_REQUIRE_NODE"))
      GTEST_SKIP() << "official x402 clients missing from tests/node_modules: run `npm ci` in "
                      "tests/ (set X402_REQUIRE_NODE=1 to make this a failure)";
    ASSERT_TRUE(have_clients) << "X402_REQUIRE_NODE is set but tests/node_modules lacks "
                                 "@x402/fetch, @x402/evm, x402-fetch or viem";
    dir_ = fs::temp_directory_path() /
           ("x402-interop-" + std::to_string(::getpid()) + "-" + random_hex(4).substr(2));
    fs::create_directories(dir_);

    ConfigOptions options;
    options.facilitators = {{"primary", facilitator.url()}};
    options.upstream_port = upstream.port();
    gateway = std::make_unique<GatewayHarness>(gateway_yaml(options));
  }

  void TearDown() override {
    gateway.reset();
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  std::string url(const std::string& target) const {
    return "http://127.0.0.1:" + std::to_string(gateway->port()) + target;
  }

  // pay.mjs's report (its one stdout line); fails the test unless it exited as expected
  // (0: paid and served; 1: the paid retry was not a settled 200).
  json::object pay(const std::string& client, const std::string& target, int expected_exit = 0) {
    auto result = run("node " + shell_quote((tests_dir_ / "e2e" / "pay.mjs").string()) +
                          " --client " + client + " --url " + shell_quote(url(target)),
                      dir_ / ("pay-" + client + ".err"));
    EXPECT_EQ(result.exit_code, expected_exit)
        << "stdout: " << result.out << "\nstderr: " << result.err;
    json::error_code ec;
    auto report = json::parse(result.out, ec);
    if (ec || !report.is_object()) {
      ADD_FAILURE() << "pay.mjs printed no JSON report: " << result.out << "\n" << result.err;
      return {};
    }
    return report.as_object();
  }

  // The address that signed the payment in a facilitator request, recovered by viem.
  std::string recover_signer(const json::value& facilitator_request) {
    auto file = dir_ / "facilitator-request.json";
    std::ofstream(file) << json::serialize(facilitator_request);
    auto result = run("node " + shell_quote((tests_dir_ / "e2e" / "recover.mjs").string()) + " " +
                          shell_quote(file.string()),
                      dir_ / "recover.err");
    EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
    json::error_code ec;
    auto parsed = json::parse(result.out, ec);
    if (ec || !parsed.is_object() || !parsed.as_object().contains("signer")) return {};
    return str(parsed.at("signer"));
  }

  // What every paid request through an official client must leave behind, whatever the version.
  void expect_paid_and_booked(const json::object& report, const std::string& network,
                              int x402_version) {
    ASSERT_FALSE(report.empty());
    EXPECT_EQ(report.at("status").as_int64(), 200);
    EXPECT_EQ(report.at("requests").as_int64(), 2) << "one 402, one paid retry";
    const std::string payer = str(report.at("payer"));

    // The upstream's answer reached the client, and the upstream never saw a payment header.
    EXPECT_NE(str(report.at("body")).find("sunny"), std::string::npos) << report.at("body");
    ASSERT_EQ(upstream.hits(), 1);
    auto seen = upstream.received().at(0);
    EXPECT_EQ(seen.target(), "/api/signal");
    EXPECT_TRUE(seen["PAYMENT-SIGNATURE"].empty());
    EXPECT_TRUE(seen["X-PAYMENT"].empty());

    // The settlement header, as the client package decoded it.
    ASSERT_TRUE(report.at("paymentResponse").is_object()) << report;
    const auto& settlement = report.at("paymentResponse").as_object();
    EXPECT_TRUE(settlement.at("success").as_bool());
    EXPECT_EQ(str(settlement.at("network")), network);
    EXPECT_TRUE(boost::iequals(str(settlement.at("payer")), payer));

    // The facilitator was asked once to verify and once to settle the very payload the client
    // sent, under the payload's own version.
    ASSERT_EQ(facilitator.verify_calls.load(), 1);
    ASSERT_EQ(facilitator.settle_calls.load(), 1);
    const auto sent = report.at("sentPayment");
    ASSERT_TRUE(sent.is_object());
    EXPECT_EQ(sent.at("x402Version").as_int64(), x402_version);
    for (const auto& request :
         {facilitator.verify_requests().at(0), facilitator.settle_requests().at(0)}) {
      EXPECT_EQ(request.at("x402Version").as_int64(), x402_version);
      EXPECT_EQ(request.at("paymentPayload"), sent)
          << "forwarded: " << request.at("paymentPayload") << "\nsigned: " << sent;
    }
    const auto& authorization = sent.at("payload").at("authorization");
    EXPECT_TRUE(boost::iequals(str(authorization.at("from")), payer));
    EXPECT_TRUE(boost::iequals(str(authorization.at("to")), kPayTo));
    EXPECT_EQ(str(authorization.at("value")), "10000");

    // The signature recovers to the payer under the terms the facilitator was given.
    EXPECT_TRUE(boost::iequals(recover_signer(facilitator.verify_requests().at(0)), payer));

    // x402d booked it as settled, with the transaction the client was told about.
    auto settled = gateway->store().payments_with_status(PaymentStatus::Settled, 10);
    ASSERT_TRUE(settled.ok());
    ASSERT_EQ(settled->size(), 1u);
    const auto& record = settled->at(0);
    EXPECT_EQ(record.x402_version, x402_version);
    EXPECT_EQ(record.network, "eip155:84532");
    EXPECT_EQ(record.amount, "10000");
    EXPECT_TRUE(boost::iequals(record.key.payer, payer));
    EXPECT_EQ(record.tx_hash, str(settlement.at("transaction")));
    EXPECT_EQ(gateway->store().count_payments().value(), 1);
  }

  FakeFacilitator facilitator;
  FakeUpstream upstream;
  std::unique_ptr<GatewayHarness> gateway;
  fs::path tests_dir_;
  fs::path dir_;
};

TEST_F(OfficialClientsTest, X402FetchV2PaysThroughTheGateway) {
  // What x402d offers to anyone: the client must echo it verbatim as `accepted`.
  auto offer = gateway->get("/acme/api/signal");
  ASSERT_EQ(offer.result_int(), 402);
  const json::value offered =
      decode_header_json(offer["PAYMENT-REQUIRED"]).at("accepts").as_array().at(0);

  auto report = pay("v2", "/acme/api/signal");
  expect_paid_and_booked(report, "eip155:84532", 2);
  if (HasFatalFailure() || report.empty()) return;

  const auto& sent = report.at("sentPayment");
  EXPECT_EQ(sent.at("accepted"), offered);
  EXPECT_EQ(str(sent.at("resource").at("url")), url("/acme/api/signal"));
  // x402d matched it to the same requirement and passed that on to the facilitator.
  EXPECT_EQ(facilitator.verify_requests().at(0).at("paymentRequirements"), offered);
}

TEST_F(OfficialClientsTest, X402FetchV1PaysThroughTheGateway) {
  auto offer = gateway->get("/acme/api/signal");
  ASSERT_EQ(offer.result_int(), 402);
  const json::value offered = parse_object(offer.body()).at("accepts").as_array().at(0);

  auto report = pay("v1", "/acme/api/signal");
  expect_paid_and_booked(report, "base-sepolia", 1);
  if (HasFatalFailure() || report.empty()) return;

  const auto& sent = report.at("sentPayment");
  EXPECT_EQ(str(sent.at("scheme")), "exact");
  EXPECT_EQ(str(sent.at("network")), "base-sepolia");
  // v1 has no `accepted`: x402d matched by (scheme, network) and must hand the facilitator the
  // v1 requirement it offered.
  EXPECT_EQ(facilitator.verify_requests().at(0).at("paymentRequirements"), offered);
}

// A refusal must reach the official clients as a 402 they can read the facilitator's reason
// from (v2: the PAYMENT-REQUIRED header's `error`; v1: the body's `error`), with nothing served,
// settled or booked.
TEST_F(OfficialClientsTest, RefusedPaymentIsA402BothClientsCanRead) {
  facilitator.verify_behaviour = FakeFacilitator::Behaviour::Refuse;
  facilitator.invalid_reason = "insufficient_funds";
  for (const std::string client : {"v2", "v1"}) {
    SCOPED_TRACE(client);
    auto report = pay(client, "/acme/api/signal", 1);
    ASSERT_FALSE(report.empty());
    EXPECT_EQ(report.at("status").as_int64(), 402);
    EXPECT_TRUE(report.at("paymentResponse").is_null());
    ASSERT_TRUE(report.at("sentPayment").is_object()) << "the client did try to pay";
    ASSERT_TRUE(report.at("paymentRequired").is_object()) << report;
    const auto& required = report.at("paymentRequired").as_object();
    EXPECT_EQ(required.at("x402Version").as_int64(), client == "v2" ? 2 : 1);
    ASSERT_TRUE(required.contains("error")) << required;
    EXPECT_NE(str(required.at("error")).find("insufficient_funds"), std::string::npos)
        << required.at("error");
  }
  EXPECT_EQ(facilitator.verify_calls.load(), 2);
  EXPECT_EQ(facilitator.settle_calls.load(), 0);
  EXPECT_EQ(upstream.hits(), 0);
  EXPECT_EQ(gateway->store().payments_with_status(PaymentStatus::Settled, 10)->size(), 0u);
}

}  // namespace
}  // namespace x402::testing
