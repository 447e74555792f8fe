#include "xds/sotw_session.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <set>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "model/error.hpp"

namespace sluice::xds {
namespace {

using envoy::service::discovery::v3::DiscoveryRequest;

// ---- snapshot building with real Envoy messages ---------------------------------------------

xds_resource_ptr cluster(const std::string& name, int timeout_s = 1) {
  envoy::config::cluster::v3::Cluster c;
  c.set_name(name);
  c.set_type(envoy::config::cluster::v3::Cluster::EDS);
  c.mutable_eds_cluster_config()->mutable_eds_config()->mutable_ads();
  c.mutable_connect_timeout()->set_seconds(timeout_s);
  return make_resource(name, cluster_type, c);
}

xds_resource_ptr endpoints(const std::string& name, uint32_t port = 8080) {
  envoy::config::endpoint::v3::ClusterLoadAssignment cla;
  cla.set_cluster_name(name);
  auto* locality = cla.add_endpoints();
  locality->mutable_load_balancing_weight()->set_value(1);
  auto* address = locality->add_lb_endpoints()->mutable_endpoint()->mutable_address();
  address->mutable_socket_address()->set_address("127.0.0.1");
  address->mutable_socket_address()->set_port_value(port);
  return make_resource(name, endpoint_type, cla);
}

xds_resource_ptr listener(const std::string& name, uint32_t port = 8080) {
  envoy::config::listener::v3::Listener l;
  l.set_name(name);
  l.mutable_address()->mutable_socket_address()->set_address("0.0.0.0");
  l.mutable_address()->mutable_socket_address()->set_port_value(port);
  return make_resource(name, listener_type, l);
}

xds_resource_ptr route(const std::string& name, const std::string& to_cluster) {
  envoy::config::route::v3::RouteConfiguration rc;
  rc.set_name(name);
  auto* vh = rc.add_virtual_hosts();
  vh->set_name(name + "-vh");
  vh->add_domains("*");
  auto* r = vh->add_routes();
  r->mutable_match()->set_prefix("/");
  r->mutable_route()->set_cluster(to_cluster);
  return make_resource(name, route_type, rc);
}

snapshot_ptr make_snapshot(std::initializer_list<xds_resource_ptr> resources,
                           std::string key = "gloo-system~gateway-proxy") {
  auto snap = std::make_shared<snapshot>();
  snap->key = std::move(key);
  for (const auto& r : resources) {
    snap->types[r->type_url].items[r->name] = r;
  }
  seal(*snap);
  return snap;
}

/// The full world most tests use: two clusters with endpoints, one listener, one route.
snapshot_ptr base_snapshot() {
  return make_snapshot({cluster("a"), cluster("b"), endpoints("a"), endpoints("b"),
                        listener("http"), route("http-routes", "a")});
}

// ---- requests ---------------------------------------------------------------------------------

DiscoveryRequest request(std::string_view type, std::vector<std::string> names = {},
                         std::string nonce = {}, std::string version = {}) {
  DiscoveryRequest r;
  r.set_type_url(std::string(type));
  for (auto& n : names) r.add_resource_names(std::move(n));
  r.set_response_nonce(std::move(nonce));
  r.set_version_info(std::move(version));
  return r;
}

DiscoveryRequest with_node(DiscoveryRequest r, std::string role = "gloo-system~gateway-proxy",
                           std::string user_agent = "envoy") {
  r.mutable_node()->set_id("node-1");
  r.mutable_node()->set_user_agent_name(std::move(user_agent));
  if (!role.empty()) {
    (*r.mutable_node()->mutable_metadata()->mutable_fields())["role"].set_string_value(role);
  }
  return r;
}

DiscoveryRequest nack(std::string_view type, std::string nonce, std::string message,
                      std::vector<std::string> names = {}) {
  auto r = request(type, std::move(names), std::move(nonce));
  r.mutable_error_detail()->set_code(3);
  r.mutable_error_detail()->set_message(std::move(message));
  return r;
}

std::set<std::string> names_of(const sotw_response& r) {
  std::set<std::string> out;
  for (const auto& res : r.resources) out.insert(res->name);
  return out;
}

/// Applies a request that the test expects to be accepted.
request_outcome apply(sotw_session& s, const DiscoveryRequest& r) {
  auto out = s.on_request(r);
  EXPECT_TRUE(out) << (out ? "" : describe(out.error()));
  return out ? *out : request_outcome{};
}

/// A session with an open gate and the base snapshot, as most tests want.
sotw_session ready_session(snapshot_ptr snap = base_snapshot()) {
  sotw_session s(sotw_session_options{.nonce_prefix = "t."});
  s.set_snapshot(std::move(snap));
  s.open_gate();
  return s;
}

/// Drains every response the session wants to send now.
std::vector<sotw_response> drain(sotw_session& s) {
  std::vector<sotw_response> out;
  while (auto r = s.next_response()) out.push_back(std::move(*r));
  return out;
}

// ---- first request ----------------------------------------------------------------------------

TEST(SotwSessionTest, FirstRequestGetsCurrentResources) {
  auto snap = base_snapshot();
  auto s = ready_session(snap);
  apply(s, with_node(request(cluster_type)));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type_url, cluster_type);
  EXPECT_EQ(names_of(out[0]), (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(out[0].version, snap->of(cluster_type).version);
  EXPECT_FALSE(out[0].nonce.empty());
  EXPECT_EQ(s.key(), "gloo-system~gateway-proxy");
}

TEST(SotwSessionTest, NothingIsSentBeforeASnapshotExists) {
  sotw_session s(sotw_session_options{.nonce_prefix = "t."});
  s.open_gate();
  apply(s, with_node(request(cluster_type)));
  EXPECT_FALSE(s.next_response());
  s.set_snapshot(base_snapshot());
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(names_of(out[0]), (std::set<std::string>{"a", "b"}));
}

TEST(SotwSessionTest, ClosedGateHoldsRequestsUntilOpened) {
  sotw_session s(sotw_session_options{.nonce_prefix = "t."});
  s.set_snapshot(base_snapshot());
  apply(s, with_node(request(listener_type)));
  apply(s, request(cluster_type));
  apply(s, request(endpoint_type, {"a"}));
  EXPECT_FALSE(s.next_response());
  s.open_gate();
  auto out = drain(s);
  ASSERT_EQ(out.size(), 3u);
  // Held subscriptions are answered in push order, not request order.
  EXPECT_EQ(out[0].type_url, cluster_type);
  EXPECT_EQ(out[1].type_url, endpoint_type);
  EXPECT_EQ(out[2].type_url, listener_type);
}

TEST(SotwSessionTest, NamedSubscriptionGetsOnlyRequestedNames) {
  auto snap = base_snapshot();
  auto s = ready_session(snap);
  apply(s, with_node(request(endpoint_type, {"b"})));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(names_of(out[0]), std::set<std::string>{"b"});
  // A version over just what this subscription covers, not the type's version.
  EXPECT_NE(out[0].version, snap->of(endpoint_type).version);
  EXPECT_FALSE(out[0].version.empty());
}

TEST(SotwSessionTest, NamedClustersLikeGrpcGetOnlyThoseNames) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type, {"a"}), "", "gRPC C-core linux"));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(names_of(out[0]), std::set<std::string>{"a"});
  EXPECT_EQ(s.key(), proxyless_key);
}

