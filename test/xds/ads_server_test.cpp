#include "xds/ads_server.hpp"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "model/error.hpp"
#include "test/support/scripted_xds_client.hpp"

namespace sluice::xds {
namespace {

using namespace std::chrono_literals;
using sluice::test::scripted_xds_client;
using sluice::test::scripted_xds_client_options;
using state = scripted_xds_client::state;

constexpr auto bound = 10s;

// ---- a small Gloo-shaped configuration from real Envoy messages --------------------------------

const std::string listener_name = "listener-::-8080";
const std::string routes_name = "listener-::-8080-routes";

/// Clusters `names` (EDS over ADS) with endpoints, one HTTP listener using RDS, one route
/// configuration splitting traffic over the clusters. `generation` changes every type's content.
snapshot_ptr gateway_snapshot(const std::string& key, std::vector<std::string> names,
                              int generation = 1) {
  auto snap = std::make_shared<snapshot>();
  snap->key = key;
  snap->watermark = static_cast<uint64_t>(generation);
  auto add = [&](const xds_resource_ptr& r) { snap->types[r->type_url].items[r->name] = r; };

  envoy::config::route::v3::RouteConfiguration rc;
  rc.set_name(routes_name);
  auto* vh = rc.add_virtual_hosts();
  vh->set_name("default");
  vh->add_domains("*");
  for (const auto& name : names) {
    envoy::config::cluster::v3::Cluster c;
    c.set_name(name);
    c.set_type(envoy::config::cluster::v3::Cluster::EDS);
    c.mutable_eds_cluster_config()->mutable_eds_config()->mutable_ads();
    c.mutable_eds_cluster_config()->mutable_eds_config()->set_resource_api_version(
        envoy::config::core::v3::V3);
    c.mutable_connect_timeout()->set_seconds(generation);
    add(make_resource(name, cluster_type, c));

    envoy::config::endpoint::v3::ClusterLoadAssignment cla;
    cla.set_cluster_name(name);
    auto* locality = cla.add_endpoints();
    locality->mutable_load_balancing_weight()->set_value(1);
    auto* sa = locality->add_lb_endpoints()
                   ->mutable_endpoint()
                   ->mutable_address()
                   ->mutable_socket_address();
    sa->set_address("127.0.0.1");
    sa->set_port_value(static_cast<uint32_t>(9000 + generation));
    add(make_resource(name, endpoint_type, cla));

    auto* r = vh->add_routes();
    r->mutable_match()->set_prefix("/" + name + "/v" + std::to_string(generation));
    r->mutable_route()->set_cluster(name);
  }
  add(make_resource(routes_name, route_type, rc));

  envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager hcm;
  hcm.set_stat_prefix("http");
  hcm.mutable_rds()->set_route_config_name(routes_name);
  hcm.mutable_rds()->mutable_config_source()->mutable_ads();
  auto* router = hcm.add_http_filters();
  router->set_name("envoy.filters.http.router");
  router->mutable_typed_config()->PackFrom(envoy::extensions::filters::http::router::v3::Router{});
  envoy::config::listener::v3::Listener l;
  l.set_name(listener_name);
  l.mutable_address()->mutable_socket_address()->set_address("::");
  l.mutable_address()->mutable_socket_address()->set_port_value(8080);
  l.mutable_per_connection_buffer_limit_bytes()->set_value(
      static_cast<uint32_t>(1024 * generation));
  auto* filter = l.add_filter_chains()->add_filters();
  filter->set_name("envoy.filters.network.http_connection_manager");
  filter->mutable_typed_config()->PackFrom(hcm);
  add(make_resource(listener_name, listener_type, l));

  seal(*snap);
  return snap;
}

const std::string role_a = "gloo-system~gateway-proxy";
const std::string role_b = "team~edge-proxy";

/// Subscribes like Envoy does: LDS and CDS wildcard, RDS and EDS by name.
void subscribe_all(scripted_xds_client& client, const std::vector<std::string>& clusters) {
  client.subscribe(listener_type);
  client.subscribe(cluster_type);
  client.subscribe(endpoint_type, clusters);
  client.subscribe(route_type, {routes_name});
}

auto has_all_types = [](const state& s) {
  return s.count(cluster_type) >= 1 && s.count(endpoint_type) >= 1 && s.count(listener_type) >= 1
         && s.count(route_type) >= 1;
};

class AdsServerTest : public ::testing::Test {
 protected:
  void SetUp() override { start(); }
  // Stop before the members the observer touches are destroyed.
  void TearDown() override { server_->stop(); }

