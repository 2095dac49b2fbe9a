// HttpClient over plain HTTP against in-process servers: round trips, pooling, failure stages.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "support/http_test_server.hpp"

namespace x402::http {
namespace {

using namespace testing;
using Stage = TransportError::Stage;

// Echoes what the client sent so tests can check the request as the server saw it.
Action echo(const Request& request, int) {
  auto response =
      make_response(bhttp::status::ok, std::string(request.method_string()) + " " +
                                           std::string(request.target()) + " " + request.body());
  for (auto field : {bhttp::field::host, bhttp::field::user_agent, bhttp::field::content_length}) {
    auto it = request.find(field);
    if (it != request.end()) {
      response.set("X-Echo-" + std::string(bhttp::to_string(field)), it->value());
    }
  }
  return respond(std::move(response));
}

const Response& expect_response(const Outcome& outcome) {
  if (auto* error = std::get_if<TransportError>(&outcome)) {
    ADD_FAILURE() << "transport error: " << error->message;
    static const Response empty;
    return empty;
  }
  return std::get<Response>(outcome);
}

TransportError expect_error(const Outcome& outcome) {
  if (auto* error = std::get_if<TransportError>(&outcome)) return *error;
  ADD_FAILURE() << "expected a transport error, got HTTP "
                << std::get<Response>(outcome).result_int();
  return {};
}

class HttpClientTest : public ::testing::Test {
 protected:
  asio::io_context ioc;
  HttpClient client{ioc, make_client_tls_context()};
};

TEST_F(HttpClientTest, GetRoundTripSetsHostAndUserAgent) {
  TestServer server(echo);
  const Outcome outcome =
      run_send(ioc, client, local_origin(server.port()), make_request(bhttp::verb::get, "/a?b=1"));
  const Response& response = expect_response(outcome);
  EXPECT_EQ(response.result(), bhttp::status::ok);
  EXPECT_EQ(response.body(), "GET /a?b=1 ");
  EXPECT_EQ(response["X-Echo-Host"], "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(response["X-Echo-User-Agent"], "x402d/0.1");
}

TEST_F(HttpClientTest, PostSendsBodyWithContentLengthAndKeepsCallerHeaders) {
  TestServer server(echo);
  auto request = make_request(bhttp::verb::post, "/settle", R"({"x":1})");
  request.set(bhttp::field::host, "facilitator.example");
  request.set(bhttp::field::user_agent, "custom/1");
  const Outcome outcome = run_send(ioc, client, local_origin(server.port()), std::move(request));
  const Response& response = expect_response(outcome);
  EXPECT_EQ(response.body(), R"(POST /settle {"x":1})");
  EXPECT_EQ(response["X-Echo-Content-Length"], "7");
  EXPECT_EQ(response["X-Echo-Host"], "facilitator.example");
  EXPECT_EQ(response["X-Echo-User-Agent"], "custom/1");
}

TEST_F(HttpClientTest, NonSuccessStatusIsAResponseNotAnError) {
  TestServer server([](const Request&, int) {
    return respond(make_response(bhttp::status::service_unavailable, "busy"));
  });
  const Outcome outcome =
      run_send(ioc, client, local_origin(server.port()), make_request(bhttp::verb::get, "/"));
  EXPECT_EQ(expect_response(outcome).result(), bhttp::status::service_unavailable);
}

TEST_F(HttpClientTest, SequentialRequestsReuseOneKeepAliveConnection) {
  TestServer server(echo);
  const Origin origin = local_origin(server.port());
  for (int i = 0; i < 3; ++i) {
    const Outcome outcome = run_send(ioc, client, origin, make_request(bhttp::verb::get, "/"));
    EXPECT_EQ(expect_response(outcome).result(), bhttp::status::ok);
  }
  EXPECT_EQ(server.accepted(), 1);
}

TEST_F(HttpClientTest, ConnectionCloseFromServerForcesANewConnection) {
  TestServer server([](const Request&, int) {
    auto response = make_response(bhttp::status::ok, "bye");
    response.keep_alive(false);
    return respond(std::move(response));
  });
  const Origin origin = local_origin(server.port());
  for (int i = 0; i < 2; ++i) {
    const Outcome outcome = run_send(ioc, client, origin, make_request(bhttp::verb::get, "/"));
    EXPECT_EQ(expect_response(outcome).body(), "bye");
  }
  EXPECT_EQ(server.accepted(), 2);
}

TEST_F(HttpClientTest, CallerConnectionCloseIsNotPooled) {
  TestServer server(echo);
  const Origin origin = local_origin(server.port());
  for (int i = 0; i < 2; ++i) {
    auto request = make_request(bhttp::verb::get, "/");
    request.keep_alive(false);
    EXPECT_EQ(expect_response(run_send(ioc, client, origin, std::move(request))).result(),
              bhttp::status::ok);
  }
  EXPECT_EQ(server.accepted(), 2);
}

TEST_F(HttpClientTest, CloseIdleDropsPooledConnections) {
  TestServer server(echo);
  const Origin origin = local_origin(server.port());
  EXPECT_EQ(
      expect_response(run_send(ioc, client, origin, make_request(bhttp::verb::get, "/"))).result(),
      bhttp::status::ok);
  client.close_idle();
  EXPECT_EQ(
      expect_response(run_send(ioc, client, origin, make_request(bhttp::verb::get, "/"))).result(),
      bhttp::status::ok);
  EXPECT_EQ(server.accepted(), 2);
}

TEST_F(HttpClientTest, ExpiredIdleConnectionsAreNotReused) {
  HttpClient short_idle(ioc, nullptr, ClientOptions{.idle_timeout = std::chrono::seconds(0)});
  TestServer server(echo);
  const Origin origin = local_origin(server.port());
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(
        expect_response(run_send(ioc, short_idle, origin, make_request(bhttp::verb::get, "/")))
            .result(),
        bhttp::status::ok);
  }
  EXPECT_EQ(server.accepted(), 2);
}

TEST_F(HttpClientTest, ZeroIdleCapacityDisablesPooling) {
  HttpClient no_pool(ioc, nullptr, ClientOptions{.max_idle_per_origin = 0});
  TestServer server(echo);
  const Origin origin = local_origin(server.port());
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(expect_response(run_send(ioc, no_pool, origin, make_request(bhttp::verb::get, "/")))
                  .result(),
              bhttp::status::ok);
  }
  EXPECT_EQ(server.accepted(), 2);
}

// The server answers the first request on each connection and silently drops the second one:
// what a peer that closed an idle keep-alive connection looks like to the client.
Action answer_first_drop_later(const Request& request, int index) {
  if (index > 0) return close_without_answer();
  return echo(request, index);
}

TEST_F(HttpClientTest, StaleConnectionIsRetriedOnAFreshOneForIdempotentMethods) {
  TestServer server(answer_first_drop_later);
  const Origin origin = local_origin(server.port());
  EXPECT_EQ(
      expect_response(run_send(ioc, client, origin, make_request(bhttp::verb::get, "/1"))).body(),
      "GET /1 ");
  EXPECT_EQ(
      expect_response(run_send(ioc, client, origin, make_request(bhttp::verb::get, "/2"))).body(),
      "GET /2 ");
  EXPECT_EQ(server.accepted(), 2);
}

TEST_F(HttpClientTest, StaleConnectionIsNotRetriedForPost) {
  TestServer server(answer_first_drop_later);
  const Origin origin = local_origin(server.port());
  EXPECT_EQ(
      expect_response(run_send(ioc, client, origin, make_request(bhttp::verb::post, "/1", "a")))
          .result(),
      bhttp::status::ok);
  const TransportError error =
      expect_error(run_send(ioc, client, origin, make_request(bhttp::verb::post, "/2", "b")));
  EXPECT_EQ(error.stage, Stage::MaybeSent);
  EXPECT_FALSE(error.timed_out);
  EXPECT_EQ(server.accepted(), 1);
}

// Waits for the server to close an idle connection, then for the FIN to reach the client socket
// (loopback delivers it at once; the pause only absorbs scheduling noise).
void wait_for_idle_close(const TestServer& server) {
  for (int i = 0; i < 1000 && server.closed_after_response() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(server.closed_after_response(), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

TEST_F(HttpClientTest, IdleConnectionClosedByPeerIsSkippedEvenForPost) {
  TestServer server([](const Request& request, int) {
    return respond_then_close(make_response(bhttp::status::ok, std::string(request.target())));
  });
  const Origin origin = local_origin(server.port());
  EXPECT_EQ(
      expect_response(run_send(ioc, client, origin, make_request(bhttp::verb::post, "/1", "a")))
          .body(),
      "/1");
  wait_for_idle_close(server);
  EXPECT_EQ(
      expect_response(run_send(ioc, client, origin, make_request(bhttp::verb::post, "/2", "b")))
          .body(),
      "/2");
  EXPECT_EQ(server.accepted(), 2);
}

TEST_F(HttpClientTest, RefusedPortIsNotSent) {
  uint16_t port = 0;
  {  // bind an ephemeral port, then free it: nothing listens there afterwards
    asio::ip::tcp::acceptor probe(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    port = probe.local_endpoint().port();
  }
  const TransportError error =
      expect_error(run_send(ioc, client, local_origin(port), make_request(bhttp::verb::post, "/")));
  EXPECT_EQ(error.stage, Stage::NotSent);
  EXPECT_FALSE(error.timed_out);
  EXPECT_EQ(error.message, "connection refused");
}

TEST_F(HttpClientTest, UnresolvableHostIsNotSent) {
  // ".invalid" is reserved (RFC 2606) and never resolves; no network is needed to learn that.
  const TransportError error =
      expect_error(run_send(ioc, client, local_origin(80, false, "no-such-host.invalid"),
                            make_request(bhttp::verb::get, "/")));
  EXPECT_EQ(error.stage, Stage::NotSent);
  // A resolver stuck on an unreachable name server may instead exceed the connect timeout.
  EXPECT_TRUE(error.message.find("DNS") != std::string::npos || error.timed_out) << error.message;
}

TEST_F(HttpClientTest, SilentServerTimesOutAsMaybeSent) {
  TestServer server([](const Request&, int) { return hang(); });
  const auto started = std::chrono::steady_clock::now();
  const TransportError error = expect_error(
      run_send(ioc, client, local_origin(server.port()), make_request(bhttp::verb::post, "/", "x"),
               Timeouts{.connect = std::chrono::milliseconds(2000),
                        .total = std::chrono::milliseconds(300)}));
  EXPECT_EQ(error.stage, Stage::MaybeSent);
  EXPECT_TRUE(error.timed_out);
  EXPECT_EQ(error.message, "timeout after 300 ms");
  // Only a bound that proves the timeout fired at all, generous for noisy machines.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
}

TEST_F(HttpClientTest, ServerClosingWithoutAnswerIsMaybeSent) {
  TestServer server([](const Request&, int) { return close_without_answer(); });
  const TransportError error = expect_error(
      run_send(ioc, client, local_origin(server.port()), make_request(bhttp::verb::get, "/")));
  EXPECT_EQ(error.stage, Stage::MaybeSent);
  EXPECT_FALSE(error.timed_out);
  EXPECT_EQ(server.accepted(), 1);  // a fresh connection failing is never retried
}

TEST_F(HttpClientTest, OversizedBodyIsAnError) {
  HttpClient small(ioc, nullptr, ClientOptions{.response_body_limit = 100});
  TestServer server([](const Request&, int) {
    return respond(make_response(bhttp::status::ok, std::string(1000, 'x')));
  });
  const TransportError error = expect_error(
      run_send(ioc, small, local_origin(server.port()), make_request(bhttp::verb::get, "/")));
  EXPECT_EQ(error.stage, Stage::MaybeSent);
  EXPECT_EQ(error.message, "upstream response body exceeds 100 bytes");
}

TEST_F(HttpClientTest, OversizedChunkedBodyIsAnError) {
  HttpClient small(ioc, nullptr, ClientOptions{.response_body_limit = 100});
  TestServer server([](const Request&, int) {
    Response response{bhttp::status::ok, 11};
    response.body() = std::string(1000, 'x');
    response.chunked(true);
    return respond(std::move(response));
  });
  const TransportError error = expect_error(
      run_send(ioc, small, local_origin(server.port()), make_request(bhttp::verb::get, "/")));
  EXPECT_EQ(error.message, "upstream response body exceeds 100 bytes");
}

TEST_F(HttpClientTest, BodyAtTheLimitIsAccepted) {
  HttpClient small(ioc, nullptr, ClientOptions{.response_body_limit = 100});
  TestServer server([](const Request&, int) {
    return respond(make_response(bhttp::status::ok, std::string(100, 'x')));
  });
  const Outcome outcome =
      run_send(ioc, small, local_origin(server.port()), make_request(bhttp::verb::get, "/"));
  EXPECT_EQ(expect_response(outcome).body().size(), 100u);
}

TEST_F(HttpClientTest, OversizedHeaderIsAnError) {
  HttpClient small(ioc, nullptr, ClientOptions{.response_header_limit = 1024});
  TestServer server([](const Request&, int) {
    auto response = make_response(bhttp::status::ok, "");
    response.set("X-Big", std::string(4096, 'h'));
    return respond(std::move(response));
  });
  const TransportError error = expect_error(
      run_send(ioc, small, local_origin(server.port()), make_request(bhttp::verb::get, "/")));
  EXPECT_EQ(error.stage, Stage::MaybeSent);
  EXPECT_NE(error.message.find("header exceeds"), std::string::npos) << error.message;
}

TEST_F(HttpClientTest, HttpsWithoutTlsContextIsNotSent) {
  HttpClient plain_only(ioc, nullptr);
  TestServer server(echo);
  const TransportError error =
      expect_error(run_send(ioc, plain_only, local_origin(server.port(), /*tls=*/true),
                            make_request(bhttp::verb::get, "/")));
  EXPECT_EQ(error.stage, Stage::NotSent);
  EXPECT_EQ(server.accepted(), 0);
}

}  // namespace
}  // namespace x402::http