TEST(SotwSessionTest, MissingNameIsSentWhenItAppears) {
  auto s = ready_session();
  apply(s, with_node(request(endpoint_type, {"a", "c"})));
  auto first = drain(s);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(names_of(first[0]), std::set<std::string>{"a"});
  apply(s, request(endpoint_type, {"a", "c"}, first[0].nonce, first[0].version));
  EXPECT_FALSE(s.next_response());

  s.set_snapshot(make_snapshot(
      {cluster("a"), cluster("b"), cluster("c"), endpoints("a"), endpoints("b"), endpoints("c")}));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type_url, endpoint_type);
  EXPECT_EQ(names_of(out[0]), std::set<std::string>{"c"});
}

TEST(SotwSessionTest, NamedEndpointsWithNothingExistingGetNoResponse) {
  auto s = ready_session();
  apply(s, with_node(request(endpoint_type, {"nope"})));
  EXPECT_FALSE(s.next_response());
}

TEST(SotwSessionTest, ListenersAndClustersWithoutNamesAreWildcard) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type)));
  auto first = drain(s);
  ASSERT_EQ(first.size(), 1u);
  // Envoy ACKs a wildcard subscription with an empty list: still wildcard.
  apply(s, request(cluster_type, {}, first[0].nonce, first[0].version));
  EXPECT_EQ(s.subscription(cluster_type), std::vector<std::string>{"*"});
  s.set_snapshot(make_snapshot({cluster("a"), cluster("b"), cluster("new")}));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(names_of(out[0]), (std::set<std::string>{"a", "b", "new"}));
}

