// Graceful shutdown (DESIGN.md: "SIGTERM drains"): once Gateway::stop() begins, the listener is
// closed, idle keep-alive connections are closed, and a request already in flight still gets its
// answer before stop() returns. The upstream holds the in-flight request until the test lets it
// go, so "in flight" is a fact the test observes, not a guess about timing.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>

#include "protocol/settlement.hpp"
#include "support/fake_facilitator.hpp"
#include "support/gateway_harness.hpp"

namespace x402::testing {
namespace {

using namespace std::chrono_literals;

// A shutdown grace far longer than any wait below: whatever the tests see happens because the
// drain did it, not because the grace ran out and connections were cut.
constexpr const char* kLongGrace = "  timeouts: { shutdown_grace_ms: 30000 }\n";

std::string with_server_lines(std::string yaml, const std::string& lines) {
  const std::string anchor = "  workers: 2\n";
  auto at = yaml.find(anchor);
  EXPECT_NE(at, std::string::npos) << "gateway_yaml() changed shape; update this helper";
  if (at != std::string::npos) yaml.insert(at + anchor.size(), lines);
  return yaml;
}

// A plain blocking loopback socket: the tests need to see exactly what the peer did (EOF, refusal)
// without a client library's retries or reconnects in between.
class RawConnection {
 public:
  // fd() < 0 and error() set when the connection failed.
  explicit RawConnection(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      error_ = errno;
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  int fd() const { return fd_; }
  int error() const { return error_; }

  bool send_all(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      auto n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  enum class ReadResult { Data, Eof, Error, Timeout };

  // Waits up to `within` for something to read; `chunk` receives the bytes on Data.
  ReadResult read_some(std::chrono::milliseconds within, std::string* chunk = nullptr) {
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(within.count()));
    if (ready == 0) return ReadResult::Timeout;
    if (ready < 0) return ReadResult::Error;
    char buffer[4096];
    auto n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n == 0) return ReadResult::Eof;
    if (n < 0) return ReadResult::Error;
    if (chunk) chunk->assign(buffer, static_cast<size_t>(n));
    return ReadResult::Data;
  }

