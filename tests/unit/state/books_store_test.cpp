// The books against every backend (SQLite and PostgreSQL): payments and usage paged by cursor,
// the audit trail, revenue per UTC day with exact sums, and the C++ roll-up into ISO weeks and
// calendar months with the platform's fee split.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <set>
#include <string>
#include <vector>

#include "sample_records.hpp"
#include "state/books.hpp"
#include "state/store.hpp"
#include "store_backends.hpp"
#include "temp_dir.hpp"

namespace x402 {
namespace {

using testing::make_payment;
using testing::make_usage;

// UTC midnights, as epoch milliseconds (checked against Python's datetime).
constexpr int64_t kDec29 = 1735430400000;  // Sunday, ISO 2024-W52
constexpr int64_t kDec30 = 1735516800000;  // Monday, ISO 2025-W01
constexpr int64_t kJan01 = 1735689600000;  // Wednesday
constexpr int64_t kJan05 = 1736035200000;  // Sunday, last day of 2025-W01
constexpr int64_t kJan06 = 1736121600000;  // Monday, 2025-W02
constexpr int64_t kJan31 = 1738281600000;
constexpr int64_t kFeb01 = 1738368000000;
constexpr int64_t kDay = 86400000;

constexpr const char* kMaxUint256 =
    "115792089237316195423570985008687907853269984665640564039457584007913129639935";
constexpr const char* k2Pow255 =
    "57896044618658097711785492504343953926634992332820282019728792003956564819968";
constexpr const char* k2Pow255Plus12345 =
    "57896044618658097711785492504343953926634992332820282019728792003956564832313";

class BooksStoreTest : public testing::StoreBackendTest {
 protected:
  // A payment claimed at `created_ms` and moved to `status` (through VERIFIED, as the gateway
  // does), leaving its audit trail.
  void pay(const std::string& id, int64_t created_ms, const std::string& amount,
           PaymentStatus status = PaymentStatus::Settled, const std::string& merchant = "acme",
           const std::string& network = "eip155:8453") {
    PaymentRecord p = make_payment(id, "0x" + id);
    p.merchant_id = merchant;
    p.network = network;
    p.amount = amount;
    p.created_ms = created_ms;
    p.updated_ms = created_ms;
    auto claimed = store_->claim_payment(p);
    ASSERT_TRUE(claimed) << claimed.error().message;
    ASSERT_EQ(claimed->outcome, ClaimOutcome::Claimed);
    if (status == PaymentStatus::Pending) return;
    ASSERT_TRUE(store_->update_payment(id, PaymentStatus::Verified, "primary", "", ""));
    if (status == PaymentStatus::Verified) return;
    ASSERT_TRUE(store_->update_payment(id, status, "primary", "0xtx" + id,
                                       status == PaymentStatus::Failed ? "boom" : ""));
  }

  std::vector<DailyRevenue> revenue(int64_t from_ms, int64_t to_ms,
                                    const std::string& merchant = "acme") {
    auto days = store_->daily_revenue(merchant, from_ms, to_ms);
    EXPECT_TRUE(days) << days.error().message;
    return days ? *days : std::vector<DailyRevenue>{};
  }

