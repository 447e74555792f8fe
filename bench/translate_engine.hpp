#pragma once
/// What the translation benchmark drives: something that holds a world, takes committed events
/// and publishes snapshots. Two engines: `full` re-translates the whole world per publish (what
/// the actors do today, and Gloo's way), `incremental` uses xds::incremental_translator.

#include <time.h>

#include <chrono>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "model/translation_report.hpp"
#include "model/world.hpp"
#include "sluice/v1/event.pb.h"
#include "xds/snapshot.hpp"

namespace sluice::bench {

/// The benchmark's clock: wall time, or this thread's CPU time (the engines are single-threaded,
/// so on an idle core both agree; on a shared, busy machine CPU time is the honest cost). With
/// CPU time the churn runs in virtual time: waiting for the next offer skips ahead instead of
/// sleeping, as if the thread had a core of its own.
struct bench_clock {
  using duration = std::chrono::duration<double, std::milli>;
  struct time_point {
    double ms = 0;
  };
  static inline bool cpu = false;
  static inline double skipped_ms = 0;

  static time_point now() {
    if (cpu) {
      timespec ts{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return {static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6 +
              skipped_ms};
    }
    return {std::chrono::duration<double, std::milli>(
                std::chrono::steady_clock::now().time_since_epoch())
                .count()};
  }
  static void wait_until(time_point t) {
    const double left = t.ms - now().ms;
    if (left <= 0) {
      return;
    }
    if (cpu) {
      skipped_ms += left;
    } else {
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(left));
    }
  }
};

/// Where an engine's time went, cumulative since load (milliseconds). Engines that cannot tell
/// leave a part at zero.
struct time_breakdown {
  double translate_ms = 0;  ///< running translation functions (Gloo resources -> Envoy messages)
  double assemble_ms = 0;   ///< building resources and snapshots from translated pieces
  double hash_ms = 0;       ///< content hashes (resource and type versions)
};

class translation_engine {
 public:
  virtual ~translation_engine() = default;

  virtual std::string_view name() const = 0;
  /// Replaces the world and publishes its snapshots (the cold translation).
  virtual void load(model::world w) = 0;
  /// Applies one committed event (`seq` is its log sequence number); nothing is published yet.
  virtual void apply(const sluice::v1::Event& ev, uint64_t seq) = 0;
  /// Translates every applied event; returns the keys whose snapshots changed. Their deltas
  /// (which resources changed, new versions) are ready; the snapshot objects may not be.
  virtual std::vector<std::string> publish() = 0;
  /// Makes the snapshots of `keys` ready to serve (xds::snapshot objects).
  virtual void materialize(const std::vector<std::string>& keys) = 0;
  /// The snapshots currently published, by key.
  virtual std::map<std::string, xds::snapshot_ptr> snapshots() = 0;
  virtual time_breakdown breakdown() const = 0;
  /// The translation report of what is published (the world actor assembles it after each
  /// flush with a judged change, to find resources translation refused).
  virtual model::translation_report report() = 0;
  virtual model::translation_report report_for(std::set<model::resource_key> keys) = 0;
};

enum class engine_kind : uint8_t { full, incremental };

[[nodiscard]] std::unique_ptr<translation_engine> make_engine(engine_kind kind);

[[nodiscard]] std::string_view name_of(engine_kind kind);

}  // namespace sluice::bench
