#include "xds/delta_session.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <set>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "model/error.hpp"

namespace sluice::xds {
namespace {

using envoy::service::discovery::v3::DeltaDiscoveryRequest;

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

/// A listener whose connection manager takes its routes from RDS `routes`.
xds_resource_ptr listener(const std::string& name, const std::string& routes,
                          uint32_t port = 8080) {
  envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager hcm;
  hcm.set_stat_prefix("http");
  hcm.mutable_rds()->set_route_config_name(routes);
  hcm.mutable_rds()->mutable_config_source()->mutable_ads();
  envoy::config::listener::v3::Listener l;
  l.set_name(name);
  l.mutable_address()->mutable_socket_address()->set_address("0.0.0.0");
  l.mutable_address()->mutable_socket_address()->set_port_value(port);
  l.add_filter_chains()->add_filters()->mutable_typed_config()->PackFrom(hcm);
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

snapshot_ptr base_snapshot() {
  return make_snapshot({cluster("a"), cluster("b"), endpoints("a"), endpoints("b"),
                        listener("http", "http-routes"), route("http-routes", "a")});
}

// ---- requests ---------------------------------------------------------------------------------

DeltaDiscoveryRequest request(std::string_view type, std::vector<std::string> subscribe = {},
                              std::vector<std::string> unsubscribe = {}, std::string nonce = {}) {
  DeltaDiscoveryRequest r;
  r.set_type_url(std::string(type));
  for (auto& n : subscribe) r.add_resource_names_subscribe(std::move(n));
  for (auto& n : unsubscribe) r.add_resource_names_unsubscribe(std::move(n));
  r.set_response_nonce(std::move(nonce));
  return r;
}

DeltaDiscoveryRequest ack(std::string_view type, const std::string& nonce) {
  return request(type, {}, {}, nonce);
}

DeltaDiscoveryRequest nack(std::string_view type, const std::string& nonce, std::string message) {
  auto r = request(type, {}, {}, nonce);
  r.mutable_error_detail()->set_code(3);
  r.mutable_error_detail()->set_message(std::move(message));
  return r;
}

DeltaDiscoveryRequest with_node(DeltaDiscoveryRequest r, std::string user_agent = "envoy") {
  r.mutable_node()->set_id("node-1");
  r.mutable_node()->set_user_agent_name(std::move(user_agent));
  (*r.mutable_node()->mutable_metadata()->mutable_fields())["role"].set_string_value(
      "gloo-system~gateway-proxy");
  return r;
}

std::set<std::string> names_of(const delta_response& r) {
  std::set<std::string> out;
  for (const auto& res : r.resources) out.insert(res->name);
  return out;
}

std::set<std::string> removed_of(const delta_response& r) {
  return {r.removed.begin(), r.removed.end()};
}

request_outcome apply(delta_session& s, const DeltaDiscoveryRequest& r) {
  auto out = s.on_request(r);
  EXPECT_TRUE(out) << (out ? "" : describe(out.error()));
  return out ? *out : request_outcome{};
}

delta_session ready_session(snapshot_ptr snap = base_snapshot()) {
  delta_session s(delta_session_options{.nonce_prefix = "d."});
  s.set_snapshot(std::move(snap));
  s.open_gate();
  return s;
}

std::vector<delta_response> drain(delta_session& s) {
  std::vector<delta_response> out;
  while (auto r = s.next_response()) out.push_back(std::move(*r));
  return out;
}

/// Drains and ACKs everything, as a well-behaved client does.
std::vector<delta_response> drain_and_ack(delta_session& s) {
  std::vector<delta_response> all;
  while (auto r = s.next_response()) {
    apply(s, ack(r->type_url, r->nonce));
    all.push_back(std::move(*r));
  }
  return all;
}

// ---- subscriptions ----------------------------------------------------------------------------

TEST(DeltaSessionTest, LegacyWildcardFirstRequestGetsEverything) {
  auto snap = base_snapshot();
  auto s = ready_session(snap);
  apply(s, with_node(request(cluster_type)));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(names_of(out[0]), (std::set<std::string>{"a", "b"}));
  EXPECT_TRUE(out[0].removed.empty());
  EXPECT_EQ(out[0].system_version, snap->of(cluster_type).version);
  // Per-resource versions are the content hashes.
  for (const auto& r : out[0].resources) {
    EXPECT_EQ(r->version, snap->of(cluster_type).items.at(r->name)->version);
  }
  EXPECT_EQ(s.subscription(cluster_type), std::vector<std::string>{"*"});
}

TEST(DeltaSessionTest, ExplicitNamesGetOnlyThoseNames) {
  auto s = ready_session();
  apply(s, with_node(request(endpoint_type, {"b"})));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(names_of(out[0]), std::set<std::string>{"b"});
}

TEST(DeltaSessionTest, MissingSubscribedNameIsReportedRemovedOnce) {
  auto s = ready_session();
  apply(s, with_node(request(endpoint_type, {"a", "ghost"})));
  auto out = drain_and_ack(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(names_of(out[0]), std::set<std::string>{"a"});
  EXPECT_EQ(removed_of(out[0]), std::set<std::string>{"ghost"});
  // Not repeated on unrelated changes.
  s.set_snapshot(make_snapshot({cluster("a"), endpoints("a", 9)}));
  auto next = drain(s);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(names_of(next[0]), std::set<std::string>{"a"});
  EXPECT_TRUE(next[0].removed.empty());
}

TEST(DeltaSessionTest, MissingNameIsSentWhenItAppears) {
  auto s = ready_session();
  apply(s, with_node(request(endpoint_type, {"c"})));
  drain_and_ack(s);
  s.set_snapshot(make_snapshot({cluster("c"), endpoints("c")}));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(names_of(out[0]), std::set<std::string>{"c"});
}

TEST(DeltaSessionTest, SubscribeAddsOnlyTheNewName) {
  auto s = ready_session();
  apply(s, with_node(request(endpoint_type, {"a"})));
  drain_and_ack(s);
  apply(s, request(endpoint_type, {"b"}));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(names_of(out[0]), std::set<std::string>{"b"});
}

TEST(DeltaSessionTest, ResubscribedNameIsSentEvenIfTheClientMayHoldIt) {
  auto s = ready_session();
  apply(s, with_node(request(endpoint_type, {"a"})));
  drain_and_ack(s);
  // xds.md §1.7: the client may have dropped it; every subscribe is answered.
  apply(s, request(endpoint_type, {"a"}));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(names_of(out[0]), std::set<std::string>{"a"});
}

TEST(DeltaSessionTest, UnsubscribeStopsUpdatesWithoutAResponse) {
  auto s = ready_session();
  apply(s, with_node(request(endpoint_type, {"a", "b"})));
  drain_and_ack(s);
  auto outcome = apply(s, request(endpoint_type, {}, {"b"}));
  EXPECT_TRUE(outcome.subscription_changed);
  EXPECT_FALSE(s.next_response());
  EXPECT_EQ(s.known(endpoint_type).count("b"), 0u);
  s.set_snapshot(make_snapshot({cluster("a"), cluster("b"), endpoints("a"), endpoints("b", 7)}));
  EXPECT_FALSE(s.next_response());
  // Superfluous unsubscribes are tolerated.
  outcome = apply(s, request(endpoint_type, {}, {"never-subscribed"}));
  EXPECT_FALSE(outcome.subscription_changed);
}

TEST(DeltaSessionTest, UnsubscribingAnExplicitNameCoveredByWildcardIsAnswered) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type, {"*", "a"})));
  drain_and_ack(s);
  apply(s, request(cluster_type, {}, {"a"}));
  // xds.md §1.7: with "*" and "a", unsubscribing "a" must be answered with "a".
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(names_of(out[0]), std::set<std::string>{"a"});
}

