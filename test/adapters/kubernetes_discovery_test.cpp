#include "adapters/kubernetes_discovery.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kube/core.pb.h"
#include "model/resource_decoder.hpp"
#include "solo/gloo.pb.h"

namespace sluice::adapters {
namespace {

using json = nlohmann::json;
using model::resource_kind;
using model::source_batch;
using model::source_event;
using op = source_event::op_t;

json service(const std::string& ns, const std::string& name,
             const std::vector<std::pair<std::string, int>>& ports) {
  json p = json::array();
  for (const auto& [n, port] : ports) {
    p.push_back({{"name", n}, {"port", port}, {"targetPort", port + 1}, {"protocol", "TCP"}});
  }
  return json{{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"app", name}}}}},
              {"spec", {{"selector", {{"app", name}}}, {"ports", p}}}};
}

json slice(const std::string& ns, const std::string& name, const std::string& svc,
           const std::vector<std::pair<std::string, int>>& ports,
           const std::vector<std::pair<std::string, bool>>& endpoints) {
  json p = json::array();
  for (const auto& [n, port] : ports) {
    p.push_back({{"name", n}, {"port", port}, {"protocol", "TCP"}});
  }
  json eps = json::array();
  for (const auto& [ip, ready] : endpoints) {
    json e{{"addresses", {ip}}};
    if (!ready) {
      e["conditions"] = {{"ready", false}};
    }
    eps.push_back(e);
  }
  return json{
      {"metadata",
       {{"name", name}, {"namespace", ns}, {"labels", {{"kubernetes.io/service-name", svc}}}}},
      {"addressType", "IPv4"},
      {"ports", p},
      {"endpoints", eps}};
}

/// Decodes a generated event as the kind actors will.
template <class Message>
Message decode(const source_event& e) {
  model::decode_context ctx{e.origin, e.kind, e.ns};
  auto decoded = model::decode_documents(e.bytes, ctx);
  EXPECT_TRUE(decoded.errors.empty())
      << (decoded.errors.empty() ? "" : decoded.errors[0].to_string());
  if (decoded.resources.size() != 1) {
    ADD_FAILURE() << "no resource in " << e.bytes;
    return {};
  }
  EXPECT_TRUE(model::validate_resource(decoded.resources[0], ctx).empty()) << e.bytes;
  return static_cast<const Message&>(*decoded.resources[0].message);
}

std::vector<source_event> of_kind(const source_batch& b, resource_kind k) {
  std::vector<source_event> out;
  for (const auto& e : b) {
    if (e.kind == k) {
      out.push_back(e);
    }
  }
  return out;
}

std::set<std::string> refs(const ::gloo::solo::io::Endpoint& ep) {
  std::set<std::string> out;
  for (const auto& r : ep.upstreams()) {
    out.insert(r.namespace_() + "/" + r.name());
  }
  return out;
}

