// `sluice serve --source kubernetes` end to end, in process (actors::control_plane with the
// Kubernetes options `sluice serve` builds) against test/support/fake_kube_apiserver over TLS:
// objects in the fake reach a scripted Envoy-like xDS client, statuses are written back through
// the status subresource, a restart resumes the watches from the stored resourceVersions, a 410
// relists with synthetic deletes, the admission webhook and wasm cache answer from the live world,
// and the leader keeps gloo-usage current.
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <map>

#include "actors/actor_types.hpp"
#include "actors/control_plane.hpp"
#include "adapters/kubernetes_client.hpp"
#include "adapters/validation_certificates.hpp"
#include "adapters/wasm_cache_server.hpp"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "model/error.hpp"
#include "test/kubernetes/in_process_plane.hpp"
#include "test/kubernetes/kube_serve_support.hpp"
#include "test/support/fake_kube_apiserver.hpp"
#include "test/support/scripted_xds_client.hpp"
#include "test/support/temp_dir.hpp"

namespace sluice::actors {
namespace {

using json = nlohmann::json;
using test::fake_kube_apiserver;
using test::scripted_xds_client;
using test::scripted_xds_client_options;
namespace kube = test::kube;

constexpr auto lds = xds::listener_type;
constexpr auto rds = xds::route_type;
constexpr auto cds = xds::cluster_type;
constexpr auto eds = xds::endpoint_type;

/// domain -> cluster of the first route, over every RouteConfiguration the client holds.
std::map<std::string, std::string> routes_of(const scripted_xds_client::state& s) {
  std::map<std::string, std::string> out;
  auto it = s.held.find(std::string(rds));
  if (it == s.held.end()) {
    return out;
  }
  for (const auto& [_, any] : it->second) {
    envoy::config::route::v3::RouteConfiguration rc;
    if (!any.UnpackTo(&rc)) {
      continue;
    }
    for (const auto& vh : rc.virtual_hosts()) {
      for (const auto& d : vh.domains()) {
        out[d] = vh.routes_size() > 0 ? vh.routes(0).route().cluster() : "";
      }
    }
  }
  return out;
}

bool routes(const scripted_xds_client::state& s, const std::string& domain,
            const std::string& cluster) {
  auto r = routes_of(s);
  auto it = r.find(domain);
  return it != r.end() && it->second == cluster;
}

/// The in-process plane with two Upstreams and a VirtualService routing to `a`.
class KubernetesServeTest : public kube::in_process_plane {
 protected:
  KubernetesServeTest() {
    fake_.apply(kube::upstream("a", 50061));
    fake_.apply(kube::upstream("b", 50062));
    fake_.apply(kube::virtual_service("greeter", "greeter", "a"));
  }

