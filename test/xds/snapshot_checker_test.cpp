#include "xds/snapshot_checker.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb.h"
#include "envoy/extensions/transport_sockets/tls/v3/secret.pb.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb.h"
#include "xds/envoy_common.hpp"
#include "xds/envoy_listeners.hpp"

namespace sluice::xds {
namespace {

namespace listener_v3 = envoy::config::listener::v3;
namespace route_v3 = envoy::config::route::v3;
namespace cluster_v3 = envoy::config::cluster::v3;
namespace endpoint_v3 = envoy::config::endpoint::v3;

template <class Message>
void put(snapshot& s, std::string_view type, const std::string& name, const Message& m) {
  s.types[std::string(type)].items[name] = make_resource(name, type, m);
}

listener_v3::Listener listener(const std::string& name, uint32_t port, const std::string& rds) {
  listener_v3::Listener l;
  l.set_name(name);
  l.mutable_address()->mutable_socket_address()->set_address("0.0.0.0");
  l.mutable_address()->mutable_socket_address()->set_port_value(port);
  auto* f = l.add_filter_chains()->add_filters();
  f->set_name("envoy.filters.network.http_connection_manager");
  *f->mutable_typed_config() = pack(http_connection_manager(rds, "http"));
  return l;
}

route_v3::RouteConfiguration routes(const std::string& name, const std::string& cluster) {
  route_v3::RouteConfiguration rc;
  rc.set_name(name);
  auto* vh = rc.add_virtual_hosts();
  vh->set_name("vh");
  vh->add_domains("*");
  auto* r = vh->add_routes();
  r->mutable_match()->set_prefix("/");
  r->mutable_route()->set_cluster(cluster);
  return rc;
}

cluster_v3::Cluster eds_cluster(const std::string& name) {
  cluster_v3::Cluster c;
  c.set_name(name);
  c.set_type(cluster_v3::Cluster::EDS);
  *c.mutable_eds_cluster_config()->mutable_eds_config() = ads_config_source();
  return c;
}

endpoint_v3::ClusterLoadAssignment cla(const std::string& name) {
  endpoint_v3::ClusterLoadAssignment a;
  a.set_cluster_name(name);
  return a;
}

// A small consistent snapshot the tests then break one way each.
snapshot good() {
  snapshot s;
  s.key = "test";
  put(s, listener_type, "l", listener("l", 8080, "l-routes"));
  put(s, route_type, "l-routes", routes("l-routes", "c"));
  put(s, cluster_type, "c", eds_cluster("c"));
  put(s, endpoint_type, "c", cla("c"));
  seal(s);
  return s;
}

bool mentions(const std::vector<std::string>& problems, const std::string& part) {
  return std::any_of(problems.begin(), problems.end(),
                     [&](const std::string& p) { return p.find(part) != std::string::npos; });
}

TEST(SnapshotCheckerTest, ConsistentSnapshotHasNoProblems) {
  EXPECT_EQ(check_snapshot(good()), std::vector<std::string>{});
}

TEST(SnapshotCheckerTest, CatchesADanglingClusterReference) {
  auto s = good();
  put(s, route_type, "l-routes", routes("l-routes", "nowhere"));
  auto problems = check_snapshot(s);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_TRUE(mentions(problems, "cluster nowhere does not exist"));
}

TEST(SnapshotCheckerTest, CatchesAMissingRouteConfiguration) {
  auto s = good();
  put(s, listener_type, "l", listener("l", 8080, "other-routes"));
  auto problems = check_snapshot(s);
  EXPECT_TRUE(mentions(problems, "route configuration other-routes does not exist"));
}

TEST(SnapshotCheckerTest, CatchesAnEdsClusterWithoutAssignmentAndAnOrphanAssignment) {
  auto s = good();
  put(s, endpoint_type, "orphan", cla("orphan"));
  s.types[std::string(endpoint_type)].items.erase("c");
  auto problems = check_snapshot(s);
  EXPECT_TRUE(mentions(problems, "EDS cluster has no ClusterLoadAssignment c"));
  EXPECT_TRUE(mentions(problems, "no EDS cluster uses this ClusterLoadAssignment"));
}

TEST(SnapshotCheckerTest, CatchesBadRegexesAndWeightMismatch) {
  auto s = good();
  auto rc = routes("l-routes", "c");
  auto* vh = rc.mutable_virtual_hosts(0);
  auto* bad = vh->add_routes();
  bad->mutable_match()->mutable_safe_regex()->set_regex("(unclosed");
  bad->mutable_route()->set_cluster("c");
  auto* header = vh->add_routes();
  header->mutable_match()->set_prefix("/");
  auto* h = header->mutable_match()->add_headers();
  h->set_name("x");
  h->mutable_string_match()->mutable_safe_regex()->set_regex("[z-a]");
  header->mutable_route()->set_cluster("c");
  auto* weighted = vh->add_routes();
  weighted->mutable_match()->set_prefix("/w");
  auto* wc = weighted->mutable_route()->mutable_weighted_clusters();
  auto* one = wc->add_clusters();
  one->set_name("c");
  one->mutable_weight()->set_value(3);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  wc->mutable_total_weight()->set_value(100);
#pragma GCC diagnostic pop
  put(s, route_type, "l-routes", rc);
  auto problems = check_snapshot(s);
  EXPECT_EQ(problems.size(), 3u);
  EXPECT_TRUE(mentions(problems, "(unclosed"));
  EXPECT_TRUE(mentions(problems, "[z-a]"));
  EXPECT_TRUE(mentions(problems, "total_weight 100 differs from the sum of weights 3"));
}

TEST(SnapshotCheckerTest, CatchesRouterNotLastAndDuplicateNames) {
  auto s = good();
  auto hcm = http_connection_manager("l-routes", "http");
  auto* extra = hcm.add_http_filters();
  extra->set_name("envoy.filters.http.fault");
  listener_v3::Listener l = listener("l", 8080, "l-routes");
  *l.mutable_filter_chains(0)->mutable_filters(0)->mutable_typed_config() = pack(hcm);
  put(s, listener_type, "l", l);
  put(s, listener_type, "l2", listener("l2", 8080, "l-routes"));  // same address
  auto rc = routes("l-routes", "c");
  *rc.add_virtual_hosts() = rc.virtual_hosts(0);  // same name, same domain
  put(s, route_type, "l-routes", rc);
  auto problems = check_snapshot(s);
  EXPECT_TRUE(mentions(problems, "the router must be the last HTTP filter"));
  EXPECT_TRUE(mentions(problems, "address 0.0.0.0:8080 is also used by l"));
  EXPECT_TRUE(mentions(problems, "virtual host name vh is used twice"));
  EXPECT_TRUE(mentions(problems, "domain * is in virtual hosts vh and vh"));
}

TEST(SnapshotCheckerTest, CatchesAResourceStoredUnderTheWrongName) {
  auto s = good();
  s.types[std::string(cluster_type)].items["alias"] =
      make_resource("c", cluster_type, eds_cluster("c"));
  auto problems = check_snapshot(s);
  EXPECT_TRUE(mentions(problems, "stored under a different name"));
}

TEST(SnapshotCheckerTest, CatchesMissingAndUnusedSdsSecrets) {
  auto s = good();
  namespace tls_v3 = envoy::extensions::transport_sockets::tls::v3;
  tls_v3::UpstreamTlsContext ctx;
  auto* ref = ctx.mutable_common_tls_context()->add_tls_certificate_sds_secret_configs();
  ref->set_name("missing");
  *ref->mutable_sds_config() = ads_config_source();
  auto c = eds_cluster("c");
  c.mutable_transport_socket()->set_name("envoy.transport_sockets.tls");
  *c.mutable_transport_socket()->mutable_typed_config() = pack(ctx);
  put(s, cluster_type, "c", c);
  tls_v3::Secret unused;
  unused.set_name("unused");
  put(s, secret_type, "unused", unused);
  auto problems = check_snapshot(s);
  EXPECT_TRUE(mentions(problems, "SDS secret missing does not exist"));
  EXPECT_TRUE(mentions(problems, "no listener or cluster uses this secret"));
}

TEST(SnapshotCheckerTest, CatchesDuplicateFilterChainMatchesAndEmptyListeners) {
  auto s = good();
  auto l = listener("l", 8080, "l-routes");
  *l.add_filter_chains() = l.filter_chains(0);  // same (empty) match twice
  put(s, listener_type, "l", l);
  listener_v3::Listener empty;
  empty.set_name("empty");
  empty.mutable_address()->mutable_socket_address()->set_port_value(9);
  put(s, listener_type, "empty", empty);
  auto problems = check_snapshot(s);
  EXPECT_TRUE(mentions(problems, "two filter chains have the same filter_chain_match"));
  EXPECT_TRUE(mentions(problems, "empty: listener has no filter chains"));
}

TEST(SnapshotCheckerTest, AcceptsAnEmptyTcpClusterOnlyAfterTheSniClusterFilter) {
  auto s = good();
  envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy proxy;
  proxy.set_stat_prefix("tcp");
  proxy.set_cluster("");
  listener_v3::Listener l;
  l.set_name("tcp");
  l.mutable_address()->mutable_socket_address()->set_port_value(9000);
  auto* chain = l.add_filter_chains();
  chain->mutable_filter_chain_match()->add_server_names("db.example.com");
  auto* sni = chain->add_filters();
  sni->set_name("envoy.filters.network.sni_cluster");
  sni->mutable_typed_config()->set_type_url(
      "type.googleapis.com/envoy.extensions.filters.network.sni_cluster.v3.SniCluster");
  auto* f = chain->add_filters();
  f->set_name("envoy.filters.network.tcp_proxy");
  *f->mutable_typed_config() = pack(proxy);
  put(s, listener_type, "tcp", l);
  EXPECT_EQ(check_snapshot(s), std::vector<std::string>{});
  l.mutable_filter_chains(0)->mutable_filters()->DeleteSubrange(0, 1);
  put(s, listener_type, "tcp", l);
  EXPECT_TRUE(mentions(check_snapshot(s), "tcp_proxy cluster  does not exist"));
}

}  // namespace
}  // namespace sluice::xds
