// The discovery leader writes an Upstream CRD per Service port into the write namespace, as
// Gloo's discovery pod does, and every replica serves them from the Upstream watch (one
// definition, no in-memory copy): created, updated and deleted with the Service; a user's
// Upstream of the same name untouched; nothing written without the Lease or after a restart with
// unchanged Services. End to end, in process, against test/support/fake_kube_apiserver.
#include <gtest/gtest.h>

#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "model/world.hpp"
#include "test/kubernetes/in_process_plane.hpp"

namespace sluice::test::kube {
namespace {

using json = nlohmann::json;

const std::string upstreams = "/apis/gloo.solo.io/v1/namespaces/gloo-system/upstreams";

json service(const std::string& name, int port, json labels = json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", labels}}},
          {"spec",
           {{"selector", {{"app", name}}},
            {"ports", json::array({{{"name", "http"}, {"port", port}}})}}}};
}

json endpoint_slice(const std::string& service_name, const std::string& address, int port) {
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata",
           {{"name", service_name + "-abc"},
            {"namespace", "default"},
            {"labels", {{"kubernetes.io/service-name", service_name}}}}},
          {"addressType", "IPv4"},
          {"ports", json::array({{{"name", "http"}, {"port", port}}})},
          {"endpoints", json::array({{{"addresses", json::array({address})}}})}};
}

class DiscoveredUpstreamsTest : public in_process_plane {
 protected:
  // Routes to the discovered upstreams, so the gateway-proxy has a Proxy to serve.
  DiscoveredUpstreamsTest() {
    fake_.apply(virtual_service("pets", "pets", "default-pets-8080"));
    fake_.apply(virtual_service("pets2", "pets2", "default-pets-9090"));
  }

  std::optional<json> upstream(const std::string& name) const {
    return fake_.get(upstreams.substr(1) + "/" + name);
  }
  bool discovered(const std::string& name) const {
    auto u = upstream(name);
    return u && u->value("/metadata/labels/discovered_by"_json_pointer, "") == "kubernetesplugin";
  }
  /// Write attempts (POST, PUT, DELETE) on Upstream objects, status subresource excluded.
  size_t upstream_writes() const {
    size_t n = 0;
    for (const auto& r : fake_.requests()) {
      const bool object
          = r.path.rfind(upstreams, 0) == 0 && r.path.find("/status") == std::string::npos;
      if (object && (r.method == "POST" || r.method == "PUT" || r.method == "DELETE")) {
        ++n;
      }
    }
    return n;
  }
  std::string writes_text() const {
    std::string out;
    for (const auto& r : fake_.requests()) {
      if (r.method != "GET") {
        out += r.method + " " + r.path + " " + std::to_string(r.status) + "; ";
      }
    }
    return out;
  }
  /// The origin the served world holds the Upstream from ("" when absent).
  std::string origin_of(const std::string& name) const {
    auto o = cp_ ? cp_->latest_outcome() : nullptr;
    if (!o || !o->world) {
      return {};
    }
    const auto* r = o->world->find(model::resource_kind::upstream, "gloo-system", name);
    return r ? r->origin : std::string();
  }
};