  void start(ads_server_options options = {.listen = "127.0.0.1:0"}) {
    server_ = std::make_unique<ads_server>(std::move(options));
    server_->on_client_response([this](const client_response& r) {
      std::lock_guard lock(mu_);
      seen_.push_back(r);
      cv_.notify_all();
    });
    auto port = server_->start();
    ASSERT_TRUE(port) << describe(port.error());
    port_ = *port;
    ASSERT_GT(port_, 0);
  }

  /// Waits for the server to have observed ACKs/NACKs satisfying `pred`.
  bool wait_seen(const std::function<bool(const std::vector<client_response>&)>& pred) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, bound, [&] { return pred(seen_); });
  }

  size_t acks_of(const std::vector<client_response>& v, const std::string& node) {
    return static_cast<size_t>(std::count_if(
        v.begin(), v.end(), [&](const auto& r) { return r.node_id == node && !r.nack; }));
  }

  bool wait_streams(size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (server_->stream_count() != n) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(2ms);  // polling a condition, bounded by the deadline
    }
    return true;
  }

  static scripted_xds_client_options envoy_with_role(std::string id, std::string role) {
    scripted_xds_client_options o;
    o.node_id = std::move(id);
    o.role = std::move(role);
    return o;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<client_response> seen_;
  // Declared last, destroyed first: its gRPC threads call the observer above.
  std::unique_ptr<ads_server> server_;
  int port_ = 0;
};

TEST_F(AdsServerTest, FirstRequestGetsSnapshot) {
  auto snap = gateway_snapshot(role_a, {"svc-a", "svc-b"});
  server_->publish(snap);
  server_->open_gate();
  scripted_xds_client client(envoy_with_role("envoy-1", role_a));
  ASSERT_TRUE(client.connect(port_));
  subscribe_all(client, {"svc-a", "svc-b"});
  ASSERT_TRUE(client.wait_for(has_all_types, bound));
  auto s = client.current();
  EXPECT_EQ(s.names(cluster_type), (std::set<std::string>{"svc-a", "svc-b"}));
  EXPECT_EQ(s.names(endpoint_type), (std::set<std::string>{"svc-a", "svc-b"}));
  EXPECT_EQ(s.names(listener_type), std::set<std::string>{listener_name});
  EXPECT_EQ(s.names(route_type), std::set<std::string>{routes_name});
  EXPECT_EQ(s.version(cluster_type), snap->of(cluster_type).version);
  EXPECT_EQ(s.version(listener_type), snap->of(listener_type).version);
  EXPECT_TRUE(client.consistency_errors().empty());
  // Every response was ACKed and the server saw each ACK.
  ASSERT_TRUE(wait_seen([&](const auto& v) { return acks_of(v, "envoy-1") >= 4; }));
}

