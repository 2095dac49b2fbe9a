#include "state/books.hpp"

#include <algorithm>
#include <boost/multiprecision/cpp_int.hpp>
#include <chrono>
#include <map>
#include <tuple>

namespace x402::books {
namespace {

using boost::multiprecision::cpp_int;
namespace chrono = std::chrono;

// Digit by digit on purpose: Boost's own string constructor reads a leading 0 as octal.
Result<cpp_int> parse_decimal(std::string_view text, std::string_view field) {
  if (text.empty() || text.size() > 1000 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return make_error("invalid_amount", std::string(field),
                      std::string(field) + " must be a decimal integer of atomic units, got '" +
                          std::string(text.substr(0, 100)) + "'");
  }
  cpp_int v = 0;
  for (char c : text) v = v * 10 + (c - '0');
  return v;
}

chrono::year_month_day civil(int64_t day) {
  return chrono::year_month_day{chrono::sys_days{chrono::days{day}}};
}

int64_t day_of(const chrono::year_month_day& ymd) {
  return chrono::sys_days{ymd}.time_since_epoch().count();
}

std::string two_digits(unsigned v) {
  return std::string(1, static_cast<char>('0' + v / 10)) + static_cast<char>('0' + v % 10);
}

}  // namespace

std::optional<Period> parse_period(std::string_view text) {
  if (text == "day") return Period::Day;
  if (text == "week") return Period::Week;
  if (text == "month") return Period::Month;
  return std::nullopt;
}

std::string_view to_string(Period period) {
  switch (period) {
    case Period::Day:
      return "day";
    case Period::Week:
      return "week";
    case Period::Month:
      return "month";
  }
  return "day";
}

std::optional<int64_t> parse_date(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  const auto number = [&](size_t at, size_t len) -> std::optional<int> {
    int v = 0;
    for (size_t i = at; i < at + len; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      v = v * 10 + (text[i] - '0');
    }
    return v;
  };
  const auto y = number(0, 4), m = number(5, 2), d = number(8, 2);
  if (!y || !m || !d || *y < 1970) return std::nullopt;
  const chrono::year_month_day ymd{chrono::year{*y}, chrono::month{static_cast<unsigned>(*m)},
                                   chrono::day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return std::nullopt;
  return day_of(ymd);
}

std::string format_date(int64_t day) {
  const auto ymd = civil(day);
  return std::to_string(static_cast<int>(ymd.year())) + "-" +
         two_digits(static_cast<unsigned>(ymd.month())) + "-" +
         two_digits(static_cast<unsigned>(ymd.day()));
}

int64_t period_start(int64_t day, Period period) {
  switch (period) {
    case Period::Day:
      return day;
    case Period::Week: {
      const chrono::weekday wd{chrono::sys_days{chrono::days{day}}};
      return day - (wd.iso_encoding() - 1);  // ISO: Monday is 1
    }
    case Period::Month: {
      const auto ymd = civil(day);
      return day_of(ymd.year() / ymd.month() / chrono::day{1});
    }
  }
  return day;
}

int64_t next_period_start(int64_t day, Period period) {
  switch (period) {
    case Period::Day:
      return day + 1;
    case Period::Week:
      return period_start(day, Period::Week) + 7;
    case Period::Month: {
      const auto ymd = civil(day);
      return day_of(chrono::year_month_day{ymd.year() / ymd.month() / chrono::day{1}} +
                    chrono::months{1});
    }
  }
  return day + 1;
}

std::string period_label(int64_t start_day, Period period) {
  if (period == Period::Day) return format_date(start_day);
  if (period == Period::Month) return format_date(start_day).substr(0, 7);
  // The ISO week belongs to the year of its Thursday; weeks count from the one holding Jan 4.
  const int64_t thursday = period_start(start_day, Period::Week) + 3;
  const chrono::year iso_year = civil(thursday).year();
  const int64_t week = (thursday - day_of(iso_year / chrono::January / chrono::day{1})) / 7 + 1;
  return std::to_string(static_cast<int>(iso_year)) + "-W" +
         two_digits(static_cast<unsigned>(week));
}

Result<FeeSplit> split_fee(std::string_view gross, uint32_t bps) {
  if (bps > kMaxFeeBps) {
    return make_error("invalid_fee", "platform_fee_bps",
                      "platform_fee_bps must be 0..10000, got " + std::to_string(bps));
  }
  auto g = parse_decimal(gross, "gross");
  if (!g) return g.error();
  // Integer division truncates, and both operands are non-negative: this is the floor.
  const cpp_int fee = *g * bps / kMaxFeeBps;
  return FeeSplit{fee.str(), cpp_int(*g - fee).str()};
}

Result<std::string> add_decimal(std::string_view a, std::string_view b) {
  auto x = parse_decimal(a, "amount");
  if (!x) return x.error();
  auto y = parse_decimal(b, "amount");
  if (!y) return y.error();
  return cpp_int(*x + *y).str();
}

std::string join_digit_groups(const std::vector<int64_t>& groups, unsigned digits) {
  cpp_int base = 1;
  for (unsigned i = 0; i < digits; ++i) base *= 10;
  cpp_int total = 0;
  cpp_int scale = 1;
  for (int64_t g : groups) {
    total += cpp_int(g) * scale;
    scale *= base;
  }
  return total.str();
}

Result<std::vector<RevenueLine>> roll_up(const std::vector<DailyRevenue>& days, Period period,
                                         uint32_t fee_bps) {
  struct Sum {
    int64_t payments = 0;
    cpp_int gross = 0;
  };
  std::map<std::tuple<int64_t, std::string, std::string>, Sum> sums;
  for (const auto& d : days) {
    auto gross = parse_decimal(d.gross, "gross");
    if (!gross) return gross.error();
    Sum& s = sums[{period_start(d.day, period), d.network, d.asset}];
    s.payments += d.payments;
    s.gross += *gross;
  }
  std::vector<RevenueLine> lines;
  lines.reserve(sums.size());
  for (const auto& [key, sum] : sums) {
    RevenueLine line;
    std::tie(line.period_start, line.network, line.asset) = key;
    line.payments = sum.payments;
    line.gross = sum.gross.str();
    auto split = split_fee(line.gross, fee_bps);
    if (!split) return split.error();
    line.platform_fee = std::move(split->platform_fee);
    line.net = std::move(split->net);
    lines.push_back(std::move(line));
  }
  return lines;
}

}  // namespace x402::books