TEST(SotwSessionTest, EndpointsWithoutNamesAreNotWildcard) {
  auto s = ready_session();
  apply(s, with_node(request(endpoint_type)));
  EXPECT_FALSE(s.next_response());
  EXPECT_TRUE(s.subscription(endpoint_type).empty());
}

TEST(SotwSessionTest, StarIsExplicitWildcard) {
  auto s = ready_session();
  apply(s, with_node(request(endpoint_type, {"*"})));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(names_of(out[0]), (std::set<std::string>{"a", "b"}));
}

TEST(SotwSessionTest, EmptyListAfterNamesUnsubscribesAll) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type, {"a"})));
  auto first = drain(s);
  ASSERT_EQ(first.size(), 1u);
  auto outcome = apply(s, request(cluster_type, {}, first[0].nonce, first[0].version));
  EXPECT_TRUE(outcome.subscription_changed);
  EXPECT_TRUE(s.subscription(cluster_type).empty());
  // Not wildcard: nothing is sent now, nor when clusters change.
  EXPECT_FALSE(s.next_response());
  s.set_snapshot(make_snapshot({cluster("a", 5), cluster("b", 5), cluster("c")}));
  EXPECT_FALSE(s.next_response());
}

// ---- versions and nonces ----------------------------------------------------------------------

TEST(SotwSessionTest, EveryResponseHasAFreshNonce) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type)));
  apply(s, request(listener_type));
  apply(s, request(endpoint_type, {"a", "b"}));
  apply(s, request(route_type, {"http-routes"}));
  std::set<std::string> nonces;
  for (const auto& r : drain(s)) nonces.insert(r.nonce);
  s.set_snapshot(make_snapshot({cluster("a", 2), cluster("b"), endpoints("a", 9), endpoints("b"),
                                listener("http", 81), route("http-routes", "b")}));
  auto pushed = drain(s);
  EXPECT_EQ(pushed.size(), 4u);
  for (const auto& r : pushed) nonces.insert(r.nonce);
  EXPECT_EQ(nonces.size(), 8u);
  EXPECT_EQ(s.last_nonce(route_type), pushed.back().nonce);
}

TEST(SotwSessionTest, NoncesOfDifferentStreamsDiffer) {
  sotw_session one(sotw_session_options{.nonce_prefix = "e.1."});
  sotw_session two(sotw_session_options{.nonce_prefix = "e.2."});
  for (auto* s : {&one, &two}) {
    s->set_snapshot(base_snapshot());
    s->open_gate();
    apply(*s, with_node(request(cluster_type)));
  }
  EXPECT_NE(one.next_response()->nonce, two.next_response()->nonce);
}

TEST(SotwSessionTest, SubscriptionChangeYieldsDistinctVersion) {
  auto s = ready_session();
  apply(s, with_node(request(endpoint_type, {"a"})));
  auto first = drain(s);
  ASSERT_EQ(first.size(), 1u);
  apply(s, request(endpoint_type, {"a", "b"}, first[0].nonce, first[0].version));
  auto second = drain(s);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_NE(first[0].version, second[0].version);
  // Only the newly subscribed resource is new to the client.
  EXPECT_EQ(names_of(second[0]), std::set<std::string>{"b"});
}

// ---- ACK / NACK / stale -----------------------------------------------------------------------

