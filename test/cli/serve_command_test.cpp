// `sluice serve` flag handling: bad values are refused before anything starts, with the flag
// named, and nothing is created on disk.
#include <gtest/gtest.h>

#include <filesystem>

#include "test/cli/log_cli_runner.hpp"
#include "test/support/temp_dir.hpp"

namespace sluice::test {
namespace {

TEST(ServeCommandTest, MalformedDurationIsRefusedWithTheFlagNamed) {
  temp_dir dir;
  const auto data = dir.path() / "data";
  auto r = run_sluice({"serve", "--config-dir", dir.str(), "--data-dir", data.string(),
                       "--xds-addr", "127.0.0.1:0", "--metrics-addr", "", "--admin-addr", "",
                       "--stall-timeout", "5 fortnights"},
                      dir);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--stall-timeout"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("5 fortnights"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(data)) << "nothing may start before the flags are good";
}

TEST(ServeCommandTest, RetentionAgeTakesUnits) {
  temp_dir dir;
  auto r = run_sluice({"serve", "--config-dir", dir.str(), "--retention-age", "7x"}, dir);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--retention-age"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sluice::test
