// `sluice log`: list, show and tail of a data directory through a read-only open.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>

#include "test/cli/log_cli_runner.hpp"
#include "test/store/store_fixtures.hpp"

namespace sluice::test {
namespace {

class LogCommandTest : public ::testing::Test {
 protected:
  LogCommandTest() {
    auto log = store::event_log::open(store::event_log_options{data()});
    EXPECT_TRUE(log) << describe(log.error());
    tracked_writer writer{**log};
    writer.seed();  // 1 gateway, 2..3 upstreams, 4 virtual service
    writer.put(model::resource_kind::upstream, "upstreams/gloo-system/b.yaml",
               "metadata: {name: b\n");
    writer.remove(model::resource_kind::upstream, "upstreams/gloo-system/a.yaml");
  }

  std::string data() const { return (dir_.path() / "data").string(); }

  /// The seqs of `-o json` output, one event per line.
  static std::vector<uint64_t> seqs(const std::string& out) {
    std::vector<uint64_t> seqs;
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
      auto ev = nlohmann::json::parse(line, nullptr, false);
      EXPECT_FALSE(ev.is_discarded()) << line;
      if (!ev.is_discarded()) {
        seqs.push_back(ev["seq"].get<uint64_t>());
      }
    }
    return seqs;
  }

  temp_dir dir_;
};

TEST_F(LogCommandTest, ListPrintsEveryEventAsATable) {
  auto r = run_sluice({"log", "--data-dir", data()}, dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("SEQ"), std::string::npos);
  EXPECT_NE(r.out.find("VirtualService"), std::string::npos);
  EXPECT_NE(r.out.find("REJECTED"), std::string::npos);
  EXPECT_NE(r.out.find("delete"), std::string::npos);
  EXPECT_NE(r.out.find("upstreams/gloo-system/a.yaml"), std::string::npos);
}

TEST_F(LogCommandTest, FiltersBySeqKindNameAndVerdictAsJson) {
  auto upstreams
      = run_sluice({"log", "list", "--data-dir", data(), "--kind", "Upstream", "-o", "json"}, dir_);
  ASSERT_EQ(upstreams.exit_code, 0) << upstreams.err;
  EXPECT_EQ(seqs(upstreams.out), (std::vector<uint64_t>{2, 3, 5, 6}));
  auto range
      = run_sluice({"log", "--data-dir", data(), "--from", "2", "--to", "4", "-o", "json"}, dir_);
  EXPECT_EQ(seqs(range.out), (std::vector<uint64_t>{2, 3, 4}));
  auto named = run_sluice({"log", "--data-dir", data(), "--name", "a", "-o", "json"}, dir_);
  EXPECT_EQ(seqs(named.out), (std::vector<uint64_t>{2, 6}));
  auto none
      = run_sluice({"log", "--data-dir", data(), "--namespace", "elsewhere", "-o", "json"}, dir_);
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_TRUE(none.out.empty());
  auto future = run_sluice(
      {"log", "--data-dir", data(), "--since", "2100-01-01T00:00:00Z", "-o", "json"}, dir_);
  EXPECT_EQ(future.exit_code, 0) << future.err;
  EXPECT_TRUE(future.out.empty());
  auto past = run_sluice(
      {"log", "--data-dir", data(), "--since", "2000-01-01T00:00:00Z", "-o", "json"}, dir_);
  EXPECT_EQ(seqs(past.out).size(), 6u);
}

TEST_F(LogCommandTest, ShowPrintsTheResourceOrTheErrorsAndRawInput) {
  auto vs = run_sluice({"log", "show", "4", "--data-dir", data()}, dir_);
  ASSERT_EQ(vs.exit_code, 0) << vs.err;
  EXPECT_NE(vs.out.find("kind:      VirtualService"), std::string::npos) << vs.out;
  EXPECT_NE(vs.out.find("greeter"), std::string::npos);
  EXPECT_NE(vs.out.find("domains"), std::string::npos) << vs.out;
  auto rejected = run_sluice({"log", "show", "5", "--data-dir", data(), "-o", "json"}, dir_);
  ASSERT_EQ(rejected.exit_code, 0) << rejected.err;
  auto body = nlohmann::json::parse(rejected.out);
  EXPECT_EQ(body["verdict"], "VERDICT_REJECTED");
  EXPECT_FALSE(body["errors"].empty());
  EXPECT_EQ(body["raw"], "metadata: {name: b\n");
  auto missing = run_sluice({"log", "show", "99", "--data-dir", data()}, dir_);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("no event seq 99"), std::string::npos) << missing.err;
}

TEST_F(LogCommandTest, TailPrintsTheNewestEvents) {
  auto r = run_sluice({"log", "tail", "--lines", "2", "--data-dir", data(), "-o", "json"}, dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(seqs(r.out), (std::vector<uint64_t>{5, 6}));
  auto kind = run_sluice(
      {"log", "tail", "--lines", "1", "--kind", "Gateway", "--data-dir", data(), "-o", "json"},
      dir_);
  EXPECT_EQ(seqs(kind.out), (std::vector<uint64_t>{1}));
}

TEST_F(LogCommandTest, MissingDataDirectoryIsAClearError) {
  auto r = run_sluice({"log", "--data-dir", (dir_.path() / "nope").string()}, dir_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no sluice store"), std::string::npos) << r.err;
  auto bad_time = run_sluice({"log", "--data-dir", data(), "--since", "yesterday"}, dir_);
  EXPECT_EQ(bad_time.exit_code, 1);
  EXPECT_NE(bad_time.err.find("RFC 3339"), std::string::npos) << bad_time.err;
}

}  // namespace
}  // namespace sluice::test