TEST(DeltaSessionTest, WildcardSeesAdditionsAndRemovals) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type, {"*"})));
  drain_and_ack(s);
  s.set_snapshot(make_snapshot({cluster("a"), cluster("c")}));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(names_of(out[0]), std::set<std::string>{"c"});
  EXPECT_EQ(removed_of(out[0]), std::set<std::string>{"b"});
}

TEST(DeltaSessionTest, UnsubscribingWildcardEndsIt) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type)));
  drain_and_ack(s);
  apply(s, request(cluster_type, {}, {"*"}));
  EXPECT_TRUE(s.subscription(cluster_type).empty());
  s.set_snapshot(make_snapshot({cluster("a", 3), cluster("b"), cluster("c")}));
  EXPECT_FALSE(s.next_response());
}

TEST(DeltaSessionTest, EmptyWildcardIsAnsweredOnItsFirstRequest) {
  auto s = ready_session(make_snapshot({cluster("a"), endpoints("a")}));
  apply(s, with_node(request(listener_type)));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].resources.empty());
  EXPECT_TRUE(out[0].removed.empty());
}

// ---- versions, ACK, NACK, nonces --------------------------------------------------------------

TEST(DeltaSessionTest, OnlyChangedResourcesAreSent) {
  auto s = ready_session();
  apply(s, with_node(request(endpoint_type, {"a", "b"})));
  drain_and_ack(s);
  s.set_snapshot(make_snapshot({cluster("a"), cluster("b"), endpoints("a"), endpoints("b", 9)}));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(names_of(out[0]), std::set<std::string>{"b"});
}

