#include "gateway/idempotency.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <string>

#include "gateway/blocking.hpp"
#include "gateway/responses.hpp"
#include "observability/log.hpp"
#include "protocol/base64.hpp"

namespace x402 {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr size_t kMaxKeyLength = 255;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Header names compare case-insensitively; `lower` is written in lower case.
bool equals_lower(std::string_view name, std::string_view lower) {
  return name.size() == lower.size() &&
         std::equal(name.begin(), name.end(), lower.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

// Headers that describe one transfer, not the response: never replayed as stored.
bool per_message(std::string_view name) {
  static constexpr std::string_view kSkipped[] = {
      "connection", "keep-alive", "transfer-encoding", "content-length",   "date",
      "upgrade",    "te",         "trailer",           "proxy-connection", "proxy-authenticate"};
  for (auto skipped : kSkipped) {
    if (equals_lower(name, skipped)) return true;
  }
  return false;
}

// What a client needs from a response whose body was not kept: the settlement and the
// credential it bought.
bool proves_outcome(std::string_view name) {
  static constexpr std::string_view kKept[] = {"payment-response", "x-payment-response",
                                               "x-402-credential", "access-control-expose-headers"};
  for (auto kept : kKept) {
    if (equals_lower(name, kept)) return true;
  }
  return false;
}

// The stored form of a response: headers (in order, duplicates kept) as JSON, the body as base64
// so that any bytes fit a TEXT column. A body over the cap is not kept; only its size is.
IdempotencyRecord stored_response(IdempotencyRecord row, const http::OutgoingResponse& response,
                                  size_t max_body) {
  json::array headers;
  for (const auto& field : response) {
    if (per_message(field.name_string())) continue;
    headers.push_back(json::array{json::string(field.name_string()), json::string(field.value())});
  }
  const bool kept = response.body().size() <= max_body;
  row.response_status = static_cast<int>(response.result_int());
  row.response_headers = json::serialize(json::object{{"headers", std::move(headers)},
                                                      {"body_bytes", response.body().size()},
                                                      {"body_kept", kept}});
  row.response_body = kept ? base64::encode(response.body()) : std::string();
  return row;
}

http::OutgoingResponse replayed(const IdempotencyRecord& row, const IdempotentRequest& request) {
  json::error_code ec;
  json::value meta = json::parse(row.response_headers, ec);
  const json::object* o = ec ? nullptr : meta.if_object();
  auto body = base64::decode(row.response_body);
  if (!o || !body) {
    log::error("stored idempotent response is unreadable",
               {{"scope", row.scope}, {"key", row.key}});
    return error_response(500, make_error("idempotency_record_unreadable", request.field,
                                          "the response stored for this key cannot be read"));
  }
  const bool kept =
      o->contains("body_kept") && o->at("body_kept").is_bool() && o->at("body_kept").get_bool();
  http::OutgoingResponse res{static_cast<bhttp::status>(row.response_status), 11};
  if (!kept) {
    // Too large to keep: say so, but still hand over what proves the original outcome (the
    // settlement header, a credential) so the client knows it was not charged again.
    const auto* size = o->if_contains("body_bytes");
    res = json_response(410,
                        {{"error", "this request was already processed; its response body (" +
                                       (size ? json::serialize(*size) : std::string("?")) +
                                       " bytes) was larger than the replay cap and was not kept"},
                         {"code", "idempotent_response_not_kept"},
                         {"field", request.field},
                         {"original_status", row.response_status}});
  } else {
    res.body() = std::move(*body);
  }
  if (const auto* headers = o->if_contains("headers"); headers && headers->is_array()) {
    for (const auto& pair : headers->get_array()) {
      const auto* nv = pair.if_array();
      if (!nv || nv->size() != 2 || !(*nv)[0].is_string() || !(*nv)[1].is_string()) continue;
      const std::string name((*nv)[0].get_string());
      if (!kept && !proves_outcome(name)) continue;
      res.insert(name, std::string((*nv)[1].get_string()));
    }
  }
  res.set("Idempotent-Replayed", "true");
  res.prepare_payload();
  return res;
}

http::OutgoingResponse in_flight(const IdempotentRequest& request) {
  auto res =
      error_response(409, make_error("idempotency_key_in_flight", request.field,
                                     "a request with this " + request.field +
                                         " is still being processed; retry after it finished"));
  res.set(bhttp::field::retry_after, "1");
  return res;
}

http::OutgoingResponse mismatch(const IdempotentRequest& request) {
  return error_response(
      422, make_error("idempotency_key_reused", request.field,
                      "this " + request.field +
                          " was already used for a different request; use a new key for a new "
                          "request"));
}

http::OutgoingResponse unavailable(const Config& config, const IdempotentRequest& request,
                                   const std::string& why) {
  auto res = error_response(
      503, make_error("idempotency_unavailable", request.field,
                      "idempotency state is unreachable (" + why +
                          "); nothing was processed, retry later with the same key"));
  res.set(bhttp::field::retry_after, std::to_string(config.failover.retry_after.count()));
  return res;
}

}  // namespace

Result<std::string> parse_idempotency_key(std::string_view value) {
  const auto bad = [](const std::string& why) {
    return make_error("invalid_idempotency_key", "Idempotency-Key",
                      "Idempotency-Key must be a quoted string (RFC 8941), e.g. "
                      "Idempotency-Key: \"8e03978e-40d5-43e8-bc93-6894a57f9324\": " +
                          why);
  };
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  std::string key;
  if (!value.empty() && value.front() == '"') {
    size_t i = 1;
    bool closed = false;
    for (; i < value.size(); ++i) {
      const char c = value[i];
      if (c == '\\') {
        if (i + 1 >= value.size() || (value[i + 1] != '"' && value[i + 1] != '\\')) {
          return bad("only \\\" and \\\\ may be escaped");
        }
        key += value[++i];
      } else if (c == '"') {
        closed = true;
        break;
      } else if (c < 0x20 || c > 0x7e) {
        return bad("only printable ASCII is allowed");
      } else {
        key += c;
      }
    }
    if (!closed) return bad("the closing quote is missing");
    if (i + 1 != value.size()) return bad("nothing may follow the closing quote");
  } else {
    for (char c : value) {
      if (c <= 0x20 || c > 0x7e || c == '"' || c == ',' || c == ';' || c == '\\') {
        return bad("an unquoted key must be one token of visible ASCII");
      }
    }
    key = std::string(value);
  }
  if (key.empty()) return bad("the key is empty");
  if (key.size() > kMaxKeyLength) {
    return bad("at most " + std::to_string(kMaxKeyLength) + " characters");
  }
  return key;
}

std::string request_fingerprint(std::initializer_list<std::string_view> parts) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  for (std::string_view part : parts) {
    const std::string length = std::to_string(part.size()) + ":";
    EVP_DigestUpdate(ctx, length.data(), length.size());
    EVP_DigestUpdate(ctx, part.data(), part.size());
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx, digest, &size);
  EVP_MD_CTX_free(ctx);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < size; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

asio::awaitable<http::OutgoingResponse> run_idempotent(GatewayServices& services,
                                                       const Config& config,
                                                       IdempotentRequest request, Handler handler,
                                                       KeepResponse keep) {
  Store& store = services.store;
  const std::string lock = "x402:idem:" + request.scope + ":" + request.key;
  const std::string owner = random_id();
  const auto retention_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(config.idempotency.retention).count();

  // Fast path: a duplicate arriving while the first runs (on any node) is answered from the lock
  // and, if the first has finished meanwhile, from its row.
  auto claimed = co_await services.cache.claim(
      lock, owner, std::chrono::duration_cast<std::chrono::milliseconds>(kIdempotencyLease));
  if (!claimed) {
    services.metrics.counter_add("x402_idempotency_unavailable_total", "state=cache");
    co_return unavailable(config, request, "cache: " + claimed.error().message);
  }
  if (!*claimed) {
    auto found = co_await run_blocking(services.store_pool, [&] {
      return store.idempotency_find(request.scope, request.key, now_ms());
    });
    if (!found) {
      services.metrics.counter_add("x402_idempotency_unavailable_total", "state=store");
      co_return unavailable(config, request, "store: " + found.error().message);
    }
    if (*found && (*found)->fingerprint != request.fingerprint) co_return mismatch(request);
    if (*found && (*found)->done) {
      services.metrics.counter_add("x402_idempotent_replays_total", "");
      co_return replayed(**found, request);
    }
    co_return in_flight(request);
  }

  IdempotencyRecord row;
  row.scope = request.scope;
  row.key = request.key;
  row.fingerprint = request.fingerprint;
  row.owner = owner;
  row.created_ms = now_ms();
  row.expires_ms = row.created_ms + retention_ms;
  const int64_t stale_before =
      row.created_ms -
      std::chrono::duration_cast<std::chrono::milliseconds>(kIdempotencyLease).count();
  auto began = co_await run_blocking(services.store_pool,
                                     [&] { return store.idempotency_begin(row, stale_before); });
  if (!began || began->outcome != IdempotencyOutcome::Started) {
    co_await services.cache.erase(lock);  // ours, and nothing runs under it
    if (!began) {
      services.metrics.counter_add("x402_idempotency_unavailable_total", "state=store");
      co_return unavailable(config, request, "store: " + began.error().message);
    }
    switch (began->outcome) {
      case IdempotencyOutcome::Replay:
        services.metrics.counter_add("x402_idempotent_replays_total", "");
        co_return replayed(*began->stored, request);
      case IdempotencyOutcome::Mismatch:
        co_return mismatch(request);
      default:
        co_return in_flight(request);
    }
  }

  http::OutgoingResponse response = co_await handler();

  if (keep(response)) {
    IdempotencyRecord done =
        stored_response(row, response, config.idempotency.max_stored_body_bytes);
    done.expires_ms = now_ms() + retention_ms;
    auto finished =
        co_await run_blocking(services.store_pool, [&] { return store.idempotency_finish(done); });
    if (!finished || !*finished) {
      // The answer still goes out; a retry then finds no row (or a stale one) and runs again,
      // where the payment's own replay guard refuses a second charge.
      log::error("idempotent response could not be stored",
                 {{"scope", request.scope},
                  {"key", request.key},
                  {"error", finished ? "the key was taken over" : finished.error().message}});
      services.metrics.counter_add("x402_store_errors_total", "op=idempotency_finish");
    }
  } else {
    auto abandoned = co_await run_blocking(services.store_pool, [&] {
      return store.idempotency_abandon(request.scope, request.key, owner);
    });
    if (!abandoned) {
      // The row stays in flight until the lease ends; retries get 409 until then.
      log::error(
          "idempotency key could not be released",
          {{"scope", request.scope}, {"key", request.key}, {"error", abandoned.error().message}});
    }
  }
  co_await services.cache.erase(lock);
  co_return response;
}

}  // namespace x402
