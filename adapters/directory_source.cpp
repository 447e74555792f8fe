#include "adapters/directory_source.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_set>
#include <vector>

#include "adapters/directory_layout.hpp"
#include "model/error.hpp"
#include "model/logging.hpp"

namespace sluice::adapters {
namespace {

using clock_type = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr std::string_view source_name = "directory";

// IN_MODIFY and IN_CREATE only arm the (long) open-writer check; the read itself waits for
// IN_CLOSE_WRITE / IN_MOVED_TO plus a quiet settle period. IN_ONLYDIR refuses to watch a path
// that was swapped for a file between our check and the call.
constexpr uint32_t watch_mask = IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO
                                | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF
                                | IN_ONLYDIR;

// Bounded so that a directory churning through uniquely named junk cannot grow it forever.
constexpr size_t max_logged_ignored = 4096;

enum class dir_level : uint8_t { root, plural, ns };

struct watched_dir {
  std::string rel;  ///< relative to the root: "", "upstreams", "upstreams/gloo-system"
  dir_level level = dir_level::root;
  std::optional<model::resource_kind> kind;  ///< plural and namespace levels
  std::string ns;                            ///< namespace level
};

/// A file seen in a scan.
struct found_file {
  std::string origin;
  model::resource_kind kind;
  std::string ns;
  file_stamp stamp;
};

/// A file that changed and waits to be quiet before it is read.
struct pending_file {
  model::resource_kind kind = model::resource_kind::gateway;
  std::string ns;
  std::optional<file_stamp> stamp;  ///< at the last look; unset when stat found nothing
  bool closed = false;  ///< last news was close-after-write or move-in (vs modify / create)
  clock_type::time_point due;
};

std::string join_rel(const std::string& parent, std::string_view name) {
  if (parent.empty()) {
    return std::string(name);
  }
  std::string out = parent;
  out += '/';
  out += name;
  return out;
}

bool under(const std::string& path, const std::string& dir) {
  if (dir.empty()) {
    return true;
  }
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0
         && path[dir.size()] == '/';
}

}  // namespace

/// Owns the inotify and wake descriptors, the watch thread and everything it knows about the
/// tree: watched directories, files already reported (`known_`, with their revisions), files
/// waiting to settle, and the batch being assembled. After start() returns, only the watch thread
/// touches that state, so it needs no locks; the sink is called from that thread only.
class directory_source::impl {
 public:
  impl(directory_source_options options, sink out)
      : options_(std::move(options)), out_(std::move(out)), root_(options_.root) {}

  ~impl() {
    stop();
    close_fds();
  }

  caf::expected<void> start();
  void stop();

 private:
  // --- setup and teardown
  void close_fds();
  bool add_watch(const watched_dir& dir, std::map<int, watched_dir>& into);

  // --- scanning
  void scan_dir(const watched_dir& dir, std::map<int, watched_dir>& watches,
                std::vector<found_file>& found);
  void full_rescan(clock_type::time_point now);

  // --- the watch loop
  void run();
  bool drain_events(clock_type::time_point now);
  void handle_event(const struct inotify_event& ev, clock_type::time_point now);
  void child_dir_event(const watched_dir& parent, std::string_view name, uint32_t mask,
                       clock_type::time_point now);
  void file_event(const watched_dir& dir, std::string_view name, uint32_t mask,
                  clock_type::time_point now);
  void schedule(const std::string& origin, model::resource_kind kind, const std::string& ns,
                bool closed, clock_type::time_point now);
  void forget_file(const std::string& origin);
  void drop_subtree(const std::string& rel);
  void process_due(clock_type::time_point now);
  void maybe_flush(clock_type::time_point now);
  int poll_timeout_ms(clock_type::time_point now) const;
  bool has_closed_pending() const;

  // --- helpers
  std::string full_path(const std::string& rel) const {
    return rel.empty() ? root_ : root_ + "/" + rel;
  }
  clock_type::duration period(const pending_file& p) const {
    return p.closed ? clock_type::duration(options_.settle)
                    : clock_type::duration(options_.open_writer_quiet);
  }
  clock_type::duration max_batch_delay() const {
    return std::max<clock_type::duration>(options_.settle * 10, std::chrono::milliseconds(1));
  }
  size_t read_limit() const {
    return options_.max_file_bytes == SIZE_MAX ? SIZE_MAX : options_.max_file_bytes + 1;
  }
  void log_ignored(const std::string& rel, std::string_view why);
  void emit(model::source_event ev, clock_type::time_point now);
  model::source_event upsert_event(const std::string& origin, model::resource_kind kind,
                                   const std::string& ns, file_content content) const;

