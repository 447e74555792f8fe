#include "adapters/kubernetes_leader.hpp"

#include <atomic>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "adapters/kubernetes_status_writer.hpp"
#include "test/support/fake_kube_apiserver.hpp"

namespace sluice::adapters {
namespace {

using json = nlohmann::json;
using test::fake_kube_apiserver;
using namespace std::chrono_literals;

const std::string lease_path
    = "apis/coordination.k8s.io/v1/namespaces/gloo-system/leases/sluice-leader";

/// One shared hand-moved clock: both replicas see the same time, as if on one machine.
struct fake_clock {
  std::atomic<int64_t> ms{1'000'000};
  std::function<std::chrono::steady_clock::time_point()> fn() {
    return [this] {
      return std::chrono::steady_clock::time_point(std::chrono::milliseconds(ms.load()));
    };
  }
  std::function<std::chrono::system_clock::time_point()> wall() {
    return [this] {
      return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms.load()));
    };
  }
};

/// Two replicas, each with its own client (own token), electing on one fake API server.
class KubernetesLeaderTest : public ::testing::Test {
 protected:
  std::shared_ptr<kubernetes_client> client(const std::string& token) {
    server_.set_token(token, true);
    kubernetes_credentials creds;
    creds.server = server_.url();
    creds.token = token;
    creds.ca_pem = server_.pki().ca_cert;
    return *kubernetes_client::make(creds);
  }

  kubernetes_leader_options options(const std::string& identity) {
    kubernetes_leader_options o;
    o.client = client(identity + "-token");
    o.identity = identity;
    o.now = clock_.fn();
    o.wall_now = clock_.wall();
    o.on_change = [this, identity](bool leader) {
      std::lock_guard<std::mutex> lock(mutex_);
      changes_.push_back(identity + (leader ? "+" : "-"));
    };
    return o;
  }

  std::vector<std::string> changes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return changes_;
  }

  json lease_spec() { return (*server_.get(lease_path))["spec"]; }

  fake_kube_apiserver server_;
  fake_clock clock_;
  std::mutex mutex_;
  std::vector<std::string> changes_;
};

TEST_F(KubernetesLeaderTest, FirstReplicaCreatesTheLeaseAndLeads) {
  kubernetes_leader a(options("a"));
  EXPECT_TRUE(a.step());
  EXPECT_TRUE(a.is_leader());
  auto spec = lease_spec();
  EXPECT_EQ(spec["holderIdentity"], "a");
  EXPECT_EQ(spec["leaseDurationSeconds"], 15);
  EXPECT_EQ(spec["leaseTransitions"], 0);
  EXPECT_EQ(spec["renewTime"].get<std::string>().size(), 27u);  // MicroTime: ...:SS.ffffffZ
  EXPECT_EQ(changes(), std::vector<std::string>{"a+"});
}

TEST_F(KubernetesLeaderTest, HandOverWhenTheHolderStopsRenewing) {
  kubernetes_leader a(options("a"));
  kubernetes_leader b(options("b"));
  ASSERT_TRUE(a.step());
  EXPECT_FALSE(b.step());
  EXPECT_EQ(b.holder(), "a");

  // a keeps renewing: b never takes over, however long it waits.
  for (int i = 0; i < 10; ++i) {
    clock_.ms += 2'000;
    ASSERT_TRUE(a.step());
    ASSERT_FALSE(b.step());
  }

  // a stops renewing (crashed, partitioned). Within renew_deadline it still leads; after it, it
  // does not, before anyone else may take the lease.
  clock_.ms += 9'000;
  EXPECT_TRUE(a.is_leader());
  EXPECT_FALSE(b.step());
  clock_.ms += 1'000;
  EXPECT_FALSE(a.is_leader());  // no step needed: the check is against the clock
  EXPECT_FALSE(b.step());       // b has seen the record unchanged for 10 s only
  clock_.ms += 5'001;
  EXPECT_TRUE(b.step());
  EXPECT_TRUE(b.is_leader());
  EXPECT_EQ(lease_spec()["holderIdentity"], "b");
  EXPECT_EQ(lease_spec()["leaseTransitions"], 1);

  // a comes back: it sees b holding a live lease and does not lead.
  EXPECT_FALSE(a.step());
  EXPECT_EQ(a.holder(), "b");
  EXPECT_EQ(changes(), (std::vector<std::string>{"a+", "b+", "a-"}));
}