  /// Lists of a collection (GETs without watch) the fake answered so far.
  size_t lists(const std::string& plural) {
    size_t n = 0;
    for (const auto& r : fake_.requests()) {
      if (r.method == "GET" && r.path.find("/" + plural) != std::string::npos
          && r.path.find("/" + plural + "/") == std::string::npos
          && r.query.find("watch") == std::string::npos) {
        ++n;
      }
    }
    return n;
  }
};

TEST_F(KubernetesServeTest, ObjectsInTheApiServerAreServedAndEditsFollow) {
  start();
  auto& c = envoy_client();
  ASSERT_TRUE(c.wait_for([](const auto& s) { return routes(s, "greeter", "a_gloo-system"); }))
      << ::testing::PrintToString(routes_of(c.current()));
  fake_.apply(kube::virtual_service("greeter", "greeter", "b"));
  ASSERT_TRUE(c.wait_for([](const auto& s) { return routes(s, "greeter", "b_gloo-system"); }))
      << ::testing::PrintToString(routes_of(c.current()));
  ASSERT_TRUE(fake_.remove(kube::vs_path("greeter")));
  ASSERT_TRUE(c.wait_for([](const auto& s) { return routes_of(s).count("greeter") == 0; }));
  EXPECT_TRUE(c.consistency_errors().empty())
      << ::testing::PrintToString(c.consistency_errors());
}

TEST_F(KubernetesServeTest, InvalidVirtualServiceIsRejectedInItsStatusAndOthersKeepServing) {
  start();
  auto& c = envoy_client();
  ASSERT_TRUE(c.wait_for([](const auto& s) { return routes(s, "greeter", "a_gloo-system"); }));
  ASSERT_TRUE(test::fake_kube_apiserver::eventually([&] {
    return kube::status_of(fake_.get(kube::vs_path("greeter"))).value("state", "") == "Accepted";
  })) << fake_.get(kube::vs_path("greeter"))->dump();

  // Rejected at ingest (an invalid regex) and by translation (a domain another one serves).
  fake_.apply(kube::virtual_service("broken", "broken", "a", "(unclosed"));
  fake_.apply(kube::virtual_service("thief", "greeter", "b"));
  ASSERT_TRUE(test::fake_kube_apiserver::eventually([&] {
    return kube::status_of(fake_.get(kube::vs_path("broken"))).value("state", "") == "Rejected";
  })) << fake_.get(kube::vs_path("broken"))->dump();
  auto broken = kube::status_of(fake_.get(kube::vs_path("broken")));
  EXPECT_NE(broken.value("reason", "").find("regex"), std::string::npos) << broken.dump();
  EXPECT_EQ(broken.value("reportedBy", ""), "gateway") << broken.dump();
  ASSERT_TRUE(test::fake_kube_apiserver::eventually([&] {
    return kube::status_of(fake_.get(kube::vs_path("thief"))).value("state", "") == "Rejected";
  })) << fake_.get(kube::vs_path("thief"))->dump();
  EXPECT_NE(kube::status_of(fake_.get(kube::vs_path("thief"))).value("reason", "").find("greeter"),
            std::string::npos);
  // The first VirtualService keeps its domain and its Accepted status.
  EXPECT_TRUE(routes(c.current(), "greeter", "a_gloo-system"));
  EXPECT_EQ(kube::status_of(fake_.get(kube::vs_path("greeter"))).value("state", ""), "Accepted");
  // Upstreams are the gloo role's, reported by "gloo" (this replica runs role all).
  auto a = kube::status_of(fake_.get("apis/gloo.solo.io/v1/namespaces/gloo-system/upstreams/a"));
  EXPECT_EQ(a.value("reportedBy", ""), "gloo") << a.dump();

  // Fixing the regex clears the rejection.
  fake_.apply(kube::virtual_service("broken", "broken", "a", "/fixed.*"));
  ASSERT_TRUE(test::fake_kube_apiserver::eventually([&] {
    return kube::status_of(fake_.get(kube::vs_path("broken"))).value("state", "") == "Accepted";
  })) << fake_.get(kube::vs_path("broken"))->dump();
}

TEST_F(KubernetesServeTest, GatewayRoleWritesOnlyGatewayKindStatuses) {
  auto o = options();
  o.role = serve_role::gateway;
  start(o);
  ASSERT_TRUE(test::fake_kube_apiserver::eventually([&] {
    return kube::status_of(fake_.get(kube::vs_path("greeter"))).value("state", "") == "Accepted";
  }));
  EXPECT_TRUE(kube::status_of(fake_.get("apis/gloo.solo.io/v1/namespaces/gloo-system/upstreams/a"))
                  .empty())
      << "Upstream statuses are the gloo role's";
  EXPECT_EQ(fake_.count("PUT", "upstreams"), 0u);
}

TEST_F(KubernetesServeTest, RestartResumesFromStoredResourceVersionsAndServesTheSameVersions) {
  start();
  std::map<std::string_view, std::string> before;
  {
    auto& c = envoy_client();
    ASSERT_TRUE(c.wait_for([](const auto& s) { return routes(s, "greeter", "a_gloo-system"); }));
    auto s = c.current();
    before = {{cds, s.version(cds)}, {lds, s.version(lds)}, {rds, s.version(rds)}};
  }
  stop();
  const size_t vs_lists = lists("virtualservices");
  const size_t upstream_lists = lists("upstreams");
  ASSERT_GE(vs_lists, 1u);

  start();
  auto& c = envoy_client();
  ASSERT_TRUE(c.wait_for([&](const auto& s) {
    return s.version(cds) == before[cds] && s.version(lds) == before[lds]
           && s.version(rds) == before[rds];
  })) << "served versions changed across a restart with unchanged input";
  EXPECT_TRUE(routes(c.current(), "greeter", "a_gloo-system"))
      << "a resumed source must not sweep away what it did not re-list";
  EXPECT_EQ(lists("virtualservices"), vs_lists) << "resumed, so no relist without a 410";
  EXPECT_GE(fake_.count("GET", "virtualservices", "resourceVersion="), 1u);
  // Upstreams feed discovery, which always lists.
  EXPECT_GT(lists("upstreams"), upstream_lists);

  // A change made while sluice was down arrives through the resumed watch.
  stop();
  fake_.apply(kube::virtual_service("greeter", "greeter", "b"));
  start();
  auto& c2 = envoy_client();
  ASSERT_TRUE(c2.wait_for([](const auto& s) { return routes(s, "greeter", "b_gloo-system"); }));
  EXPECT_EQ(lists("virtualservices"), vs_lists);
}

TEST_F(KubernetesServeTest, GoneAfterRestartRelistsAndDeletesWhatVanishedMeanwhile) {
  fake_.apply(kube::virtual_service("doomed", "doomed", "b"));
  start();
  {
    auto& c = envoy_client();
    ASSERT_TRUE(c.wait_for([](const auto& s) {
      return routes(s, "greeter", "a_gloo-system") && routes(s, "doomed", "b_gloo-system");
    }));
  }
  stop();
  const size_t vs_lists = lists("virtualservices");
  ASSERT_TRUE(fake_.remove(kube::vs_path("doomed")));
  fake_.compact();  // the stored resourceVersion is now too old: 410 Gone on resume

  start();
  auto& c = envoy_client();
  ASSERT_TRUE(c.wait_for([](const auto& s) {
    return routes(s, "greeter", "a_gloo-system") && routes_of(s).count("doomed") == 0;
  })) << ::testing::PrintToString(routes_of(c.current()));
  EXPECT_GT(lists("virtualservices"), vs_lists) << "a 410 must relist";
}

TEST_F(KubernetesServeTest, GoneWhileRunningRelistsWithSyntheticDeletes) {
  fake_.apply(kube::virtual_service("doomed", "doomed", "b"));
  start();
  auto& c = envoy_client();
  ASSERT_TRUE(c.wait_for([](const auto& s) { return routes(s, "doomed", "b_gloo-system"); }));
  // The delete is lost on the way (a broken connection), then history is compacted.
  fake_.pause_watches(true);
  fake_.drop_watches();
  ASSERT_TRUE(fake_.remove(kube::vs_path("doomed")));
  fake_.compact();
  fake_.pause_watches(false);
  ASSERT_TRUE(c.wait_for([](const auto& s) { return routes_of(s).count("doomed") == 0; }))
      << ::testing::PrintToString(routes_of(c.current()));
  EXPECT_TRUE(routes(c.current(), "greeter", "a_gloo-system"));
}

X509_STORE* store_of(const std::string& pem) {
  X509_STORE* store = X509_STORE_new();
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);
    X509_free(cert);
  }
  BIO_free(bio);
  return store;
}

