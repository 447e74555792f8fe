// `sluice replay --data-dir D --at SEQ|--time T [--role R] [-o yaml|json]`: rebuild the world at a
// point of the event log (from the nearest checkpoint) and print, for each role, the Proxy and
// the xDS resources it had then, with their versions. `--verify` instead replays to every
// recorded publish and checks the versions byte for byte.
#include <unistd.h>

#include <chrono>
#include <iostream>

#include <fmt/format.h>

#include "actors/log_replayer.hpp"
#include "cli/commands.hpp"
#include "model/error.hpp"
#include "model/logging.hpp"
#include "store/event_log.hpp"

namespace sluice::cli {

namespace {

struct replay_flags {
  std::string data_dir = ".sluice/data";
  std::string at;
  std::string time;
  std::string role;
  std::string output = "yaml";
  std::string progress = "auto";
  bool verify = false;
  bool versions_only = false;
};

/// A progress bar on stderr: "replaying [=======>      ] 52% 520000/1000000 events 1.4s".
/// Drawn when stderr is a terminal (or --progress=always) and the replay is long enough to
/// be worth it.
class progress_bar {
 public:
  explicit progress_bar(const std::string& mode)
      : enabled_(mode == "always" || (mode == "auto" && isatty(STDERR_FILENO) == 1)),
        start_(std::chrono::steady_clock::now()) {}
  ~progress_bar() { finish(); }

  void update(uint64_t done, uint64_t total) {
    if (!enabled_ || total < 50'000) {
      return;
    }
    constexpr int width = 30;
    const double fraction = total == 0 ? 1.0 : static_cast<double>(done) / total;
    const int filled = static_cast<int>(fraction * width);
    std::string bar(static_cast<size_t>(filled), '=');
    if (filled < width) {
      bar += '>';
      bar.append(static_cast<size_t>(width - filled - 1), ' ');
    }
    const double seconds
        = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::cerr << fmt::format("\rreplaying [{}] {:3.0f}% {}/{} events {:.1f}s", bar, fraction * 100,
                             done, total, seconds)
              << std::flush;
    drawn_ = true;
  }

  void finish() {
    if (drawn_) {
      std::cerr << "\n";
      drawn_ = false;
    }
  }

 private:
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
};

int fail(const caf::error& err) {
  std::cerr << "error: " << describe(err) << "\n";
  return 1;
}

int run_verify(const store::event_log& log, progress_bar& bar) {
  actors::log_replayer replayer{log};
  replayer.set_progress([&](uint64_t done, uint64_t total) { bar.update(done, total); });
  auto checked = replayer.verify_publishes();
  bar.finish();
  if (!checked) {
    return fail(checked.error());
  }
  std::cout << fmt::format(
      "{} publish records checked, {} mismatched, {} older than the retained "
      "history\n",
      checked->checked, checked->mismatches.size(), checked->skipped);
  for (const auto& m : checked->mismatches) {
    std::cout << fmt::format("mismatch: role={} type={} watermark={} recorded={} replayed={}\n",
                             m.record.role(), m.record.type_url(), m.record.watermark_seq(),
                             m.record.version(),
                             m.replayed_version.empty() ? "(absent)" : m.replayed_version);
  }
  return checked->mismatches.empty() ? 0 : 1;
}

int run_replay(const replay_flags& f) {
  log::set_level("warn");
  auto log = store::event_log::open(store::event_log_options{f.data_dir, true, true});
  if (!log) {
    return fail(log.error());
  }
  progress_bar bar{f.progress};
  if (f.verify) {
    return run_verify(**log, bar);
  }
  if (!f.at.empty() && !f.time.empty()) {
    std::cerr << "error: give --at or --time, not both\n";
    return 2;
  }
  auto seq = actors::resolve_point(**log, !f.time.empty() ? f.time
                                          : f.at.empty()  ? std::string("head")
                                                          : f.at);
  if (!seq) {
    return fail(seq.error());
  }
  actors::log_replayer replayer{**log};
  replayer.set_progress([&](uint64_t done, uint64_t total) { bar.update(done, total); });
  auto point = replayer.replay(*seq);
  bar.finish();
  if (!point) {
    return fail(point.error());
  }
  if (!f.role.empty() && point->translation.snapshots.count(f.role) == 0) {
    std::cerr << "error: role " << f.role << " has no snapshot at seq " << *seq << "; roles:";
    for (const auto& [key, _] : point->translation.snapshots) {
      std::cerr << " " << key;
    }
    std::cerr << "\n";
    return 1;
  }
  auto body = actors::replay_json(*point, f.role);
  if (f.versions_only) {
    for (auto& role : body["roles"]) {
      role.erase("proxy");
      for (auto& [_, type] : role["types"].items()) {
        for (auto& res : type["resources"]) {
          res.erase("resource");
        }
      }
    }
  }
  if (f.output == "json") {
    std::cout << actors::dump_json(body, 2) << "\n";
  } else {
    std::cout << actors::to_yaml(body);
  }
  return 0;
}

}  // namespace

command_fn setup_replay(CLI::App& app) {
  auto f = std::make_shared<replay_flags>();
  app.add_option("--data-dir", f->data_dir, "the server's data directory (RocksDB event log)")
      ->capture_default_str();
  app.add_option("--at", f->at, "the seq to rebuild (default: the head of the log)");
  app.add_option("--time", f->time,
                 "rebuild as of this time (RFC 3339 such as 2024-05-01T14:02:00Z, or "
                 "@unix-seconds): the last event committed then");
  app.add_option("--role", f->role, "only this role (namespace~proxy-name, or 'proxyless')");
  app.add_option("-o,--output", f->output, "yaml or json")
      ->check(CLI::IsMember({"yaml", "json"}))
      ->capture_default_str();
  app.add_option("--progress", f->progress,
                 "progress bar on stderr: auto (a terminal), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  app.add_flag("--versions-only", f->versions_only, "print names and versions, not bodies");
  app.add_flag("--verify", f->verify,
               "replay to every recorded publish and check its version; exit 1 on a mismatch");
  return [f] { return run_replay(*f); };
}

namespace {
const command_registration registration{
    "replay", "rebuild the world at a seq or time from the event log and print what each role had",
    setup_replay};
}  // namespace

}  // namespace sluice::cli
