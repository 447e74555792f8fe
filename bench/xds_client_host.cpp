#include "bench/xds_client_host.hpp"

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <istream>
#include <memory>
#include <ostream>
#include <random>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "bench/xds_load_client.hpp"
#include "model/error.hpp"

extern char** environ;

namespace sluice::bench {

namespace {

/// Bound on one command's answer (connecting a thousand clients, or a storm, is far quicker).
constexpr auto answer_bound = std::chrono::seconds(120);

void reconnect_storm(std::vector<std::unique_ptr<xds_load_client>>& clients, int port,
                     uint64_t seed) {
  const auto start = std::chrono::steady_clock::now();
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> jitter(0, 999);
  std::vector<std::pair<int, size_t>> schedule;
  for (size_t i = 0; i < clients.size(); ++i) {
    schedule.emplace_back(jitter(rng), i);
  }
  std::sort(schedule.begin(), schedule.end());
  constexpr size_t workers = 8;
  std::vector<std::thread> threads;
  for (size_t w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      for (size_t j = w; j < schedule.size(); j += workers) {
        // The storm's shape: reconnects spread over one second, as after a server restart.
        std::this_thread::sleep_until(start + std::chrono::milliseconds(schedule[j].first));
        clients[schedule[j].second]->reconnect(port);
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
}

}  // namespace

std::string load_client_node_id(size_t i) { return "bench-envoy-" + std::to_string(i); }

double process_rss_mb() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1048576.0;
}

double process_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

int run_xds_client_host(std::istream& in, std::ostream& out) {
  std::vector<std::unique_ptr<xds_load_client>> clients;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string command;
    words >> command;
    if (command == "connect") {
      int port = 0;
      std::string role;
      size_t n = 0, delta = 0;
      words >> port >> role >> n >> delta;
      if (!words || !clients.empty()) {
        out << "error connect wants PORT ROLE CLIENTS DELTA_CLIENTS, once" << std::endl;
        continue;
      }
      for (size_t i = 0; i < n; ++i) {
        clients.push_back(std::make_unique<xds_load_client>(load_client_options{
            .node_id = load_client_node_id(i), .role = role, .delta = i < delta}));
        clients.back()->connect(port);
      }
      out << "ok" << std::endl;
    } else if (command == "storm") {
      int port = 0;
      uint64_t seed = 0;
      words >> port >> seed;
      if (!words) {
        out << "error storm wants PORT SEED" << std::endl;
        continue;
      }
      reconnect_storm(clients, port, seed);
      out << "ok" << std::endl;
    } else if (command == "stats") {
      out << fmt::format("stats {:.3f} {:.3f}", process_rss_mb(), process_cpu_s()) << std::endl;
    } else if (command == "quit") {
      break;
    } else {
      out << "error unknown command " << command << std::endl;
    }
  }
  clients.clear();
  return 0;
}

// ---- client_host_process ----------------------------------------------------------------------

client_host_process::~client_host_process() { stop(); }

caf::error client_host_process::start(const std::vector<std::string>& argv) {
  int in_pipe[2], out_pipe[2];
  if (pipe(in_pipe) != 0) {
    return make_error(ec::source_error, "cannot create a pipe for the client host");
  }
  if (pipe(out_pipe) != 0) {
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    return make_error(ec::source_error, "cannot create a pipe for the client host");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, in_pipe[1]);
  posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
  std::vector<char*> args;
  for (const auto& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  const int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  to_child_ = in_pipe[1];
  from_child_ = out_pipe[0];
  if (rc != 0) {
    pid_ = -1;
    stop();
    return make_error(ec::source_error, "cannot start the client host " + argv.front() + ": "
                                            + std::string(strerror(rc)));
  }
  return {};
}

caf::expected<std::string> client_host_process::call(const std::string& command) {
  const std::string line = command + "\n";
  for (size_t done = 0; done < line.size();) {
    auto n = ::write(to_child_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return make_error(ec::source_error, "the client host process went away");
    }
    done += static_cast<size_t>(n);
  }
  const auto deadline = std::chrono::steady_clock::now() + answer_bound;
  while (true) {
    if (auto nl = buffered_.find('\n'); nl != std::string::npos) {
      std::string answer = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      if (answer.rfind("error", 0) == 0) {
        return make_error(ec::invalid_argument, "client host: " + answer);
      }
      return answer;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return make_error(ec::limit_exceeded, "the client host did not answer \"" + command
                                                + "\" within "
                                                + std::to_string(answer_bound.count()) + " s");
    }
    pollfd p{from_child_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      continue;
    }
    char buf[4096];
    auto n = ::read(from_child_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return make_error(ec::source_error, "the client host process went away");
    }
    buffered_.append(buf, static_cast<size_t>(n));
  }
}

void client_host_process::stop() {
  if (to_child_ >= 0) {
    static const char quit[] = "quit\n";
    [[maybe_unused]] auto n = ::write(to_child_, quit, sizeof quit - 1);
    ::close(to_child_);
    to_child_ = -1;
  }
  if (pid_ > 0) {
    int status = 0;
    // The host closes its clients and exits on "quit" or end of input; bounded, then killed.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
  }
  if (from_child_ >= 0) {
    ::close(from_child_);
    from_child_ = -1;
  }
}

}  // namespace sluice::bench