TEST_F(KubernetesServeTest, WebhookRejectsAConflictingVirtualServiceFromTheLiveWorld) {
  adapters::certificate_request req;
  req.dns_names = {"localhost"};
  req.ip_addresses = {"127.0.0.1"};
  auto bundle = adapters::generate_serving_certificate(req);
  ASSERT_TRUE(bundle) << describe(bundle.error());
  auto o = options();
  o.webhook_listen = "127.0.0.1:0";
  o.webhook_cert_file = dir_.write("tls.crt", bundle->cert_pem).string();
  o.webhook_key_file = dir_.write("tls.key", bundle->key_pem).string();
  start(o);
  ASSERT_GT(cp_->webhook_port(), 0);

  auto review = [&](const json& object) {
    json r = {{"apiVersion", "admission.k8s.io/v1"},
              {"kind", "AdmissionReview"},
              {"request",
               {{"uid", "0d9c5f7e-1"},
                {"kind", {{"group", "gateway.solo.io"}, {"version", "v1"}, {"kind", "VirtualService"}}},
                {"resource",
                 {{"group", "gateway.solo.io"}, {"version", "v1"}, {"resource", "virtualservices"}}},
                {"namespace", "gloo-system"},
                {"name", object["metadata"]["name"]},
                {"operation", "CREATE"},
                {"userInfo", {{"username", "kubernetes-admin"}}},
                {"object", object},
                {"oldObject", nullptr},
                {"dryRun", false}}}};
    httplib::SSLClient client("localhost", cp_->webhook_port());
    client.enable_server_certificate_verification(true);
    client.set_ca_cert_store(store_of(bundle->ca_pem));
    client.set_read_timeout(30, 0);
    auto res = client.Post("/validation", r.dump(), "application/json");
    EXPECT_TRUE(res);
    return res ? json::parse(res->body, nullptr, false) : json();
  };
  // Until the first sync the webhook cannot judge; wait until it can (the live world exists).
  ASSERT_TRUE(test::fake_kube_apiserver::eventually([&] { return cp_->latest_outcome() != nullptr; }));

  auto bad = review(kube::virtual_service("thief", "greeter", "b"));
  ASSERT_TRUE(bad.contains("response")) << bad.dump();
  EXPECT_FALSE(bad["response"].value("allowed", true)) << bad.dump();
  const auto message = bad["response"]["status"].value("message", "");
  EXPECT_NE(message.find("greeter"), std::string::npos) << message;
  EXPECT_NE(message.find("domain"), std::string::npos) << message;

  auto good = review(kube::virtual_service("other", "other", "b"));
  EXPECT_TRUE(good["response"].value("allowed", false)) << good.dump();
}