TEST_F(KubernetesLeaderTest, ReleaseOnStopHandsOverAtOnce) {
  kubernetes_leader b(options("b"));
  {
    kubernetes_leader a(options("a"));
    ASSERT_TRUE(a.step());
    EXPECT_FALSE(b.step());
    a.stop();
    EXPECT_FALSE(a.is_leader());
    EXPECT_EQ(lease_spec()["holderIdentity"], "");
  }
  EXPECT_TRUE(b.step());  // no waiting for the lease to expire
  EXPECT_EQ(lease_spec()["holderIdentity"], "b");
}

TEST_F(KubernetesLeaderTest, RacingReplicasOnlyOneWins) {
  kubernetes_leader a(options("a"));
  kubernetes_leader b(options("b"));
  // A free lease (released by an earlier holder).
  server_.apply(json{{"apiVersion", "coordination.k8s.io/v1"},
                     {"kind", "Lease"},
                     {"metadata", {{"name", "sluice-leader"}, {"namespace", "gloo-system"}}},
                     {"spec", {{"holderIdentity", ""}, {"leaseDurationSeconds", 1}}}});
  // b's update of the lease races with a, which gets there first: b's read is stale.
  std::atomic<bool> raced{false};
  server_.on_request([&](const std::string& method, const std::string& path) {
    if (method == "PUT" && path.find("/leases/") != std::string::npos && !raced.exchange(true)) {
      EXPECT_TRUE(a.step());
    }
  });
  EXPECT_FALSE(b.step());
  EXPECT_TRUE(raced);
  EXPECT_TRUE(a.is_leader());
  EXPECT_EQ(lease_spec()["holderIdentity"], "a");
  EXPECT_GE(server_.count("PUT", "/leases/"), 2u);
}

TEST_F(KubernetesLeaderTest, LosingTheLeaseStopsStatusWritesAtOnce) {
  server_.apply(json{{"apiVersion", "gateway.solo.io/v1"},
                     {"kind", "VirtualService"},
                     {"metadata", {{"name", "vs"}, {"namespace", "default"}}},
                     {"spec", {{"virtualHost", {{"domains", {"x"}}}}}}});
  auto a_opts = options("a");
  kubernetes_leader a(a_opts);
  ASSERT_TRUE(a.step());

  kubernetes_status_writer_options w;
  w.client = a_opts.client;
  w.may_write = [&] { return a.is_leader(); };
  kubernetes_status_writer writer(w);
  ::core::solo::io::Status st;
  st.set_state(::core::solo::io::Status::Accepted);
  writer.update({{{model::resource_kind::virtual_service, "default", "vs"}, st}});

  // a cannot renew any more (its credentials were revoked); once the renew deadline passes it
  // writes nothing, without waiting for its next election step.
  server_.set_token("a-token", false);
  clock_.ms += 2'000;
  EXPECT_TRUE(a.step());  // the renew failed but the last one is young enough
  clock_.ms += 8'000;
  EXPECT_FALSE(a.is_leader());
  EXPECT_EQ(writer.pump(), 0u);
  EXPECT_EQ(server_.count("PUT", "/status"), 0u);
  EXPECT_EQ(writer.pending(), 1u);
  EXPECT_FALSE(a.step());
  EXPECT_EQ(changes(), (std::vector<std::string>{"a+", "a-"}));
}

TEST_F(KubernetesLeaderTest, BackgroundElectionFindsALeader) {
  auto a_opts = options("a");
  a_opts.now = nullptr;
  a_opts.wall_now = nullptr;
  a_opts.retry_period = 20ms;
  kubernetes_leader a(a_opts);
  a.start();
  EXPECT_TRUE(fake_kube_apiserver::eventually([&] { return a.is_leader(); }));
  a.stop();
  EXPECT_FALSE(a.is_leader());
  EXPECT_EQ(lease_spec()["holderIdentity"], "");
}

}  // namespace
}  // namespace sluice::adapters