TEST(SotwSessionTest, AckIsReportedAsClientResponse) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type)));
  auto first = drain(s);
  ASSERT_EQ(first.size(), 1u);
  auto outcome = apply(s, request(cluster_type, {}, first[0].nonce, first[0].version));
  EXPECT_EQ(outcome.kind, request_kind::ack);
  ASSERT_TRUE(outcome.response);
  EXPECT_FALSE(outcome.response->nack);
  EXPECT_EQ(outcome.response->version, first[0].version);
  EXPECT_EQ(outcome.response->nonce, first[0].nonce);
  EXPECT_EQ(outcome.response->node_id, "node-1");
  EXPECT_EQ(outcome.response->key, "gloo-system~gateway-proxy");
  EXPECT_EQ(outcome.response->type_url, cluster_type);
  EXPECT_FALSE(s.next_response());
}

TEST(SotwSessionTest, NackIsRecordedAndNotAnsweredWithResend) {
  auto snap = base_snapshot();
  auto s = ready_session(snap);
  apply(s, with_node(request(cluster_type)));
  auto first = drain(s);
  ASSERT_EQ(first.size(), 1u);
  auto outcome = apply(s, nack(cluster_type, first[0].nonce, "unknown discovery type"));
  EXPECT_EQ(outcome.kind, request_kind::nack);
  ASSERT_TRUE(outcome.response);
  EXPECT_TRUE(outcome.response->nack);
  EXPECT_EQ(outcome.response->error_message, "unknown discovery type");
  EXPECT_FALSE(s.next_response());
  // The same content published again (a new snapshot object) is still not resent.
  s.set_snapshot(base_snapshot());
  EXPECT_FALSE(s.next_response());
  // Neither is a change elsewhere in the snapshot.
  s.set_snapshot(make_snapshot({cluster("a"), cluster("b"), endpoints("a", 1), endpoints("b"),
                                listener("http"), route("http-routes", "a")}));
  EXPECT_FALSE(s.next_response());
}

TEST(SotwSessionTest, NackedTypeIsSentAgainWhenItsContentChanges) {
  auto s = ready_session();
  apply(s, with_node(request(endpoint_type, {"a", "b"})));
  auto first = drain(s);
  ASSERT_EQ(first.size(), 1u);
  apply(s, nack(endpoint_type, first[0].nonce, "bad endpoint", {"a", "b"}));
  EXPECT_FALSE(s.next_response());
  // Only "a" changed, but after a NACK the client may hold neither: send the whole set.
  s.set_snapshot(make_snapshot({cluster("a"), cluster("b"), endpoints("a", 9), endpoints("b")}));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(names_of(out[0]), (std::set<std::string>{"a", "b"}));
}

TEST(SotwSessionTest, NackedTypeIsSentAgainWhenSubscriptionChanges) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type, {"a"})));
  auto first = drain(s);
  ASSERT_EQ(first.size(), 1u);
  apply(s, nack(cluster_type, first[0].nonce, "rejected", {"a"}));
  EXPECT_FALSE(s.next_response());
  apply(s, request(cluster_type, {"a", "b"}, first[0].nonce));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(names_of(out[0]), (std::set<std::string>{"a", "b"}));
}

TEST(SotwSessionTest, StaleNonceChangesNamesButIsNeitherAckNorNack) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type, {"a"})));
  auto first = drain(s);
  ASSERT_EQ(first.size(), 1u);
  s.set_snapshot(make_snapshot({cluster("a", 2), cluster("b")}));
  auto second = drain(s);
  ASSERT_EQ(second.size(), 1u);
  // The client answers the first response after the second was sent, and adds "b" (grpc-js).
  auto late = nack(cluster_type, first[0].nonce, "old complaint", {"a", "b"});
  auto outcome = apply(s, late);
  EXPECT_EQ(outcome.kind, request_kind::stale);
  EXPECT_FALSE(outcome.response);
  EXPECT_TRUE(outcome.subscription_changed);
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(names_of(out[0]), (std::set<std::string>{"a", "b"}));
  // And the stale NACK did not poison anything: a later ACK of the new nonce is an ACK.
  EXPECT_EQ(apply(s, request(cluster_type, {"a", "b"}, out[0].nonce, out[0].version)).kind,
            request_kind::ack);
}

