// The shared client TLS context. Built once at startup and handed to every worker's HttpClient.
#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>

#include "http/client.hpp"

namespace x402::http {

std::shared_ptr<boost::asio::ssl::context> make_client_tls_context() {
  namespace ssl = boost::asio::ssl;
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ignored;
  // If the system trust store cannot be loaded the store stays empty and every peer is rejected:
  // the failure is loud (each TLS call reports "certificate verify failed") and never insecure.
  context->set_default_verify_paths(ignored);
  context->set_verify_mode(ssl::verify_peer, ignored);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  return context;
}

}  // namespace x402::http
