// Crash safety, long variant (ctest labels `crash;soak`, built by test/store/CMakeLists.txt):
// 50 iterations of kill -9 during a burst of 10,000 file writes (about 10,000 events each).
// SLUICE_CRASH_ITERATIONS overrides the count for a longer night run.
#include <cstdlib>

#include "test/store/crash_harness.hpp"

namespace sluice::test::crash {
namespace {

TEST(CrashSoakTest, FiftyKillsDuringTenThousandEventBursts) {
  options o;
  o.iterations = 50;
  if (const char* n = std::getenv("SLUICE_CRASH_ITERATIONS")) {
    o.iterations = std::max(1, std::atoi(n));
  }
  o.files = 2000;
  o.burst = 10'000;
  o.wave = 500;
  o.pause = std::chrono::milliseconds(80);
  o.seed = 7;
  harness h{o};
  h.run();
}

}  // namespace
}  // namespace sluice::test::crash