TEST_F(AdsServerTest, PublishPushesUpdateInClusterEndpointListenerRouteOrder) {
  server_->publish(gateway_snapshot(role_a, {"svc-a", "svc-b"}, 1));
  server_->open_gate();
  scripted_xds_client client(envoy_with_role("envoy-1", role_a));
  ASSERT_TRUE(client.connect(port_));
  subscribe_all(client, {"svc-a", "svc-b"});
  ASSERT_TRUE(wait_seen([&](const auto& v) { return acks_of(v, "envoy-1") >= 4; }));
  ASSERT_EQ(client.current().responses.size(), 4u);

  auto next = gateway_snapshot(role_a, {"svc-a", "svc-b"}, 2);
  server_->publish(next);
  ASSERT_TRUE(client.wait_for([](const state& s) { return s.responses.size() >= 8; }, bound));
  auto s = client.current();
  ASSERT_EQ(s.responses.size(), 8u);
  EXPECT_EQ(s.responses[4].response.type_url(), cluster_type);
  EXPECT_EQ(s.responses[5].response.type_url(), endpoint_type);
  EXPECT_EQ(s.responses[6].response.type_url(), listener_type);
  EXPECT_EQ(s.responses[7].response.type_url(), route_type);
  EXPECT_EQ(s.version(cluster_type), next->of(cluster_type).version);
  EXPECT_TRUE(client.consistency_errors().empty());
}

TEST_F(AdsServerTest, NackIsRecordedAndNotAnsweredWithResend) {
  auto bad = gateway_snapshot(role_a, {"svc-a"}, 1);
  server_->publish(bad);
  server_->open_gate();
  const std::string bad_version = bad->of(cluster_type).version;
  scripted_xds_client client(envoy_with_role("envoy-1", role_a));
  client.set_nack_oracle([&](const auto& r) -> std::optional<std::string> {
    if (r.type_url() == cluster_type && r.version_info() == bad_version) {
      return "errors validating Cluster resource: [field:type error:unknown discovery type]";
    }
    return std::nullopt;
  });
  ASSERT_TRUE(client.connect(port_));
  client.subscribe(cluster_type);
  ASSERT_TRUE(wait_seen([](const auto& v) {
    return std::any_of(v.begin(), v.end(), [](const auto& r) { return r.nack; });
  }));
  {
    std::lock_guard lock(mu_);
    const auto& n = seen_.back();
    EXPECT_TRUE(n.nack);
    EXPECT_EQ(n.type_url, cluster_type);
    EXPECT_EQ(n.key, role_a);
    EXPECT_EQ(n.node_id, "envoy-1");
    EXPECT_EQ(n.version, "");  // nothing accepted before
    EXPECT_NE(n.error_message.find("unknown discovery type"), std::string::npos);
  }
  // The server answered the NACK before this publish, so a resend would arrive before v2.
  auto fixed = gateway_snapshot(role_a, {"svc-a"}, 2);
  server_->publish(fixed);
  ASSERT_TRUE(client.wait_for([](const state& s) { return s.count(cluster_type) >= 2; }, bound));
  auto s = client.current();
  auto cds = s.of(cluster_type);
  ASSERT_EQ(cds.size(), 2u);
  EXPECT_TRUE(cds[0]->nacked);
  EXPECT_EQ(cds[1]->response.version_info(), fixed->of(cluster_type).version);
  EXPECT_FALSE(cds[1]->nacked);
  ASSERT_TRUE(wait_seen([&](const auto& v) { return acks_of(v, "envoy-1") >= 1; }));
}

TEST_F(AdsServerTest, ClosedGateSendsNothingUntilOpened) {
  // The fixture never opens the gate by itself.
  auto old = gateway_snapshot(role_a, {"svc-a"}, 1);
  server_->publish(old);
  scripted_xds_client client(envoy_with_role("envoy-1", role_a));
  ASSERT_TRUE(client.connect(port_));
  client.subscribe(cluster_type);
  // The stream is bound to its key only after its first request was processed.
  ASSERT_TRUE(wait_streams(1));
  auto current = gateway_snapshot(role_a, {"svc-a", "svc-b"}, 2);
  server_->publish(current);
  EXPECT_TRUE(client.current().responses.empty());
  server_->open_gate();
  ASSERT_TRUE(client.wait_for([](const state& s) { return s.count(cluster_type) >= 1; }, bound));
  // Had the gate leaked, the first response would carry the old snapshot.
  auto s = client.current();
  auto first = s.of(cluster_type).front();
  EXPECT_EQ(first->response.version_info(), current->of(cluster_type).version);
  EXPECT_EQ(first->response.resources_size(), 2);
}