  // Every page of list_payments, following the cursor; fails on a page larger than `limit`.
  std::vector<std::string> all_pages(PaymentQuery query, size_t limit) {
    query.limit = limit;
    std::vector<std::string> ids;
    for (int page = 0; page < 100; ++page) {
      auto rows = store_->list_payments(query);
      EXPECT_TRUE(rows) << rows.error().message;
      if (!rows) break;
      EXPECT_LE(rows->size(), limit);
      for (const auto& r : *rows) ids.push_back(r.id);
      if (rows->size() < limit) return ids;
      query.after = BooksCursor{rows->back().created_ms, rows->back().id};
    }
    ADD_FAILURE() << "paging did not end";
    return ids;
  }
};

X402_INSTANTIATE_FOR_EVERY_BACKEND(BooksStoreTest);

TEST_P(BooksStoreTest, DaysSplitAtUtcMidnightAndCountOnlySettledPaymentsOfTheMerchant) {
  pay("a1", kJan01 - 1, "100");  // 2024-12-31 23:59:59.999
  pay("a2", kJan01, "200");      // 2025-01-01 00:00:00.000
  pay("a3", kJan01 + kDay - 1, "300");
  pay("a4", kJan01 + 5, "7", PaymentStatus::Failed);
  pay("a5", kJan01 + 6, "7", PaymentStatus::Verified);
  pay("a6", kJan01 + 7, "7", PaymentStatus::Settled, "beta");
  pay("a7", kJan01 + 8, "40", PaymentStatus::Settled, "acme", "eip155:84532");

  auto days = revenue(kDec30, kJan06);
  ASSERT_EQ(days.size(), 3u);
  EXPECT_EQ(days[0].day, kJan01 / kDay - 1);
  EXPECT_EQ(days[0].network, "eip155:8453");
  EXPECT_EQ(days[0].payments, 1);
  EXPECT_EQ(days[0].gross, "100");
  EXPECT_EQ(days[1].day, kJan01 / kDay);
  EXPECT_EQ(days[1].network, "eip155:8453");
  EXPECT_EQ(days[1].asset, "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913");
  EXPECT_EQ(days[1].payments, 2);
  EXPECT_EQ(days[1].gross, "500");
  EXPECT_EQ(days[2].day, kJan01 / kDay);
  EXPECT_EQ(days[2].network, "eip155:84532");
  EXPECT_EQ(days[2].gross, "40");

  // The range is [from, to): the last millisecond of Dec 31 is out when to = Jan 1 00:00.
  auto before = revenue(kDec30, kJan01);
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(before[0].gross, "100");
  auto beta = revenue(kDec30, kJan06, "beta");
  ASSERT_EQ(beta.size(), 1u);
  EXPECT_EQ(beta[0].gross, "7");
}

TEST_P(BooksStoreTest, HugeAmountsSumExactlyBeyond256Bits) {
  // 2^256-1 + 2^255 + (2^255+12345) + 999 needs 257 bits.
  pay("h1", kJan01 + 1, kMaxUint256);
  pay("h2", kJan01 + 2, k2Pow255);
  pay("h3", kJan01 + 3, k2Pow255Plus12345);
  pay("h4", kJan01 + 4, "999");
  auto days = revenue(kJan01, kJan01 + kDay);
  ASSERT_EQ(days.size(), 1u);
  EXPECT_EQ(days[0].payments, 4);
  EXPECT_EQ(days[0].gross,
            "231584178474632390847141970017375815706539969331281128078915168015826259293215");
}

TEST_P(BooksStoreTest, AmountsAroundTheInt64LimitDoNotClampOrOverflow) {
  // A naive SUM(CAST(amount AS INTEGER)) clamps 2^63 to 2^63-1 and overflows on the sum.
  pay("i1", kJan01 + 1, "9223372036854775808");
  pay("i2", kJan01 + 2, "9223372036854775807");
  pay("i3", kJan01 + 3, "9223372036854775807");
  pay("i4", kJan01 + 4, "1000000000");  // exactly one 9-digit group boundary
  auto days = revenue(kJan01, kJan01 + kDay);
  ASSERT_EQ(days.size(), 1u);
  EXPECT_EQ(days[0].gross, "27670116111564327422");
}

TEST_P(BooksStoreTest, WeeksRollUpAcrossTheYearEndAndMonthsSplitOnTheFirst) {
  pay("w1", kDec29 + 10, "1");   // Sunday: 2024-W52
  pay("w2", kDec30 + 10, "10");  // Monday: 2025-W01 starts
  pay("w3", kJan01 + 10, "100");
  pay("w4", kJan05 + kDay - 1, "1000");  // Sunday 23:59:59.999: still 2025-W01
  pay("w5", kJan06, "10000");            // Monday 00:00: 2025-W02
  pay("w6", kJan31 + 10, "100000");
  pay("w7", kFeb01, "1000000");

  auto days = revenue(kDec29, kFeb01 + kDay);
  auto weeks = books::roll_up(days, books::Period::Week, 0);
  ASSERT_TRUE(weeks) << weeks.error().message;
  ASSERT_EQ(weeks->size(), 4u);
  EXPECT_EQ(books::format_date(weeks->at(0).period_start), "2024-12-23");
  EXPECT_EQ(books::period_label(weeks->at(0).period_start, books::Period::Week), "2024-W52");
  EXPECT_EQ(weeks->at(0).gross, "1");
  EXPECT_EQ(books::format_date(weeks->at(1).period_start), "2024-12-30");
  EXPECT_EQ(books::period_label(weeks->at(1).period_start, books::Period::Week), "2025-W01");
  EXPECT_EQ(weeks->at(1).payments, 3);
  EXPECT_EQ(weeks->at(1).gross, "1110");
  EXPECT_EQ(books::format_date(weeks->at(2).period_start), "2025-01-06");
  EXPECT_EQ(weeks->at(2).gross, "10000");
  EXPECT_EQ(books::format_date(weeks->at(3).period_start), "2025-01-27");  // Jan 31 + Feb 1
  EXPECT_EQ(weeks->at(3).gross, "1100000");

  auto months = books::roll_up(days, books::Period::Month, 0);
  ASSERT_TRUE(months);
  ASSERT_EQ(months->size(), 3u);
  EXPECT_EQ(books::period_label(months->at(0).period_start, books::Period::Month), "2024-12");
  EXPECT_EQ(books::format_date(months->at(0).period_start), "2024-12-01");
  EXPECT_EQ(months->at(0).gross, "11");
  EXPECT_EQ(books::format_date(months->at(1).period_start), "2025-01-01");
  EXPECT_EQ(months->at(1).payments, 4);
  EXPECT_EQ(months->at(1).gross, "111100");
  EXPECT_EQ(months->at(2).gross, "1000000");
}

TEST_P(BooksStoreTest, StatusFilterAndRangeSelectPayments) {
  pay("s1", kJan01 + 1, "1");
  pay("s2", kJan01 + 2, "2", PaymentStatus::Failed);
  pay("s3", kJan01 + 3, "3", PaymentStatus::Pending);
  pay("s4", kJan01 + kDay, "4");
  pay("s5", kJan01 + 4, "5", PaymentStatus::Settled, "beta");

  PaymentQuery settled;
  settled.merchant_id = "acme";
  settled.status = PaymentStatus::Settled;
  EXPECT_EQ(all_pages(settled, 10), (std::vector<std::string>{"s1", "s4"}));

  PaymentQuery failed = settled;
  failed.status = PaymentStatus::Failed;
  auto rows = store_->list_payments(failed);
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->at(0).id, "s2");
  EXPECT_EQ(rows->at(0).error_reason, "boom");

