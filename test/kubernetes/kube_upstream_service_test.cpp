// Services are in the world: a kube Upstream whose Service is missing is Rejected, with a reason
// naming the Service and its namespace, and has no cluster (Gloo's kubernetes plugin). A new such
// Upstream waits, withdrawn, until its Service appears; an edit that names a missing Service is
// refused and the previous form keeps serving; deleting a Service leaves its Upstream Rejected
// without a cluster, the other clusters untouched; a restart reproduces all of it. End to end, in
// process, against test/support/fake_kube_apiserver, with a scripted Envoy-like xDS client
// reading CDS and EDS, and statuses read back from the fake as the status writer writes them.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "model/world.hpp"
#include "test/kubernetes/in_process_plane.hpp"

namespace sluice::test::kube {
namespace {

using json = nlohmann::json;
using cluster_v3 = envoy::config::cluster::v3::Cluster;

const std::string web_cluster = xds::cluster_name("web", "apps");

json service(const std::string& ns, const std::string& name, int port,
             const std::string& cluster_ip = "") {
  json spec{{"selector", {{"app", name}}},
            {"ports", json::array({{{"name", "http"}, {"port", port}, {"protocol", "TCP"}}})}};
  if (!cluster_ip.empty()) {
    spec["type"] = "ClusterIP";
    spec["clusterIP"] = cluster_ip;
  }
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", spec}};
}

std::string service_path(const std::string& ns, const std::string& name) {
  return "api/v1/namespaces/" + ns + "/services/" + name;
}

json endpoint_slice(const std::string& ns, const std::string& service_name,
                    const std::string& address, int port) {
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata",
           {{"name", service_name + "-abc"},
            {"namespace", ns},
            {"labels", {{"kubernetes.io/service-name", service_name}}}}},
          {"addressType", "IPv4"},
          {"ports", json::array({{{"name", "http"}, {"port", port}}})},
          {"endpoints", json::array({{{"addresses", json::array({address})}}})}};
}

/// apps/web, a kube Upstream of `service_name` port 80 in its own namespace (serviceNamespace
/// left empty, as users write it); `connect_timeout` makes one form's cluster tell from another.
json web_upstream(const std::string& service_name, const std::string& connect_timeout = "1s") {
  return {{"apiVersion", "gloo.solo.io/v1"},
          {"kind", "Upstream"},
          {"metadata", {{"name", "web"}, {"namespace", "apps"}}},
          {"spec",
           {{"kube", {{"serviceName", service_name}, {"servicePort", 80}}},
            {"connectionConfig", {{"connectTimeout", connect_timeout}}}}}};
}

std::string upstream_path(const std::string& ns, const std::string& name) {
  return "apis/gloo.solo.io/v1/namespaces/" + ns + "/upstreams/" + name;
}

std::string missing_reason(const std::string& service_name) {
  return "references the service '" + service_name + "' which does not exist in namespace 'apps'";
}

/// Every cluster the client holds, serialized (deterministically) by name.
std::map<std::string, std::string> clusters(const scripted_xds_client::state& s) {
  std::map<std::string, std::string> out;
  auto it = s.held.find(std::string(xds::cluster_type));
  if (it == s.held.end()) {
    return out;
  }
  for (const auto& [name, any] : it->second) {
    cluster_v3 c;
    if (any.UnpackTo(&c)) {
      std::string bytes;
      google::protobuf::io::StringOutputStream stream(&bytes);
      google::protobuf::io::CodedOutputStream coded(&stream);
      coded.SetSerializationDeterministic(true);
      c.SerializeToCodedStream(&coded);
      coded.Trim();
      out[name] = bytes;
    }
  }
  return out;
}

std::optional<cluster_v3> cluster(const scripted_xds_client::state& s, const std::string& name) {
  auto it = s.held.find(std::string(xds::cluster_type));
  if (it == s.held.end()) {
    return std::nullopt;
  }
  auto c = it->second.find(name);
  cluster_v3 out;
  if (c == it->second.end() || !c->second.UnpackTo(&out)) {
    return std::nullopt;
  }
  return out;
}

/// The connect timeout of a held cluster in whole seconds; -1 when the cluster is not held.
int64_t connect_timeout_of(const scripted_xds_client::state& s, const std::string& name) {
  auto c = cluster(s, name);
  return c ? c->connect_timeout().seconds() : -1;
}

