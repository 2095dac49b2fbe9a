#include "state/spool.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

namespace x402 {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

Error io_error(const std::string& doing, const std::string& path) {
  return make_error("spool_error", "", doing + " " + path + ": " + std::strerror(errno));
}

// fsync of the folder makes a newly created or renamed file's name durable, not only its bytes.
Status sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error("opening", dir);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return io_error("syncing", dir);
  return Ok{};
}

json::object to_json(const UsageRecord& u) {
  return {{"id", u.id},
          {"payment_id", u.payment_id},
          {"request_id", u.request_id},
          {"merchant_id", u.merchant_id},
          {"route", u.route},
          {"payer", u.payer},
          {"amount", u.amount},
          {"asset", u.asset},
          {"network", u.network},
          {"billing_mode", u.billing_mode},
          {"policy_version", u.policy_version},
          {"upstream_status", u.upstream_status},
          {"created_ms", u.created_ms}};
}

json::object to_json(const Credential& c) {
  return {{"id", c.id},
          {"merchant_id", c.merchant_id},
          {"payer", c.payer},
          {"scope", c.scope},
          {"mode", c.mode},
          {"expires_ms", c.expires_ms},
          {"calls_total", c.calls_total},
          {"calls_remaining", c.calls_remaining},
          {"payment_id", c.payment_id},
          {"created_ms", c.created_ms}};
}

// Throws on a malformed record; the caller sets such a line aside.
std::string str(const json::object& o, std::string_view key) {
  return json::value_to<std::string>(o.at(key));
}
int64_t num(const json::object& o, std::string_view key) {
  return o.at(key).to_number<int64_t>();
}

UsageRecord usage_from(const json::object& o) {
  UsageRecord u;
  u.id = str(o, "id");
  u.payment_id = str(o, "payment_id");
  u.request_id = str(o, "request_id");
  u.merchant_id = str(o, "merchant_id");
  u.route = str(o, "route");
  u.payer = str(o, "payer");
  u.amount = str(o, "amount");
  u.asset = str(o, "asset");
  u.network = str(o, "network");
  u.billing_mode = str(o, "billing_mode");
  u.policy_version = str(o, "policy_version");
  u.upstream_status = static_cast<int>(num(o, "upstream_status"));
  u.created_ms = num(o, "created_ms");
  return u;
}

Credential credential_from(const json::object& o) {
  Credential c;
  c.id = str(o, "id");
  c.merchant_id = str(o, "merchant_id");
  c.payer = str(o, "payer");
  c.scope = str(o, "scope");
  c.mode = str(o, "mode");
  c.expires_ms = num(o, "expires_ms");
  c.calls_total = num(o, "calls_total");
  c.calls_remaining = num(o, "calls_remaining");
  c.payment_id = str(o, "payment_id");
  c.created_ms = num(o, "created_ms");
  return c;
}

enum class Applied { Done, SetAside };

// A completion: SETTLED (unless it is already, or a later correction moved it to FAILED or
// REFUNDED: that correction wins), then the usage record and credential exactly once.
Result<Applied> apply_completion(Store& store, const json::object& o) {
  const std::string payment_id = str(o, "payment_id");
  auto found = store.find_payment(payment_id);
  if (!found) return found.error();
  if (!*found) return Applied::SetAside;  // nothing to attach the usage record to
  const PaymentStatus status = (*found)->status;
  if (status != PaymentStatus::Settled && status != PaymentStatus::Failed &&
      status != PaymentStatus::Refunded) {
    if (auto updated = store.update_payment(payment_id, PaymentStatus::Settled,
                                            str(o, "facilitator"), str(o, "tx_hash"), "");
        !updated) {
      return updated.error();
    }
  }
  std::optional<Credential> credential;
  if (auto it = o.find("credential"); it != o.end()) {
    credential = credential_from(it->value().as_object());
  }
  auto redeemed =
      store.redeem_settled_payment(payment_id, usage_from(o.at("usage").as_object()), credential);
  if (!redeemed) return redeemed.error();
  return Applied::Done;
}

Result<Applied> apply_line(Store& store, const std::string& line) {
  try {
    const json::object o = json::parse(line).as_object();
    const std::string kind = str(o, "kind");
    if (kind == "completion") return apply_completion(store, o);
    if (kind == "usage") {
      if (auto recorded = store.record_usage(usage_from(o.at("usage").as_object())); !recorded) {
        return recorded.error();
      }
      return Applied::Done;
    }
    return Applied::SetAside;
  } catch (const std::exception&) {
    return Applied::SetAside;  // unreadable: a crash mid-append, or a hand-edited file
  }
}

