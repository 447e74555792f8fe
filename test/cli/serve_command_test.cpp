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

TEST(ServeCommandTest, DiscoveryRateFlagsAreDocumentedWithTheirDefaults) {
  temp_dir dir;
  auto r = run_sluice({"serve", "--help"}, dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::string help = r.out + r.err;
  for (const auto& [flag, fallback] : {std::pair{"--discovery-qps", "20"},
                                       std::pair{"--discovery-burst", "50"}}) {
    auto at = help.find(flag);
    ASSERT_NE(at, std::string::npos) << flag << " missing from:\n" << help;
    const std::string line = help.substr(at, help.find('\n', at) - at);
    EXPECT_NE(line.find(fallback), std::string::npos) << line;
  }
  EXPECT_NE(help.find("discovered Upstream writes"), std::string::npos) << help;
}

TEST(ServeCommandTest, DiscoveryRateThatCouldNeverWriteIsRefusedWithTheFlagNamed) {
  for (const auto& [flag, value] :
       {std::pair{"--discovery-qps", "0"}, std::pair{"--discovery-qps", "-3"},
        std::pair{"--discovery-burst", "0.5"}}) {
    temp_dir dir;
    const auto data = dir.path() / "data";
    auto r = run_sluice({"serve", "--config-dir", dir.str(), "--data-dir", data.string(),
                         "--xds-addr", "127.0.0.1:0", "--metrics-addr", "", "--admin-addr", "",
                         std::string(flag) + "=" + value},
                        dir);
    EXPECT_EQ(r.exit_code, 2) << flag << " " << value << ": " << r.err;
    EXPECT_NE(r.err.find(flag), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(data)) << flag << " " << value;
  }
}

}  // namespace
}  // namespace sluice::test
