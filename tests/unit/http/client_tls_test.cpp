// HttpClient over TLS: certificate and host-name verification against an in-process HTTPS server
// whose self-signed certificate is generated per test with OpenSSL.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/asio/buffer.hpp>
#include <memory>
#include <stdexcept>
#include <string>

#include "support/http_test_server.hpp"

namespace x402::http {
namespace {

using namespace testing;
using Stage = TransportError::Stage;

struct Credentials {
  std::string cert_pem;
  std::string key_pem;
};

template <class T, void (*Free)(T*)>
using Owned = std::unique_ptr<T, std::integral_constant<decltype(Free), Free>>;

std::string bio_to_string(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(size));
}

// A self-signed P-256 certificate valid now, for the given subjectAltName ("DNS:x,IP:y").
Credentials make_self_signed(const std::string& subject_alt_name) {
  Owned<EVP_PKEY, EVP_PKEY_free> key(EVP_EC_gen("P-256"));
  Owned<X509, X509_free> cert(X509_new());
  if (!key || !cert) throw std::runtime_error("OpenSSL allocation failed");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("x402 test"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, cert.get(), cert.get(), nullptr, nullptr, 0);
  Owned<X509_EXTENSION, X509_EXTENSION_free> san(
      X509V3_EXT_conf_nid(nullptr, &context, NID_subject_alt_name, subject_alt_name.c_str()));
  if (!san || !X509_add_ext(cert.get(), san.get(), -1)) throw std::runtime_error("bad SAN");
  if (!X509_sign(cert.get(), key.get(), EVP_sha256())) throw std::runtime_error("sign failed");

  Owned<BIO, BIO_free_all> cert_bio(BIO_new(BIO_s_mem()));
  Owned<BIO, BIO_free_all> key_bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(cert_bio.get(), cert.get());
  PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  return {bio_to_string(cert_bio.get()), bio_to_string(key_bio.get())};
}

std::shared_ptr<asio::ssl::context> server_context(const Credentials& credentials) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  context->use_certificate_chain(asio::buffer(credentials.cert_pem));
  context->use_private_key(asio::buffer(credentials.key_pem), asio::ssl::context::pem);
  return context;
}

// A client context that trusts exactly the test certificate (and nothing from the system).
std::shared_ptr<asio::ssl::context> trusting_context(const Credentials& credentials) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  context->add_certificate_authority(asio::buffer(credentials.cert_pem));
  context->set_verify_mode(asio::ssl::verify_peer);
  return context;
}

Action hello(const Request& request, int) {
  return respond(make_response(bhttp::status::ok, "hello " + std::string(request.target())));
}

class HttpClientTlsTest : public ::testing::Test {
 protected:
  Credentials credentials = make_self_signed("DNS:localhost,IP:127.0.0.1");
  asio::io_context ioc;
};

TEST_F(HttpClientTlsTest, DefaultContextRejectsSelfSignedCertificate) {
  TestServer server(hello, server_context(credentials));
  HttpClient client(ioc, make_client_tls_context());
  const Outcome outcome = run_send(ioc, client, local_origin(server.port(), /*tls=*/true),
                                   make_request(bhttp::verb::post, "/settle", "{}"));
  ASSERT_TRUE(std::holds_alternative<TransportError>(outcome));
  const auto& error = std::get<TransportError>(outcome);
  EXPECT_EQ(error.stage, Stage::NotSent);
  EXPECT_FALSE(error.timed_out);
  EXPECT_NE(error.message.find("certificate"), std::string::npos) << error.message;
}

TEST_F(HttpClientTlsTest, TrustedCertificateByHostNameSucceedsAndReusesTheConnection) {
  TestServer server(hello, server_context(credentials));
  HttpClient client(ioc, trusting_context(credentials));
  const Origin origin = local_origin(server.port(), /*tls=*/true, "localhost");
  for (const char* target : {"/one", "/two"}) {
    const Outcome outcome = run_send(ioc, client, origin, make_request(bhttp::verb::get, target));
    ASSERT_TRUE(std::holds_alternative<Response>(outcome))
        << std::get<TransportError>(outcome).message;
    EXPECT_EQ(std::get<Response>(outcome).body(), std::string("hello ") + target);
  }
  EXPECT_EQ(server.accepted(), 1);
}

TEST_F(HttpClientTlsTest, IdleConnectionClosedWithCloseNotifyIsSkippedEvenForPost) {
  TestServer server(
      [](const Request& request, int) {
        return respond_then_close(make_response(bhttp::status::ok, std::string(request.target())));
      },
      server_context(credentials));
  HttpClient client(ioc, trusting_context(credentials));
  const Origin origin = local_origin(server.port(), /*tls=*/true);
  for (const char* target : {"/one", "/two"}) {
    if (server.accepted() > 0) {  // the first connection must be closed before the second POST
      for (int i = 0; i < 1000 && server.closed_after_response() == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      ASSERT_EQ(server.closed_after_response(), 1);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    const Outcome outcome =
        run_send(ioc, client, origin, make_request(bhttp::verb::post, target, "{}"));
    ASSERT_TRUE(std::holds_alternative<Response>(outcome))
        << std::get<TransportError>(outcome).message;
    EXPECT_EQ(std::get<Response>(outcome).body(), target);
  }
  EXPECT_EQ(server.accepted(), 2);
}

TEST_F(HttpClientTlsTest, TrustedCertificateByIpAddressSucceeds) {
  TestServer server(hello, server_context(credentials));
  HttpClient client(ioc, trusting_context(credentials));
  const Outcome outcome = run_send(ioc, client, local_origin(server.port(), /*tls=*/true),
                                   make_request(bhttp::verb::get, "/ip"));
  ASSERT_TRUE(std::holds_alternative<Response>(outcome))
      << std::get<TransportError>(outcome).message;
  EXPECT_EQ(std::get<Response>(outcome).body(), "hello /ip");
}

TEST_F(HttpClientTlsTest, TrustedCertificateForAnotherHostIsRejected) {
  const Credentials other = make_self_signed("DNS:other.example");
  TestServer server(hello, server_context(other));
  HttpClient client(ioc, trusting_context(other));
  const Outcome outcome = run_send(ioc, client, local_origin(server.port(), /*tls=*/true),
                                   make_request(bhttp::verb::get, "/"));
  ASSERT_TRUE(std::holds_alternative<TransportError>(outcome));
  const auto& error = std::get<TransportError>(outcome);
  EXPECT_EQ(error.stage, Stage::NotSent);
  EXPECT_NE(error.message.find("mismatch"), std::string::npos) << error.message;
}

TEST_F(HttpClientTlsTest, StalledHandshakeIsAConnectTimeoutNotSent) {
  TestServer server(hello, nullptr, /*hold_without_reading=*/true);
  HttpClient client(ioc, trusting_context(credentials));
  const Outcome outcome = run_send(
      ioc, client, local_origin(server.port(), /*tls=*/true), make_request(bhttp::verb::post, "/"),
      Timeouts{.connect = std::chrono::milliseconds(300), .total = std::chrono::seconds(30)});
  ASSERT_TRUE(std::holds_alternative<TransportError>(outcome));
  const auto& error = std::get<TransportError>(outcome);
  EXPECT_EQ(error.stage, Stage::NotSent);
  EXPECT_TRUE(error.timed_out);
  EXPECT_EQ(error.message, "timeout after 300 ms");
}

}  // namespace
}  // namespace x402::http
