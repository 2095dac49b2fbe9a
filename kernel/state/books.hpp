#pragma once
// The arithmetic of the books, shared by every store backend and the admin API (docs/books.md):
// UTC calendar days, rolling days up into ISO weeks and calendar months, and the platform's fee
// split. Money is decimal text of atomic units, computed with unbounded integers: a sum of many
// uint256 amounts can exceed 256 bits, and gross × bps exceeds 64 bits long before that.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "state/store.hpp"

namespace x402::books {

constexpr int64_t kDayMs = 86'400'000;
constexpr uint32_t kMaxFeeBps = 10'000;

enum class Period { Day, Week, Month };
std::optional<Period> parse_period(std::string_view text);  // "day" | "week" | "month"
std::string_view to_string(Period period);

// Days since 1970-01-01 (UTC), from "YYYY-MM-DD" (years 1970-9999, a real calendar date).
std::optional<int64_t> parse_date(std::string_view text);
std::string format_date(int64_t day);

// The first day of the period holding `day`: itself, the Monday of its ISO week, or the 1st of
// its month. next_period_start is the first day of the following period.
int64_t period_start(int64_t day, Period period);
int64_t next_period_start(int64_t day, Period period);
// "2025-01-31", "2025-W05" (ISO week-numbering year, which can differ from the calendar year
// at a year end) or "2025-01".
std::string period_label(int64_t start_day, Period period);

struct FeeSplit {
  std::string platform_fee;  // floor(gross × bps / 10000)
  std::string net;           // gross − platform_fee
};

// Errors: invalid_amount (gross is not decimal digits), invalid_fee (bps above 10000).
Result<FeeSplit> split_fee(std::string_view gross, uint32_t bps);

// The exact sum of decimal amounts.
Result<std::string> add_decimal(std::string_view a, std::string_view b);

// Σ groups[k] × 10^(digits × k): recombines per-group sums of an amount split into
// `digits`-digit groups (least significant first) — how the SQLite store sums exactly.
std::string join_digit_groups(const std::vector<int64_t>& groups, unsigned digits);

struct RevenueLine {
  int64_t period_start = 0;  // day number, see period_start()
  std::string network;
  std::string asset;
  int64_t payments = 0;
  std::string gross;
  std::string platform_fee;
  std::string net;
};

// Sums days into periods per (network, asset), then splits each period's gross (the fee is
// taken per line, never summed from daily fees). Ordered by period, network, asset.
Result<std::vector<RevenueLine>> roll_up(const std::vector<DailyRevenue>& days, Period period,
                                         uint32_t fee_bps);

}  // namespace x402::books