TEST(DeltaSessionTest, SameContentInANewSnapshotIsNotSent) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type)));
  drain_and_ack(s);
  s.set_snapshot(base_snapshot());  // equal content, another object
  EXPECT_FALSE(s.next_response());
}

TEST(DeltaSessionTest, AckIsReportedWithTheNamesOfTheResponse) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type)));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  auto outcome = apply(s, ack(cluster_type, out[0].nonce));
  EXPECT_EQ(outcome.kind, request_kind::ack);
  ASSERT_TRUE(outcome.response);
  EXPECT_FALSE(outcome.response->nack);
  EXPECT_TRUE(outcome.response->delta);
  EXPECT_EQ(outcome.response->resource_names, (std::vector<std::string>{"a", "b"}));
}

TEST(DeltaSessionTest, NackIsRecordedAndNotAnsweredWithResend) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type)));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  auto outcome = apply(s, nack(cluster_type, out[0].nonce, "bad cluster a"));
  EXPECT_EQ(outcome.kind, request_kind::nack);
  ASSERT_TRUE(outcome.response);
  EXPECT_TRUE(outcome.response->nack);
  EXPECT_EQ(outcome.response->error_message, "bad cluster a");
  EXPECT_FALSE(s.next_response());
  s.set_snapshot(base_snapshot());
  EXPECT_FALSE(s.next_response());
  // The fix (new content of "a") is sent, and only it.
  s.set_snapshot(make_snapshot({cluster("a", 2), cluster("b"), endpoints("a"), endpoints("b")}));
  auto fixed = drain(s);
  ASSERT_EQ(fixed.size(), 1u);
  EXPECT_EQ(names_of(fixed[0]), std::set<std::string>{"a"});
}

TEST(DeltaSessionTest, StaleNonceStillAppliesSubscriptionChanges) {
  auto s = ready_session();
  apply(s, with_node(request(endpoint_type, {"a"})));
  auto first = drain(s);
  ASSERT_EQ(first.size(), 1u);
  s.set_snapshot(make_snapshot({cluster("a"), cluster("b"), endpoints("a", 3), endpoints("b")}));
  auto second = drain(s);
  ASSERT_EQ(second.size(), 1u);
  // An ACK of the first response that also subscribes "b": stale, but the names apply.
  auto late = request(endpoint_type, {"b"}, {}, first[0].nonce);
  auto outcome = apply(s, late);
  EXPECT_EQ(outcome.kind, request_kind::stale);
  EXPECT_FALSE(outcome.response);
  EXPECT_TRUE(outcome.subscription_changed);
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(names_of(out[0]), std::set<std::string>{"b"});
}