  directory_source_options options_;
  sink out_;
  std::string root_;

  int inotify_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_requested_{false};
  std::mutex stop_mutex_;
  bool started_ = false;

  // Watch-thread state.
  std::map<int, watched_dir> watches_;
  std::map<std::string, std::string> known_;  ///< origin -> revision last reported
  std::map<std::string, pending_file> pending_;
  std::map<std::string, model::source_event> outbox_;  ///< by origin: sorted, last news wins
  clock_type::time_point outbox_since_{};
  clock_type::time_point last_activity_{};
  clock_type::time_point next_rescan_{};
  bool rescan_requested_ = false;
  std::unordered_set<std::string> logged_ignored_;
};

// ------------------------------------------------------------------------------------------------
// setup and teardown

caf::expected<void> directory_source::impl::start() {
  if (started_) {
    return make_error(ec::source_error, "directory source for " + root_ + " is already started");
  }
  std::error_code fs_ec;
  if (!fs::is_directory(root_, fs_ec)) {
    return make_error(ec::source_error,
                      "directory source root " + root_ + " does not exist or is not a directory");
  }
  inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) {
    return make_error(ec::source_error, "cannot watch " + root_ + ": inotify_init1: "
                                            + std::strerror(errno));
  }
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    int err = errno;
    close_fds();
    return make_error(ec::source_error,
                      "cannot watch " + root_ + ": eventfd: " + std::strerror(err));
  }
  watched_dir root_dir{"", dir_level::root, std::nullopt, ""};
  if (!add_watch(root_dir, watches_)) {
    int err = errno;
    close_fds();
    return make_error(ec::source_error, "cannot watch " + root_ + ": inotify_add_watch: "
                                            + std::strerror(err)
                                            + " (see fs.inotify.max_user_watches)");
  }
  // Watches are in place before anything is listed, so a change racing the scan is queued in
  // the inotify descriptor and handled by the thread; at worst a file is reported twice.
  std::vector<found_file> found;
  scan_dir(root_dir, watches_, found);
  std::sort(found.begin(), found.end(),
            [](const found_file& a, const found_file& b) { return a.origin < b.origin; });

  model::source_batch batch;
  batch.reserve(found.size() + 1);
  for (auto& f : found) {
    auto content = read_file_bounded(full_path(f.origin), read_limit());
    if (!content) {
      log::adapters()->warn("directory: cannot read file, skipped origin={} error=\"{}\"",
                            f.origin, describe(content.error()));
      continue;
    }
    known_[f.origin] = content->stamp.revision();
    batch.push_back(upsert_event(f.origin, f.kind, f.ns, std::move(*content)));
  }
  model::source_event synced;
  synced.source = std::string(source_name);
  synced.op = model::source_event::op_t::synced;
  batch.push_back(std::move(synced));
  log::adapters()->info("directory: initial scan done root={} files={} watches={}", root_,
                        batch.size() - 1, watches_.size());
  out_(std::move(batch));

  next_rescan_ = clock_type::now() + options_.rescan;
  try {
    thread_ = std::thread([this] { run(); });
  } catch (const std::system_error& e) {
    close_fds();
    return make_error(ec::source_error,
                      "cannot start the watch thread for " + root_ + ": " + e.what());
  }
  started_ = true;
  return {};
}