TEST_F(KubernetesServeTest, WasmCacheServesArtifactBytesBySha256) {
  const std::string module = "pretend wasm module bytes";
  fake_.apply({{"apiVersion", "v1"},
               {"kind", "ConfigMap"},
               {"metadata", {{"name", "filters"}, {"namespace", "gloo-system"}}},
               {"data", {{"filter.wasm", module}}}});
  auto o = options();
  o.wasm_cache_listen = "127.0.0.1:0";
  start(o);
  ASSERT_GT(cp_->wasm_cache_port(), 0);
  httplib::Client client("127.0.0.1", cp_->wasm_cache_port());
  const auto digest = adapters::sha256_hex(module);
  std::string body;
  ASSERT_TRUE(test::fake_kube_apiserver::eventually([&] {
    auto res = client.Get("/" + digest);
    if (res && res->status == 200) {
      body = res->body;
      return true;
    }
    return false;
  }));
  EXPECT_EQ(body, module);
  auto missing = client.Get("/" + adapters::sha256_hex("something else"));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST_F(KubernetesServeTest, LeaderKeepsGlooUsageCurrent) {
  fake_.apply({{"apiVersion", "v1"},
               {"kind", "ConfigMap"},
               {"metadata", {{"name", "gloo-usage"}, {"namespace", "gloo-system"}}},
               {"data", json::object()}});
  start();
  const std::string path = "api/v1/namespaces/gloo-system/configmaps/gloo-usage";
  ASSERT_TRUE(test::fake_kube_apiserver::eventually([&] {
    auto cm = fake_.get(path);
    return cm && cm->contains("data") && (*cm)["data"].value("reportedBy", "") == "replica-a"
           && (*cm)["data"].value("proxies", "[]") != "[]";
  })) << fake_.get(path)->dump();
  auto proxies = json::parse((*fake_.get(path))["data"].value("proxies", "[]"));
  ASSERT_EQ(proxies.size(), 1u) << proxies.dump();
  EXPECT_EQ(proxies[0].value("role", ""), "gloo-system~gateway-proxy");
  EXPECT_EQ(proxies[0].value("virtualHosts", 0), 1);
  // A second VirtualService shows up in the usage data.
  fake_.apply(kube::virtual_service("other", "other", "b"));
  ASSERT_TRUE(test::fake_kube_apiserver::eventually([&] {
    auto p = json::parse((*fake_.get(path))["data"].value("proxies", "[]"), nullptr, false);
    return p.is_array() && p.size() == 1 && p[0].value("virtualHosts", 0) == 2;
  })) << fake_.get(path)->dump();
}

json service(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec",
           {{"selector", {{"app", name}}},
            {"ports", json::array({{{"name", "http"}, {"port", 8080}, {"targetPort", 8080}}})}}}};
}

