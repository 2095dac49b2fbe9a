#include "gateway/admin_books.hpp"

#include <boost/url/parse.hpp>
#include <map>
#include <set>

#include "gateway/blocking.hpp"
#include "gateway/responses.hpp"
#include "observability/log.hpp"
#include "state/books.hpp"

namespace x402 {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr size_t kDefaultLimit = 100;
constexpr size_t kMaxLimit = 1000;
// Bounds the work of one revenue report: ten years of days.
constexpr int64_t kMaxRevenueDays = 3660;

Error bad_param(const std::string& name, const std::string& message) {
  return make_error("invalid_parameter", name, name + ": " + message);
}

// The query string as name → value (percent-decoded). Only `allowed` names, each at most once,
// so a typo such as ?form= is an error instead of a silently ignored filter.
Result<std::map<std::string, std::string>> query_params(std::string_view target,
                                                        const std::set<std::string>& allowed) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return bad_param("query", "the request target is not a valid URL");
  std::map<std::string, std::string> out;
  for (const auto& p : url->params()) {
    if (!allowed.contains(p.key)) {
      std::string names;
      for (const auto& a : allowed) names += (names.empty() ? "" : ", ") + a;
      return bad_param(p.key, "unknown parameter; this endpoint takes " + names);
    }
    if (!out.emplace(p.key, p.value).second) return bad_param(p.key, "given more than once");
  }
  return out;
}

std::optional<std::string> param(const std::map<std::string, std::string>& params,
                                 const std::string& name) {
  auto it = params.find(name);
  return it == params.end() ? std::nullopt : std::optional<std::string>(it->second);
}

Result<std::optional<int64_t>> date_param(const std::map<std::string, std::string>& params,
                                          const std::string& name) {
  auto text = param(params, name);
  if (!text) return std::optional<int64_t>{};
  auto day = books::parse_date(*text);
  if (!day)
    return bad_param(
        name, "expected a UTC date YYYY-MM-DD (1970 or later), got '" + text->substr(0, 40) + "'");
  return std::optional<int64_t>(*day);
}

Result<size_t> limit_param(const std::map<std::string, std::string>& params) {
  auto text = param(params, "limit");
  if (!text) return kDefaultLimit;
  size_t v = 0;
  const bool digits =
      !text->empty() && text->size() <= 4 &&
      std::all_of(text->begin(), text->end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits) v = std::stoul(*text);
  if (!digits || v < 1 || v > kMaxLimit) {
    return bad_param("limit", "expected a whole number 1.." + std::to_string(kMaxLimit) +
                                  ", got '" + text->substr(0, 40) + "'");
  }
  return v;
}

// A cursor is "<created_ms>:<id>" of the last row of the previous page: opaque to clients, who
// pass back the next_cursor they were given.
std::string cursor_text(int64_t created_ms, const std::string& id) {
  return std::to_string(created_ms) + ":" + id;
}

Result<std::optional<BooksCursor>> cursor_param(const std::map<std::string, std::string>& params) {
  auto text = param(params, "cursor");
  if (!text) return std::optional<BooksCursor>{};
  const size_t colon = text->find(':');
  const bool ok = colon != std::string::npos && colon > 0 && colon <= 18 &&
                  colon + 1 < text->size() && text->size() <= 300 &&
                  std::all_of(text->begin(), text->begin() + static_cast<long>(colon),
                              [](char c) { return c >= '0' && c <= '9'; });
  if (!ok) return bad_param("cursor", "not a cursor this API handed out (pass next_cursor back)");
  return std::optional<BooksCursor>(
      BooksCursor{std::stoll(text->substr(0, colon)), text->substr(colon + 1)});
}

// from/to are whole UTC days, both inclusive; the query runs on [from 00:00, to+1 00:00).
Status read_range(const std::map<std::string, std::string>& params, BooksQuery& query) {
  auto from = date_param(params, "from");
  if (!from) return from.error();
  auto to = date_param(params, "to");
  if (!to) return to.error();
  if (*from && *to && **to < **from) return bad_param("to", "is before from");
  if (*from) query.from_ms = **from * books::kDayMs;
  if (*to) query.to_ms = (**to + 1) * books::kDayMs;
  return Ok{};
}

json::object payment_json(const PaymentRecord& p) {
  json::object o{{"id", p.id},
                 {"status", to_string(p.status)},
                 {"amount", p.amount},
                 {"network", p.network},
                 {"asset", p.key.asset},
                 {"chain_id", p.key.chain_id},
                 {"payer", p.key.payer},
                 {"nonce", p.key.nonce},
                 {"pay_to", p.pay_to},
                 {"route", p.route},
                 {"request_id", p.request_id},
                 {"x402_version", p.x402_version},
                 {"facilitator", p.facilitator},
                 {"tx_hash", p.tx_hash},
                 {"created_ms", p.created_ms},
                 {"updated_ms", p.updated_ms}};
  if (!p.error_reason.empty()) o["error_reason"] = p.error_reason;
  return o;
}