void directory_source::impl::stop() {
  stop_requested_ = true;
  if (thread_.joinable() && thread_.get_id() == std::this_thread::get_id()) {
    // Called from the sink: the loop sees the flag when the sink returns. Joining here would
    // deadlock, and so would taking the mutex a concurrent stop() may hold while joining us.
    return;
  }
  std::lock_guard<std::mutex> lock(stop_mutex_);
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    // A full counter (EAGAIN) still leaves the descriptor readable, which is all we need.
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

void directory_source::impl::close_fds() {
  if (inotify_fd_ >= 0) {
    ::close(inotify_fd_);
    inotify_fd_ = -1;
  }
  if (wake_fd_ >= 0) {
    ::close(wake_fd_);
    wake_fd_ = -1;
  }
}

bool directory_source::impl::add_watch(const watched_dir& dir, std::map<int, watched_dir>& into) {
  std::string path = full_path(dir.rel);
  int wd = ::inotify_add_watch(inotify_fd_, path.c_str(), watch_mask);
  if (wd < 0) {
    int err = errno;
    if (err != ENOENT && err != ENOTDIR) {
      // Handled degradation: the periodic rescan (if on) still sees this directory.
      log::adapters()->warn("directory: cannot watch directory path={} error=\"{}\"", dir.rel,
                            std::strerror(err));
    }
    errno = err;
    return false;
  }
  // Re-adding an already watched directory returns its existing descriptor; the path is
  // refreshed, which also repairs a mapping made stale by a rename we missed.
  into[wd] = dir;
  return true;
}

// ------------------------------------------------------------------------------------------------
// scanning

void directory_source::impl::log_ignored(const std::string& rel, std::string_view why) {
  if (logged_ignored_.size() >= max_logged_ignored || !logged_ignored_.insert(rel).second) {
    return;
  }
  log::adapters()->debug("directory: ignored path={} reason=\"{}\"", rel, why);
}

void directory_source::impl::scan_dir(const watched_dir& dir,
                                      std::map<int, watched_dir>& watches,
                                      std::vector<found_file>& found) {
  std::error_code it_ec;
  fs::directory_iterator it(full_path(dir.rel), it_ec);
  if (it_ec) {
    if (it_ec != std::errc::no_such_file_or_directory) {
      log::adapters()->warn("directory: cannot list directory path={} error=\"{}\"", dir.rel,
                            it_ec.message());
    }
    return;
  }
  for (; it != fs::directory_iterator(); it.increment(it_ec)) {
    if (it_ec) {
      break;
    }
    std::string name = it->path().filename().string();
    std::string rel = join_rel(dir.rel, name);
    std::error_code type_ec;
    bool is_dir = it->is_directory(type_ec);  // follows symlinks, as Gloo's file client does
    switch (dir.level) {
      case dir_level::root: {
        auto kind = kind_of_plural(name);
        if (!kind || !is_dir) {
          log_ignored(rel, "not a kind directory");
          break;
        }
        watched_dir child{rel, dir_level::plural, kind, ""};
        if (add_watch(child, watches)) {
          scan_dir(child, watches, found);
        }
        break;
      }
      case dir_level::plural: {
        if (!is_dir || !is_namespace_dir_name(name)) {
          log_ignored(rel, "not a namespace directory");
          break;
        }
        watched_dir child{rel, dir_level::ns, dir.kind, name};
        if (add_watch(child, watches)) {
          scan_dir(child, watches, found);
        }
        break;
      }
      case dir_level::ns: {
        if (is_dir || !is_resource_file_name(name)) {
          log_ignored(rel, "not a .yaml, .yml or .json file directly in a namespace directory");
          break;
        }
        auto st = stat_file(full_path(rel));
        if (st.what != file_status::type::regular) {
          log_ignored(rel, "not a regular file");
          break;
        }
        found.push_back(found_file{rel, *dir.kind, dir.ns, st.stamp});
        break;
      }
    }
  }
  if (it_ec) {
    log::adapters()->warn("directory: listing directory failed path={} error=\"{}\"", dir.rel,
                          it_ec.message());
  }
}

/// The safety net for lost events (queue overflow, changes behind symlinks): lists the whole
/// tree, re-establishes watches and diffs against what was reported.
void directory_source::impl::full_rescan(clock_type::time_point now) {
  rescan_requested_ = false;
  std::map<int, watched_dir> fresh;
  std::vector<found_file> found;
  watched_dir root_dir{"", dir_level::root, std::nullopt, ""};
  if (add_watch(root_dir, fresh)) {
    scan_dir(root_dir, fresh, found);
  }
  for (const auto& [wd, dir] : watches_) {
    if (!fresh.contains(wd)) {
      ::inotify_rm_watch(inotify_fd_, wd);
    }
  }
  watches_ = std::move(fresh);

  std::map<std::string, const found_file*> present;
  for (const auto& f : found) {
    present.emplace(f.origin, &f);
  }
  std::vector<std::string> vanished;
  for (const auto& [origin, revision] : known_) {
    if (!present.contains(origin)) {
      vanished.push_back(origin);
    }
  }
  for (const auto& origin : vanished) {
    forget_file(origin);
  }
  size_t changed = 0;
  for (const auto& [origin, f] : present) {
    // A file already waiting keeps its state: promoting an open writer's file to "closed" here
    // would let a half-written file through.
    if (pending_.contains(origin)) {
      continue;
    }
    auto known = known_.find(origin);
    if (known == known_.end() || known->second != f->stamp.revision()) {
      schedule(origin, f->kind, f->ns, true, now);
      ++changed;
    }
  }
  if (!vanished.empty() || changed > 0) {
    log::adapters()->info("directory: rescan found differences root={} changed={} removed={}",
                          root_, changed, vanished.size());
  }
}

// ------------------------------------------------------------------------------------------------
// the watch loop

void directory_source::impl::run() {
  struct pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  while (!stop_requested_.load()) {
    int rc = ::poll(fds, 2, poll_timeout_ms(clock_type::now()));
    if (rc < 0) {
      if (errno == EINTR) {
        continue;
      }
      log::adapters()->error("directory: poll failed, watching stopped root={} error=\"{}\"",
                             root_, std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0 || stop_requested_.load()) {
      return;
    }
    if ((fds[0].revents & POLLIN) != 0) {
      if (!drain_events(clock_type::now())) {
        return;
      }
    }
    auto now = clock_type::now();
    if (rescan_requested_ || (options_.rescan.count() > 0 && now >= next_rescan_)) {
      full_rescan(now);
      next_rescan_ = now + options_.rescan;
    }
    process_due(now);
    maybe_flush(now);
  }
}

bool directory_source::impl::drain_events(clock_type::time_point now) {
  alignas(struct inotify_event) char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(inotify_fd_, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return true;
      }
      log::adapters()->error("directory: reading inotify failed, watching stopped root={} "
                             "error=\"{}\"",
                             root_, std::strerror(errno));
      return false;
    }
    if (n == 0) {
      return true;
    }
    for (ssize_t off = 0; off < n;) {
      const auto* ev = reinterpret_cast<const struct inotify_event*>(buf + off);
      handle_event(*ev, now);
      off += static_cast<ssize_t>(sizeof(struct inotify_event) + ev->len);
    }
  }
}