json endpoint_slice(const std::string& service_name, const std::vector<std::string>& ips) {
  json endpoints = json::array();
  for (const auto& ip : ips) {
    endpoints.push_back({{"addresses", json::array({ip})}, {"conditions", {{"ready", true}}}});
  }
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata",
           {{"name", service_name + "-x1"},
            {"namespace", "default"},
            {"labels", {{"kubernetes.io/service-name", service_name}}}}},
          {"addressType", "IPv4"},
          {"endpoints", endpoints},
          {"ports", json::array({{{"name", "http"}, {"port", 8080}}})}};
}

/// Addresses in the held load assignments of `cluster` (its EDS service name is the cluster
/// name with a content suffix, as Gloo names them), sorted.
std::vector<std::string> addresses_of(const scripted_xds_client::state& s,
                                      const std::string& cluster) {
  std::vector<std::string> out;
  auto it = s.held.find(std::string(eds));
  if (it == s.held.end()) {
    return out;
  }
  for (const auto& [name, any] : it->second) {
    if (name != cluster && name.rfind(cluster + "-", 0) != 0) {
      continue;
    }
    envoy::config::endpoint::v3::ClusterLoadAssignment cla;
    if (!any.UnpackTo(&cla)) {
      continue;
    }
    for (const auto& le : cla.endpoints()) {
      for (const auto& e : le.lb_endpoints()) {
        out.push_back(e.endpoint().address().socket_address().address());
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST_F(KubernetesServeTest, KubeDestinationGetsEndpointsAndSliceChurnTouchesEdsOnly) {
  fake_.apply(service("pets"));
  fake_.apply(endpoint_slice("pets", {"10.0.0.1"}));
  json vs = kube::virtual_service("pets", "pets", "unused");
  vs["spec"]["virtualHost"]["routes"][0]["routeAction"]["single"] =
      json{{"kube", {{"ref", {{"name", "pets"}, {"namespace", "default"}}}, {"port", 8080}}}};
  fake_.apply(vs);
  start();
  auto& c = envoy_client();
  std::string cluster;
  ASSERT_TRUE(c.wait_for([&](const auto& s) {
    auto r = routes_of(s);
    cluster = r.count("pets") > 0 ? r["pets"] : "";
    return !cluster.empty() && addresses_of(s, cluster) == std::vector<std::string>{"10.0.0.1"};
  })) << ::testing::PrintToString(routes_of(c.current())) << " endpoints held for: "
         << ::testing::PrintToString(c.current().names(eds));
  EXPECT_NE(cluster.find("kube-svc:default-pets-8080"), std::string::npos) << cluster;
  // The in-memory upstream passed validation: nothing was rejected at ingest.
  auto status = kube::status_of(fake_.get(kube::vs_path("pets")));
  ASSERT_TRUE(test::fake_kube_apiserver::eventually([&] {
    status = kube::status_of(fake_.get(kube::vs_path("pets")));
    return status.value("state", "") == "Accepted";
  })) << status.dump();

  auto before = c.current();
  fake_.apply(endpoint_slice("pets", {"10.0.0.1", "10.0.0.2"}));
  ASSERT_TRUE(c.wait_for([&](const auto& s) {
    return addresses_of(s, cluster) == std::vector<std::string>{"10.0.0.1", "10.0.0.2"};
  }));
  auto after = c.current();
  EXPECT_EQ(after.count(cds), before.count(cds)) << "endpoint churn must not resend clusters";
  EXPECT_EQ(after.count(lds), before.count(lds));
  EXPECT_EQ(after.count(rds), before.count(rds));
  EXPECT_GT(after.count(eds), before.count(eds));
}

}  // namespace
}  // namespace sluice::actors
