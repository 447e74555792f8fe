// A client's NACK reaches the written status, end to end: an in-process `sluice serve --source
// kubernetes` against test/support/fake_kube_apiserver, and a scripted Envoy-like client that
// rejects clusters with Gloo's `leastRequest` load balancer (as gRPC clients do). The Upstream
// whose cluster was rejected is written Rejected with the client's words; once the Upstream is
// fixed and the client ACKs the newer cluster, it is written Accepted again; so it is when the
// client disconnects.
#include <gtest/gtest.h>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "test/kubernetes/in_process_plane.hpp"

namespace sluice::test::kube {
namespace {

constexpr const char* node_id = "envoy-nacker";

std::string upstream_path(const std::string& name) {
  return "apis/gloo.solo.io/v1/namespaces/gloo-system/upstreams/" + name;
}

json least_request_upstream(const std::string& name, int port) {
  json u = upstream(name, port);
  u["spec"]["loadBalancerConfig"] = {{"leastRequest", json::object()}};
  return u;
}

class StatusNackTest : public in_process_plane {
 protected:
  StatusNackTest() {
    fake_.apply(upstream("a", 50061));
    fake_.apply(upstream("b", 50062));
    fake_.apply(virtual_service("greeter", "greeter", "a"));
  }

  /// A spec edit as a real API server applies it: the status subresource is kept (the fake's
  /// apply() replaces the whole object, status included).
  void edit(json upstream_object) {
    const auto current = fake_.get(upstream_path(upstream_object["metadata"]["name"]));
    if (current && current->contains("status")) {
      upstream_object["status"] = (*current)["status"];
    }
    fake_.apply(std::move(upstream_object));
  }

  json status(const std::string& name) const { return status_of(fake_.get(upstream_path(name))); }
  bool state_is(const std::string& name, const std::string& state) const {
    return status(name).value("state", "") == state;
  }

  /// An Envoy-like client that NACKs every CDS response holding a LEAST_REQUEST cluster, naming
  /// the cluster and its index the way gRPC C-core words it.
  scripted_xds_client& nacking_client() {
    scripted_xds_client_options o;
    o.node_id = node_id;
    o.role = "gloo-system~gateway-proxy";
    o.follow_references = true;
    clients_.push_back(std::make_unique<scripted_xds_client>(o));
    auto& c = *clients_.back();
    c.set_resource_nack_oracle(
        [](const std::string& type_url,
           const std::vector<google::protobuf::Any>& resources) -> std::optional<std::string> {
          if (type_url != xds::cluster_type) {
            return std::nullopt;
          }
          for (size_t i = 0; i < resources.size(); ++i) {
            envoy::config::cluster::v3::Cluster cluster;
            if (resources[i].UnpackTo(&cluster)
                && cluster.lb_policy() == envoy::config::cluster::v3::Cluster::LEAST_REQUEST) {
              return "errors parsing CDS response: [resource index " + std::to_string(i) + ": "
                     + cluster.name() + ": LB policy is not supported]";
            }
          }
          return std::nullopt;
        });
    EXPECT_TRUE(c.connect(cp_->xds_port()));
    c.subscribe(xds::cluster_type);
    c.subscribe(xds::listener_type);
    return c;
  }
};

TEST_F(StatusNackTest, NackedUpstreamIsWrittenRejectedUntilTheClientAcksItsFix) {
  start();
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] {
    return state_is("a", "Accepted") && state_is("b", "Accepted");
  })) << status("a").dump();
  auto& client = nacking_client();
  ASSERT_TRUE(client.wait_for([](const scripted_xds_client::state& s) {
    return has_cluster(s, "a", "gloo-system") && has_cluster(s, "b", "gloo-system");
  }));
  ASSERT_EQ(client.current().nack_count, 0u);

  // The edit every gRPC client rejects: sluice accepts it (it is valid Gloo), the client NACKs.
  edit(least_request_upstream("a", 50061));
  ASSERT_TRUE(client.wait_for([](const scripted_xds_client::state& s) { return s.nack_count > 0; }))
      << "the client never saw the LEAST_REQUEST cluster";
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return state_is("a", "Rejected"); }))
      << status("a").dump();
  const std::string reason = status("a").value("reason", "");
  EXPECT_NE(reason.find(std::string("rejected by xDS client ") + node_id + " (Cluster)"),
            std::string::npos)
      << reason;
  EXPECT_NE(reason.find("a_gloo-system: LB policy is not supported"), std::string::npos)
      << "the client's words: " << reason;
  // Only the Upstream whose cluster was rejected is blamed.
  EXPECT_TRUE(state_is("b", "Accepted")) << status("b").dump();

  // A newer translation the client also NACKs (a's cluster is still in it) keeps a Rejected:
  // once c's status is written, a round after that translation has been written too.
  fake_.apply(upstream("c", 50063));
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return state_is("c", "Accepted"); }))
      << status("c").dump();
  EXPECT_TRUE(state_is("a", "Rejected")) << status("a").dump();

  // Fixed: the client accepts the newer cluster, and the status follows.
  const size_t nacks_before_fix = client.current().nack_count;
  edit(upstream("a", 50061));
  ASSERT_TRUE(client.wait_for([](const scripted_xds_client::state& s) {
    auto held = s.held.find(std::string(xds::cluster_type));
    if (held == s.held.end()) {
      return false;
    }
    auto a = held->second.find(xds::cluster_name("a", "gloo-system"));
    envoy::config::cluster::v3::Cluster cluster;
    return a != held->second.end() && a->second.UnpackTo(&cluster)
           && cluster.lb_policy() != envoy::config::cluster::v3::Cluster::LEAST_REQUEST;
  })) << "the client never accepted the fixed cluster";
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return state_is("a", "Accepted"); }))
      << status("a").dump();
  EXPECT_EQ(status("a").value("reason", ""), "") << status("a").dump();
  EXPECT_EQ(client.current().nack_count, nacks_before_fix) << "nothing NACKed after the fix";
  EXPECT_TRUE(state_is("b", "Accepted")) << status("b").dump();
}

// A client that NACKs and then leaves holds nothing sluice serves any more: when its last stream
// closes, its NACK stops counting and the Upstream is written Accepted again.
TEST_F(StatusNackTest, NackOfAClientThatDisconnectsIsCleared) {
  fake_.apply(least_request_upstream("a", 50061));
  start();
  auto& client = nacking_client();
  ASSERT_TRUE(client.wait_for([](const scripted_xds_client::state& s) { return s.nack_count > 0; }))
      << "the client never saw the LEAST_REQUEST cluster";
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return state_is("a", "Rejected"); }))
      << status("a").dump();
  EXPECT_TRUE(state_is("b", "Accepted")) << status("b").dump();

  client.close();
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return state_is("a", "Accepted"); }))
      << "the NACK of a departed client still counts: " << status("a").dump();
  EXPECT_EQ(status("a").value("reason", ""), "") << status("a").dump();

  // The same client back, still rejecting the cluster: Rejected again.
  auto& again = nacking_client();
  ASSERT_TRUE(again.wait_for([](const scripted_xds_client::state& s) { return s.nack_count > 0; }));
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return state_is("a", "Rejected"); }))
      << status("a").dump();
}

}  // namespace
}  // namespace sluice::test::kube