 private:
  int fd_ = -1;
  int error_ = 0;
};

// Polls until a fresh connection to `port` is refused. Connections that still get through
// (the listener not closed yet) are closed again at once so they do not hold up the drain.
bool becomes_refused(uint16_t port, std::chrono::milliseconds within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    RawConnection probe(port);
    if (probe.fd() < 0 && probe.error() == ECONNREFUSED) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// Lets a held upstream go on every exit path, so a failed assertion never leaves a test waiting
// out the upstream's own time limit.
struct ReleaseOnExit {
  DelayedUpstream& upstream;
  ~ReleaseOnExit() { upstream.release(); }
};

class LifecycleTest : public ::testing::Test {
 protected:
  std::string yaml(uint16_t upstream_port) {
    ConfigOptions options;
    options.facilitators = {{"primary", facilitator.url()}};
    options.upstream_port = upstream_port;
    options.settle_timeout_ms = 3000;
    return with_server_lines(gateway_yaml(options), kLongGrace);
  }

  FakeFacilitator facilitator;
};

TEST_F(LifecycleTest, StopRefusesNewConnectionsButFinishesTheRequestInFlight) {
  DelayedUpstream upstream(30s);  // far beyond every wait below: only release() lets it go
  GatewayHarness gateway(yaml(upstream.port()));
  const uint16_t port = gateway.port();

  auto in_flight = std::async(std::launch::async,
                              [port] { return get_within(port, "/acme/public/slow?n=1", 20s); });
  ReleaseOnExit release_later{upstream};
  ASSERT_TRUE(upstream.wait_for_arrivals(1, 10s)) << "the request never reached the upstream";

  auto stopping = std::async(std::launch::async, [&] { gateway.gateway().stop(); });
  ASSERT_TRUE(becomes_refused(port, 10s)) << "the listener still accepts after stop() began";
  // The request is still held upstream, so a stop() that had returned would have abandoned it.
  EXPECT_EQ(stopping.wait_for(0s), std::future_status::timeout)
      << "stop() returned while a request was still in flight";

  upstream.release();
  http::Response res;
  ASSERT_NO_THROW(res = in_flight.get()) << "the in-flight request was cut off by the drain";
  EXPECT_EQ(res.result_int(), 200) << res.body();
  EXPECT_NE(res.body().find(R"("path":"/public/slow?n=1")"), std::string::npos) << res.body();
  // Answered during the drain: the client is told not to reuse the connection.
  EXPECT_FALSE(res.keep_alive());

  ASSERT_EQ(stopping.wait_for(10s), std::future_status::ready) << "stop() did not return";
  EXPECT_EQ(upstream.arrived(), 1);
}

TEST_F(LifecycleTest, PaidRequestInFlightIsSettledBeforeStopReturns) {
  DelayedUpstream upstream(30s);  // far beyond every wait below: only release() lets it go
  GatewayHarness gateway(yaml(upstream.port()));
  const uint16_t port = gateway.port();
  auto offer = gateway.get("/acme/api/signal");
  ASSERT_EQ(offer.result_int(), 402);
  const auto payment = pay_v2(offer);

  auto in_flight = std::async(std::launch::async, [port, payment] {
    return get_within(port, "/acme/api/signal", 20s, {{"PAYMENT-SIGNATURE", payment}});
  });
  ReleaseOnExit release_later{upstream};
  ASSERT_TRUE(upstream.wait_for_arrivals(1, 10s)) << "the paid request never reached the upstream";
  EXPECT_EQ(facilitator.settle_calls.load(), 0);  // settle: after, so not yet

  auto stopping = std::async(std::launch::async, [&] { gateway.gateway().stop(); });
  ASSERT_TRUE(becomes_refused(port, 10s));
  upstream.release();

  http::Response res;
  ASSERT_NO_THROW(res = in_flight.get());
  ASSERT_EQ(res.result_int(), 200) << res.body();
  auto settlement = decode_settlement_header(res["PAYMENT-RESPONSE"]);
  ASSERT_TRUE(settlement.ok());
  EXPECT_TRUE(settlement->success);
  ASSERT_EQ(stopping.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(facilitator.settle_calls.load(), 1);
  // The books were written before the store closed.
  auto settled = gateway.store().payments_with_status(PaymentStatus::Settled, 10);
  ASSERT_TRUE(settled.ok());
  EXPECT_EQ(settled->size(), 1u);
}

TEST_F(LifecycleTest, DrainClosesIdleKeepAliveConnectionsAtOnce) {
  FakeUpstream upstream;
  GatewayHarness gateway(yaml(upstream.port()));

  // A connection that finished a request and waits, kept alive, for the next one. (It has
  // certainly been accepted: it got an answer. A connection still in the accept queue would be
  // reset with the listener instead, which is not what this test is about.)
  RawConnection used(gateway.port());
  ASSERT_GE(used.fd(), 0);
  ASSERT_TRUE(used.send_all("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::string answer, chunk;
  while (answer.find("\r\n\r\n") == std::string::npos ||
         answer.find("\"ok\"") == std::string::npos) {
    ASSERT_EQ(used.read_some(10s, &chunk), RawConnection::ReadResult::Data) << answer;
    answer += chunk;
  }
  ASSERT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  ASSERT_EQ(answer.find("Connection: close"), std::string::npos) << "expected keep-alive";
  auto stopping = std::async(std::launch::async, [&] { gateway.gateway().stop(); });
  // Well inside the 30 s grace: only the drain itself can have closed them.
  EXPECT_EQ(used.read_some(10s), RawConnection::ReadResult::Eof);
  EXPECT_EQ(stopping.wait_for(10s), std::future_status::ready)
      << "stop() waits for connections that had nothing in flight";
}

TEST_F(LifecycleTest, StopReturnsOnlyOnceTheListenerIsClosed) {
  // An idle gateway has nothing to drain, so stop() may finish at once, but not before the
  // listener is closed: a connection accepted by a listener nobody serves any more hangs its
  // client. Several rounds, because a stop() that races its own listener-closing wins sometimes.
  FakeUpstream upstream;
  for (int round = 0; round < 10; ++round) {
    auto gateway = std::make_unique<GatewayHarness>(yaml(upstream.port()));
    const uint16_t port = gateway->port();
    if (round == 0) {
      EXPECT_EQ(gateway->get("/healthz").result_int(), 200);
    }
    gateway->gateway().stop();
    RawConnection late(port);
    EXPECT_EQ(late.error(), ECONNREFUSED)
        << "round " << round << ": a connection was accepted after stop() returned";
    gateway->gateway().stop();  // a second stop (a signal after an explicit one) is a no-op
    gateway.reset();            // and so is the destructor's
    if (::testing::Test::HasFailure()) break;
  }
}

}  // namespace
}  // namespace x402::testing
