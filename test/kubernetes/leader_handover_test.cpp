// Two `sluice serve --source kubernetes` processes against one fake API server: both serve, only
// the Lease holder writes statuses; killed without releasing the Lease (SIGKILL), the other takes
// the Lease over once it expires and writes from then on.
#include <gtest/gtest.h>

#include "test/kubernetes/kube_serve_support.hpp"
#include "test/support/fake_kube_apiserver.hpp"
#include "test/support/temp_dir.hpp"

namespace sluice::test {
namespace {

using json = nlohmann::json;

class LeaderHandoverTest : public ::testing::Test {
 protected:
  LeaderHandoverTest() {
    fake_.apply(kube::gateway());
    fake_.apply(kube::upstream("a", 50061));
    fake_.apply(kube::virtual_service("greeter", "greeter", "a"));
    kubeconfig_ = dir_.write("kubeconfig", fake_.kubeconfig()).string();
  }

  std::unique_ptr<kube::serve_process> serve(const std::string& identity) {
    std::vector<std::string> args{
        "serve",           "--source",          "kubernetes",
        "--kubeconfig",    kubeconfig_,         "--data-dir",
        (dir_.path() / ("data-" + identity)).string(),
        "--xds-addr",      "127.0.0.1:0",       "--metrics-addr",
        "",                "--admin-addr",      "",
        "--identity",      identity,            "--lease-duration",
        "2s",              "--renew-deadline",  "1s",
        "--retry-period",  "200ms",             "--validation-addr",
        "off",             "--wasm-cache-addr", "off",
        "--webhook-addr",  "off",               "--log-level",
        "debug"};
    auto p = std::make_unique<kube::serve_process>(std::string(SLUICE_BINARY_DIR) + "/sluice",
                                                   args, dir_.path() / (identity + ".log"));
    EXPECT_TRUE(p->started());
    return p;
  }

  std::string holder() {
    auto lease = fake_.get("apis/coordination.k8s.io/v1/namespaces/gloo-system/leases/sluice-all");
    if (!lease || !lease->contains("spec")) {
      return "";
    }
    return (*lease)["spec"].value("holderIdentity", "");
  }

  bool rejected(const std::string& name) {
    return kube::status_of(fake_.get(kube::vs_path(name))).value("state", "") == "Rejected";
  }

  fake_kube_apiserver fake_;
  temp_dir dir_;
  std::string kubeconfig_;
};

TEST_F(LeaderHandoverTest, OnlyTheLeaderWritesAndTheOtherTakesOverWhenItDies) {
  auto a = serve("replica-a");
  ASSERT_TRUE(a->wait_for_log("acquired leadership")) << a->log();
  ASSERT_EQ(holder(), "replica-a");
  auto b = serve("replica-b");
  ASSERT_TRUE(b->wait_for_log("kubernetes source synced")) << b->log();
  ASSERT_GT(b->port_from_log("xds server listening"), 0) << "every replica serves xDS";

  fake_.apply(kube::virtual_service("broken-1", "broken-1", "a", "(unclosed"));
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return rejected("broken-1"); }))
      << a->log();
  EXPECT_TRUE(a->wait_for_log("status written kind=VirtualService namespace=gloo-system "
                              "name=broken-1"));
  // The follower computed the same status and held it back.
  ASSERT_TRUE(b->wait_for_log("status write deferred, not the leader")) << b->log();
  EXPECT_EQ(b->log().find("status written"), std::string::npos) << b->log();
  EXPECT_EQ(b->log().find("acquired leadership"), std::string::npos);

  a->kill(SIGKILL);  // no release: the Lease must expire
  ASSERT_TRUE(b->wait_for_log("acquired leadership", std::chrono::seconds(30))) << b->log();
  EXPECT_EQ(holder(), "replica-b");

  fake_.apply(kube::virtual_service("broken-2", "broken-2", "a", "(unclosed"));
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return rejected("broken-2"); })) << b->log();
  EXPECT_TRUE(b->wait_for_log("status written kind=VirtualService namespace=gloo-system "
                              "name=broken-2"))
      << b->log();
}

TEST_F(LeaderHandoverTest, ServeRefusesAnUnknownRoleOrSource) {
  auto p = std::make_unique<kube::serve_process>(
      std::string(SLUICE_BINARY_DIR) + "/sluice",
      std::vector<std::string>{"serve", "--source", "kubernetes", "--kubeconfig", kubeconfig_,
                               "--role", "janitor", "--data-dir",
                               (dir_.path() / "d").string()},
      dir_.path() / "bad.log");
  ASSERT_TRUE(p->wait_for_log("janitor")) << p->log();
  EXPECT_NE(p->log().find("--role"), std::string::npos) << p->log();
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "d"));
}

}  // namespace
}  // namespace sluice::test