TEST(DeltaSessionTest, NoncesAreFreshAndPrefixed) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type)));
  apply(s, request(endpoint_type, {"a", "b"}));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_NE(out[0].nonce, out[1].nonce);
  EXPECT_EQ(out[0].nonce.rfind("d.", 0), 0u);
  EXPECT_EQ(s.last_nonce(endpoint_type), out[1].nonce);
}

TEST(DeltaSessionTest, NonceOnTheFirstRequestOfATypeIsIgnored) {
  auto s = ready_session();
  auto outcome = apply(s, with_node(request(cluster_type, {}, {}, "d.7")));
  EXPECT_EQ(outcome.kind, request_kind::initial);
  EXPECT_FALSE(outcome.response);
}

// ---- reconnect --------------------------------------------------------------------------------

TEST(DeltaSessionTest, ReconnectSendsOnlyWhatDiffersAndRemovesWhatIsGone) {
  auto snap = make_snapshot({cluster("a"), cluster("c", 4)});
  auto s = ready_session(snap);
  auto first = with_node(request(cluster_type));
  auto& initial = *first.mutable_initial_resource_versions();
  initial["a"] = snap->of(cluster_type).items.at("a")->version;  // unchanged
  initial["b"] = "old-b";                                        // gone
  initial["c"] = "old-c";                                        // changed
  apply(s, first);
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(names_of(out[0]), std::set<std::string>{"c"});
  // Removal waits until the client answered: by then its other first requests (the routes it
  // holds, which may still use "b") have been read.
  EXPECT_TRUE(out[0].removed.empty());
  apply(s, ack(cluster_type, out[0].nonce));
  auto removal = drain(s);
  ASSERT_EQ(removal.size(), 1u);
  EXPECT_TRUE(removal[0].resources.empty());
  EXPECT_EQ(removed_of(removal[0]), std::set<std::string>{"b"});
}

TEST(DeltaSessionTest, ReconnectKeepsClustersThatHeldRoutesOfUnknownContentMayUse) {
  auto snap = make_snapshot(
      {cluster("a"), endpoints("a"), listener("http", "http-routes"), route("http-routes", "a")});
  auto s = ready_session(snap);
  auto cds = with_node(request(cluster_type));
  (*cds.mutable_initial_resource_versions())["a"] = snap->of(cluster_type).items.at("a")->version;
  (*cds.mutable_initial_resource_versions())["gone"] = "v-gone";
  apply(s, cds);
  // The client's routes are of a version this server never built: they may route to "gone".
  auto rds = request(route_type, {"http-routes"});
  (*rds.mutable_initial_resource_versions())["http-routes"] = "v-old-routes";
  apply(s, rds);
  auto out = drain(s);
  std::string cds_nonce, rds_nonce;
  for (const auto& r : out) {
    EXPECT_TRUE(r.removed.empty());
    if (r.type_url == cluster_type) cds_nonce = r.nonce;
    if (r.type_url == route_type) rds_nonce = r.nonce;
  }
  ASSERT_FALSE(cds_nonce.empty());
  ASSERT_FALSE(rds_nonce.empty());
  apply(s, ack(cluster_type, cds_nonce));
  EXPECT_FALSE(s.next_response());  // the old routes are not acknowledged away yet
  apply(s, ack(route_type, rds_nonce));
  auto removal = drain(s);
  ASSERT_EQ(removal.size(), 1u);
  EXPECT_EQ(removal[0].type_url, cluster_type);
  EXPECT_EQ(removed_of(removal[0]), std::set<std::string>{"gone"});
}

