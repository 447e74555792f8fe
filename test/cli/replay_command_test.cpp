// `sluice replay`: the Proxy and xDS resources each role had at a seq or a time.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test/cli/log_cli_runner.hpp"
#include "test/store/store_fixtures.hpp"

namespace sluice::test {
namespace {

constexpr const char* cluster_type = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

class ReplayCommandTest : public ::testing::Test {
 protected:
  ReplayCommandTest() {
    auto log = store::event_log::open(store::event_log_options{data()});
    EXPECT_TRUE(log) << describe(log.error());
    tracked_writer writer{**log};
    writer.seed();                            // seq 4: routes to a
    EXPECT_TRUE((*log)->write_checkpoint());  // checkpoint at 4
    writer.put(model::resource_kind::upstream, "upstreams/gloo-system/c.yaml",
               upstream_yaml("c", 50063));  // seq 5
    sluice::v1::PublishRecord r;
    r.set_role(gateway_role);
    r.set_type_url(cluster_type);
    r.set_watermark_seq(5);
    r.set_version(recorded_version_);
    EXPECT_TRUE((*log)->record_publish(r));
  }

  std::string data() const { return (dir_.path() / "data").string(); }

  nlohmann::json replay_json(std::vector<std::string> args) {
    args.insert(args.begin(), {"replay", "--data-dir", data(), "-o", "json"});
    auto r = run_sluice(args, dir_);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto body = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(body.is_discarded()) << r.out;
    return body;
  }

  static std::vector<std::string> cluster_names(const nlohmann::json& role) {
    std::vector<std::string> names;
    for (const auto& res : role["types"][cluster_type]["resources"]) {
      names.push_back(res["name"].get<std::string>());
    }
    return names;
  }

  temp_dir dir_;
  std::string recorded_version_ = "will-not-match";
};

TEST_F(ReplayCommandTest, AtASeqPrintsTheProxyAndResourcesWithVersions) {
  auto body = replay_json({"--at", "4", "--role", gateway_role});
  EXPECT_EQ(body["seq"], 4);
  EXPECT_EQ(body["checkpoint"], 4);
  ASSERT_EQ(body["roles"].size(), 1u);
  const auto& role = body["roles"][0];
  EXPECT_EQ(role["role"], gateway_role);
  EXPECT_EQ(role["proxy"]["listeners"][0]["bindPort"], 8080);
  EXPECT_EQ(cluster_names(role), (std::vector<std::string>{"a_gloo-system", "b_gloo-system"}));
  EXPECT_FALSE(role["types"][cluster_type]["version"].get<std::string>().empty());
  EXPECT_FALSE(role["types"][cluster_type]["resources"][0]["version"].get<std::string>().empty());

  auto head = replay_json({"--role", gateway_role});
  EXPECT_EQ(head["seq"], 5);
  EXPECT_EQ(cluster_names(head["roles"][0]),
            (std::vector<std::string>{"a_gloo-system", "b_gloo-system", "c_gloo-system"}));
  EXPECT_NE(head["roles"][0]["types"][cluster_type]["version"],
            role["types"][cluster_type]["version"]);
}

TEST_F(ReplayCommandTest, AtATimeUsesTheLastEventCommittedThen) {
  auto before = replay_json({"--time", "2000-01-01T00:00:00Z"});
  EXPECT_EQ(before["seq"], 0);
  auto later = replay_json({"--time", "2100-01-01T00:00:00Z"});
  EXPECT_EQ(later["seq"], 5);
}

TEST_F(ReplayCommandTest, YamlIsTheDefaultAndVersionsOnlyDropsBodies) {
  auto r = run_sluice({"replay", "--data-dir", data(), "--at", "4", "--versions-only"}, dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("seq: 4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("a_gloo-system"), std::string::npos);
  EXPECT_EQ(r.out.find("listeners"), std::string::npos) << "a body was printed";
}

TEST_F(ReplayCommandTest, VerifyReportsARecordedVersionReplayDoesNotReproduce) {
  auto r = run_sluice({"replay", "--data-dir", data(), "--verify"}, dir_);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("1 publish records checked, 1 mismatched"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("recorded=will-not-match"), std::string::npos) << r.out;
}

TEST_F(ReplayCommandTest, UnknownRoleAndFutureSeqAreErrors) {
  auto role = run_sluice({"replay", "--data-dir", data(), "--role", "x~y"}, dir_);
  EXPECT_EQ(role.exit_code, 1);
  EXPECT_NE(role.err.find("role x~y has no snapshot"), std::string::npos) << role.err;
  auto future = run_sluice({"replay", "--data-dir", data(), "--at", "77"}, dir_);
  EXPECT_EQ(future.exit_code, 1);
  EXPECT_NE(future.err.find("beyond the head"), std::string::npos) << future.err;
}

TEST_F(ReplayCommandTest, ProgressBarGoesToStderrOnly) {
  auto r = run_sluice(
      {"replay", "--data-dir", data(), "--at", "0", "--progress", "always", "-o", "json"}, dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(nlohmann::json::parse(r.out, nullptr, false).is_discarded());
}

}  // namespace
}  // namespace sluice::test