/// Whether any CDS response the client ever received held `name`.
bool ever_served(const scripted_xds_client::state& s, const std::string& name) {
  for (const auto* r : s.of(xds::cluster_type)) {
    for (const auto& any : r->response.resources()) {
      cluster_v3 c;
      if (any.UnpackTo(&c) && c.name() == name) {
        return true;
      }
    }
  }
  return false;
}

/// Clusters of apps/web and of what discovery derives from the web Service (the discovered
/// `apps-web-80` Upstream, the in-memory `kube-svc:apps-web-80` one).
bool web_derived(const std::string& cluster_name) {
  return cluster_name == web_cluster || cluster_name.find("apps-web-80") != std::string::npos;
}

bool nothing_of_web(const scripted_xds_client::state& s) {
  for (const auto& name : s.names(xds::cluster_type)) {
    if (web_derived(name)) {
      return false;
    }
  }
  return true;
}

std::string names_text(const scripted_xds_client::state& s) {
  return ::testing::PrintToString(s.names(xds::cluster_type));
}

class KubeUpstreamServiceTest : public in_process_plane {
 protected:
  // Another Service in apps (so the world holds Services and kube Upstreams are checked), a
  // static Upstream, and a route to it, so the gateway-proxy has a Proxy and every Upstream a
  // cluster.
  KubeUpstreamServiceTest() {
    fake_.apply(service("apps", "other", 8080));
    fake_.apply(upstream("static-a", 50091));
    fake_.apply(virtual_service("greeter", "greeter", "static-a"));
  }

  json status(const std::string& ns, const std::string& name) const {
    return status_of(fake_.get(upstream_path(ns, name)));
  }
  json web_status() const { return status("apps", "web"); }
  bool web_is(const std::string& state) const { return web_status().value("state", "") == state; }
  std::string web_reason() const { return web_status().value("reason", ""); }

  /// A spec edit as a real API server applies it: the status subresource is kept (the fake's
  /// apply() replaces the whole object, status included).
  void edit(json object) {
    const auto current
        = fake_.get(upstream_path(object["metadata"]["namespace"], object["metadata"]["name"]));
    if (current && current->contains("status")) {
      object["status"] = (*current)["status"];
    }
    fake_.apply(std::move(object));
  }

  /// Takes the written status off apps/web (while sluice is stopped), so that whatever it shows
  /// after a restart was written after the restart.
  void clear_web_status() {
    auto current = fake_.get(upstream_path("apps", "web"));
    ASSERT_TRUE(current);
    current->erase("status");
    fake_.apply(*current);
    ASSERT_TRUE(web_status().empty());
  }

  /// A new static Upstream whose cluster the client must see: everything changed before it has
  /// been translated and served by then.
  void served_after(scripted_xds_client& c, const std::string& marker, int port) {
    fake_.apply(upstream(marker, port));
    ASSERT_TRUE(c.wait_for([&](const auto& s) { return has_cluster(s, marker, "gloo-system"); }))
        << names_text(c.current());
  }

  /// Service apps/web (endpoint 10.0.0.7), the kube Upstream apps/web naming it (connect
  /// timeout 1s), and sluice started.
  void start_with_web() {
    fake_.apply(service("apps", "web", 80));
    fake_.apply(endpoint_slice("apps", "web", "10.0.0.7", 80));
    fake_.apply(web_upstream("web"));
    start();
  }

  /// Waits until apps/web is Accepted and its cluster is served with `timeout_seconds` and the
  /// endpoint `address`.
  void web_serving(scripted_xds_client& c, int64_t timeout_seconds, const std::string& address) {
    ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return web_is("Accepted"); }))
        << web_status().dump();
    ASSERT_TRUE(c.wait_for([&](const auto& s) {
      return connect_timeout_of(s, web_cluster) == timeout_seconds
             && addresses(s, web_cluster) == std::vector<std::string>{address};
    })) << names_text(c.current())
        << " endpoints: " << ::testing::PrintToString(addresses(c.current(), web_cluster));
  }

  /// Until apps/web is written Rejected with a reason containing every part.
  void web_rejected_with(const std::vector<std::string>& parts) {
    ASSERT_TRUE(fake_kube_apiserver::eventually([&] {
      if (!web_is("Rejected")) {
        return false;
      }
      const auto reason = web_reason();
      for (const auto& p : parts) {
        if (reason.find(p) == std::string::npos) {
          return false;
        }
      }
      return true;
    })) << web_status().dump();
  }
};

