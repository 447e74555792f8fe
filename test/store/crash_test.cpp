// Crash safety, short variant (ctest label `crash` once test/store/CMakeLists.txt is wired; it
// runs in the default suite): kill -9 of a `sluice serve` child during a burst of file writes,
// three times, checking the promises listed in crash_harness.hpp. The long variant (50
// iterations of 10,000-event bursts, label `soak`) is crash_soak.cpp.
#include "test/store/crash_harness.hpp"

namespace sluice::test::crash {
namespace {

TEST(CrashTest, KillDuringABurstLosesNothingAcknowledgedAndServesTheReplay) {
  options o;
  o.iterations = 3;
  o.files = 300;
  o.burst = 300;
  o.wave = 30;
  o.pause = std::chrono::milliseconds(80);
  o.seed = 20240501;
  harness h{o};
  h.run();
}

}  // namespace
}  // namespace sluice::test::crash
