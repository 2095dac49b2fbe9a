#include "config/watcher.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace x402 {

namespace asio = boost::asio;

struct ConfigWatcher::State : std::enable_shared_from_this<ConfigWatcher::State> {
  State(asio::io_context& ioc, int fd, std::string name, Callback cb,
        std::chrono::milliseconds delay)
      : inotify(ioc, fd),
        timer(ioc),
        file_name(std::move(name)),
        on_change(std::move(cb)),
        debounce(delay) {}

  asio::posix::stream_descriptor inotify;  // owns the inotify fd
  asio::steady_timer timer;
  std::string file_name;
  Callback on_change;
  std::chrono::milliseconds debounce;
  bool stopped = false;

  void wait_for_events() {
    inotify.async_wait(asio::posix::stream_descriptor::wait_read,
                       [self = shared_from_this()](const boost::system::error_code& ec) {
                         if (ec || self->stopped) return;
                         if (self->drain_events()) self->arm_timer();
                         self->wait_for_events();
                       });
  }

  // Reads every queued event; true if one concerns our file (or events were lost).
  bool drain_events() {
    alignas(inotify_event) std::array<char, 8192> buffer;
    bool relevant = false;
    for (;;) {
      const ssize_t n = ::read(inotify.native_handle(), buffer.data(), buffer.size());
      if (n <= 0) break;  // EAGAIN: queue empty (the fd is non-blocking)
      for (ssize_t offset = 0; offset < n;) {
        const auto* event = reinterpret_cast<const inotify_event*>(buffer.data() + offset);
        if (event->mask & IN_Q_OVERFLOW) relevant = true;
        if (event->len > 0 && file_name == event->name) relevant = true;
        offset += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      }
    }
    return relevant;
  }

  void arm_timer() {
    timer.expires_after(debounce);  // cancels a pending wait: the burst is still going on
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->stopped) return;
      self->on_change();
    });
  }

  void stop() {
    stopped = true;
    boost::system::error_code ignored;
    timer.cancel();
    inotify.close(ignored);
  }
};

Result<std::unique_ptr<ConfigWatcher>> ConfigWatcher::start(asio::io_context& ioc,
                                                            const std::string& file_path,
                                                            Callback on_change,
                                                            std::chrono::milliseconds debounce) {
  const std::filesystem::path path(file_path);
  const std::string name = path.filename().string();
  if (name.empty()) {
    return make_error("watch_failed", "", "cannot watch '" + file_path + "': not a file path");
  }
  std::string folder = path.parent_path().string();
  if (folder.empty()) folder = ".";

  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    return make_error("watch_failed", "", std::string("inotify_init1: ") + std::strerror(errno));
  }
  if (::inotify_add_watch(fd, folder.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0) {
    const int err = errno;
    ::close(fd);
    return make_error("watch_failed", "",
                      "cannot watch folder '" + folder + "': " + std::strerror(err));
  }
  auto state = std::make_shared<State>(ioc, fd, name, std::move(on_change), debounce);
  state->wait_for_events();
  return std::unique_ptr<ConfigWatcher>(new ConfigWatcher(std::move(state)));
}

ConfigWatcher::~ConfigWatcher() {
  state_->stop();
}

}  // namespace x402
