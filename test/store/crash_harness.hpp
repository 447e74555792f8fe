#pragma once
/// The kill -9 harness of the crash tests (reliability.md §5, A1): runs `sluice serve` as a child
/// process on a config directory and a data directory, drives a burst of file writes, kills the
/// server with SIGKILL at a random point of the burst, restarts it and checks:
///  - no holes: the log is dense from its first to its last seq;
///  - no acknowledged event lost: every event a read-only open saw just before the kill is still
///    there, byte for byte (acknowledged = visible to a reader = synced by the journal);
///  - clients see no older version: the first clusters a client gets after the restart are, for
///    every upstream, at least as new as what a client held before the kill (each write bumps an
///    upstream's port, so "newer" is a larger port);
///  - served = replayed: once the restarted server has settled, what a client holds for its role
///    equals, byte for byte, a replay of the log from its nearest checkpoint and from seq 1.
/// Header-only so the short test and the soak build from the same code.

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "actors/log_replayer.hpp"
#include "actors/world_actor.hpp"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "model/error.hpp"
#include "store/event_log.hpp"
#include "test/store/store_fixtures.hpp"
#include "test/support/scripted_xds_client.hpp"
#include "test/support/temp_dir.hpp"

namespace sluice::test::crash {

namespace fs = std::filesystem;

/// `sluice serve` in a child process whose output goes to a file.
class server_process {
 public:
  server_process(const fs::path& config, const fs::path& data, const fs::path& output)
      : output_(output) {
    const std::string binary = std::string(SLUICE_BINARY_DIR) + "/sluice";
    std::vector<std::string> args{binary,        "serve",       "--config-dir",   config.string(),
                                  "--data-dir",  data.string(), "--xds-addr",     "127.0.0.1:0",
                                  "--log-level", "info",        "--metrics-addr", "127.0.0.1:0"};
    const int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> argv;
    for (auto& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      // Only async-signal-safe calls between fork and exec.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      execv(argv[0], argv.data());
      _exit(127);
    }
    ::close(fd);
  }

  ~server_process() { kill9(); }
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  bool running() const { return pid_ > 0; }

  /// The xDS port from the "xds server listening ... port=N" line; 0 when it never came.
  int wait_for_port(std::chrono::milliseconds bound = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream in(output_);
      std::string line;
      while (std::getline(in, line)) {
        auto at = line.find("xds server listening");
        auto port = line.find("port=", at == std::string::npos ? line.size() : at);
        if (at != std::string::npos && port != std::string::npos) {
          return std::atoi(line.c_str() + port + 5);
        }
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling interval, bounded
    }
    return 0;
  }

  void kill9() {
    if (pid_ <= 0) {
      return;
    }
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::string output() const { return read_file(output_); }

 private:
  fs::path output_;
  pid_t pid_ = -1;
};

inline void write_atomically(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  auto tmp = path.parent_path() / ("." + path.filename().string() + ".tmp");
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
  }
  fs::rename(tmp, path);
}

/// The port of a STATIC cluster's first endpoint (0 when it has none).
inline uint32_t port_of(const google::protobuf::Any& any) {
  envoy::config::cluster::v3::Cluster c;
  if (!any.UnpackTo(&c) || c.load_assignment().endpoints_size() == 0
      || c.load_assignment().endpoints(0).lb_endpoints_size() == 0) {
    return 0;
  }
  return c.load_assignment()
      .endpoints(0)
      .lb_endpoints(0)
      .endpoint()
      .address()
      .socket_address()
      .port_value();
}

struct options {
  int iterations = 3;
  int files = 100;  ///< upstream files the burst cycles over
  int burst = 300;  ///< file writes per iteration
  /// The burst writes `wave` files, pauses `pause`, and so on. The directory source delivers a
  /// batch once the tree has been quiet for its settle period (50 ms), so pauses longer than
  /// that make the server ingest the burst wave by wave, and the kill lands between (or inside)
  /// those appends while later waves are still being written.
  int wave = 30;
  std::chrono::milliseconds pause{80};
  uint64_t seed = 1;
};

class harness {
 public:
  explicit harness(options o) : options_(o), rng_(o.seed) {
    config_ = dir_.path() / "config";
    data_ = dir_.path() / "data";
    write_atomically(config_ / "gateways/gloo-system/gateway-proxy.yaml", gateway_yaml());
    write_atomically(config_ / "upstreams/gloo-system/u0.yaml", upstream_yaml("u0", 1000));
    write_atomically(config_ / "virtualservices/gloo-system/greeter.yaml",
                     vs_yaml("greeter", "greeter", "u0"));
  }