TEST_F(AdsServerTest, TwoRolesGetDifferentSnapshots) {
  server_->publish(gateway_snapshot(role_a, {"svc-a"}));
  server_->publish(gateway_snapshot(role_b, {"edge-1", "edge-2"}));
  server_->open_gate();
  scripted_xds_client a(envoy_with_role("envoy-a", role_a));
  scripted_xds_client b(envoy_with_role("envoy-b", role_b));
  ASSERT_TRUE(a.connect(port_));
  ASSERT_TRUE(b.connect(port_));
  a.subscribe(cluster_type);
  b.subscribe(cluster_type);
  auto got_clusters = [](const state& s) { return s.count(cluster_type) >= 1; };
  ASSERT_TRUE(a.wait_for(got_clusters, bound));
  ASSERT_TRUE(b.wait_for(got_clusters, bound));
  EXPECT_EQ(a.current().names(cluster_type), std::set<std::string>{"svc-a"});
  EXPECT_EQ(b.current().names(cluster_type), (std::set<std::string>{"edge-1", "edge-2"}));

  // A publish for one role reaches only that role's streams.
  server_->publish(gateway_snapshot(role_b, {"edge-1"}, 2));
  ASSERT_TRUE(b.wait_for([](const state& s) { return s.count(cluster_type) >= 2; }, bound));
  EXPECT_EQ(b.current().names(cluster_type), std::set<std::string>{"edge-1"});
  server_->publish(gateway_snapshot(role_a, {"svc-a", "svc-z"}, 2));
  ASSERT_TRUE(a.wait_for([](const state& s) { return s.count(cluster_type) >= 2; }, bound));
  EXPECT_EQ(a.current().count(cluster_type), 2u);
  EXPECT_EQ(b.current().count(cluster_type), 2u);
}

TEST_F(AdsServerTest, ClientWithoutRoleGetsProxylessSnapshot) {
  server_->publish(gateway_snapshot(role_a, {"svc-a"}));
  server_->publish(gateway_snapshot(std::string(proxyless_key), {"greeter-cluster"}));
  server_->publish(gateway_snapshot(std::string(misconfigured_node_key), {"fallback"}));
  server_->open_gate();

  scripted_xds_client_options grpc_node;
  grpc_node.node_id = "probe-node-1";
  grpc_node.user_agent_name = "gRPC C-core linux";
  scripted_xds_client proxyless(grpc_node);
  ASSERT_TRUE(proxyless.connect(port_));
  // gRPC names what it wants, even for CDS.
  proxyless.subscribe(cluster_type, {"greeter-cluster"});
  proxyless.subscribe(endpoint_type, {"greeter-cluster"});
  ASSERT_TRUE(proxyless.wait_for(
      [](const state& s) { return s.count(cluster_type) >= 1 && s.count(endpoint_type) >= 1; },
      bound));
  EXPECT_EQ(proxyless.current().names(cluster_type), std::set<std::string>{"greeter-cluster"});
  ASSERT_TRUE(wait_seen([](const auto& v) {
    return std::any_of(v.begin(), v.end(),
                       [](const auto& r) { return r.node_id == "probe-node-1" && !r.nack; });
  }));
  {
    std::lock_guard lock(mu_);
    EXPECT_EQ(seen_.front().key, proxyless_key);
  }

  // An Envoy without a role gets the fallback snapshot, as in Gloo.
  scripted_xds_client_options no_role;
  no_role.node_id = "lost-envoy";
  scripted_xds_client lost(no_role);
  ASSERT_TRUE(lost.connect(port_));
  lost.subscribe(cluster_type);
  ASSERT_TRUE(lost.wait_for([](const state& s) { return s.count(cluster_type) >= 1; }, bound));
  EXPECT_EQ(lost.current().names(cluster_type), std::set<std::string>{"fallback"});
}