  PaymentQuery first_day;
  first_day.merchant_id = "acme";
  first_day.from_ms = kJan01;
  first_day.to_ms = kJan01 + kDay;
  EXPECT_EQ(all_pages(first_day, 10), (std::vector<std::string>{"s1", "s2", "s3"}));
}

TEST_P(BooksStoreTest, PagesHaveNoGapsOrDuplicatesEvenWithEqualTimestamps) {
  std::vector<std::string> expected;
  // 23 payments over 5 timestamps; ids sort byte-wise within one timestamp.
  for (int i = 0; i < 23; ++i) {
    const std::string id = "p" + std::string(1, static_cast<char>('a' + (i * 7) % 23));
    pay(id, kJan01 + (i % 5) * 1000, "1",
        i % 3 == 0 ? PaymentStatus::Failed : PaymentStatus::Settled);
  }
  PaymentQuery query;
  query.merchant_id = "acme";
  auto everything = all_pages(query, 1000);
  ASSERT_EQ(everything.size(), 23u);
  for (size_t limit : {1u, 4u, 5u, 22u, 23u}) {
    EXPECT_EQ(all_pages(query, limit), everything) << "limit " << limit;
  }
  EXPECT_EQ(std::set<std::string>(everything.begin(), everything.end()).size(), 23u);
  // Oldest first, ties by id.
  auto rows = store_->list_payments(query);
  ASSERT_TRUE(rows);
  for (size_t i = 1; i < rows->size(); ++i) {
    const auto& a = rows->at(i - 1);
    const auto& b = rows->at(i);
    EXPECT_TRUE(a.created_ms < b.created_ms || (a.created_ms == b.created_ms && a.id < b.id));
  }
  query.status = PaymentStatus::Settled;
  auto settled = all_pages(query, 3);
  EXPECT_EQ(settled.size(), 15u);
}

TEST_P(BooksStoreTest, PaymentEventsAreTheOrderedAuditTrail) {
  pay("e1", kJan01, "10");
  auto events = store_->payment_events("e1");
  ASSERT_TRUE(events) << events.error().message;
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ(events->at(0).from_status, "");
  EXPECT_EQ(events->at(0).to_status, "PENDING");
  EXPECT_EQ(events->at(1).from_status, "PENDING");
  EXPECT_EQ(events->at(1).to_status, "VERIFIED");
  EXPECT_EQ(events->at(2).from_status, "VERIFIED");
  EXPECT_EQ(events->at(2).to_status, "SETTLED");
  EXPECT_EQ(events->at(2).tx_hash, "0xtxe1");
  EXPECT_EQ(events->at(2).facilitator, "primary");
  EXPECT_LT(events->at(0).seq, events->at(1).seq);
  EXPECT_LT(events->at(1).seq, events->at(2).seq);
  auto none = store_->payment_events("nope");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_P(BooksStoreTest, UsageIsPagedWithinTheRange) {
  for (int i = 0; i < 9; ++i) {
    UsageRecord u = make_usage("u" + std::to_string(i));
    u.created_ms = kJan01 + (i / 3) * kDay;  // three per day
    u.billing_mode = i == 4 ? "time_pass" : "per_request";
    u.policy_version = "3";
    ASSERT_TRUE(store_->record_usage(u));
  }
  UsageRecord other = make_usage("other");
  other.merchant_id = "beta";
  other.created_ms = kJan01;
  ASSERT_TRUE(store_->record_usage(other));

  BooksQuery query;
  query.merchant_id = "acme";
  query.from_ms = kJan01 + kDay;
  query.to_ms = kJan01 + 3 * kDay;
  query.limit = 4;
  auto first = store_->list_usage(query);
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_EQ(first->size(), 4u);
  EXPECT_EQ(first->at(0).id, "u3");
  EXPECT_EQ(first->at(1).billing_mode, "time_pass");
  EXPECT_EQ(first->at(1).policy_version, "3");
  query.after = BooksCursor{first->back().created_ms, first->back().id};
  auto second = store_->list_usage(query);
  ASSERT_TRUE(second);
  ASSERT_EQ(second->size(), 2u);
  EXPECT_EQ(second->at(0).id, "u7");
  EXPECT_EQ(second->at(1).id, "u8");
}

// SQLite keeps amounts as TEXT and cannot refuse a malformed one at insert; the report must then
// fail with a clear error rather than sum a prefix of it.
TEST(BooksSqlite, AMalformedStoredAmountFailsTheReportInsteadOfMiscounting) {
  testing::TempDir dir;
  const std::string path = dir.file("x402.db");
  auto store = open_sqlite_store(path);
  ASSERT_TRUE(store) << store.error().message;
  PaymentRecord p = make_payment("bad", "0x01");
  p.amount = "100";
  p.created_ms = kJan01;
  ASSERT_TRUE((*store)->claim_payment(p));
  ASSERT_TRUE((*store)->update_payment("bad", PaymentStatus::Settled, "primary", "0xtx", ""));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE payments SET amount = '12a4' WHERE id = 'bad'", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto days = (*store)->daily_revenue("acme", kJan01, kJan01 + kDay);
  ASSERT_FALSE(days);
  EXPECT_EQ(days.error().field, "amount");
  EXPECT_NE(days.error().message.find("not decimal"), std::string::npos) << days.error().message;
}

// ---- the arithmetic shared by both backends ----

TEST(BooksArithmetic, FeeIsFlooredAndNetIsTheRest) {
  auto split = [](const std::string& gross, uint32_t bps) {
    auto s = books::split_fee(gross, bps);
    EXPECT_TRUE(s) << s.error().message;
    return s ? std::pair{s->platform_fee, s->net} : std::pair<std::string, std::string>{};
  };
  EXPECT_EQ(split("9999", 250), (std::pair<std::string, std::string>{"249", "9750"}));
  EXPECT_EQ(split("10000", 250), (std::pair<std::string, std::string>{"250", "9750"}));
  EXPECT_EQ(split("1", 9999), (std::pair<std::string, std::string>{"0", "1"}));
  EXPECT_EQ(split("7", 10000), (std::pair<std::string, std::string>{"7", "0"}));
  EXPECT_EQ(split("7", 0), (std::pair<std::string, std::string>{"0", "7"}));
  EXPECT_EQ(split("0", 500), (std::pair<std::string, std::string>{"0", "0"}));
  // gross × bps far beyond 64 (and 256) bits.
  EXPECT_EQ(split(kMaxUint256, 9999),
            (std::pair<std::string, std::string>{
                "115780510028392463804028627910187039062484657667173999983053638249512338326971",
                "11579208923731619542357098500868790785326998466564056403945758400791312964"}));

  auto too_much = books::split_fee("1", 10001);
  ASSERT_FALSE(too_much);
  EXPECT_EQ(too_much.error().field, "platform_fee_bps");
  auto not_money = books::split_fee("12.5", 100);
  ASSERT_FALSE(not_money);
  EXPECT_EQ(not_money.error().code, "invalid_amount");
}

TEST(BooksArithmetic, FeeIsTakenFromThePeriodNotSummedFromDays) {
  // Two days of 1 unit at 50%: each day's fee floors to 0, the week's is 1.
  std::vector<DailyRevenue> days = {{20089, "eip155:8453", "0xa", 1, "1"},
                                    {20090, "eip155:8453", "0xa", 1, "1"}};
  auto daily = books::roll_up(days, books::Period::Day, 5000);
  ASSERT_TRUE(daily);
  ASSERT_EQ(daily->size(), 2u);
  EXPECT_EQ(daily->at(0).platform_fee, "0");
  auto weekly = books::roll_up(days, books::Period::Week, 5000);
  ASSERT_TRUE(weekly);
  ASSERT_EQ(weekly->size(), 1u);
  EXPECT_EQ(weekly->at(0).payments, 2);
  EXPECT_EQ(weekly->at(0).gross, "2");
  EXPECT_EQ(weekly->at(0).platform_fee, "1");
  EXPECT_EQ(weekly->at(0).net, "1");
}

TEST(BooksArithmetic, DatesAreStrictUtcCalendarDays) {
  EXPECT_EQ(books::parse_date("1970-01-01"), 0);
  EXPECT_EQ(books::parse_date("2025-01-01"), kJan01 / kDay);
  EXPECT_EQ(books::parse_date("2024-02-29"), books::parse_date("2024-03-01").value() - 1);
  for (const char* bad : {"2025-02-29", "2025-13-01", "2025-1-01", "2025/01/01", "1969-12-31",
                          "2025-01-01T00:00", "", "20250101"}) {
    EXPECT_FALSE(books::parse_date(bad).has_value()) << bad;
  }
  EXPECT_EQ(books::format_date(kJan31 / kDay), "2025-01-31");
  // 2021-01-03 is a Sunday in ISO week 53 of 2020.
  const int64_t jan3 = books::parse_date("2021-01-03").value();
  EXPECT_EQ(books::format_date(books::period_start(jan3, books::Period::Week)), "2020-12-28");
  EXPECT_EQ(books::period_label(jan3, books::Period::Week), "2020-W53");
  EXPECT_EQ(books::format_date(books::next_period_start(kJan31 / kDay, books::Period::Month)),
            "2025-02-01");
  EXPECT_EQ(books::format_date(books::next_period_start(kDec30 / kDay, books::Period::Month)),
            "2025-01-01");
}

}  // namespace
}  // namespace x402