TEST(DeltaSessionTest, ReconnectWithEverythingCurrentGetsNoResources) {
  auto snap = base_snapshot();
  delta_session s(delta_session_options{.nonce_prefix = "d."});
  // The client reconnects before the server has a snapshot (gate closed at restart).
  auto first = with_node(request(endpoint_type, {"a", "b"}));
  for (const auto& [name, r] : snap->of(endpoint_type).items) {
    (*first.mutable_initial_resource_versions())[name] = r->version;
  }
  apply(s, first);
  s.set_snapshot(snap);
  s.open_gate();
  // One empty answer (its ACK lifts the reconnect barrier), nothing else.
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].resources.empty());
  EXPECT_TRUE(out[0].removed.empty());
  apply(s, ack(endpoint_type, out[0].nonce));
  EXPECT_FALSE(s.next_response());
}

// ---- ordering ---------------------------------------------------------------------------------

TEST(DeltaSessionTest, PushOrderIsClustersEndpointsListenersRoutes) {
  auto s = ready_session();
  apply(s, with_node(request(route_type, {"http-routes"})));
  apply(s, request(listener_type));
  apply(s, request(endpoint_type, {"a", "b"}));
  apply(s, request(cluster_type));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].type_url, cluster_type);
  EXPECT_EQ(out[1].type_url, endpoint_type);
  EXPECT_EQ(out[2].type_url, listener_type);
  EXPECT_EQ(out[3].type_url, route_type);
}

TEST(DeltaSessionTest, RouteMovingToANewClusterWaitsForItsEndpoints) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type)));
  apply(s, request(listener_type));
  apply(s, request(endpoint_type, {"a", "b"}));
  apply(s, request(route_type, {"http-routes"}));
  drain_and_ack(s);
  // New cluster "y"; the route moves from "a" to "y"; "a" is deleted.
  s.set_snapshot(make_snapshot({cluster("b"), cluster("y"), endpoints("b"), endpoints("y"),
                                listener("http", "http-routes"), route("http-routes", "y")}));
  auto cds = s.next_response();
  ASSERT_TRUE(cds);
  EXPECT_EQ(cds->type_url, cluster_type);
  EXPECT_EQ(names_of(*cds), std::set<std::string>{"y"});
  // "a" is still routed to: it is not removed yet.
  EXPECT_TRUE(cds->removed.empty());
  // The client has not subscribed to y's endpoints yet: nothing may go out (the route waits).
  EXPECT_FALSE(s.next_response());
  apply(s, request(endpoint_type, {"y"}));
  apply(s, ack(cluster_type, cds->nonce));
  auto eds = s.next_response();
  ASSERT_TRUE(eds);
  EXPECT_EQ(eds->type_url, endpoint_type);
  EXPECT_EQ(names_of(*eds), std::set<std::string>{"y"});
  apply(s, ack(endpoint_type, eds->nonce));
  auto rds = s.next_response();
  ASSERT_TRUE(rds);
  EXPECT_EQ(rds->type_url, route_type);
  // Until the route change is acknowledged, "a" stays.
  EXPECT_FALSE(s.next_response());
  apply(s, ack(route_type, rds->nonce));
  auto removal = s.next_response();
  ASSERT_TRUE(removal);
  EXPECT_EQ(removal->type_url, cluster_type);
  EXPECT_EQ(removed_of(*removal), std::set<std::string>{"a"});
}

TEST(DeltaSessionTest, EnvoyGetsAFreshLoadAssignmentAfterAClusterChange) {
  auto s = ready_session();
  apply(s, with_node(request(cluster_type)));
  apply(s, request(endpoint_type, {"a", "b"}));
  drain_and_ack(s);
  s.set_snapshot(make_snapshot({cluster("a", 5), cluster("b"), endpoints("a"), endpoints("b")}));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(names_of(out[0]), std::set<std::string>{"a"});
  EXPECT_EQ(out[1].type_url, endpoint_type);
  EXPECT_EQ(names_of(out[1]), std::set<std::string>{"a"});
}