TEST_F(AdsServerTest, StopWithConnectedClientsReturns) {
  server_->publish(gateway_snapshot(role_a, {"svc-a"}));
  server_->open_gate();
  scripted_xds_client a(envoy_with_role("envoy-a", role_a));
  scripted_xds_client b(envoy_with_role("envoy-b", role_a));
  ASSERT_TRUE(a.connect(port_));
  ASSERT_TRUE(b.connect(port_));
  subscribe_all(a, {"svc-a"});
  subscribe_all(b, {"svc-a"});
  ASSERT_TRUE(a.wait_for(has_all_types, bound));
  ASSERT_TRUE(b.wait_for(has_all_types, bound));
  ASSERT_EQ(server_->stream_count(), 2u);

  server_->stop();
  EXPECT_EQ(server_->stream_count(), 0u);
  auto ended = [](const state& s) { return s.stream_ended; };
  ASSERT_TRUE(a.wait_for(ended, bound));
  ASSERT_TRUE(b.wait_for(ended, bound));
  EXPECT_NE(a.current().end_code, static_cast<int>(grpc::StatusCode::OK));
  server_->stop();  // idempotent
  // Publishing after stop is harmless.
  server_->publish(gateway_snapshot(role_a, {"svc-a"}, 2));
}

TEST_F(AdsServerTest, StreamIsForgottenWhenClientLeaves) {
  server_->publish(gateway_snapshot(role_a, {"svc-a"}));
  server_->open_gate();
  {
    scripted_xds_client client(envoy_with_role("envoy-1", role_a));
    ASSERT_TRUE(client.connect(port_));
    client.subscribe(cluster_type);
    ASSERT_TRUE(wait_streams(1));
  }
  EXPECT_TRUE(wait_streams(0));
}

// on_client_gone reports a node when its last stream for a key closes, not while another stream
// of the same node (a client that reconnected before its old stream ended) is still open.
TEST_F(AdsServerTest, ClientGoneIsReportedWhenItsLastStreamCloses) {
  std::vector<client_gone> gone;
  server_->on_client_gone([this, &gone](const client_gone& g) {
    std::lock_guard lock(mu_);
    gone.push_back(g);
    cv_.notify_all();
  });
  server_->publish(gateway_snapshot(role_a, {"svc-a"}));
  server_->open_gate();
  scripted_xds_client first(envoy_with_role("envoy-1", role_a));
  scripted_xds_client second(envoy_with_role("envoy-1", role_a));
  scripted_xds_client other(envoy_with_role("envoy-2", role_a));
  for (auto* c : {&first, &second, &other}) {
    ASSERT_TRUE(c->connect(port_));
    c->subscribe(cluster_type);
  }
  ASSERT_TRUE(wait_streams(3));
  first.close();
  ASSERT_TRUE(wait_streams(2));
  {
    std::lock_guard lock(mu_);
    EXPECT_TRUE(gone.empty()) << "envoy-1 still has a stream; reported " << gone[0].node_id;
  }
  second.close();
  {
    std::unique_lock lock(mu_);
    ASSERT_TRUE(cv_.wait_for(lock, bound, [&] { return !gone.empty(); }));
    ASSERT_EQ(gone.size(), 1u);
    EXPECT_EQ(gone[0].node_id, "envoy-1");
    EXPECT_EQ(gone[0].key, role_a);
  }
  other.close();
  {
    std::unique_lock lock(mu_);
    ASSERT_TRUE(cv_.wait_for(lock, bound, [&] { return gone.size() == 2; }));
    EXPECT_EQ(gone[1].node_id, "envoy-2");
  }
  server_->on_client_gone(nullptr);  // `gone` goes out of scope before the server stops
}