// a, b, c: a new Upstream whose Service does not exist is Rejected and never served; the Service
// appearing admits it (the world actor retries it) with its endpoints; the Service going away
// takes the cluster and leaves the Upstream Rejected, every other cluster as it was.
TEST_F(KubeUpstreamServiceTest, UpstreamFollowsItsServiceComingAndGoing) {
  start();
  auto& c = envoy_client();
  ASSERT_TRUE(c.wait_for([&](const auto& s) { return has_cluster(s, "static-a", "gloo-system"); }))
      << names_text(c.current());

  // a. The Service does not exist (while another one does).
  fake_.apply(web_upstream("web"));
  ASSERT_NO_FATAL_FAILURE(web_rejected_with({missing_reason("web"), "no cluster is built"}));
  EXPECT_NE(web_reason().find("no form of it was ever accepted"), std::string::npos)
      << web_reason();
  ASSERT_NO_FATAL_FAILURE(served_after(c, "marker-a", 50092));
  EXPECT_FALSE(ever_served(c.current(), web_cluster)) << names_text(c.current());

  // b. The Service and its endpoints appear: the withdrawn Upstream is admitted.
  fake_.apply(service("apps", "web", 80));
  fake_.apply(endpoint_slice("apps", "web", "10.0.0.7", 80));
  ASSERT_NO_FATAL_FAILURE(web_serving(c, 1, "10.0.0.7"));
  EXPECT_EQ(web_reason(), "") << web_status().dump();
  // Everything derived from the web Service (discovered and kube-svc: upstreams) is served too,
  // so what is left after the deletion below can be compared with what was there.
  ASSERT_TRUE(c.wait_for([&](const auto& s) {
    return has_cluster(s, "apps-web-80", "gloo-system")
           && has_cluster(s, "apps-other-8080", "gloo-system");
  })) << names_text(c.current());
  auto before = clusters(c.current());

  // c. The Service goes away: web stays in the world, Rejected, without a cluster.
  ASSERT_TRUE(fake_.remove(service_path("apps", "web")));
  ASSERT_NO_FATAL_FAILURE(web_rejected_with({missing_reason("web")}));
  ASSERT_TRUE(c.wait_for(nothing_of_web)) << names_text(c.current());
  auto expected = before;
  std::erase_if(expected, [&](const auto& entry) { return web_derived(entry.first); });
  ASSERT_GE(expected.size(), 3u) << "static-a, marker-a and the other Service's clusters";
  EXPECT_EQ(clusters(c.current()), expected)
      << "other clusters unchanged: " << names_text(c.current());
  auto outcome = cp_->latest_outcome();
  ASSERT_TRUE(outcome && outcome->world);
  EXPECT_NE(outcome->world->find(model::resource_kind::upstream, "apps", "web"), nullptr)
      << "the Upstream stays in the world; its Service went, not it";
  EXPECT_TRUE(c.current().violations.empty()) << ::testing::PrintToString(c.current().violations);
}

// d: an edit of an Accepted Upstream to a Service that does not exist is refused, the previous
// form keeps serving (its cluster content and its Service's endpoints: translation finds a kube
// Upstream's endpoints through the Service port its served form names); the Service appearing
// admits the edit.
TEST_F(KubeUpstreamServiceTest, EditNamingAMissingServiceIsRefusedUntilItExists) {
  start_with_web();
  auto& c = envoy_client();
  ASSERT_NO_FATAL_FAILURE(web_serving(c, 1, "10.0.0.7"));

  edit(web_upstream("api", "7s"));
  ASSERT_NO_FATAL_FAILURE(
      web_rejected_with({missing_reason("api"), "translation refused the change",
                         "the last accepted form keeps serving"}));
  ASSERT_NO_FATAL_FAILURE(served_after(c, "marker-d", 50093));
  const auto held = c.current();
  EXPECT_EQ(connect_timeout_of(held, web_cluster), 1) << "the previous form's cluster";
  EXPECT_EQ(addresses(held, web_cluster), std::vector<std::string>{"10.0.0.7"})
      << "the previous form's endpoints";
  for (const auto* r : held.of(xds::cluster_type)) {
    for (const auto& any : r->response.resources()) {
      cluster_v3 cl;
      if (any.UnpackTo(&cl) && cl.name() == web_cluster) {
        EXPECT_EQ(cl.connect_timeout().seconds(), 1) << "the refused form was never served";
      }
    }
  }

  // Fixed by the Service appearing: the edit is admitted, with the new Service's endpoints.
  fake_.apply(service("apps", "api", 80));
  fake_.apply(endpoint_slice("apps", "api", "10.0.0.9", 80));
  ASSERT_NO_FATAL_FAILURE(web_serving(c, 7, "10.0.0.9"));
  EXPECT_EQ(web_reason(), "") << web_status().dump();
  EXPECT_TRUE(c.current().violations.empty()) << ::testing::PrintToString(c.current().violations);
}