TEST(KubernetesDiscoveryTest, UpstreamPerServicePortNamedAsGlooNamesThem) {
  kubernetes_discovery d;
  auto out = d.upsert_service(service("default", "petstore", {{"http", 8080}, {"grpc", 9090}}));
  auto all_ups = of_kind(out, resource_kind::upstream);
  // Besides the discovered Upstreams (write namespace), Gloo's in-memory upstreams of kube
  // destinations, in the Service's namespace.
  model::source_batch ups, in_memory;
  for (const auto& e : all_ups) {
    (e.ns == "gloo-system" ? ups : in_memory).push_back(e);
  }
  ASSERT_EQ(ups.size(), 2u);
  ASSERT_EQ(in_memory.size(), 2u);
  EXPECT_EQ(in_memory[0].origin, "discovery/upstreams/default/kube-svc:default-petstore-8080");
  auto kube_svc = decode<::gloo::solo::io::Upstream>(in_memory[1]);
  EXPECT_EQ(kube_svc.metadata().name(), "kube-svc:default-petstore-9090");
  EXPECT_EQ(kube_svc.metadata().namespace_(), "default");
  EXPECT_EQ(kube_svc.kube().service_name(), "petstore");
  EXPECT_EQ(kube_svc.kube().service_port(), 9090u);
  EXPECT_EQ(ups[0].origin, "discovery/upstreams/gloo-system/default-petstore-8080");
  EXPECT_EQ(ups[1].origin, "discovery/upstreams/gloo-system/default-petstore-9090");
  EXPECT_EQ(ups[0].source, "kubernetes-discovery");
  EXPECT_EQ(ups[0].ns, "gloo-system");
  auto us = decode<::gloo::solo::io::Upstream>(ups[0]);
  EXPECT_EQ(us.metadata().name(), "default-petstore-8080");
  EXPECT_EQ(us.metadata().namespace_(), "gloo-system");
  EXPECT_EQ(us.metadata().labels().at("discovered_by"), "kubernetesplugin");
  EXPECT_EQ(us.kube().service_name(), "petstore");
  EXPECT_EQ(us.kube().service_namespace(), "default");
  EXPECT_EQ(us.kube().service_port(), 8080u);
  EXPECT_EQ(us.kube().selector().at("app"), "petstore");
  EXPECT_TRUE(of_kind(out, resource_kind::endpoint).empty());  // no addresses yet

  EXPECT_EQ(discovered_upstream_name("My.NS", "svc_x", 80), "my-ns-svc-x-80");
  std::string long_name = discovered_upstream_name(std::string(40, 'a'), std::string(40, 'b'), 80);
  EXPECT_LE(long_name.size(), 63u);
  EXPECT_NE(long_name, discovered_upstream_name(std::string(40, 'a'), std::string(40, 'b'), 81));

  // The Service itself, in its namespace, as translation keeps it (kube Upstreams are checked
  // against it): identity, labels, ports (targetPort as text) and selector.
  auto svcs = of_kind(out, resource_kind::service);
  ASSERT_EQ(svcs.size(), 1u);
  EXPECT_EQ(svcs[0].origin, "discovery/services/default/petstore");
  EXPECT_EQ(svcs[0].ns, "default");
  auto svc = decode<::kube::core::v1::Service>(svcs[0]);
  EXPECT_EQ(svc.metadata().name(), "petstore");
  EXPECT_EQ(svc.metadata().labels().at("app"), "petstore");
  ASSERT_EQ(svc.ports_size(), 2);
  EXPECT_EQ(svc.ports(1).port(), 9090u);
  EXPECT_EQ(svc.ports(1).target_port(), "9091");
  EXPECT_EQ(svc.ports(1).protocol(), "TCP");
  EXPECT_EQ(svc.selector().at("app"), "petstore");

  // The same Service again changes nothing, even with a new resourceVersion; removing it
  // removes the Service and its upstreams.
  auto again = service("default", "petstore", {{"http", 8080}, {"grpc", 9090}});
  again["metadata"]["resourceVersion"] = "4711";
  EXPECT_TRUE(d.upsert_service(again).empty());
  auto gone = d.remove_service("default", "petstore");
  ASSERT_EQ(gone.size(), 5u);
  for (const auto& e : gone) {
    EXPECT_EQ(e.op, op::remove) << e.origin;
  }
  EXPECT_EQ(of_kind(gone, resource_kind::service).size(), 1u);
}

TEST(KubernetesDiscoveryTest, EndpointsFromReadySliceAddressesWithTheMatchingPort) {
  kubernetes_discovery d;
  (void)d.upsert_service(service("default", "petstore", {{"http", 8080}, {"metrics", 9100}}));
  auto out = d.upsert_endpoint_slice(slice("default", "petstore-x1", "petstore",
                                           {{"http", 80}, {"metrics", 9101}},
                                           {{"10.0.0.1", true}, {"10.0.0.2", false}}));
  auto eps = of_kind(out, resource_kind::endpoint);
  ASSERT_EQ(eps.size(), 2u);  // 10.0.0.1 on both ports; 10.0.0.2 is not ready
  EXPECT_TRUE(of_kind(out, resource_kind::upstream).empty());
  std::map<uint32_t, ::gloo::solo::io::Endpoint> by_port;
  for (const auto& e : eps) {
    auto ep = decode<::gloo::solo::io::Endpoint>(e);
    by_port[ep.port()] = ep;
    EXPECT_EQ(ep.address(), "10.0.0.1");
    EXPECT_EQ(ep.metadata().namespace_(), "gloo-system");
    EXPECT_EQ(ep.metadata().name().rfind("ep-10-0-0-1-" + std::to_string(ep.port()) + "-", 0), 0u)
        << ep.metadata().name();
  }
  ASSERT_EQ(by_port.count(80), 1u);
  EXPECT_EQ(refs(by_port[80]), (std::set<std::string>{"gloo-system/default-petstore-8080",
                                                      "default/kube-svc:default-petstore-8080"}));
  EXPECT_EQ(refs(by_port[9101]), (std::set<std::string>{"gloo-system/default-petstore-9100",
                                                        "default/kube-svc:default-petstore-9100"}));
}

TEST(KubernetesDiscoveryTest, CoreEndpointsAreTheFallbackWithoutSlices) {
  kubernetes_discovery d;
  (void)d.upsert_service(service("default", "legacy", {{"", 80}}));
  json endpoints{{"metadata", {{"name", "legacy"}, {"namespace", "default"}}},
                 {"subsets",
                  {{{"addresses", {{{"ip", "10.1.0.1"}}, {{"ip", "10.1.0.2"}}}},
                    {"notReadyAddresses", {{{"ip", "10.1.0.3"}}}},
                    {"ports", {{{"port", 8081}}}}}}}};
  auto out = d.upsert_endpoints(endpoints);
  auto eps = of_kind(out, resource_kind::endpoint);
  ASSERT_EQ(eps.size(), 2u);
  EXPECT_EQ(decode<::gloo::solo::io::Endpoint>(eps[0]).port(), 8081u);

  // Once the Service has an EndpointSlice, the slice wins.
  auto switched = d.upsert_endpoint_slice(
      slice("default", "legacy-1", "legacy", {{"", 8081}}, {{"10.1.0.9", true}}));
  EXPECT_EQ(of_kind(switched, resource_kind::endpoint).size(), 3u);  // 2 removes, 1 upsert
  auto gen = d.generated();
  size_t endpoints_now = 0;
  for (const auto& [origin, bytes] : gen) {
    if (origin.rfind("discovery/endpoints/", 0) == 0) {
      ++endpoints_now;
      EXPECT_NE(bytes.find("10.1.0.9"), std::string::npos);
    }
  }
  EXPECT_EQ(endpoints_now, 1u);
}

