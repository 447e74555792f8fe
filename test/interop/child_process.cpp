#include "test/interop/child_process.hpp"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <sstream>

extern char** environ;

namespace sluice::interop {
namespace {

using clock_type = std::chrono::steady_clock;

// Builds "KEY=VALUE" strings: the test process's environment minus the overridden keys, plus the
// overrides.
std::vector<std::string> build_environment(const env_overrides& env) {
  std::vector<std::string> result;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text = *entry;
    auto key = text.substr(0, text.find('='));
    bool overridden = false;
    for (const auto& [name, value] : env) {
      if (key == name) overridden = true;
    }
    if (!overridden) result.emplace_back(text);
  }
  for (const auto& [name, value] : env) {
    result.push_back(name + "=" + value);
  }
  return result;
}

std::vector<char*> as_pointers(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (auto& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

void close_fd(int& fd) {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

// Appends complete lines of `buffer` to `lines`, keeping the unterminated rest in `buffer`.
void split_lines(std::string& buffer, std::vector<std::string>& lines) {
  size_t start = 0;
  for (size_t nl = buffer.find('\n'); nl != std::string::npos; nl = buffer.find('\n', start)) {
    lines.emplace_back(buffer, start, nl - start);
    start = nl + 1;
  }
  buffer.erase(0, start);
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

std::unique_ptr<child_process> child_process::spawn(std::string name,
                                                    const std::vector<std::string>& argv,
                                                    const env_overrides& env, std::string* error) {
  auto fail = [&](const std::string& why) {
    *error = name + ": cannot start " + (argv.empty() ? std::string("<empty argv>") : argv[0]) +
             ": " + why;
    return nullptr;
  };
  if (argv.empty()) return fail("no program given");

  // Everything the child needs is prepared before fork: between fork and exec only
  // async-signal-safe calls are allowed (the test process has reader threads).
  std::vector<std::string> args = argv;
  std::vector<std::string> environment = build_environment(env);
  auto arg_ptrs = as_pointers(args);
  auto env_ptrs = as_pointers(environment);

  // O_CLOEXEC everywhere so no child inherits another child's pipe ends (which would keep a
  // stream open after its writer died); dup2 clears the flag on the child's 0/1/2.
  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  int exec_pipe[2] = {-1, -1};
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  auto close_all = [&] {
    for (int* fd : {&out_pipe[0], &out_pipe[1], &err_pipe[0], &err_pipe[1], &exec_pipe[0],
                    &exec_pipe[1], &null_fd}) {
      close_fd(*fd);
    }
  };
  if (null_fd < 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0 ||
      ::pipe2(exec_pipe, O_CLOEXEC) != 0) {
    std::string why = std::strerror(errno);
    close_all();
    return fail("pipe setup failed: " + why);
  }

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::string why = std::strerror(errno);
    close_all();
    return fail("fork failed: " + why);
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the test died before prctl took effect
    ::setpgid(0, 0);
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    ::execve(arg_ptrs[0], arg_ptrs.data(), env_ptrs.data());
    int exec_errno = errno;
    ssize_t ignored = ::write(exec_pipe[1], &exec_errno, sizeof exec_errno);
    (void)ignored;
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also in the parent, so kill(-pid) works even before the child ran
  close_fd(out_pipe[1]);
  close_fd(err_pipe[1]);
  close_fd(exec_pipe[1]);
  close_fd(null_fd);

  // The exec pipe closes on a successful exec (CLOEXEC) or carries exec's errno.
  int exec_errno = 0;
  ssize_t got;
  do {
    got = ::read(exec_pipe[0], &exec_errno, sizeof exec_errno);
  } while (got < 0 && errno == EINTR);
  close_fd(exec_pipe[0]);
  if (got == static_cast<ssize_t>(sizeof exec_errno)) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    close_fd(out_pipe[0]);
    close_fd(err_pipe[0]);
    return fail(std::string("exec failed: ") + std::strerror(exec_errno));
  }

  std::unique_ptr<child_process> child(
      new child_process(std::move(name), pid, out_pipe[0], err_pipe[0]));
  child->reader_ = std::thread([raw = child.get()] { raw->read_loop(); });
  return child;
}

child_process::child_process(std::string name, pid_t pid, int out_fd, int err_fd)
    : name_(std::move(name)), pid_(pid), out_fd_(out_fd), err_fd_(err_fd) {}

child_process::~child_process() { stop(); }

void child_process::read_loop() {
  std::string out_buffer;
  std::string err_buffer;
  bool out_open = true;
  bool err_open = true;
  char chunk[4096];
  while (out_open || err_open) {
    {
      std::lock_guard lock(mutex_);
      if (stop_reading_) break;
    }
    pollfd fds[2] = {{out_open ? out_fd_ : -1, POLLIN, 0}, {err_open ? err_fd_ : -1, POLLIN, 0}};
    // The timeout only bounds how long a stop request can go unnoticed.
    int ready = ::poll(fds, 2, 100);
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      bool is_out = i == 0;
      ssize_t n = ::read(fds[i].fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      std::lock_guard lock(mutex_);
      auto& buffer = is_out ? out_buffer : err_buffer;
      auto& lines = is_out ? out_lines_ : err_lines_;
      if (n > 0) {
        buffer.append(chunk, static_cast<size_t>(n));
        split_lines(buffer, lines);
      } else {
        if (!buffer.empty()) lines.push_back(std::move(buffer));
        buffer.clear();
        (is_out ? out_open : err_open) = false;
        (is_out ? out_closed_ : err_closed_) = true;
      }
      changed_.notify_all();
    }
  }
  std::lock_guard lock(mutex_);
  out_closed_ = true;
  err_closed_ = true;
  changed_.notify_all();
}

std::optional<line_match> child_process::wait_for_line(
    output_stream stream, const std::function<bool(std::string_view)>& match,
    std::chrono::milliseconds timeout, size_t from) {
  const auto deadline = clock_type::now() + timeout;
  std::unique_lock lock(mutex_);
  const auto& lines = stream == output_stream::out ? out_lines_ : err_lines_;
  const bool& closed = stream == output_stream::out ? out_closed_ : err_closed_;
  size_t next = from;
  while (true) {
    for (; next < lines.size(); ++next) {
      if (match(lines[next])) return line_match{next, lines[next]};
    }
    if (closed) return std::nullopt;
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      for (; next < lines.size(); ++next) {
        if (match(lines[next])) return line_match{next, lines[next]};
      }
      return std::nullopt;
    }
  }
}

std::vector<std::string> child_process::lines(output_stream stream) const {
  std::lock_guard lock(mutex_);
  return stream == output_stream::out ? out_lines_ : err_lines_;
}

size_t child_process::line_count(output_stream stream) const {
  std::lock_guard lock(mutex_);
  return stream == output_stream::out ? out_lines_.size() : err_lines_.size();
}

bool child_process::has_exited() {
  if (exit_code_) return true;
  // WNOWAIT leaves the child a zombie: its pid, and so its process group id, cannot be reused
  // until stop() reaps it, which makes the group kill in stop() safe.
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return false;
  }
  if (info.si_pid != pid_) return false;  // still running
  exit_code_ = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
  return true;
}

std::optional<int> child_process::wait_for_exit(std::chrono::milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  // The pipes close when the child (and anything it spawned) exits: wait on that first, then
  // reap. A child that closed its pipes but keeps running is polled until the deadline.
  {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_until(lock, deadline, [this] { return out_closed_ && err_closed_; })) {
      return std::nullopt;
    }
  }
  while (!has_exited()) {
    if (clock_type::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return exit_code_;
}

void child_process::stop(std::chrono::milliseconds grace) {
  if (pid_ > 0 && !reaped_) {
    if (!has_exited()) {
      ::kill(-pid_, SIGTERM);
      const auto deadline = clock_type::now() + grace;
      while (!has_exited() && clock_type::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    // The leader is alive or a zombie, so the group id is still ours: end anything left in it
    // (a child that ignored SIGTERM, or something it spawned) before reaping.
    ::kill(-pid_, SIGKILL);
    int status = 0;
    pid_t got;
    do {
      got = ::waitpid(pid_, &status, 0);
    } while (got < 0 && errno == EINTR);
    if (got == pid_ && !exit_code_) exit_code_ = decode_status(status);
    reaped_ = true;
  }
  if (reader_.joinable()) {
    {
      // Give the reader a moment to collect the last output, then stop it regardless.
      std::unique_lock lock(mutex_);
      changed_.wait_for(lock, std::chrono::seconds(2),
                        [this] { return out_closed_ && err_closed_; });
      stop_reading_ = true;
    }
    reader_.join();
  }
  close_fd(out_fd_);
  close_fd(err_fd_);
}

std::string child_process::tail(size_t count) const {
  std::lock_guard lock(mutex_);
  std::ostringstream text;
  auto dump = [&](const char* label, const std::vector<std::string>& lines) {
    size_t first = lines.size() > count ? lines.size() - count : 0;
    text << "---- " << name_ << " " << label << " (" << lines.size() << " lines, last "
         << lines.size() - first << ")\n";
    for (size_t i = first; i < lines.size(); ++i) text << lines[i] << "\n";
  };
  dump("stdout", out_lines_);
  dump("stderr", err_lines_);
  return text.str();
}

std::optional<std::string> find_on_path(std::string_view program) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return std::nullopt;
  std::string_view dirs = path;
  while (true) {
    auto colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    if (!dir.empty()) {
      std::string candidate = dir + "/" + std::string(program);
      struct stat info {};
      if (::stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
          ::access(candidate.c_str(), X_OK) == 0) {
        return candidate;
      }
    }
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return std::nullopt;
}

}  // namespace sluice::interop