TEST(DeltaSessionTest, GrpcClientGetsNoEndpointResendAfterClusterChange) {
  auto s = ready_session(make_snapshot({cluster("a"), endpoints("a")}, std::string(proxyless_key)));
  apply(s, with_node(request(cluster_type, {"a"}), "gRPC C-core linux"));
  apply(s, request(endpoint_type, {"a"}));
  drain_and_ack(s);
  s.set_snapshot(make_snapshot({cluster("a", 5), endpoints("a")}, std::string(proxyless_key)));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type_url, cluster_type);
}

// ---- gate, limits, bad input ------------------------------------------------------------------

TEST(DeltaSessionTest, ClosedGateHoldsEverything) {
  delta_session s(delta_session_options{.nonce_prefix = "d."});
  s.set_snapshot(base_snapshot());
  apply(s, with_node(request(cluster_type)));
  EXPECT_FALSE(s.next_response());
  s.open_gate();
  EXPECT_TRUE(s.next_response());
}

TEST(DeltaSessionTest, TooManyNamesIsAnError) {
  delta_session s(delta_session_options{.nonce_prefix = "d.", .max_names_per_type = 2});
  auto out = s.on_request(with_node(request(endpoint_type, {"a", "b", "c"})));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), static_cast<uint8_t>(ec::limit_exceeded));
}

TEST(DeltaSessionTest, NamesAccumulatedOverRequestsAreBounded) {
  delta_session s(delta_session_options{.nonce_prefix = "d.", .max_names_per_type = 2});
  ASSERT_TRUE(s.on_request(with_node(request(endpoint_type, {"a", "b"}))));
  auto out = s.on_request(request(endpoint_type, {"c"}));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), static_cast<uint8_t>(ec::limit_exceeded));
}

TEST(DeltaSessionTest, UnknownTypeUrlIsAProtocolError) {
  auto s = ready_session();
  auto out = s.on_request(with_node(request("type.googleapis.com/no.such.Thing")));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), static_cast<uint8_t>(ec::protocol_error));
}

TEST(DeltaSessionTest, KnownButUnservedTypeIsIgnored) {
  auto s = ready_session();
  auto outcome
      = apply(s, with_node(request("type.googleapis.com/envoy.config.route.v3.VirtualHost")));
  EXPECT_EQ(outcome.kind, request_kind::unsupported);
  EXPECT_FALSE(s.next_response());
}

TEST(DeltaSessionTest, MalformedNodeIsAProtocolError) {
  auto s = ready_session();
  auto no_id = request(cluster_type);
  no_id.mutable_node()->set_user_agent_name("envoy");
  auto out = s.on_request(no_id);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), static_cast<uint8_t>(ec::protocol_error));

  delta_session t(delta_session_options{.nonce_prefix = "d."});
  auto bad_role = with_node(request(cluster_type));
  (*bad_role.mutable_node()->mutable_metadata()->mutable_fields())["role"].set_number_value(7);
  auto out2 = t.on_request(bad_role);
  ASSERT_FALSE(out2);
  EXPECT_NE(describe(out2.error()).find("metadata.role"), std::string::npos);
}

TEST(DeltaSessionTest, RenderedResponseCarriesNamesVersionsAndRemovals) {
  auto s = ready_session();
  apply(s, with_node(request(endpoint_type, {"a", "ghost"})));
  auto r = s.next_response();
  ASSERT_TRUE(r);
  auto wire = to_delta_discovery_response(*r);
  EXPECT_EQ(wire.type_url(), endpoint_type);
  EXPECT_EQ(wire.nonce(), r->nonce);
  ASSERT_EQ(wire.resources_size(), 1);
  EXPECT_EQ(wire.resources(0).name(), "a");
  EXPECT_EQ(wire.resources(0).version(), r->resources[0]->version);
  envoy::config::endpoint::v3::ClusterLoadAssignment cla;
  ASSERT_TRUE(wire.resources(0).resource().UnpackTo(&cla));
  EXPECT_EQ(cla.cluster_name(), "a");
  ASSERT_EQ(wire.removed_resources_size(), 1);
  EXPECT_EQ(wire.removed_resources(0), "ghost");
}

}  // namespace
}  // namespace sluice::xds