json::object event_json(const PaymentEvent& e) {
  json::object o{{"seq", e.seq},     {"from_status", e.from_status}, {"to_status", e.to_status},
                 {"at_ms", e.at_ms}, {"facilitator", e.facilitator}, {"tx_hash", e.tx_hash}};
  if (!e.error_reason.empty()) o["error_reason"] = e.error_reason;
  return o;
}

json::object usage_json(const UsageRecord& u) {
  json::object o{{"id", u.id},
                 {"request_id", u.request_id},
                 {"route", u.route},
                 {"payer", u.payer},
                 {"amount", u.amount},
                 {"asset", u.asset},
                 {"network", u.network},
                 {"billing_mode", u.billing_mode},
                 {"policy_version", u.policy_version},
                 {"upstream_status", u.upstream_status},
                 {"created_ms", u.created_ms}};
  o["payment_id"] = u.payment_id.empty() ? json::value(nullptr) : json::value(u.payment_id);
  return o;
}

class BooksRequest {
 public:
  BooksRequest(http::IncomingRequest& request, const Config& config, const MerchantConfig& merchant,
               GatewayServices& services)
      : request_(request), config_(config), merchant_(merchant), services_(services) {}

  asio::awaitable<http::OutgoingResponse> run() {
    const std::string_view target = request_.target();
    // v1 / merchants / {id} / resource [ / payment_id ]
    std::vector<std::string> parts;
    const std::string_view path = target.substr(0, target.find('?'));
    for (size_t at = 1; at <= path.size();) {
      size_t end = path.find('/', at);
      if (end == std::string_view::npos) end = path.size();
      parts.emplace_back(path.substr(at, end - at));
      at = end + 1;
    }
    if (request_.method() != bhttp::verb::get) {
      auto res = error_response(
          405, make_error("method_not_allowed", "method", "the books are read-only: use GET"));
      res.set(bhttp::field::allow, "GET");
      co_return res;
    }
    const std::string& resource = parts.at(3);
    if (parts.size() == 4 && resource == "revenue") co_return co_await revenue();
    if (parts.size() == 4 && resource == "payments") co_return co_await payments();
    if (parts.size() == 5 && resource == "payments" && !parts[4].empty()) {
      co_return co_await payment(parts[4]);
    }
    if (parts.size() == 4 && resource == "usage") co_return co_await usage();
    co_return error_response(
        404, make_error("not_found", "path", "unknown endpoint; see docs/books.md"));
  }

 private:
  http::OutgoingResponse store_failed(const Error& e) {
    log::error("admin API books query failed", {{"merchant", merchant_.id}, {"error", e.message}});
    if (e.code == "store_unavailable") {
      return error_response(
          503, make_error("store_unavailable", "", "the store is unavailable: " + e.message));
    }
    return error_response(500, e);
  }

  asio::awaitable<http::OutgoingResponse> revenue() {
    auto params = query_params(request_.target(), {"period", "from", "to"});
    if (!params) co_return error_response(400, params.error());
    const auto period_text = param(*params, "period").value_or("day");
    const auto period = books::parse_period(period_text);
    if (!period) {
      co_return error_response(400, bad_param("period", "expected day, week or month, got '" +
                                                            period_text.substr(0, 40) + "'"));
    }
    auto from = date_param(*params, "from");
    if (!from) co_return error_response(400, from.error());
    auto to = date_param(*params, "to");
    if (!to) co_return error_response(400, to.error());
    if (!*from) co_return error_response(400, bad_param("from", "required (YYYY-MM-DD)"));
    if (!*to) co_return error_response(400, bad_param("to", "required (YYYY-MM-DD)"));
    if (**to < **from) co_return error_response(400, bad_param("to", "is before from"));
    // Whole periods only, so that every line covers its full week or month.
    const int64_t first_day = books::period_start(**from, *period);
    const int64_t end_day = books::next_period_start(**to, *period);  // exclusive
    if (end_day - first_day > kMaxRevenueDays) {
      co_return error_response(400, bad_param("to", "the range may span at most " +
                                                        std::to_string(kMaxRevenueDays) + " days"));
    }
    const uint32_t bps = config_.platform_fee_bps(merchant_);
    auto days = co_await run_blocking(services_.store_pool, [&] {
      return services_.store.daily_revenue(merchant_.id, first_day * books::kDayMs,
                                           end_day * books::kDayMs);
    });
    if (!days) co_return store_failed(days.error());
    auto lines = books::roll_up(*days, *period, bps);
    if (!lines) co_return store_failed(lines.error());
    json::array rows;
    for (const auto& line : *lines) {
      rows.push_back({{"period_start", books::format_date(line.period_start)},
                      {"period", books::period_label(line.period_start, *period)},
                      {"network", line.network},
                      {"asset", line.asset},
                      {"payments", line.payments},
                      {"gross", line.gross},
                      {"platform_fee", line.platform_fee},
                      {"net", line.net}});
    }
    co_return json_response(200, {{"merchant", merchant_.id},
                                  {"period", books::to_string(*period)},
                                  {"from", books::format_date(first_day)},
                                  {"to", books::format_date(end_day - 1)},
                                  {"time_basis", "created_ms"},
                                  {"platform_fee_bps", bps},
                                  {"revenue", std::move(rows)}});
  }