void directory_source::impl::handle_event(const struct inotify_event& ev,
                                          clock_type::time_point now) {
  if ((ev.mask & IN_Q_OVERFLOW) != 0) {
    log::adapters()->warn("directory: inotify queue overflowed, rescanning root={}", root_);
    rescan_requested_ = true;
    return;
  }
  auto it = watches_.find(ev.wd);
  if (it == watches_.end()) {
    return;  // a watch we already dropped; its last events may still be queued
  }
  if ((ev.mask & IN_IGNORED) != 0) {
    watches_.erase(it);
    return;
  }
  const watched_dir dir = it->second;  // copy: handlers below change watches_
  if ((ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF)) != 0) {
    // Other directories are handled through their parent's IN_DELETE / IN_MOVED_FROM.
    if (dir.level == dir_level::root) {
      log::adapters()->error("directory: root removed or moved, every file reported removed "
                             "root={} rescan_ms={}",
                             root_, options_.rescan.count());
      last_activity_ = now;
      drop_subtree("");
    }
    return;
  }
  if (ev.len == 0) {
    return;
  }
  std::string_view name(ev.name);  // NUL-padded
  switch (dir.level) {
    case dir_level::root:
      if (kind_of_plural(name)) {
        child_dir_event(dir, name, ev.mask, now);
      } else {
        log_ignored(join_rel(dir.rel, name), "not a kind directory");
      }
      break;
    case dir_level::plural:
      if (is_namespace_dir_name(name)) {
        child_dir_event(dir, name, ev.mask, now);
      } else {
        log_ignored(join_rel(dir.rel, name), "not a namespace directory");
      }
      break;
    case dir_level::ns:
      if ((ev.mask & IN_ISDIR) == 0 && is_resource_file_name(name)) {
        file_event(dir, name, ev.mask, now);
      } else {
        log_ignored(join_rel(dir.rel, name),
                    "not a .yaml, .yml or .json file directly in a namespace directory");
      }
      break;
  }
}

