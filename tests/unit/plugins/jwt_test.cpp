// CDP and PayAI JWTs, checked by an independent implementation (jose, via node) — our own
// decoder agreeing with our own encoder would prove nothing.
#include "jwt.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "fake_host.hpp"
#include "http_facilitator.hpp"

namespace x402::plugins::facilitator_http {
namespace {

namespace fs = std::filesystem;

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> generate(const char* type, const char* curve) {
  EVP_PKEY* key = curve ? EVP_PKEY_Q_keygen(nullptr, nullptr, type, curve)
                        : EVP_PKEY_Q_keygen(nullptr, nullptr, type);
  return {key, EVP_PKEY_free};
}

std::string private_pem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string ed25519_seed_and_public(EVP_PKEY* key) {
  std::string raw(64, '\0');
  size_t priv = 32, pub = 32;
  EVP_PKEY_get_raw_private_key(key, reinterpret_cast<unsigned char*>(raw.data()), &priv);
  EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data() + 32), &pub);
  return raw;
}

std::string pkcs8_der(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int n = i2d_PrivateKey(key, &der);  // Ed25519 keys serialize as PKCS#8
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

uint64_t now_s() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// Runs the jose checker on one token; returns its exit status and output.
class JoseChecker : public ::testing::Test {
 protected:
  void SetUp() override {
    tests_dir_ = fs::path(X402_SOURCE_DIR) / "tests";
    bool have_jose = fs::exists(tests_dir_ / "node_modules" / "jose" / "package.json");
    if (!have_jose && !std::getenv("X402_REQUIRE_NODE"))
      GTEST_SKIP() << "tests/node_modules/jose missing: run `npm ci` in tests/ "
                      "(set X402_REQUIRE_NODE=1 to make this a failure)";
    ASSERT_TRUE(have_jose) << "X402_REQUIRE_NODE is set but tests/node_modules/jose is missing";
    dir_ = fs::temp_directory_path() / ("x402-jwt-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  std::pair<int, std::string> check(const boost::json::object& c) {
    auto file = dir_ / ("case-" + std::to_string(++cases_) + ".json");
    std::ofstream(file) << boost::json::serialize(c);
    std::string cmd = "node '" + (tests_dir_ / "jwt" / "verify_jwt.mjs").string() + "' '" +
                      file.string() + "' 2>&1";
    std::string output;
    FILE* pipe = popen(cmd.c_str(), "r");
    if (!pipe) return {-1, "popen failed"};
    std::array<char, 512> buf{};
    while (fgets(buf.data(), buf.size(), pipe)) output += buf.data();
    int status = pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
  }

  fs::path tests_dir_;
  fs::path dir_;
  int cases_ = 0;
};

TEST_F(JoseChecker, CdpEs256TokenVerifies) {
  auto ec = generate("EC", "P-256");
  auto key = JwtSigningKey::from_cdp_secret(private_pem(ec.get()));
  ASSERT_EQ(key.algorithm(), JwtAlgorithm::ES256);
  const std::string url = "https://api.cdp.coinbase.com/platform/v2/x402/verify";
  std::string token = make_cdp_jwt(key, "organizations/o/apiKeys/k1", "POST", url, now_s());

  auto [status, output] = check({{"kind", "cdp"},
                                 {"token", token},
                                 {"publicKeyPem", key.public_key_pem()},
                                 {"alg", "ES256"},
                                 {"kid", "organizations/o/apiKeys/k1"},
                                 {"uri", "POST api.cdp.coinbase.com/platform/v2/x402/verify"}});
  EXPECT_EQ(status, 0) << output;
}

TEST_F(JoseChecker, CdpEd25519TokenVerifies) {
  auto ed = generate("ED25519", nullptr);
  auto key = JwtSigningKey::from_cdp_secret(base64(ed25519_seed_and_public(ed.get())));
  ASSERT_EQ(key.algorithm(), JwtAlgorithm::EdDSA);
  std::string token = make_cdp_jwt(
      key, "key-id-2", "GET", "https://api.cdp.coinbase.com/platform/v2/x402/supported", now_s());

  auto [status, output] = check({{"kind", "cdp"},
                                 {"token", token},
                                 {"publicKeyPem", key.public_key_pem()},
                                 {"alg", "EdDSA"},
                                 {"kid", "key-id-2"},
                                 {"uri", "GET api.cdp.coinbase.com/platform/v2/x402/supported"}});
  EXPECT_EQ(status, 0) << output;
}

TEST_F(JoseChecker, PayaiTokenVerifies) {
  auto ed = generate("ED25519", nullptr);
  auto key = JwtSigningKey::from_payai_secret("payai_sk_" + base64(pkcs8_der(ed.get())));
  std::string token = make_payai_jwt(key, "merchant-key-7", now_s());

  auto [status, output] = check({{"kind", "payai"},
                                 {"token", token},
                                 {"publicKeyPem", key.public_key_pem()},
                                 {"alg", "EdDSA"},
                                 {"kid", "merchant-key-7"}});
  EXPECT_EQ(status, 0) << output;
}

// The checker itself must be able to fail, or the tests above prove nothing.
TEST_F(JoseChecker, CheckerRejectsWrongUriAndTamperedSignature) {
  auto ec = generate("EC", "P-256");
  auto key = JwtSigningKey::from_cdp_secret(private_pem(ec.get()));
  std::string token = make_cdp_jwt(key, "k", "POST",
                                   "https://api.cdp.coinbase.com/platform/v2/x402/settle", now_s());
  boost::json::object c{{"kind", "cdp"},
                        {"token", token},
                        {"publicKeyPem", key.public_key_pem()},
                        {"alg", "ES256"},
                        {"kid", "k"},
                        {"uri", "POST api.cdp.coinbase.com/platform/v2/x402/verify"}};
  auto [wrong_uri, out1] = check(c);
  EXPECT_NE(wrong_uri, 0) << out1;
  EXPECT_NE(out1.find("uris"), std::string::npos) << out1;

  c["uri"] = "POST api.cdp.coinbase.com/platform/v2/x402/settle";
  std::string tampered = token;
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
  c["token"] = tampered;
  auto [bad_sig, out2] = check(c);
  EXPECT_NE(bad_sig, 0) << out2;
}

// The plugin itself signs each CDP request for that request's exact method and path.
TEST_F(JoseChecker, CdpPluginSignsEachRequestForItsOwnPath) {
  auto ec = generate("EC", "P-256");
  std::string pem = private_pem(ec.get());
  auto public_pem = JwtSigningKey::from_cdp_secret(pem).public_key_pem();
  HttpFacilitatorConfig config;
  config.preset = Preset::cdp;
  config.url = "https://api.cdp.coinbase.com/platform/v2/x402";
  config.api_key_id = "kid-cdp";
  config.api_key_secret = pem;

  test::FakeHost host;
  host.now_unix_ms = now_s() * 1000;
  host.script.push_back({X402_TRANSPORT_OK, 200, {}, R"({"isValid":true})"});
  host.script.push_back({X402_TRANSPORT_OK, 200, {}, R"({"success":true,"transaction":"0x1"})"});
  HttpFacilitator fac(sdk::Host(host.api(), "cdp"), config);
  fac.verify("{}", [](const sdk::FacilitatorResult&) {});
  fac.settle("{}", [](const sdk::FacilitatorResult&) {});
  ASSERT_EQ(host.requests.size(), 2u);

  const char* paths[] = {"verify", "settle"};
  for (size_t i = 0; i < 2; ++i) {
    std::string auth = host.requests[i].header("Authorization");
    ASSERT_EQ(auth.rfind("Bearer ", 0), 0u) << auth;
    auto [status, output] =
        check({{"kind", "cdp"},
               {"token", auth.substr(7)},
               {"publicKeyPem", public_pem},
               {"alg", "ES256"},
               {"kid", "kid-cdp"},
               {"uri", std::string("POST api.cdp.coinbase.com/platform/v2/x402/") + paths[i]}});
    EXPECT_EQ(status, 0) << output;
  }
}

TEST(Jwt, PayaiTokenIsReusedForAboutOneHundredSeconds) {
  auto ed = generate("ED25519", nullptr);
  HttpFacilitatorConfig config;
  config.preset = Preset::payai;
  config.url = "https://facilitator.payai.network";
  config.api_key_id = "m";
  config.api_key_secret = base64(pkcs8_der(ed.get()));
  test::FakeHost host;
  for (int i = 0; i < 3; ++i)
    host.script.push_back({X402_TRANSPORT_OK, 200, {}, R"({"isValid":true})"});
  HttpFacilitator fac(sdk::Host(host.api(), "payai"), config);
  fac.verify("{}", [](const sdk::FacilitatorResult&) {});
  host.now_unix_ms += 50'000;
  fac.verify("{}", [](const sdk::FacilitatorResult&) {});
  host.now_unix_ms += 60'000;
  fac.verify("{}", [](const sdk::FacilitatorResult&) {});

  ASSERT_EQ(host.requests.size(), 3u);
  EXPECT_FALSE(host.requests[0].header("Authorization").empty());
  EXPECT_EQ(host.requests[0].header("Authorization"), host.requests[1].header("Authorization"));
  EXPECT_NE(host.requests[1].header("Authorization"), host.requests[2].header("Authorization"));
}

TEST(Jwt, CdpUriClaimIsMethodHostAndFullPath) {
  EXPECT_EQ(cdp_uri_claim("POST", "https://api.cdp.coinbase.com/platform/v2/x402/verify?x=1"),
            "POST api.cdp.coinbase.com/platform/v2/x402/verify");
}

TEST(Jwt, BadSecretsAreRefusedWithoutEchoingThem) {
  try {
    JwtSigningKey::from_cdp_secret("c2VjcmV0LXNob3J0");
    FAIL() << "short secret accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).find("c2VjcmV0"), std::string::npos);
  }
  auto p384 = generate("EC", "P-384");
  EXPECT_THROW(JwtSigningKey::from_cdp_secret(private_pem(p384.get())), std::invalid_argument);
  EXPECT_THROW(JwtSigningKey::from_payai_secret("payai_sk_!!!"), std::invalid_argument);
}

}  // namespace
}  // namespace x402::plugins::facilitator_http