  void run() {
    ASSERT_TRUE(start_server());
    for (int i = 0; i < options_.iterations && !::testing::Test::HasFatalFailure(); ++i) {
      SCOPED_TRACE("iteration " + std::to_string(i));
      iteration();
    }
    server_.reset();
  }

 private:
  bool start_server() {
    ++starts_;
    server_ = std::make_unique<server_process>(
        config_, data_, dir_.path() / ("server-" + std::to_string(starts_) + ".out"));
    port_ = server_->wait_for_port();
    EXPECT_GT(port_, 0) << "sluice serve did not start:\n" << server_->output();
    return port_ > 0;
  }

  std::unique_ptr<scripted_xds_client> connect() {
    scripted_xds_client_options o;
    o.role = gateway_role;
    o.follow_references = true;
    auto c = std::make_unique<scripted_xds_client>(o);
    EXPECT_TRUE(c->connect(port_));
    c->subscribe(xds::cluster_type);
    c->subscribe(xds::listener_type);
    return c;
  }

  /// One upstream write: file k % files gets the next port.
  void write_one() {
    const int k = written_ % options_.files;
    const int port = 1000 + written_ / options_.files + 1;
    write_atomically(config_ / "upstreams/gloo-system" / ("u" + std::to_string(k) + ".yaml"),
                     upstream_yaml("u" + std::to_string(k), port));
    ++written_;
  }

  std::unique_ptr<store::event_log> read_only() {
    auto log = store::event_log::open(store::event_log_options{data_.string(), true, true});
    EXPECT_TRUE(log) << describe(log.error());
    return log ? std::move(*log) : nullptr;
  }

  void iteration() {
    auto before = connect();
    ASSERT_TRUE(before->wait_for([](const auto& s) { return !s.names(xds::cluster_type).empty(); }))
        << "no clusters before the burst";
    auto start_log = read_only();
    ASSERT_NE(start_log, nullptr);
    const uint64_t start_seq = start_log->last_seq();
    start_log.reset();

    // The burst runs on its own thread; the kill lands once the log has grown by a random share
    // of it, while writes and ingestion are still going on.
    std::atomic<bool> stop{false};
    const int burst_end = written_ + options_.burst;
    std::thread burst([&] {
      while (!stop && written_ < burst_end) {
        write_one();
        if (written_ % options_.wave == 0) {
          std::this_thread::sleep_for(options_.pause);  // shapes the load; waits for nothing
        }
      }
    });
    // Each wave is delivered as one batch of distinct files (waves are no larger than the file
    // set), so the burst makes about `burst` events; the kill lands anywhere in the first
    // three quarters of them.
    std::uniform_int_distribution<int> share(1, std::max(1, options_.burst * 3 / 4));
    const uint64_t target = start_seq + static_cast<uint64_t>(share(rng_));
    std::map<uint64_t, std::string> acknowledged;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      auto log = read_only();
      if (log && log->last_seq() >= target) {
        (void)log->for_each_event(0, UINT64_MAX, [&](const sluice::v1::Event& ev) {
          acknowledged[ev.seq()] = ev.SerializeAsString();
          return true;
        });
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling interval, bounded
    }
    auto held_before = before->current();
    server_->kill9();
    stop = true;
    burst.join();
    before->close();
    ASSERT_FALSE(acknowledged.empty()) << "the log never reached seq " << target;

    check_log_after_kill(acknowledged);
    {
      auto log = read_only();
      ASSERT_NE(log, nullptr);
      std::fprintf(stderr,
                   "crash iteration: killed at acknowledged seq %llu, log head after the "
                   "kill %llu, %d files written\n",
                   static_cast<unsigned long long>(acknowledged.rbegin()->first),
                   static_cast<unsigned long long>(log->last_seq()), written_);
    }
    ASSERT_TRUE(start_server());
    auto after = connect();
    ASSERT_TRUE(after->wait_for([](const auto& s) { return !s.names(xds::cluster_type).empty(); }))
        << "no clusters after the restart";
    check_not_older(held_before, after->current());
    check_served_equals_replay(*after);
  }