void directory_source::impl::child_dir_event(const watched_dir& parent, std::string_view name,
                                             uint32_t mask, clock_type::time_point now) {
  std::string rel = join_rel(parent.rel, name);
  if ((mask & (IN_DELETE | IN_MOVED_FROM)) != 0) {
    last_activity_ = now;
    drop_subtree(rel);
    return;
  }
  if ((mask & (IN_CREATE | IN_MOVED_TO)) == 0) {
    return;
  }
  std::error_code type_ec;
  if (!fs::is_directory(full_path(rel), type_ec)) {  // also admits a symlink to a directory
    log_ignored(rel, parent.level == dir_level::root ? "not a kind directory"
                                                     : "not a namespace directory");
    return;
  }
  watched_dir child;
  if (parent.level == dir_level::root) {
    child = watched_dir{rel, dir_level::plural, kind_of_plural(name), ""};
  } else {
    child = watched_dir{rel, dir_level::ns, parent.kind, std::string(name)};
  }
  if (!add_watch(child, watches_)) {
    return;
  }
  // Whatever is already inside (a moved-in directory, files written before the watch existed)
  // goes through the settle check like any other change.
  std::vector<found_file> found;
  scan_dir(child, watches_, found);
  last_activity_ = now;
  for (const auto& f : found) {
    if (!pending_.contains(f.origin)) {
      schedule(f.origin, f.kind, f.ns, true, now);
    }
  }
  log::adapters()->debug("directory: watching new directory path={} files={}", rel,
                         found.size());
}

void directory_source::impl::file_event(const watched_dir& dir, std::string_view name,
                                        uint32_t mask, clock_type::time_point now) {
  std::string origin = join_rel(dir.rel, name);
  if ((mask & (IN_DELETE | IN_MOVED_FROM)) != 0) {
    last_activity_ = now;
    forget_file(origin);
  } else if ((mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) != 0) {
    last_activity_ = now;
    schedule(origin, *dir.kind, dir.ns, true, now);
  } else if ((mask & (IN_MODIFY | IN_CREATE)) != 0) {
    // Not activity for batching: an open writer must not hold back other files' news.
    schedule(origin, *dir.kind, dir.ns, false, now);
  }
}

void directory_source::impl::schedule(const std::string& origin, model::resource_kind kind,
                                      const std::string& ns, bool closed,
                                      clock_type::time_point now) {
  auto it = pending_.find(origin);
  if (it == pending_.end()) {
    pending_file fresh;
    fresh.kind = kind;
    fresh.ns = ns;
    it = pending_.emplace(origin, std::move(fresh)).first;
  }
  pending_file& p = it->second;
  // A modify after a close means a writer has the file open again: back to the long wait.
  p.closed = closed;
  auto st = stat_file(full_path(origin));
  if (st.what == file_status::type::regular) {
    p.stamp = st.stamp;
  } else {
    p.stamp.reset();
  }
  p.due = now + period(p);
}

void directory_source::impl::forget_file(const std::string& origin) {
  pending_.erase(origin);
  auto it = known_.find(origin);
  if (it == known_.end()) {
    return;  // never reported, so nothing to take back
  }
  known_.erase(it);
  model::source_event ev;
  ev.source = std::string(source_name);
  ev.op = model::source_event::op_t::remove;
  ev.origin = origin;
  auto slash = origin.find('/');
  if (slash != std::string::npos) {
    ev.kind = kind_of_plural(std::string_view(origin).substr(0, slash));
    auto slash2 = origin.find('/', slash + 1);
    if (slash2 != std::string::npos) {
      ev.ns = origin.substr(slash + 1, slash2 - slash - 1);
    }
  }
  emit(std::move(ev), clock_type::now());
}

void directory_source::impl::drop_subtree(const std::string& rel) {
  std::vector<std::string> gone;
  for (const auto& [origin, revision] : known_) {
    if (under(origin, rel)) {
      gone.push_back(origin);
    }
  }
  for (const auto& origin : gone) {
    forget_file(origin);
  }
  std::erase_if(pending_, [&](const auto& entry) { return under(entry.first, rel); });
  // A moved-away directory keeps its inotify watch and would keep reporting under its old
  // name; a deleted one is already gone (removing it again is harmless).
  for (auto it = watches_.begin(); it != watches_.end();) {
    if (it->second.rel == rel || under(it->second.rel, rel)) {
      ::inotify_rm_watch(inotify_fd_, it->first);
      it = watches_.erase(it);
    } else {
      ++it;
    }
  }
}