TEST(SotwSessionTest, StaleNonceWithSameNamesGetsNoResponse) {
  auto s = ready_session();
  apply(s, with_node(request(endpoint_type, {"a"})));
  auto first = drain(s);
  ASSERT_EQ(first.size(), 1u);
  s.set_snapshot(make_snapshot({cluster("a"), endpoints("a", 7)}));
  ASSERT_EQ(drain(s).size(), 1u);
  auto outcome = apply(s, request(endpoint_type, {"a"}, first[0].nonce, first[0].version));
  EXPECT_EQ(outcome.kind, request_kind::stale);
  EXPECT_FALSE(outcome.subscription_changed);
  EXPECT_FALSE(s.next_response());
}

TEST(SotwSessionTest, NonceFromAnotherStreamOnFirstRequestIsIgnored) {
  auto s = ready_session();
  // Envoy #30155: a reconnecting client may carry a nonce from its previous stream.
  auto outcome = apply(s, with_node(request(cluster_type, {}, "t.1", "v-old")));
  EXPECT_EQ(outcome.kind, request_kind::initial);
  EXPECT_FALSE(outcome.response);
  EXPECT_EQ(drain(s).size(), 1u);
}

TEST(SotwSessionTest, EmptyNonceAfterFirstRequestUpdatesSubscription) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type, {"a"})));
  // grpc-js grows the set before it read the first response: empty nonce again.
  auto outcome = apply(s, request(cluster_type, {"a", "b"}));
  EXPECT_EQ(outcome.kind, request_kind::update);
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(names_of(out[0]), (std::set<std::string>{"a", "b"}));
}

// ---- snapshot changes -------------------------------------------------------------------------

TEST(SotwSessionTest, NewSnapshotIsPushedInClusterEndpointListenerRouteOrder) {
  auto s = ready_session();
  // Requested in the reverse of push order.
  apply(s, with_node(request(route_type, {"http-routes"})));
  apply(s, request(listener_type));
  apply(s, request(endpoint_type, {"a", "b"}));
  apply(s, request(cluster_type));
  drain(s);
  s.set_snapshot(make_snapshot({cluster("a", 2), cluster("b"), endpoints("a", 9), endpoints("b"),
                                listener("http", 81), route("http-routes", "b")}));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].type_url, cluster_type);
  EXPECT_EQ(out[1].type_url, endpoint_type);
  EXPECT_EQ(out[2].type_url, listener_type);
  EXPECT_EQ(out[3].type_url, route_type);
}

TEST(SotwSessionTest, UnchangedTypeIsNotResent) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type)));
  apply(s, request(listener_type));
  apply(s, request(endpoint_type, {"a", "b"}));
  drain(s);
  // Only endpoints of "b" changed.
  s.set_snapshot(make_snapshot({cluster("a"), cluster("b"), endpoints("a"), endpoints("b", 9),
                                listener("http"), route("http-routes", "a")}));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type_url, endpoint_type);
  // EDS is not a full-state type: only the changed assignment goes out.
  EXPECT_EQ(names_of(out[0]), std::set<std::string>{"b"});
}

TEST(SotwSessionTest, ChangeOutsideNamedSubscriptionIsNotSent) {
  auto s = ready_session();
  apply(s, with_node(request(endpoint_type, {"a"})));
  drain(s);
  s.set_snapshot(make_snapshot({cluster("a"), cluster("b"), endpoints("a"), endpoints("b", 9)}));
  EXPECT_FALSE(s.next_response());
}

TEST(SotwSessionTest, FullStateTypesCarryEverySubscribedResource) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type)));
  drain(s);
  s.set_snapshot(make_snapshot({cluster("a", 3), cluster("b")}));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(names_of(out[0]), (std::set<std::string>{"a", "b"}));
}

TEST(SotwSessionTest, DeletedClusterIsDroppedFromFullStateResponse) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type)));
  drain(s);
  s.set_snapshot(make_snapshot({cluster("a")}));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(names_of(out[0]), std::set<std::string>{"a"});
}