// e (state c): after the Service was deleted, a restart on the same data directory writes the
// same Rejected status again and serves the same clusters.
TEST_F(KubeUpstreamServiceTest, RestartAfterTheServiceWentKeepsItRejected) {
  start_with_web();
  auto& c = envoy_client();
  ASSERT_NO_FATAL_FAILURE(web_serving(c, 1, "10.0.0.7"));
  ASSERT_TRUE(fake_.remove(service_path("apps", "web")));
  ASSERT_NO_FATAL_FAILURE(web_rejected_with({missing_reason("web")}));
  ASSERT_TRUE(c.wait_for(nothing_of_web)) << names_text(c.current());
  ASSERT_NO_FATAL_FAILURE(served_after(c, "marker-e", 50094));
  const auto served = clusters(c.current());
  const auto reason = web_reason();
  stop();

  ASSERT_NO_FATAL_FAILURE(clear_web_status());
  start();
  auto& again = envoy_client();
  ASSERT_NO_FATAL_FAILURE(web_rejected_with({missing_reason("web")}));
  EXPECT_EQ(web_reason(), reason);
  // Served only once synced: the first clusters are the whole configuration.
  ASSERT_TRUE(again.wait_for([&](const auto& s) { return !clusters(s).empty(); }));
  EXPECT_EQ(clusters(again.current()), served) << names_text(again.current());
  EXPECT_FALSE(ever_served(again.current(), web_cluster));
}

// e (state d): a refused edit stays refused across a restart (the previous form serving, the
// status Rejected), and is still admitted once its Service appears.
TEST_F(KubeUpstreamServiceTest, RestartKeepsARefusedEditRefusedUntilItsServiceExists) {
  start_with_web();
  auto& c = envoy_client();
  ASSERT_NO_FATAL_FAILURE(web_serving(c, 1, "10.0.0.7"));
  edit(web_upstream("api", "7s"));
  ASSERT_NO_FATAL_FAILURE(web_rejected_with({missing_reason("api"), "translation refused"}));
  ASSERT_NO_FATAL_FAILURE(served_after(c, "marker-e", 50094));
  const auto served = clusters(c.current());
  const auto reason = web_reason();
  stop();

  ASSERT_NO_FATAL_FAILURE(clear_web_status());
  start();
  auto& again = envoy_client();
  ASSERT_NO_FATAL_FAILURE(web_rejected_with({missing_reason("api"), "translation refused"}));
  EXPECT_EQ(web_reason(), reason);
  ASSERT_TRUE(again.wait_for([&](const auto& s) { return !clusters(s).empty(); }));
  EXPECT_EQ(clusters(again.current()), served) << names_text(again.current());
  EXPECT_EQ(connect_timeout_of(again.current(), web_cluster), 1) << "the previous form";
  // EDS follows CDS: the client asks for the cluster's endpoints once it holds the cluster.
  EXPECT_TRUE(again.wait_for([&](const auto& s) {
    return addresses(s, web_cluster) == std::vector<std::string>{"10.0.0.7"};
  })) << "the previous form's endpoints, after the restart too: "
      << ::testing::PrintToString(addresses(again.current(), web_cluster));

  fake_.apply(service("apps", "api", 80));
  fake_.apply(endpoint_slice("apps", "api", "10.0.0.9", 80));
  ASSERT_NO_FATAL_FAILURE(web_serving(again, 7, "10.0.0.9"));
}

// e (variant): the Service deleted while sluice was down. Discovery lists Services afresh, so the
// one that vanished is removed from the world after the restart, and its Upstream is Rejected.
TEST_F(KubeUpstreamServiceTest, ServiceDeletedWhileDownIsMissingAfterRestart) {
  start_with_web();
  {
    auto& c = envoy_client();
    ASSERT_NO_FATAL_FAILURE(web_serving(c, 1, "10.0.0.7"));
  }
  stop();

  ASSERT_TRUE(fake_.remove(service_path("apps", "web")));
  start();
  auto& c = envoy_client();
  ASSERT_NO_FATAL_FAILURE(web_rejected_with({missing_reason("web")}));
  ASSERT_NO_FATAL_FAILURE(served_after(c, "marker-e", 50094));
  EXPECT_FALSE(has_cluster(c.current(), "web", "apps")) << names_text(c.current());
  EXPECT_TRUE(has_cluster(c.current(), "static-a", "gloo-system")) << names_text(c.current());
}

