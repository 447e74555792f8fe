#pragma once
/// The interop harness shared by every test/interop/*_test.cpp: the gRPC project's own xDS clients
/// (C++ from Debian's libgrpc++ 1.51, and @grpc/grpc-js-xds 1.14.1) against a running
/// `sluice serve`, everything on 127.0.0.1.
///
/// Each test owns a temp directory in Gloo's directory layout (<config>/<plural>/<namespace>/
/// <name>.yaml, flat form), two greeter backends labelled A and B, and one sluice process watching
/// the directory. Every test runs once per client (parameter Cpp / Node) and asserts routing
/// through the backend labels the client saw, so a route that sluice translated wrongly shows up
/// as calls landing on the wrong backend or failing. Child processes are stopped and reaped in
/// TearDown (child_process's destructor) whether the test passed or not, and every wait is
/// bounded.

#include <gtest/gtest.h>

#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "test/interop/child_process.hpp"
#include "test/support/temp_dir.hpp"

namespace sluice::interop {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

enum class client_kind { cpp, node };

// All resources live in one namespace; proxyless clients select by domain, not by Gateway.
inline constexpr std::string_view resource_namespace = "gloo-system";
// The VirtualService domain, so the API listener name and the client target (xds:///<domain>).
inline constexpr std::string_view greeter_domain = "greeter.interop";

inline constexpr auto backend_ready_timeout = 15s;
inline constexpr auto sluice_ready_timeout = 30s;
// A client's whole run: process start (Node spends up to ~0.5 s loading modules), the ADS
// exchange, and the calls themselves.
inline constexpr auto client_run_timeout = 60s;
inline constexpr auto route_change_timeout = 20s;
inline constexpr auto nack_timeout = 20s;

inline bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

inline std::string lower(std::string_view text) {
  std::string result(text);
  for (char& c : result) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return result;
}

// True when `word` appears in `text` (case-insensitively) at the start of a word, so "nack" finds
// "nack", "nacked" and "NACK" but not "snack".
inline bool has_word_prefix(std::string_view text, std::string_view word) {
  std::string haystack = lower(text);
  for (size_t at = haystack.find(word); at != std::string::npos; at = haystack.find(word, at + 1)) {
    if (at == 0 || !std::isalnum(static_cast<unsigned char>(haystack[at - 1]))) return true;
  }
  return false;
}

// True when `word` appears as a whole word (case-insensitively).
inline bool has_word(std::string_view text, std::string_view word) {
  std::string haystack = lower(text);
  for (size_t at = haystack.find(word); at != std::string::npos; at = haystack.find(word, at + 1)) {
    size_t end = at + word.size();
    bool starts = at == 0 || !std::isalnum(static_cast<unsigned char>(haystack[at - 1]));
    bool ends = end == haystack.size() || !std::isalnum(static_cast<unsigned char>(haystack[end]));
    if (starts && ends) return true;
  }
  return false;
}

// The number after "<key>=" in `line`, if any.
inline std::optional<int> field_number(std::string_view line, std::string_view key) {
  std::string needle = std::string(key) + "=";
  auto at = line.find(needle);
  if (at == std::string_view::npos) return std::nullopt;
  auto digits = line.substr(at + needle.size());
  int value = 0;
  auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (err != std::errc{} || end == digits.data()) return std::nullopt;
  return value;
}

inline bool is_nack_line(std::string_view line) { return has_word_prefix(line, "nack"); }

// One line of client output: "ok <label>", "error <code> <message>" or the final tally.
struct call_line {
  bool ok = false;
  std::string backend;  // when ok
  std::string error;    // when not ok: "<code> <message>"
};

inline std::optional<call_line> parse_call_line(std::string_view line) {
  if (line.rfind("ok ", 0) == 0) return call_line{true, std::string(line.substr(3)), {}};
  if (line.rfind("error ", 0) == 0) return call_line{false, {}, std::string(line.substr(6))};
  return std::nullopt;
}

inline bool is_call_line(std::string_view line) { return parse_call_line(line).has_value(); }

// What a finished client run printed.
struct client_run {
  bool started = false;
  std::optional<int> exit_code;  // nullopt when the run did not finish in time
  std::map<std::string, int> per_backend;
  std::vector<std::string> errors;  // "<code> <message>" per failed call
  int calls_seen = 0;
  std::string tally;  // the final tally line, empty when missing