TEST_F(DiscoveredUpstreamsTest, ServiceBecomesAnUpstreamCrdThatReachesXdsAsACluster) {
  fake_.apply(service("pets", 8080));
  fake_.apply(endpoint_slice("pets", "10.0.0.7", 8080));
  start();
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return discovered("default-pets-8080"); }));
  auto crd = *upstream("default-pets-8080");
  EXPECT_EQ(crd["spec"]["kube"]["serviceName"], "pets");
  EXPECT_EQ(crd["spec"]["kube"]["serviceNamespace"], "default");
  EXPECT_EQ(crd["spec"]["kube"]["servicePort"], 8080);
  EXPECT_EQ(crd["spec"]["kube"]["selector"]["app"], "pets");

  auto& c = envoy_client();
  ASSERT_TRUE(c.wait_for([&](const auto& s) {
    return has_cluster(s, "default-pets-8080", "gloo-system")
           && addresses(s, "default-pets-8080_gloo-system") == std::vector<std::string>{"10.0.0.7"};
  })) << ::testing::PrintToString(c.current().names(xds::cluster_type))
      << " endpoints: " << ::testing::PrintToString(c.current().names(xds::endpoint_type));
  // One definition: the CRD read back through the watch, accepted (a second, in-memory
  // definition would have it rejected as defined twice).
  const std::string crd_origin
      = "apis/gloo.solo.io/v1/namespaces/gloo-system/upstreams/default-pets-8080";
  EXPECT_TRUE(
      fake_kube_apiserver::eventually([&] { return !origin_of("default-pets-8080").empty(); }));
  EXPECT_EQ(origin_of("default-pets-8080"), crd_origin);
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] {
    return status_of(upstream("default-pets-8080")).value("state", "") == "Accepted";
  })) << status_of(upstream("default-pets-8080")).dump();
  EXPECT_EQ(upstream_writes(), 1u);
}

TEST_F(DiscoveredUpstreamsTest, ServiceChangesUpdateAndDeleteTheUpstream) {
  fake_.apply(service("pets", 8080));
  start();
  auto& c = envoy_client();
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return discovered("default-pets-8080"); }));

  // New Service labels: the same Upstream, updated in place.
  fake_.apply(service("pets", 8080, {{"tier", "gold"}}));
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] {
    auto u = upstream("default-pets-8080");
    return u && u->value("/spec/discoveryMetadata/labels/tier"_json_pointer, "") == "gold";
  }));
  size_t updated = 0;  // a status write in between may cost a 409 and a retry, not a second update
  for (const auto& r : fake_.requests()) {
    updated += r.method == "PUT" && r.path == upstreams + "/default-pets-8080" && r.status == 200;
  }
  EXPECT_EQ(updated, 1u);

  // A new port number is a new name: the old Upstream goes, the new one comes.
  fake_.apply(service("pets", 9090, {{"tier", "gold"}}));
  ASSERT_TRUE(fake_kube_apiserver::eventually(
      [&] { return discovered("default-pets-9090") && !upstream("default-pets-8080"); }));
  ASSERT_TRUE(c.wait_for([&](const auto& s) {
    return has_cluster(s, "default-pets-9090", "gloo-system")
           && !has_cluster(s, "default-pets-8080", "gloo-system");
  })) << ::testing::PrintToString(c.current().names(xds::cluster_type));

  // The Service goes away: so does its Upstream, and the cluster.
  ASSERT_TRUE(fake_.remove("api/v1/namespaces/default/services/pets"));
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return !upstream("default-pets-9090"); }));
  ASSERT_TRUE(c.wait_for(
      [&](const auto& s) { return !has_cluster(s, "default-pets-9090", "gloo-system"); }));
}

TEST_F(DiscoveredUpstreamsTest, UserUpstreamOfTheSameNameIsLeftAlone) {
  json mine = ::sluice::test::kube::upstream("default-pets-8080", 50071);
  fake_.apply(mine);
  fake_.apply(service("pets", 8080));
  start();
  // Another Service's Upstream proves the writer has been through everything listed.
  fake_.apply(service("cats", 8080));
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return discovered("default-cats-8080"); }));
  ASSERT_TRUE(fake_.remove("api/v1/namespaces/default/services/pets"));
  fake_.apply(service("dogs", 8080));
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return discovered("default-dogs-8080"); }));

  auto kept = upstream("default-pets-8080");
  ASSERT_TRUE(kept);
  EXPECT_TRUE((*kept)["spec"].contains("static")) << kept->dump();
  EXPECT_FALSE(discovered("default-pets-8080"));
  EXPECT_EQ(requests_to("PUT", upstreams + "/default-pets-8080"), 0u);
  EXPECT_EQ(requests_to("DELETE", upstreams + "/default-pets-8080"), 0u);
  EXPECT_EQ(upstream_writes(), 2u) << "cats and dogs created, nothing else: " << writes_text();
}