// A restart with discovery off: the Services (and discovery's Endpoints) an earlier run logged
// are swept, not kept stale, so kube Upstreams are no longer checked against them.
TEST_F(KubeUpstreamServiceTest, RestartWithDiscoveryOffSweepsTheLoggedServices) {
  fake_.apply(web_upstream("nope"));
  start();
  {
    auto& c = envoy_client();
    ASSERT_NO_FATAL_FAILURE(web_rejected_with({missing_reason("nope")}));
    ASSERT_NO_FATAL_FAILURE(served_after(c, "marker-f", 50095));
  }
  stop();

  auto o = options();
  o.kube.discovery = false;
  start(o);
  auto& c = envoy_client();
  ASSERT_TRUE(c.wait_for([](const auto& s) { return has_cluster(s, "web", "apps"); }))
      << "without Services the kube Upstream is not checked: " << names_text(c.current());
  auto outcome = cp_->latest_outcome();
  ASSERT_TRUE(outcome && outcome->world);
  EXPECT_TRUE(outcome->world->of(model::resource_kind::service).empty())
      << "the Services of the earlier run stayed in the world";
}

/// Runs `sluice get <args> --data-dir <data>` (the real binary); returns stdout and the exit code.
std::pair<std::string, int> sluice_get(const std::string& args, const std::string& data) {
  const std::string command
      = "'" SLUICE_BINARY_DIR "/sluice' get " + args + " --data-dir '" + data + "' 2>&1";
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    return {"cannot run " + command, -1};
  }
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) {
    out.append(buffer, n);
  }
  const int status = pclose(pipe);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

/// The line of a table whose second cell (NAME) is `name`; "" when none.
std::string row(const std::string& table, const std::string& name) {
  std::istringstream in(table);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream cells(line);
    std::string ns;
    std::string n;
    cells >> ns >> n;
    if (n == name) {
      return line;
    }
  }
  return "";
}

// f: the Services discovery logged are listed by `sluice get svc` from the data directory, with
// kubectl's TYPE, CLUSTER-IP and PORT(S) columns.
TEST_F(KubeUpstreamServiceTest, GetSvcListsTheLoggedServices) {
  fake_.apply(service("apps", "web", 80, "10.96.0.10"));
  json edge = service("apps", "edge", 443);
  edge["spec"]["type"] = "NodePort";
  edge["spec"]["clusterIP"] = "10.96.0.11";
  edge["spec"]["ports"][0]["nodePort"] = 30443;
  fake_.apply(edge);
  start();
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] {
    auto o = cp_->latest_outcome();
    return o && o->world && o->world->find(model::resource_kind::service, "apps", "web") != nullptr
           && o->world->find(model::resource_kind::service, "apps", "edge") != nullptr;
  }));
  stop();

  auto [out, code] = sluice_get("svc", (dir_.path() / "data").string());
  ASSERT_EQ(code, 0) << out;
  const auto header = out.substr(0, out.find('\n'));
  for (const char* column : {"NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "PORTS"}) {
    EXPECT_NE(header.find(column), std::string::npos) << header;
  }
  const auto web = row(out, "web");
  EXPECT_NE(web.find("ClusterIP"), std::string::npos) << out;
  EXPECT_NE(web.find("10.96.0.10"), std::string::npos) << out;
  EXPECT_NE(web.find("80/TCP"), std::string::npos) << out;
  const auto edge_row = row(out, "edge");
  EXPECT_NE(edge_row.find("NodePort"), std::string::npos) << out;
  EXPECT_NE(edge_row.find("443:30443/TCP"), std::string::npos) << out;
  // The third Service (apps/other, no type or cluster IP) shows kubectl's defaults.
  const auto other = row(out, "other");
  EXPECT_NE(other.find("ClusterIP"), std::string::npos) << out;
  EXPECT_NE(other.find("8080/TCP"), std::string::npos) << out;
}

}  // namespace
}  // namespace sluice::test::kube