  asio::awaitable<http::OutgoingResponse> payments() {
    auto params = query_params(request_.target(), {"status", "from", "to", "limit", "cursor"});
    if (!params) co_return error_response(400, params.error());
    PaymentQuery query;
    query.merchant_id = merchant_.id;
    if (auto status = param(*params, "status")) {
      std::string upper = *status;
      for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      query.status = parse_payment_status(upper);
      if (!query.status) {
        co_return error_response(400,
                                 bad_param("status",
                                           "expected one of PENDING, VERIFIED, SETTLING, SETTLED, "
                                           "UNKNOWN, FAILED, REFUNDED, got '" +
                                               status->substr(0, 40) + "'"));
      }
    }
    if (auto page = read_page(*params, query); !page) co_return error_response(400, page.error());
    auto found = co_await run_blocking(services_.store_pool,
                                       [&] { return services_.store.list_payments(query); });
    if (!found) co_return store_failed(found.error());
    json::array items;
    for (const auto& p : *found) items.push_back(payment_json(p));
    co_return json_response(
        200, {{"merchant", merchant_.id},
              {"payments", std::move(items)},
              {"next_cursor", next_cursor(*found, query.limit, [](const PaymentRecord& p) {
                 return cursor_text(p.created_ms, p.id);
               })}});
  }

  asio::awaitable<http::OutgoingResponse> payment(const std::string& payment_id) {
    if (auto params = query_params(request_.target(), {}); !params) {
      co_return error_response(400, params.error());
    }
    auto found = co_await run_blocking(services_.store_pool, [&] {
      auto payment = services_.store.find_payment(payment_id);
      auto events = services_.store.payment_events(payment_id);
      return std::pair{std::move(payment), std::move(events)};
    });
    if (!found.first) co_return store_failed(found.first.error());
    if (!found.second) co_return store_failed(found.second.error());
    // Another merchant's payment is as absent as a missing one: its existence is not ours to say.
    if (!*found.first || (*found.first)->merchant_id != merchant_.id) {
      co_return error_response(
          404, make_error("payment_not_found", "payment_id",
                          "merchant " + merchant_.id + " has no payment with id " + payment_id));
    }
    json::object body = payment_json(**found.first);
    json::array events;
    for (const auto& e : *found.second) events.push_back(event_json(e));
    body["events"] = std::move(events);
    co_return json_response(200, {{"merchant", merchant_.id}, {"payment", std::move(body)}});
  }

  asio::awaitable<http::OutgoingResponse> usage() {
    auto params = query_params(request_.target(), {"from", "to", "limit", "cursor"});
    if (!params) co_return error_response(400, params.error());
    BooksQuery query;
    query.merchant_id = merchant_.id;
    if (auto page = read_page(*params, query); !page) co_return error_response(400, page.error());
    auto found = co_await run_blocking(services_.store_pool,
                                       [&] { return services_.store.list_usage(query); });
    if (!found) co_return store_failed(found.error());
    json::array items;
    for (const auto& u : *found) items.push_back(usage_json(u));
    co_return json_response(
        200, {{"merchant", merchant_.id},
              {"usage", std::move(items)},
              {"next_cursor", next_cursor(*found, query.limit, [](const UsageRecord& u) {
                 return cursor_text(u.created_ms, u.id);
               })}});
  }

  static Status read_page(const std::map<std::string, std::string>& params, BooksQuery& query) {
    if (auto range = read_range(params, query); !range) return range;
    auto limit = limit_param(params);
    if (!limit) return limit.error();
    query.limit = *limit;
    auto cursor = cursor_param(params);
    if (!cursor) return cursor.error();
    query.after = *cursor;
    return Ok{};
  }

  // A full page may have more behind it; a short page is the last.
  template <typename Row, typename Fn>
  static json::value next_cursor(const std::vector<Row>& rows, size_t limit, Fn cursor_of) {
    if (rows.empty() || rows.size() < limit) return nullptr;
    return json::value(cursor_of(rows.back()));
  }

  http::IncomingRequest& request_;
  const Config& config_;
  const MerchantConfig& merchant_;
  GatewayServices& services_;
};

}  // namespace

bool is_books_resource(std::string_view resource) {
  return resource == "revenue" || resource == "payments" || resource == "usage";
}

asio::awaitable<http::OutgoingResponse> serve_books(http::IncomingRequest& request,
                                                    const Config& config,
                                                    const MerchantConfig& merchant,
                                                    GatewayServices& services) {
  BooksRequest books(request, config, merchant, services);
  co_return co_await books.run();
}

}  // namespace x402