TEST(KubernetesDiscoveryTest, SliceChurnChangesEndpointsOnly) {
  kubernetes_discovery d;
  (void)d.upsert_service(service("default", "web", {{"http", 80}}));
  (void)d.upsert_endpoint_slice(
      slice("default", "web-1", "web", {{"http", 8080}}, {{"10.0.0.1", true}, {"10.0.0.2", true}}));
  for (int round = 0; round < 5; ++round) {
    std::vector<std::pair<std::string, bool>> eps
        = {{"10.0.0.1", true}, {"10.0.0." + std::to_string(10 + round), true}};
    auto out = d.upsert_endpoint_slice(slice("default", "web-1", "web", {{"http", 8080}}, eps));
    EXPECT_FALSE(out.empty());
    for (const auto& e : out) {
      EXPECT_EQ(e.kind, resource_kind::endpoint) << e.origin;
      EXPECT_EQ(e.origin.rfind("discovery/endpoints/", 0), 0u) << e.origin;
    }
    // The endpoint that stayed is not re-reported.
    for (const auto& e : out) {
      EXPECT_EQ(e.bytes.find("\"10.0.0.1\""), std::string::npos) << e.bytes;
    }
  }
  auto removed = d.remove_endpoint_slice("default", "web-1");
  EXPECT_EQ(of_kind(removed, resource_kind::endpoint).size(), 2u);
  EXPECT_TRUE(of_kind(removed, resource_kind::upstream).empty());
}

TEST(KubernetesDiscoveryTest, UpstreamCrdsShadowDiscoveredNamesAndGetEndpoints) {
  kubernetes_discovery d;
  (void)d.upsert_service(service("apps", "items", {{"http", 8080}}));
  (void)d.upsert_endpoint_slice(
      slice("apps", "items-1", "items", {{"http", 80}}, {{"10.2.0.1", true}}));

  // A user's Upstream CRD with the discovered name wins: the generated one goes away.
  json crd{{"metadata", {{"name", "apps-items-8080"}, {"namespace", "gloo-system"}}},
           {"spec", {{"static", {{"hosts", {{{"addr", "1.2.3.4"}, {"port", 80}}}}}}}}};
  auto out = d.upsert_upstream(crd);
  auto ups = of_kind(out, resource_kind::upstream);
  ASSERT_EQ(ups.size(), 1u);
  EXPECT_EQ(ups[0].op, op::remove);

  // A kube Upstream CRD in another namespace gets the Service's endpoints too.
  json kube{{"metadata", {{"name", "items-v1"}, {"namespace", "apps"}}},
            {"spec", {{"kube", {{"serviceName", "items"}, {"servicePort", 8080}}}}}};
  out = d.upsert_upstream(kube);
  auto eps = of_kind(out, resource_kind::endpoint);
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_EQ(refs(decode<::gloo::solo::io::Endpoint>(eps[0])),
            (std::set<std::string>{"apps/items-v1", "apps/kube-svc:apps-items-8080"}));

  // Removing the shadowing CRD brings the discovered upstream back.
  out = d.remove_upstream("gloo-system", "apps-items-8080");
  ASSERT_EQ(of_kind(out, resource_kind::upstream).size(), 1u);
  EXPECT_EQ(of_kind(out, resource_kind::upstream)[0].op, op::upsert);
}

TEST(KubernetesDiscoveryTest, UpstreamOfAMissingServicePortGetsNoEndpoints) {
  kubernetes_discovery d;
  (void)d.upsert_service(service("apps", "items", {{"http", 8080}}));
  (void)d.upsert_endpoint_slice(
      slice("apps", "items-1", "items", {{"http", 80}}, {{"10.2.0.1", true}}));
  json kube{{"metadata", {{"name", "wrong-port"}, {"namespace", "apps"}}},
            {"spec", {{"kube", {{"serviceName", "items"}, {"servicePort", 9999}}}}}};
  auto out = d.upsert_upstream(kube);
  EXPECT_TRUE(out.empty());
  for (const auto& [origin, bytes] : d.generated()) {
    EXPECT_EQ(bytes.find("wrong-port"), std::string::npos) << origin;
  }
}

}  // namespace
}  // namespace sluice::adapters