  int ok() const {
    int total = 0;
    for (const auto& [label, count] : per_backend) total += count;
    return total;
  }
  int on(const std::string& label) const {
    auto it = per_backend.find(label);
    return it == per_backend.end() ? 0 : it->second;
  }
};

inline std::string describe(const client_run& run) {
  if (!run.started) return "the client did not start (see the failure above)";
  std::string text = "exit=" + (run.exit_code ? std::to_string(*run.exit_code) : "timeout") +
                     " calls_seen=" + std::to_string(run.calls_seen) + " backends={";
  for (const auto& [label, count] : run.per_backend) {
    text += label + ":" + std::to_string(count) + " ";
  }
  text += "} errors=" + std::to_string(run.errors.size());
  if (!run.errors.empty()) text += " first_error='" + run.errors.front() + "'";
  text += " tally='" + run.tally + "'";
  return text;
}

inline std::string kind_name(client_kind kind) { return kind == client_kind::cpp ? "cpp" : "node"; }

// So ctest and gtest list the parameter by name instead of its bytes.
inline void PrintTo(client_kind kind, std::ostream* out) { *out << kind_name(kind); }

// Replaces every "$key" in `text` with its value; keeps the YAML below readable as YAML.
inline std::string fill(std::string text, const std::map<std::string, std::string>& values) {
  for (const auto& [key, value] : values) {
    std::string token = "$" + key;
    for (size_t at = text.find(token); at != std::string::npos;
         at = text.find(token, at + value.size())) {
      text.replace(at, token.size(), value);
    }
  }
  return text;
}

// The namespace as a string, for fill().
inline const std::string resource_ns(resource_namespace);

inline std::string upstream_yaml(std::string_view name, int port, std::string_view extra = {}) {
  return fill(R"(metadata: {name: $name, namespace: $ns}
static:
  hosts:
  - {addr: 127.0.0.1, port: $port}
)",
              {{"name", std::string(name)}, {"ns", resource_ns}, {"port", std::to_string(port)}}) +
         std::string(extra);
}

// A VirtualService for greeter_domain with the given `routes:` items (already indented by two).
inline std::string virtual_service_yaml(std::string_view routes) {
  return fill(R"(metadata: {name: greeter, namespace: $ns}
virtualHost:
  domains: [$domain]
  routes:
)",
              {{"ns", resource_ns}, {"domain", std::string(greeter_domain)}}) +
         std::string(routes);
}

inline std::string single_route(std::string_view matcher, std::string_view upstream) {
  return fill(R"(  - matchers: [$matcher]
    routeAction: {single: {upstream: {name: $upstream, namespace: $ns}}}
)",
              {{"matcher", std::string(matcher)},
               {"upstream", std::string(upstream)},
               {"ns", resource_ns}});
}

class XdsInteropTest : public ::testing::TestWithParam<client_kind> {
 protected:
  void SetUp() override {
    root_ = std::make_unique<test::temp_dir>("sluice-interop");
    config_dir_ = root_->path() / "config";
    data_dir_ = root_->path() / "data";
    fs::create_directories(config_dir_);
    fs::create_directories(data_dir_);
    fs::create_directories(root_->path() / "staging");

    port_a_ = start_backend("A");
    port_b_ = start_backend("B");
    ASSERT_GT(port_a_, 0);
    ASSERT_GT(port_b_, 0);
    write_config("upstreams", "backend-a", upstream_yaml("backend-a", port_a_));
    write_config("upstreams", "backend-b", upstream_yaml("backend-b", port_b_));
  }

  void TearDown() override {
    if (HasFailure()) {
      for (const auto& child : children_) std::cerr << child->tail(60);
    }
    // Children first (reverse start order: clients, then sluice, then backends), then the temp
    // directory they were using.
    while (!children_.empty()) children_.pop_back();
    root_.reset();
  }

  // Starts a process that the fixture owns and stops in TearDown; nullptr (with a recorded
  // failure) when it cannot be started.
  child_process* start(std::string name, const std::vector<std::string>& argv,
                       const env_overrides& env = {}) {
    std::string error;
    auto child = child_process::spawn(std::move(name), argv, env, &error);
    if (!child) {
      ADD_FAILURE() << error;
      return nullptr;
    }
    children_.push_back(std::move(child));
    return children_.back().get();
  }

  // Starts `greeter_backend --port 0 --label <label>` and returns the port it bound, 0 on failure.
  int start_backend(const std::string& label) {
    auto* backend =
        start("backend-" + label, {SLUICE_INTEROP_BACKEND, "--port", "0", "--label", label});
    if (backend == nullptr) return 0;
    auto line = backend->wait_for_line(
        output_stream::out, [](std::string_view l) { return contains(l, "listening port="); },
        backend_ready_timeout);
    if (!line) {
      ADD_FAILURE() << "backend " << label << " printed no 'listening port=' line within "
                    << backend_ready_timeout.count() << " s (or exited first; output below)";
      return 0;
    }
    return field_number(line->text, "port").value_or(0);
  }

