#include "outcome.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>

namespace x402::plugins::facilitator_http {
namespace {

using sdk::FacilitatorResult;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<boost::json::object> parse_object(std::string_view body) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

// x402-rs answers some settle failures with "network": "" — take it from what we asked for.
void fill_settle_defaults(boost::json::object& answer, std::string_view request_json) {
  if (!answer.contains("transaction") || !answer["transaction"].is_string())
    answer["transaction"] = "";
  const auto* network = answer.if_contains("network");
  if (network && network->is_string() && !network->get_string().empty()) return;
  std::string requested;
  if (auto req = parse_object(request_json)) {
    const auto* reqs = req->if_contains("paymentRequirements");
    if (reqs && reqs->is_object()) {
      const auto* n = reqs->get_object().if_contains("network");
      if (n && n->is_string()) requested = n->get_string();
    }
  }
  answer["network"] = requested;
}

std::string no_verdict(int status, bool parsed) {
  if (status >= 200 && status < 300)
    return parsed ? "HTTP " + std::to_string(status) + " answer without a verdict"
                  : std::string("malformed JSON answer");
  return "HTTP " + std::to_string(status) + " without a verdict body";
}

}  // namespace

std::optional<uint64_t> parse_retry_after(std::string_view value, uint64_t now_unix_ms) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  uint64_t seconds = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc() && end == value.data() + value.size())
    return seconds > 86400 ? 86400 * 1000ull : seconds * 1000;
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
  std::tm tm{};
  char weekday[4] = {}, month[4] = {}, zone[4] = {};
  std::string text(value);
  if (std::sscanf(text.c_str(), "%3s, %d %3s %d %d:%d:%d %3s", weekday, &tm.tm_mday, month,
                  &tm.tm_year, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, zone) != 8 ||
      std::string_view(zone) != "GMT")
    return std::nullopt;
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  tm.tm_mon = -1;
  for (int i = 0; i < 12; ++i)
    if (kMonths[i] == month) tm.tm_mon = i;
  if (tm.tm_mon < 0) return std::nullopt;
  tm.tm_year -= 1900;
  time_t at = timegm(&tm);
  if (at < 0) return std::nullopt;
  uint64_t at_ms = static_cast<uint64_t>(at) * 1000;
  return at_ms > now_unix_ms ? at_ms - now_unix_ms : 0;
}

FacilitatorResult classify_response(Endpoint endpoint, const sdk::HttpResponse& response,
                                    std::string_view request_json, uint32_t timeout_ms,
                                    uint64_t now_unix_ms) {
  if (response.outcome == X402_TRANSPORT_NOT_SENT)
    return FacilitatorResult::not_sent(response.error.empty() ? "request not sent"
                                                              : response.error);
  if (response.outcome != X402_TRANSPORT_OK) {
    if (response.timed_out)
      return FacilitatorResult::unavailable(
          0, timeout_ms ? "timeout after " + std::to_string(timeout_ms) + " ms" : "timeout");
    return FacilitatorResult::unavailable(
        0, "connection failed after sending" +
               (response.error.empty() ? std::string() : ": " + response.error));
  }

  const int status = response.status;
  if (status == 429) {
    uint64_t wait = 0;
    if (auto h = response.header("Retry-After"))
      wait = parse_retry_after(*h, now_unix_ms).value_or(0);
    return FacilitatorResult::unavailable(
        status, "HTTP 429 rate limited",
        static_cast<uint32_t>(std::min<uint64_t>(wait, UINT32_MAX)));
  }

  auto body = parse_object(response.body);
  if (!body) return FacilitatorResult::unavailable(status, no_verdict(status, false));

  switch (endpoint) {
    case Endpoint::verify: {
      const auto* valid = body->if_contains("isValid");
      if (!valid || !valid->is_bool())
        return FacilitatorResult::unavailable(status, no_verdict(status, true));
      return FacilitatorResult::answered(status, boost::json::serialize(*body));
    }
    case Endpoint::settle: {
      const auto* reason = body->if_contains("errorReason");
      bool pending = reason && reason->is_string() && reason->get_string() == "settlement_pending";
      const auto* success = body->if_contains("success");
      if (!pending && (!success || !success->is_bool()))
        return FacilitatorResult::unavailable(status, no_verdict(status, true));
      if (!success || !success->is_bool()) (*body)["success"] = false;
      fill_settle_defaults(*body, request_json);
      if (pending)
        return FacilitatorResult::pending(status, boost::json::serialize(*body),
                                          "settlement_pending: broadcast but not confirmed");
      return FacilitatorResult::answered(status, boost::json::serialize(*body));
    }
    case Endpoint::supported:
    case Endpoint::health: {
      const auto* kinds = body->if_contains("kinds");
      bool ok = status >= 200 && status < 300 && kinds && kinds->is_array();
      if (!ok)
        return FacilitatorResult::unavailable(status, status >= 200 && status < 300
                                                          ? "answer without a kinds array"
                                                          : "HTTP " + std::to_string(status));
      return FacilitatorResult::answered(status, boost::json::serialize(*body));
    }
  }
  return FacilitatorResult::unavailable(status, "unreachable");
}

}  // namespace x402::plugins::facilitator_http