TEST_F(AdsServerTest, StreamsBeyondMaxStreamsAreRefused) {
  server_->stop();
  start({.listen = "127.0.0.1:0", .max_streams = 1});
  server_->publish(gateway_snapshot(role_a, {"svc-a"}));
  server_->open_gate();
  scripted_xds_client first(envoy_with_role("envoy-1", role_a));
  ASSERT_TRUE(first.connect(port_));
  first.subscribe(cluster_type);
  ASSERT_TRUE(first.wait_for([](const state& s) { return s.count(cluster_type) >= 1; }, bound));
  scripted_xds_client second(envoy_with_role("envoy-2", role_a));
  ASSERT_TRUE(second.connect(port_));
  second.subscribe(cluster_type);
  ASSERT_TRUE(second.wait_for([](const state& s) { return s.stream_ended; }, bound));
  EXPECT_EQ(second.current().end_code, static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  EXPECT_TRUE(second.current().responses.empty());
  EXPECT_FALSE(first.current().stream_ended);
}

TEST_F(AdsServerTest, StartFailsOnAddressInUse) {
  ads_server other({.listen = "127.0.0.1:" + std::to_string(port_)});
  auto port = other.start();
  EXPECT_FALSE(port);
}

TEST_F(AdsServerTest, DeltaStreamIsServed) {
  auto snap = gateway_snapshot(role_a, {"svc-a"});
  server_->publish(snap);
  server_->open_gate();
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                                     grpc::InsecureChannelCredentials());
  auto stub = envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + bound);
  auto stream = stub->DeltaAggregatedResources(&context);
  envoy::service::discovery::v3::DeltaDiscoveryRequest request;
  request.set_type_url(std::string(cluster_type));
  request.mutable_node()->set_id("envoy-1");
  request.mutable_node()->set_user_agent_name("envoy");
  (*request.mutable_node()->mutable_metadata()->mutable_fields())["role"].set_string_value(role_a);
  ASSERT_TRUE(stream->Write(request));
  envoy::service::discovery::v3::DeltaDiscoveryResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.type_url(), cluster_type);
  ASSERT_EQ(response.resources_size(), 1);
  EXPECT_EQ(response.resources(0).name(), "svc-a");
  EXPECT_EQ(response.resources(0).version(), snap->of(cluster_type).items.at("svc-a")->version);
  EXPECT_FALSE(response.nonce().empty());
  context.TryCancel();
}

TEST_F(AdsServerTest, EnvoyLikeClientFollowsReferencesToAConsistentConfig) {
  server_->publish(gateway_snapshot(role_a, {"svc-a", "svc-b"}));
  server_->open_gate();
  auto options = envoy_with_role("envoy-1", role_a);
  options.follow_references = true;
  scripted_xds_client client(options);
  ASSERT_TRUE(client.connect(port_));
  client.subscribe(cluster_type);
  client.subscribe(listener_type);
  ASSERT_TRUE(client.wait_for(
      [](const state& s) {
        return s.names(endpoint_type).size() == 2 && s.names(route_type).size() == 1;
      },
      bound));
  EXPECT_TRUE(client.consistency_errors().empty());
}

TEST_F(AdsServerTest, ScriptedClientReportsDanglingClusterReference) {
  // The consistency check itself must be able to fail: a route to a cluster that is not served.
  auto snap = std::const_pointer_cast<snapshot>(gateway_snapshot(role_a, {"svc-a", "svc-b"}));
  snap->types[std::string(cluster_type)].items.erase("svc-b");
  seal(*snap);
  server_->publish(snap);
  server_->open_gate();
  scripted_xds_client client(envoy_with_role("envoy-1", role_a));
  ASSERT_TRUE(client.connect(port_));
  subscribe_all(client, {"svc-a", "svc-b"});
  ASSERT_TRUE(client.wait_for(has_all_types, bound));
  auto errors = client.consistency_errors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("svc-b"), std::string::npos);
}

// ---- keepalive: a peer that stops answering is noticed ------------------------------------------