TEST_F(DiscoveredUpstreamsTest, NonLeaderWritesNothingUntilItHoldsTheLease) {
  const std::string lease = "apis/coordination.k8s.io/v1/namespaces/gloo-system/leases/sluice-all";
  json held{{"apiVersion", "coordination.k8s.io/v1"},
            {"kind", "Lease"},
            {"metadata", {{"name", "sluice-all"}, {"namespace", "gloo-system"}}},
            {"spec",
             {{"holderIdentity", "replica-elsewhere"},
              {"leaseDurationSeconds", 3600},
              {"leaseTransitions", 0}}}};
  fake_.apply(held);
  fake_.apply(service("pets", 8080));
  start();
  auto& c = envoy_client();
  // Synced and serving (the Gateway's listener), and several election rounds lost.
  ASSERT_TRUE(c.wait_for([&](const auto& s) { return !s.names(xds::listener_type).empty(); }));
  const size_t lease_reads = fake_.count("GET", lease);
  ASSERT_TRUE(fake_kube_apiserver::eventually(
      [&] { return fake_.count("GET", lease) >= lease_reads + 3; }));
  EXPECT_FALSE(cp_->is_leader());
  EXPECT_EQ(upstream_writes(), 0u);
  EXPECT_FALSE(upstream("default-pets-8080"));

  // The holder lets go: this replica takes over and writes what was pending.
  held["spec"]["holderIdentity"] = "";
  fake_.apply(held);
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return discovered("default-pets-8080"); }));
  EXPECT_TRUE(cp_->is_leader());
}

TEST_F(DiscoveredUpstreamsTest, RestartWithUnchangedServicesWritesNothing) {
  fake_.apply(service("pets", 8080));
  fake_.apply(service("cats", 8080));
  start();
  ASSERT_TRUE(fake_kube_apiserver::eventually(
      [&] { return discovered("default-pets-8080") && discovered("default-cats-8080"); }));
  // Let the status writer settle too (it bumps the resourceVersions, not what we compare).
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] {
    return status_of(upstream("default-pets-8080")).value("state", "") == "Accepted"
           && status_of(upstream("default-cats-8080")).value("state", "") == "Accepted";
  }));
  stop();
  const size_t before = upstream_writes();
  ASSERT_EQ(before, 2u);

  start();
  auto& c = envoy_client();
  ASSERT_TRUE(c.wait_for([&](const auto& s) {
    return has_cluster(s, "default-pets-8080", "gloo-system")
           && has_cluster(s, "default-cats-8080", "gloo-system");
  }));
  // A Service added after the restart is written: the writer has run since its sync.
  fake_.apply(service("dogs", 8080));
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return discovered("default-dogs-8080"); }));
  EXPECT_EQ(upstream_writes(), before + 1) << "only dogs was written after the restart";
}

TEST_F(DiscoveredUpstreamsTest, DiscoveryRoleWritesUnderItsOwnLeaseAndNoStatuses) {
  fake_.apply(service("pets", 8080));
  auto o = options();
  o.role = actors::serve_role::discovery;
  start(o);
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return discovered("default-pets-8080"); }));
  auto lease
      = fake_.get("apis/coordination.k8s.io/v1/namespaces/gloo-system/leases/sluice-discovery");
  ASSERT_TRUE(lease);
  EXPECT_EQ((*lease)["spec"].value("holderIdentity", ""), "replica-a");
  // Read back like any Upstream CRD, and no status written (that is the gloo role's job).
  ASSERT_TRUE(
      fake_kube_apiserver::eventually([&] { return !origin_of("default-pets-8080").empty(); }));
  EXPECT_EQ(fake_.count("PUT", "/status"), 0u);
  EXPECT_TRUE(status_of(upstream("default-pets-8080")).empty());
}

}  // namespace
}  // namespace sluice::test::kube