  void check_log_after_kill(const std::map<uint64_t, std::string>& acknowledged) {
    auto log = read_only();
    ASSERT_NE(log, nullptr);
    uint64_t count = 0;
    uint64_t expected = log->first_seq();
    auto walked = log->for_each_event(0, UINT64_MAX, [&](const sluice::v1::Event& ev) {
      EXPECT_EQ(ev.seq(), expected) << "hole in the log";
      ++expected;
      ++count;
      auto ack = acknowledged.find(ev.seq());
      if (ack != acknowledged.end()) {
        EXPECT_EQ(ev.SerializeAsString(), ack->second)
            << "acknowledged event " << ev.seq() << " changed";
      }
      return true;
    });
    ASSERT_TRUE(walked) << describe(walked.error());
    EXPECT_EQ(count, log->last_seq() - log->first_seq() + 1);
    EXPECT_GE(log->last_seq(), acknowledged.rbegin()->first) << "acknowledged events were lost";
  }

  /// Every upstream the client held before the kill is at least as new after the restart.
  void check_not_older(const scripted_xds_client::state& before,
                       const scripted_xds_client::state& after) {
    const auto& old_clusters = before.held.at(std::string(xds::cluster_type));
    auto now = after.held.find(std::string(xds::cluster_type));
    ASSERT_NE(now, after.held.end());
    for (const auto& [name, any] : old_clusters) {
      auto it = now->second.find(name);
      ASSERT_NE(it, now->second.end()) << "cluster " << name << " vanished after the restart";
      EXPECT_GE(port_of(it->second), port_of(any)) << "cluster " << name << " went back in time";
    }
  }

  /// Once the restarted server has ingested the rest of the burst, what the client holds is
  /// what a replay of the log gives, from the nearest checkpoint and from seq 1.
  void check_served_equals_replay(scripted_xds_client& client) {
    std::string last_problem;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      auto log = read_only();
      ASSERT_NE(log, nullptr);
      auto point = actors::log_replayer{*log}.replay(log->last_seq());
      ASSERT_TRUE(point) << describe(point.error());
      auto snap = point->translation.snapshots.at(gateway_role);
      auto held = client.current();
      last_problem = compare(*snap, held);
      if (last_problem.empty()) {
        if (log->retention_floor() == 0) {
          model::world by_hand;
          ASSERT_TRUE(log->for_each_event(1, log->last_seq(), [&](const sluice::v1::Event& ev) {
            (void)actors::apply_event(by_hand, ev);
            return true;
          }));
          auto full = xds::translate_world(by_hand);
          EXPECT_EQ(compare(*full.snapshots.at(gateway_role), held), "")
              << "replay from seq 1 differs from replay from the checkpoint";
        }
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling interval, bounded
    }
    ADD_FAILURE() << "served never matched the replay of the log: " << last_problem;
  }

  static std::string compare(const xds::snapshot& snap, const scripted_xds_client::state& held) {
    for (auto type : {xds::cluster_type, xds::listener_type}) {
      const auto& want = snap.of(type).items;
      auto got_it = held.held.find(std::string(type));
      if (got_it == held.held.end()) {
        return "client holds no " + std::string(type);
      }
      const auto& got = got_it->second;
      if (got.size() != want.size()) {
        return std::string(type) + ": client holds " + std::to_string(got.size())
               + " resources, replay gives " + std::to_string(want.size());
      }
      for (const auto& [name, res] : want) {
        auto g = got.find(name);
        if (g == got.end()) {
          return std::string(type) + " " + name + " missing at the client";
        }
        if (g->second.value() != res->bytes) {
          return std::string(type) + " " + name + " differs from the replay";
        }
      }
    }
    return "";
  }

  options options_;
  std::mt19937_64 rng_;
  temp_dir dir_{"sluice-crash"};
  fs::path config_;
  fs::path data_;
  std::unique_ptr<server_process> server_;
  int port_ = 0;
  int starts_ = 0;
  int written_ = 0;
};

}  // namespace sluice::test::crash