/// A hand-written HTTP/2 peer: opens one ADS stream, sends one DiscoveryRequest, then never
/// reads or writes again (a crashed or partitioned proxy whose TCP connection stays up).
class silent_peer {
 public:
  explicit silent_peer(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~silent_peer() { ::close(fd_); }

  /// Connection preface, SETTINGS (and the ACK of the server's), one stream with one request.
  bool open_stream(const envoy::service::discovery::v3::DiscoveryRequest& request) {
    if (!connected_) return false;
    std::string out = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    out += frame(4, 0, 0, "");  // SETTINGS
    if (!send_all(out) || !await_server_settings()) return false;
    std::string headers;
    for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
             {":method", "POST"},
             {":scheme", "http"},
             {":path",
              "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"},
             {":authority", "127.0.0.1"},
             {"content-type", "application/grpc"},
             {"te", "trailers"}}) {
      // HPACK literal header field without indexing, new name (RFC 7541 §6.2.2); short strings.
      headers += '\0';
      headers += static_cast<char>(name.size());
      headers += name;
      headers += static_cast<char>(value.size());
      headers += value;
    }
    const std::string body = request.SerializeAsString();
    std::string message(5, '\0');  // gRPC message prefix: uncompressed, 4-byte length
    for (int i = 0; i < 4; ++i) message[1 + i] = static_cast<char>((body.size() >> (24 - 8 * i)) & 0xff);
    message += body;
    return send_all(frame(4, 1, 0, "") + frame(1, 4, 1, headers) + frame(0, 0, 1, message));
  }

 private:
  static std::string frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload) {
    std::string f;
    const auto n = static_cast<uint32_t>(payload.size());
    f += static_cast<char>((n >> 16) & 0xff);
    f += static_cast<char>((n >> 8) & 0xff);
    f += static_cast<char>(n & 0xff);
    f += static_cast<char>(type);
    f += static_cast<char>(flags);
    for (int i = 3; i >= 0; --i) f += static_cast<char>((stream >> (8 * i)) & 0xff);
    return f + payload;
  }

  bool send_all(const std::string& bytes) {
    for (size_t done = 0; done < bytes.size();) {
      auto n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  /// Reads until the server's first SETTINGS frame (not an ACK) has arrived, bounded.
  bool await_server_settings() {
    std::string in;
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < deadline) {
      for (size_t at = 0; at + 9 <= in.size();) {
        const size_t len = (static_cast<uint8_t>(in[at]) << 16) | (static_cast<uint8_t>(in[at + 1]) << 8)
                           | static_cast<uint8_t>(in[at + 2]);
        if (in[at + 3] == 4 && (in[at + 4] & 1) == 0) return true;
        at += 9 + len;
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return false;
      in.append(buf, static_cast<size_t>(n));
    }
    return false;
  }

  int fd_ = -1;
  bool connected_ = false;
};

TEST_F(AdsServerTest, KeepaliveClosesTheStreamOfAPeerThatStoppedAnswering) {
  server_->stop();
  // The stall watchdog is off, so only keepalive can notice the silent peer.
  start({.listen = "127.0.0.1:0",
         .stall_timeout = 0ms,
         .keepalive_time = 100ms,
         .keepalive_timeout = 200ms});
  server_->publish(gateway_snapshot(role_a, {"svc-a"}));
  server_->open_gate();
  envoy::service::discovery::v3::DiscoveryRequest request;
  request.set_type_url(std::string(cluster_type));
  request.mutable_node()->set_id("silent-envoy");
  (*request.mutable_node()->mutable_metadata()->mutable_fields())["role"].set_string_value(role_a);
  silent_peer peer(port_);
  ASSERT_TRUE(peer.open_stream(request));
  ASSERT_TRUE(wait_streams(1)) << "the silent peer's stream was never attached";
  // The peer never answers the server's keepalive ping: the server closes the connection.
  EXPECT_TRUE(wait_streams(0)) << "the stream of a peer that stopped answering stayed open";
  EXPECT_EQ(server_->metrics().streams_stalled, 0u);
}

}  // namespace
}  // namespace sluice::xds