TEST(SotwSessionTest, ResubscribedNameIsSentAgainEvenIfUnchanged) {
  auto s = ready_session();
  apply(s, with_node(request(endpoint_type, {"a", "b"})));
  auto first = drain(s);
  apply(s, request(endpoint_type, {"a"}, first[0].nonce));
  EXPECT_FALSE(s.next_response());
  apply(s, request(endpoint_type, {"a", "b"}, first[0].nonce));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(names_of(out[0]), std::set<std::string>{"b"});
}

TEST(SotwSessionTest, EnvoyGetsEndpointsAgainAfterClusterUpdate) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type)));
  apply(s, request(endpoint_type, {"a", "b"}));
  drain(s);
  // Cluster "a" changes, its endpoints do not; Envoy warms "a" until EDS arrives.
  s.set_snapshot(make_snapshot({cluster("a", 4), cluster("b"), endpoints("a"), endpoints("b"),
                                listener("http"), route("http-routes", "a")}));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].type_url, cluster_type);
  EXPECT_EQ(out[1].type_url, endpoint_type);
  // Only the changed cluster warms, so only its (unchanged) assignment is owed.
  EXPECT_EQ(names_of(out[1]), std::set<std::string>{"a"});
}

TEST(SotwSessionTest, ProxylessClientGetsNoEndpointResendAfterClusterUpdate) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type, {"a"}), "", "gRPC Node Pure JS"));
  apply(s, request(endpoint_type, {"a"}));
  drain(s);
  s.set_snapshot(make_snapshot({cluster("a", 4), endpoints("a")}, std::string(proxyless_key)));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type_url, cluster_type);
}

// ---- node, limits, unknown types --------------------------------------------------------------

TEST(SotwSessionTest, NodeIsReadFromFirstRequestOnly) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type), "team~edge"));
  // A later request with another node (or none) does not re-key the stream.
  apply(s, with_node(request(listener_type), "other~proxy"));
  EXPECT_EQ(s.key(), "team~edge");
  EXPECT_EQ(s.node().id(), "node-1");
}

TEST(SotwSessionTest, NodeKeyUsesRoleThenUserAgent) {
  envoy::config::core::v3::Node node;
  node.set_user_agent_name("envoy");
  EXPECT_EQ(node_key(node), misconfigured_node_key);
  (*node.mutable_metadata()->mutable_fields())["role"].set_string_value("");
  EXPECT_EQ(node_key(node), misconfigured_node_key);
  (*node.mutable_metadata()->mutable_fields())["role"].set_string_value("gloo-system~gw");
  EXPECT_EQ(node_key(node), "gloo-system~gw");
  envoy::config::core::v3::Node grpc_node;
  grpc_node.set_user_agent_name("gRPC C-core linux");
  EXPECT_EQ(node_key(grpc_node), proxyless_key);
  (*grpc_node.mutable_metadata()->mutable_fields())["role"].set_number_value(3);
  EXPECT_EQ(node_key(grpc_node), proxyless_key);
}

TEST(SotwSessionTest, TooManyNamesIsAnError) {
  sotw_session s(sotw_session_options{.nonce_prefix = "t.", .max_names_per_type = 2});
  auto out = s.on_request(with_node(request(endpoint_type, {"a", "b", "c"})));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), static_cast<uint8_t>(ec::limit_exceeded));
}

TEST(SotwSessionTest, UnknownTypeIsIgnored) {
  auto s = ready_session();
  auto outcome
      = apply(s, with_node(request("type.googleapis.com/envoy.service.runtime.v3.Runtime")));
  EXPECT_EQ(outcome.kind, request_kind::unsupported);
  EXPECT_FALSE(s.next_response());
}

TEST(SotwSessionTest, RenderedResponseCarriesTypedBytes) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type, {"a"})));
  auto r = s.next_response();
  ASSERT_TRUE(r);
  auto wire = to_discovery_response(*r);
  EXPECT_EQ(wire.type_url(), cluster_type);
  EXPECT_EQ(wire.nonce(), r->nonce);
  EXPECT_EQ(wire.version_info(), r->version);
  ASSERT_EQ(wire.resources_size(), 1);
  envoy::config::cluster::v3::Cluster decoded;
  ASSERT_TRUE(wire.resources(0).UnpackTo(&decoded));
  EXPECT_EQ(decoded.name(), "a");
}

}  // namespace
}  // namespace sluice::xds