void directory_source::impl::process_due(clock_type::time_point now) {
  std::vector<std::string> due;
  for (const auto& [origin, p] : pending_) {
    if (p.due <= now) {
      due.push_back(origin);
    }
  }
  for (const auto& origin : due) {
    auto it = pending_.find(origin);
    if (it == pending_.end()) {
      continue;
    }
    pending_file& p = it->second;
    std::string path = full_path(origin);
    auto st = stat_file(path);
    switch (st.what) {
      case file_status::type::missing:
        forget_file(origin);
        continue;
      case file_status::type::other:
        log_ignored(origin, "not a regular file");
        forget_file(origin);
        continue;
      case file_status::type::error:
        log::adapters()->warn("directory: cannot stat file, skipped origin={} error=\"{}\"",
                              origin, st.error_text);
        pending_.erase(it);
        continue;
      case file_status::type::regular:
        break;
    }
    if (!p.stamp || *p.stamp != st.stamp) {
      // Still changing: wait for another full quiet period.
      p.stamp = st.stamp;
      p.due = now + period(p);
      continue;
    }
    auto content = read_file_bounded(path, read_limit());
    if (!content) {
      log::adapters()->warn("directory: cannot read file, skipped origin={} error=\"{}\"",
                            origin, describe(content.error()));
      pending_.erase(it);
      continue;
    }
    if (!content->stable || content->stamp != *p.stamp) {
      p.stamp = content->stamp;
      p.due = now + period(p);
      continue;
    }
    auto kind = p.kind;
    auto ns = p.ns;
    pending_.erase(it);
    known_[origin] = content->stamp.revision();
    emit(upsert_event(origin, kind, ns, std::move(*content)), now);
  }
}

bool directory_source::impl::has_closed_pending() const {
  return std::any_of(pending_.begin(), pending_.end(),
                     [](const auto& entry) { return entry.second.closed; });
}

void directory_source::impl::maybe_flush(clock_type::time_point now) {
  if (outbox_.empty()) {
    return;
  }
  // Changes that arrive together go out together: wait until the tree has been quiet for the
  // settle period and nothing that was closed is still settling, but never longer than
  // max_batch_delay, so constant churn cannot starve delivery.
  bool quiet = now >= last_activity_ + options_.settle && !has_closed_pending();
  bool overdue = now >= outbox_since_ + max_batch_delay();
  if (!quiet && !overdue) {
    return;
  }
  model::source_batch batch;
  batch.reserve(outbox_.size());
  for (auto& [origin, ev] : outbox_) {
    batch.push_back(std::move(ev));
  }
  outbox_.clear();
  if (stop_requested_.load()) {
    return;
  }
  log::adapters()->debug("directory: delivering batch root={} events={}", root_, batch.size());
  out_(std::move(batch));
}

int directory_source::impl::poll_timeout_ms(clock_type::time_point now) const {
  auto next = clock_type::time_point::max();
  for (const auto& [origin, p] : pending_) {
    next = std::min(next, p.due);
  }
  if (!outbox_.empty()) {
    next = std::min(next, outbox_since_ + max_batch_delay());
    if (!has_closed_pending()) {
      next = std::min(next, last_activity_ + clock_type::duration(options_.settle));
    }
  }
  if (options_.rescan.count() > 0) {
    next = std::min(next, next_rescan_);
  }
  if (next == clock_type::time_point::max()) {
    return -1;
  }
  if (next <= now) {
    return 0;
  }
  // Round up: waking a hair early would only spin once more through an empty round.
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
  return static_cast<int>(std::min<decltype(ms)>(ms, INT_MAX));
}

void directory_source::impl::emit(model::source_event ev, clock_type::time_point now) {
  if (outbox_.empty()) {
    outbox_since_ = now;
  }
  std::string origin = ev.origin;
  outbox_.insert_or_assign(std::move(origin), std::move(ev));
}

model::source_event directory_source::impl::upsert_event(const std::string& origin,
                                                         model::resource_kind kind,
                                                         const std::string& ns,
                                                         file_content content) const {
  model::source_event ev;
  ev.source = std::string(source_name);
  ev.op = model::source_event::op_t::upsert;
  ev.kind = kind;
  ev.ns = ns;
  ev.origin = origin;
  ev.revision = content.stamp.revision();
  ev.bytes = std::move(content.bytes);
  return ev;
}

// ------------------------------------------------------------------------------------------------
// public face

directory_source::directory_source(directory_source_options options, sink out)
    : impl_(std::make_unique<impl>(std::move(options), std::move(out))) {}

directory_source::~directory_source() = default;

caf::expected<void> directory_source::start() { return impl_->start(); }

void directory_source::stop() { impl_->stop(); }

}  // namespace sluice::adapters
