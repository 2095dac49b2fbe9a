#pragma once
// Notices edits to the config file so the gateway can reload it (DESIGN.md §3). Only detection
// lives here; parsing, validation and the snapshot swap are the caller's.
//
// inotify watches the file's *folder*, not the file: editors and deploy tools often write a new
// file and rename it over the old one, which would silently end a watch on the old inode. Events
// for the file's name (written and closed, renamed into place, created) restart a short debounce
// timer, so a burst of writes triggers one callback once the file has settled.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/result.hpp"

namespace x402 {

class ConfigWatcher {
 public:
  using Callback = std::function<void()>;

  // Starts watching `file_path` on `ioc`; `on_change` runs on that io_context's thread. The folder
  // must exist; the file need not exist yet. Errors have code "watch_failed".
  static Result<std::unique_ptr<ConfigWatcher>> start(
      boost::asio::io_context& ioc, const std::string& file_path, Callback on_change,
      std::chrono::milliseconds debounce = std::chrono::milliseconds(200));

  // Stops watching; the callback never runs after this returns. Call from the io_context's
  // thread or while the io_context is not running.
  ~ConfigWatcher();
  ConfigWatcher(const ConfigWatcher&) = delete;
  ConfigWatcher& operator=(const ConfigWatcher&) = delete;

 private:
  struct State;  // shared with in-flight asio handlers, which may outlive this object
  explicit ConfigWatcher(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace x402