  // Writes <config>/<plural>/<namespace>/<name>.yaml atomically: the content goes to a staging
  // file outside the watched tree, then is renamed into place, so sluice never sees a partial
  // file.
  void write_config(std::string_view plural, std::string_view name, std::string_view yaml) {
    fs::path dir = config_dir_ / plural / resource_namespace;
    fs::create_directories(dir);
    fs::path staged =
        root_->write("staging/" + std::string(plural) + "-" + std::string(name) + ".yaml", yaml);
    std::error_code ec;
    fs::rename(staged, dir / (std::string(name) + ".yaml"), ec);
    ASSERT_FALSE(ec) << "rename into " << dir << ": " << ec.message();
  }

  // Starts `sluice serve` on the config directory, waits until its xDS port is bound and its
  // first snapshot is published, and writes the clients' bootstrap file.
  void start_sluice() {
    // SLUICE_INTEROP_SERVER runs the tests against another build of the server (an installed
    // sluice, or a sanitizer build) without recompiling the harness.
    const char* override_path = std::getenv("SLUICE_INTEROP_SERVER");
    std::string server = override_path != nullptr && *override_path != '\0'
                             ? std::string(override_path)
                             : std::string(SLUICE_INTEROP_SLUICE);
    ASSERT_TRUE(fs::exists(server)) << "sluice binary not found at " << server
                                    << "; build the `sluice` target next to sluice_interop_tests";
    sluice_ = start("sluice", {server, "serve", "--config-dir", config_dir_.string(), "--data-dir",
                               data_dir_.string(), "--xds-addr", "127.0.0.1:0", "--log-level", "info"});
    ASSERT_NE(sluice_, nullptr);
    auto listening = sluice_->wait_for_line(
        output_stream::err,
        [](std::string_view l) {
          return contains(l, "xds server listening") && contains(l, "port=");
        },
        sluice_ready_timeout);
    ASSERT_TRUE(listening) << "sluice printed no 'xds server listening ... port=' line within "
                           << sluice_ready_timeout.count() << " s (or exited first; output below)";
    xds_port_ = field_number(listening->text, "port").value_or(0);
    ASSERT_GT(xds_port_, 0) << "no port in: " << listening->text;
    auto serving = sluice_->wait_for_line(
        output_stream::err, [](std::string_view l) { return has_word(l, "serving"); },
        sluice_ready_timeout);
    ASSERT_TRUE(serving) << "sluice printed no 'serving' line (first snapshot) within "
                         << sluice_ready_timeout.count() << " s (or exited first; output below)";

    // Node id and locality are required by grpc-js-xds; no metadata.role, so sluice treats the
    // node as a proxyless gRPC client (API listeners named after VirtualService domains).
    bootstrap_path_ =
        root_->write("bootstrap-" + kind_name(GetParam()) + ".json",
                     fill(R"({
  "xds_servers": [{
    "server_uri": "127.0.0.1:$port",
    "channel_creds": [{"type": "insecure"}],
    "server_features": ["xds_v3"]
  }],
  "node": {
    "id": "sluice-interop-$kind",
    "cluster": "sluice-interop",
    "locality": {"region": "local", "zone": "lo"}
  }
}
)",
                          {{"port", std::to_string(xds_port_)}, {"kind", kind_name(GetParam())}}));
  }

  // Starts this test's client against xds:///<greeter_domain>. nullptr (with a recorded failure)
  // when it cannot start, including when `node` is missing: the Node half fails, it never skips.
  child_process* start_client(int calls, const std::vector<std::string>& headers = {},
                              int interval_ms = 0) {
    std::vector<std::string> argv;
    // no_grpc_proxy: both clients honour http_proxy/grpc_proxy, which must not catch loopback.
    env_overrides env = {{"GRPC_XDS_BOOTSTRAP", bootstrap_path_.string()},
                         {"no_grpc_proxy", "127.0.0.1,localhost"}};
    if (GetParam() == client_kind::cpp) {
      argv = {SLUICE_INTEROP_CPP_CLIENT};
      // C-core 1.51 reads pushed xDS updates on an idle channel only on the backup poller's tick
      // (default 5 s); 100 ms keeps route changes visible within the test's bounds.
      env.emplace_back("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "100");
    } else {
      auto node = find_on_path("node");
      if (!node) {
        ADD_FAILURE() << "`node` is not on PATH: the @grpc/grpc-js-xds interop peer needs Node.js "
                         "(20 or newer) and `npm ci` at the repo root";
        return nullptr;
      }
      argv = {*node, SLUICE_INTEROP_NODE_CLIENT};
    }
    argv.insert(argv.end(), {"--target", "xds:///" + std::string(greeter_domain), "--calls",
                             std::to_string(calls), "--interval-ms", std::to_string(interval_ms)});
    for (const auto& header : headers) argv.insert(argv.end(), {"--header", header});
    return start("client-" + kind_name(GetParam()) + "-" + std::to_string(++client_runs_), argv,
                 env);
  }

  // Runs the client to completion and collects what it printed.
  client_run run_client(int calls, const std::vector<std::string>& headers = {}) {
    client_run run;
    auto* client = start_client(calls, headers);
    if (client == nullptr) return run;
    run.started = true;
    run.exit_code = client->wait_for_exit(client_run_timeout);
    for (const auto& line : client->lines(output_stream::out)) {
      if (auto call = parse_call_line(line)) {
        ++run.calls_seen;
        if (call->ok) {
          ++run.per_backend[call->backend];
        } else {
          run.errors.push_back(call->error);
        }
      } else if (line.rfind("tally ", 0) == 0) {
        run.tally = line;
      }
    }
    return run;
  }

  // The next call result of a running client at or after stdout line `next`, advancing `next`.
  std::optional<call_line> next_call(child_process& client, size_t& next,
                                     std::chrono::milliseconds timeout) {
    auto line = client.wait_for_line(output_stream::out, is_call_line, timeout, next);
    if (!line) return std::nullopt;
    next = line->index + 1;
    return parse_call_line(line->text);
  }

  // Reads `count` results of a running client and expects each one to be a success on `label`.
  void expect_next_calls_on(child_process& client, size_t& next, int count,
                            const std::string& label, std::string_view when) {
    for (int i = 0; i < count; ++i) {
      auto call = next_call(client, next, 15s);
      ASSERT_TRUE(call) << when << ": no call result within 15 s (call " << i + 1 << " of " << count
                        << ")";
      EXPECT_TRUE(call->ok && call->backend == label)
          << when << ": expected 'ok " << label << "', got "
          << (call->ok ? "ok " + call->backend : "error " + call->error);
    }
  }

  std::vector<std::string> nack_lines() const {
    std::vector<std::string> result;
    if (sluice_ == nullptr) return result;
    for (const auto& line : sluice_->lines(output_stream::err)) {
      if (is_nack_line(line)) result.push_back(line);
    }
    return result;
  }

  // Both clients validate everything they receive; a NACK in a test that sent only valid config
  // means sluice produced a resource a real gRPC client rejects.
  void expect_no_nacks() const {
    auto lines = nack_lines();
    EXPECT_TRUE(lines.empty()) << "sluice logged a NACK from the " << kind_name(GetParam())
                               << " client: " << lines.front();
  }

  // Runs `sluice get <args> --data-dir <this test's data dir>` to completion (the server may be
  // running) and returns its exit code and stdout; a failure to start or finish is recorded.
  struct get_result {
    std::optional<int> exit_code;
    std::string out;
  };
  get_result sluice_get(const std::vector<std::string>& args) {
    get_result result;
    const char* override_path = std::getenv("SLUICE_INTEROP_SERVER");
    std::string binary = override_path != nullptr && *override_path != '\0'
                             ? std::string(override_path)
                             : std::string(SLUICE_INTEROP_SLUICE);
    std::vector<std::string> argv{binary, "get"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--data-dir", data_dir_.string()});
    std::string error;
    auto child = child_process::spawn("sluice-get", argv, {}, &error);
    if (!child) {
      ADD_FAILURE() << error;
      return result;
    }
    result.exit_code = child->wait_for_exit(30s);
    if (!result.exit_code) {
      ADD_FAILURE() << "sluice get did not finish within 30 s: " << child->tail(20);
      return result;
    }
    for (const auto& line : child->lines(output_stream::out)) {
      result.out += line + "\n";
    }
    if (*result.exit_code != 0) {
      std::cerr << child->tail(20);
    }
    return result;
  }

  std::unique_ptr<test::temp_dir> root_;
  fs::path config_dir_;
  fs::path data_dir_;
  fs::path bootstrap_path_;
  int port_a_ = 0;
  int port_b_ = 0;
  int xds_port_ = 0;
  int client_runs_ = 0;
  child_process* sluice_ = nullptr;
  std::vector<std::unique_ptr<child_process>> children_;
};

}  // namespace sluice::interop
