#pragma once
/// Helpers for the end-to-end Kubernetes tests: Gloo objects in the Kubernetes form, and a
/// `sluice serve` child process whose log goes to a file the test can poll.

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::test::kube {

using json = nlohmann::json;

inline json gateway(const std::string& name = "gateway-proxy", int port = 8080) {
  return {{"apiVersion", "gateway.solo.io/v1"},
          {"kind", "Gateway"},
          {"metadata", {{"name", name}, {"namespace", "gloo-system"}}},
          {"spec", {{"bindAddress", "::"}, {"bindPort", port}, {"httpGateway", json::object()}}}};
}

inline json upstream(const std::string& name, int port) {
  return {{"apiVersion", "gloo.solo.io/v1"},
          {"kind", "Upstream"},
          {"metadata", {{"name", name}, {"namespace", "gloo-system"}}},
          {"spec",
           {{"static", {{"hosts", json::array({{{"addr", "127.0.0.1"}, {"port", port}}})}}}}}};
}

/// A VirtualService routing `prefix` on `domain` to `upstream`; `regex` adds a regex matcher
/// (an invalid one is rejected at ingest, before translation).
inline json virtual_service(const std::string& name, const std::string& domain,
                            const std::string& upstream_name, const std::string& regex = "") {
  json matcher = regex.empty() ? json{{"prefix", "/"}} : json{{"regex", regex}};
  return {{"apiVersion", "gateway.solo.io/v1"},
          {"kind", "VirtualService"},
          {"metadata", {{"name", name}, {"namespace", "gloo-system"}}},
          {"spec",
           {{"virtualHost",
             {{"domains", json::array({domain})},
              {"routes",
               json::array({{{"matchers", json::array({matcher})},
                             {"routeAction",
                              {{"single",
                                {{"upstream",
                                  {{"name", upstream_name},
                                   {"namespace", "gloo-system"}}}}}}}}})}}}}}};
}

inline std::string vs_path(const std::string& name) {
  return "apis/gateway.solo.io/v1/namespaces/gloo-system/virtualservices/" + name;
}

/// The status the fake holds for an object under `status.statuses.gloo-system`; an empty object
/// when there is none.
inline json status_of(const std::optional<json>& object) {
  if (!object || !object->contains("status") || !(*object)["status"].is_object()) {
    return json::object();
  }
  const auto& s = (*object)["status"];
  if (!s.contains("statuses") || !s["statuses"].is_object()
      || !s["statuses"].contains("gloo-system") || !s["statuses"]["gloo-system"].is_object()) {
    return json::object();
  }
  return s["statuses"]["gloo-system"];
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

/// `sluice serve` as a child process: own process group, killed if the test dies, stdout and
/// stderr into `log`. Always killed and reaped by the destructor.
class serve_process {
 public:
  serve_process(const std::string& binary, const std::vector<std::string>& args,
                std::filesystem::path log)
      : log_(std::move(log)) {
    std::vector<std::string> argv{binary};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::setpgid(0, 0);
      int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      int null = ::open("/dev/null", O_RDONLY);
      if (null >= 0) {
        ::dup2(null, 0);
      }
      std::vector<char*> raw;
      for (auto& a : argv) {
        raw.push_back(a.data());
      }
      raw.push_back(nullptr);
      ::execv(raw[0], raw.data());
      ::_exit(127);
    }
  }
  ~serve_process() { kill(SIGKILL); }
  serve_process(const serve_process&) = delete;
  serve_process& operator=(const serve_process&) = delete;

  bool started() const { return pid_ > 0; }

  /// Sends `sig` and reaps the child (SIGKILL after 10 s if it does not exit).
  void kill(int sig) {
    if (pid_ <= 0) {
      return;
    }
    ::kill(pid_, sig);
    for (int i = 0; i < 1000; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  std::string log() const { return read_file(log_); }

  /// Waits (bounded) for a log line containing `text`; returns that line.
  std::optional<std::string> wait_for_log(const std::string& text,
                                          std::chrono::milliseconds bound
                                          = std::chrono::seconds(20)) const {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    do {
      std::stringstream in(log());
      std::string line;
      while (std::getline(in, line)) {
        if (line.find(text) != std::string::npos) {
          return line;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (std::chrono::steady_clock::now() < deadline);
    return std::nullopt;
  }

  /// The number after "port=" in the first line containing `text`; 0 if none.
  int port_from_log(const std::string& text) const {
    auto line = wait_for_log(text);
    if (!line) {
      return 0;
    }
    auto at = line->find("port=");
    return at == std::string::npos ? 0 : std::atoi(line->c_str() + at + 5);
  }

 private:
  std::filesystem::path log_;
  pid_t pid_ = -1;
};

}  // namespace sluice::test::kube
