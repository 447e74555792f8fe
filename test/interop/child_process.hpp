#pragma once
/// A child process for the interop harness: started with fork/exec, its stdout and stderr read
/// line by line while it runs, and always stopped and reaped.

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace sluice::interop {

enum class output_stream { out, err };

/// Environment variables added to (or replacing those of) the test process's environment.
using env_overrides = std::vector<std::pair<std::string, std::string>>;

/// A matched output line and its index in that stream (to continue reading after it).
struct line_match {
  size_t index = 0;
  std::string text;
};

/// Owns one child process and the thread that drains its pipes. Promises:
///  - the child gets its own process group, /dev/null as stdin, and dies with SIGKILL if the test
///    process dies (PR_SET_PDEATHSIG), so no peer outlives a crashed test;
///  - stdout and stderr are drained continuously into line lists, so a chatty child never blocks
///    on a full pipe while the test waits on something else;
///  - every wait is bounded by the caller's timeout;
///  - stop() (also run by the destructor) sends SIGTERM to the process group, escalates to SIGKILL
///    after a grace period, and reaps the child.
/// Spawn and waits must be called from the thread that owns the object (the test's main thread:
/// PR_SET_PDEATHSIG follows the thread that forked).
class child_process {
 public:
  /// Starts argv[0] (an absolute path) with argv. On failure returns nullptr and sets *error to a
  /// message naming the program and the reason (e.g. exec's errno).
  static std::unique_ptr<child_process> spawn(std::string name,
                                              const std::vector<std::string>& argv,
                                              const env_overrides& env, std::string* error);

  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  const std::string& name() const { return name_; }
  pid_t pid() const { return pid_; }

  /// Waits until a line at index >= from of `stream` satisfies `match`; nullopt on timeout or
  /// when the stream ended without one.
  std::optional<line_match> wait_for_line(output_stream stream,
                                          const std::function<bool(std::string_view)>& match,
                                          std::chrono::milliseconds timeout, size_t from = 0);

  /// A copy of the lines read so far (a trailing partial line only once the stream ended).
  std::vector<std::string> lines(output_stream stream) const;
  size_t line_count(output_stream stream) const;

  /// Waits for the child to exit by itself and for its output to be fully read. Returns the exit
  /// code (128 + signal number when killed by a signal), nullopt on timeout (the child keeps
  /// running; stop() or the destructor ends it).
  std::optional<int> wait_for_exit(std::chrono::milliseconds timeout);

  /// Ends the child (SIGTERM to its group, SIGKILL after `grace`), reaps it and joins the reader.
  /// Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

  /// The last `count` lines of both streams, labelled, for failure messages.
  std::string tail(size_t count) const;

 private:
  child_process(std::string name, pid_t pid, int out_fd, int err_fd);
  void read_loop();
  bool has_exited();  ///< non-blocking, does not reap; records the exit code

  std::string name_;
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::optional<int> exit_code_;
  bool reaped_ = false;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> out_lines_;
  std::vector<std::string> err_lines_;
  bool out_closed_ = false;
  bool err_closed_ = false;
  bool stop_reading_ = false;
  std::thread reader_;
};

/// The absolute path of `program` found on $PATH, or nullopt.
std::optional<std::string> find_on_path(std::string_view program);

}  // namespace sluice::interop
