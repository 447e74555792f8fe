// `sluice diff`: Envoy resources changed between two points, field-level, with their causes.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test/cli/log_cli_runner.hpp"
#include "test/store/store_fixtures.hpp"

namespace sluice::test {
namespace {

class DiffCommandTest : public ::testing::Test {
 protected:
  DiffCommandTest() {
    auto log = store::event_log::open(store::event_log_options{data()});
    EXPECT_TRUE(log) << describe(log.error());
    tracked_writer writer{**log};
    writer.seed();  // 4
    writer.put(model::resource_kind::virtual_service, "virtualservices/gloo-system/greeter.yaml",
               vs_yaml("greeter", "greeter", "b"));  // 5
    writer.put(model::resource_kind::upstream, "upstreams/gloo-system/c.yaml",
               upstream_yaml("c", 50063));  // 6
  }

  std::string data() const { return (dir_.path() / "data").string(); }

  temp_dir dir_;
};

TEST_F(DiffCommandTest, TableNamesTheChangedFieldAndTheCausingEvent) {
  auto r = run_sluice(
      {"diff", "--data-dir", data(), "--from", "4", "--to", "6", "--role", gateway_role}, dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("changed RouteConfiguration listener-::-8080-routes"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\"a_gloo-system\" -> \"b_gloo-system\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("seq 5"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("VirtualService gloo-system.greeter"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("added Cluster c_gloo-system"), std::string::npos) << r.out;
}

TEST_F(DiffCommandTest, JsonListsChangesWithCausesAndDefaultsToTheHead) {
  auto r = run_sluice({"diff", "--data-dir", data(), "--from", "5", "-o", "json"}, dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto body = nlohmann::json::parse(r.out);
  EXPECT_EQ(body["to"]["seq"], 6);
  bool cluster_c = false;
  for (const auto& c : body["changes"]) {
    if (c["name"] == "c_gloo-system"
        && c["type"] == "type.googleapis.com/envoy.config.cluster.v3.Cluster") {
      cluster_c = true;
      EXPECT_EQ(c["change"], "added");
      EXPECT_EQ(c["causes"], nlohmann::json::array({6}));
    }
    for (const auto& seq : c["causes"]) {
      EXPECT_EQ(seq, 6) << "only seq 6 lies between the points";
    }
  }
  EXPECT_TRUE(cluster_c) << body.dump(2);
}

TEST_F(DiffCommandTest, SamePointHasNoChangesAndReversedPointsAreAnError) {
  auto same = run_sluice({"diff", "--data-dir", data(), "--from", "6", "--to", "6"}, dir_);
  ASSERT_EQ(same.exit_code, 0) << same.err;
  EXPECT_NE(same.out.find("no Envoy resource changed"), std::string::npos) << same.out;
  auto reversed = run_sluice({"diff", "--data-dir", data(), "--from", "6", "--to", "2"}, dir_);
  EXPECT_EQ(reversed.exit_code, 1);
  EXPECT_NE(reversed.err.find("before --from"), std::string::npos) << reversed.err;
}

}  // namespace
}  // namespace sluice::test