Result<std::vector<std::string>> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  if (!in && fs::exists(path)) return io_error("reading", path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(std::move(line));
  }
  return lines;
}

// Replaces the file's contents with `lines` via a synced temporary file and a rename, so a crash
// leaves either the old or the new list, never a torn one.
Status rewrite(const std::string& dir, const std::string& path,
               const std::vector<std::string>& lines) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("creating", tmp);
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const bool synced = written && ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) return io_error("writing", tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return io_error("replacing", path);
  return sync_dir(dir);
}

}  // namespace

Spool::Spool(std::string dir, size_t pending, int lock_fd)
    : dir_(dir),
      path_((fs::path(dir) / "spool.jsonl").string()),
      rejected_path_((fs::path(dir) / "spool.rejected.jsonl").string()),
      pending_(pending),
      lock_fd_(lock_fd) {}

Spool::~Spool() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

Result<std::unique_ptr<Spool>> Spool::open(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error("spool_error", "", "creating " + dir + ": " + ec.message());
  const std::string lock_path = (fs::path(dir) / "spool.lock").string();
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) return io_error("opening", lock_path);
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd);
    return make_error("spool_in_use", "storage.spool_dir",
                      dir +
                          " is in use by another x402d process; give every node its own "
                          "storage.spool_dir");
  }
  const std::string path = (fs::path(dir) / "spool.jsonl").string();
  auto lines = read_lines(path);
  if (!lines) {
    ::close(lock_fd);
    return lines.error();
  }
  return std::unique_ptr<Spool>(new Spool(dir, lines->size(), lock_fd));
}

Status Spool::append_line(const std::string& path, const std::string& line) {
  const bool created = !fs::exists(path);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("opening", path);
  const std::string text = line + "\n";
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const bool synced = written && ::fdatasync(fd) == 0;
  ::close(fd);
  if (!synced) return io_error("appending to", path);
  if (created) return sync_dir(dir_);
  return Ok{};
}

Status Spool::append_completion(const SpooledCompletion& c) {
  json::object o{{"kind", "completion"},
                 {"payment_id", c.payment_id},
                 {"facilitator", c.facilitator},
                 {"tx_hash", c.tx_hash},
                 {"usage", to_json(c.usage)}};
  if (c.credential) o["credential"] = to_json(*c.credential);
  std::lock_guard lock(mutex_);
  auto appended = append_line(path_, json::serialize(o));
  if (appended) ++pending_;
  return appended;
}

Status Spool::append_usage(const UsageRecord& usage) {
  const json::object o{{"kind", "usage"}, {"usage", to_json(usage)}};
  std::lock_guard lock(mutex_);
  auto appended = append_line(path_, json::serialize(o));
  if (appended) ++pending_;
  return appended;
}

size_t Spool::pending() const {
  std::lock_guard lock(mutex_);
  return pending_;
}

Result<Spool::DrainReport> Spool::drain(Store& store) {
  // Appends only take mutex_, and only for the write itself: a drain waiting on a slow database
  // must not hold up the requests that spool while it is down. The file is append-only except
  // for what a drain removes from its head, and drains run one at a time.
  std::lock_guard draining(drain_mutex_);
  DrainReport report;
  Result<std::vector<std::string>> lines = std::vector<std::string>{};
  {
    std::lock_guard lock(mutex_);
    if (pending_ == 0) return report;
    lines = read_lines(path_);
  }
  if (!lines) return lines.error();
  size_t next = 0;
  std::optional<Error> stopped;
  for (; next < lines->size(); ++next) {
    auto applied = apply_line(store, (*lines)[next]);
    if (!applied) {
      stopped = applied.error();
      break;
    }
    if (*applied == Applied::Done) {
      ++report.applied;
      continue;
    }
    std::lock_guard lock(mutex_);
    if (auto kept = append_line(rejected_path_, (*lines)[next]); !kept) {
      stopped = kept.error();
      break;
    }
    ++report.set_aside;
  }
  if (next > 0) {
    std::lock_guard lock(mutex_);
    auto now = read_lines(path_);  // the head we read, plus whatever was appended since
    if (!now) return now.error();
    const std::vector<std::string> rest(now->begin() + static_cast<std::ptrdiff_t>(next),
                                        now->end());
    if (auto rewritten = rewrite(dir_, path_, rest); !rewritten) return rewritten.error();
    pending_ = rest.size();
  }
  if (stopped && next == 0) return *stopped;
  return report;
}

}  // namespace x402
