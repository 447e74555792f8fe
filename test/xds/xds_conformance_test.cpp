// The xDS protocol conformance suite: every scenario runs over real loopback gRPC against
// ads_server, with the scripted Envoy-like client (or a raw stream where the scenario needs a
// misbehaving client), in state-of-the-world and in delta mode. The scripted client checks the
// Envoy model after every response, so "no violations" means the client never served from a
// state with a route to a cluster it lacked or an active EDS cluster without endpoints.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "model/error.hpp"
#include "test/support/scripted_xds_client.hpp"
#include "xds/ads_server.hpp"

namespace sluice::xds {
namespace {

using namespace std::chrono_literals;
using sluice::test::scripted_xds_client;
using sluice::test::scripted_xds_client_options;
using state = scripted_xds_client::state;
using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

constexpr auto bound = 10s;
const std::string role = "gloo-system~gateway-proxy";
const std::string listener_name = "listener-::-8080";

// ---- worlds -------------------------------------------------------------------------------------

/// A Gloo-shaped configuration: EDS clusters with endpoints, one HTTP listener using RDS, one
/// route configuration. Every field is a knob a scenario turns to change exactly one resource.
struct world {
  std::map<std::string, int> clusters;   ///< name -> generation (connect_timeout seconds)
  std::map<std::string, int> endpoints;  ///< cluster -> port
  std::vector<std::pair<std::string, std::string>> routes;  ///< prefix -> cluster
  std::string route_config = "routes-1";
  int listener_generation = 1;
  size_t pad_bytes = 0;  ///< metadata padding on every cluster, for big responses
};

/// A healthy world: clusters `names` (generation 1) with endpoints, one route to each.
world simple_world(std::initializer_list<std::string> names) {
  world w;
  int port = 9000;
  for (const auto& n : names) {
    w.clusters[n] = 1;
    w.endpoints[n] = ++port;
    w.routes.emplace_back("/" + n, n);
  }
  return w;
}

snapshot_ptr build(const world& w, const std::string& key = role) {
  auto snap = std::make_shared<snapshot>();
  snap->key = key;
  auto add = [&](const xds_resource_ptr& r) { snap->types[r->type_url].items[r->name] = r; };
  for (const auto& [name, generation] : w.clusters) {
    envoy::config::cluster::v3::Cluster c;
    c.set_name(name);
    c.set_type(envoy::config::cluster::v3::Cluster::EDS);
    c.mutable_eds_cluster_config()->mutable_eds_config()->mutable_ads();
    c.mutable_eds_cluster_config()->mutable_eds_config()->set_resource_api_version(
        envoy::config::core::v3::V3);
    c.mutable_connect_timeout()->set_seconds(generation);
    if (w.pad_bytes > 0) {
      (*c.mutable_metadata()->mutable_filter_metadata())["pad"]
          .mutable_fields()
          ->
          operator[]("bytes")
          .set_string_value(std::string(w.pad_bytes, 'x'));
    }
    add(make_resource(name, cluster_type, c));
  }
  for (const auto& [name, port] : w.endpoints) {
    envoy::config::endpoint::v3::ClusterLoadAssignment cla;
    cla.set_cluster_name(name);
    auto* locality = cla.add_endpoints();
    locality->mutable_load_balancing_weight()->set_value(1);
    auto* sa = locality->add_lb_endpoints()
                   ->mutable_endpoint()
                   ->mutable_address()
                   ->mutable_socket_address();
    sa->set_address("127.0.0.1");
    sa->set_port_value(static_cast<uint32_t>(port));
    add(make_resource(name, endpoint_type, cla));
  }
  envoy::config::route::v3::RouteConfiguration rc;
  rc.set_name(w.route_config);
  auto* vh = rc.add_virtual_hosts();
  vh->set_name("default");
  vh->add_domains("*");
  for (const auto& [prefix, cluster] : w.routes) {
    auto* r = vh->add_routes();
    r->mutable_match()->set_prefix(prefix);
    r->mutable_route()->set_cluster(cluster);
  }
  add(make_resource(w.route_config, route_type, rc));

  envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager hcm;
  hcm.set_stat_prefix("http");
  hcm.mutable_rds()->set_route_config_name(w.route_config);
  hcm.mutable_rds()->mutable_config_source()->mutable_ads();
  auto* router = hcm.add_http_filters();
  router->set_name("envoy.filters.http.router");
  router->mutable_typed_config()->PackFrom(envoy::extensions::filters::http::router::v3::Router{});
  envoy::config::listener::v3::Listener l;
  l.set_name(listener_name);
  l.mutable_address()->mutable_socket_address()->set_address("::");
  l.mutable_address()->mutable_socket_address()->set_port_value(8080);
  l.mutable_per_connection_buffer_limit_bytes()->set_value(
      static_cast<uint32_t>(1024 * w.listener_generation));
  auto* filter = l.add_filter_chains()->add_filters();
  filter->set_name("envoy.filters.network.http_connection_manager");
  filter->mutable_typed_config()->PackFrom(hcm);
  add(make_resource(listener_name, listener_type, l));
  seal(*snap);
  return snap;
}

/// True when the client holds exactly the snapshot's resources of every type, byte for byte.
bool holds(const state& s, const snapshot& snap,
           std::initializer_list<std::string_view> types
           = {cluster_type, endpoint_type, listener_type, route_type}) {
  for (auto type : types) {
    auto i = s.held.find(std::string(type));
    const auto& want = snap.of(type).items;
    const size_t have = i == s.held.end() ? 0 : i->second.size();
    if (have != want.size()) return false;
    for (const auto& [name, r] : want) {
      auto h = i->second.find(name);
      if (h == i->second.end() || h->second.value() != r->bytes) return false;
    }
  }
  return true;
}

int connect_timeout_of(const google::protobuf::Any& any) {
  envoy::config::cluster::v3::Cluster c;
  return c.ParseFromString(any.value()) ? static_cast<int>(c.connect_timeout().seconds()) : -1;
}

// ---- raw streams, for clients that misbehave --------------------------------------------------

/// One ADS stream driven by hand, in either mode.
class raw_stream {
 public:
  raw_stream(int port, bool delta) : delta_(delta) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxSendMessageSize(-1);
    channel_ = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                         grpc::InsecureChannelCredentials(), args);
    stub_ = AggregatedDiscoveryService::NewStub(channel_);
    context_.set_deadline(std::chrono::system_clock::now() + 30s);
    if (delta_) {
      delta_stream_ = stub_->DeltaAggregatedResources(&context_);
    } else {
      stream_ = stub_->StreamAggregatedResources(&context_);
    }
  }
  ~raw_stream() { context_.TryCancel(); }

  static void set_node(envoy::config::core::v3::Node* node) {
    node->set_id("raw-client");
    node->set_user_agent_name("envoy");
    (*node->mutable_metadata()->mutable_fields())["role"].set_string_value(role);
  }

  /// Sends a subscription to `names` of `type` (node included unless `node` is false).
  bool subscribe(std::string_view type, const std::vector<std::string>& names, bool node = true) {
    if (delta_) {
      DeltaDiscoveryRequest r;
      r.set_type_url(std::string(type));
      for (const auto& n : names) r.add_resource_names_subscribe(n);
      if (node) set_node(r.mutable_node());
      return delta_stream_->Write(r);
    }
    DiscoveryRequest r;
    r.set_type_url(std::string(type));
    for (const auto& n : names) r.add_resource_names(n);
    if (node) set_node(r.mutable_node());
    return stream_->Write(r);
  }

  /// Sends a request exactly as given (SotW or delta form chosen by the mode).
  bool send(const DiscoveryRequest& sotw, const DeltaDiscoveryRequest& delta) {
    return delta_ ? delta_stream_->Write(delta) : stream_->Write(sotw);
  }

  /// Reads one response: (type, nonce, a version tag) or nothing when the stream ended.
  struct response {
    std::string type_url;
    std::string nonce;
    std::string version;  ///< SotW version_info, or delta: the first resource's version
    int resources = 0;
  };
  std::optional<response> read() {
    if (delta_) {
      DeltaDiscoveryResponse r;
      if (!delta_stream_->Read(&r)) return std::nullopt;
      return response{r.type_url(), r.nonce(),
                      r.resources().empty() ? "" : r.resources(0).version(), r.resources_size()};
    }
    DiscoveryResponse r;
    if (!stream_->Read(&r)) return std::nullopt;
    return response{r.type_url(), r.nonce(), r.version_info(), r.resources_size()};
  }

  /// Reads until the stream ends, then returns its status.
  grpc::Status finish() {
    while (read()) {
    }
    return delta_ ? delta_stream_->Finish() : stream_->Finish();
  }

 private:
  bool delta_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<AggregatedDiscoveryService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<DiscoveryRequest, DiscoveryResponse>> stream_;
  std::unique_ptr<grpc::ClientReaderWriter<DeltaDiscoveryRequest, DeltaDiscoveryResponse>>
      delta_stream_;
};

// ---- the fixture --------------------------------------------------------------------------------

enum class mode { sotw, delta };

class XdsConformanceTest : public ::testing::TestWithParam<mode> {
 protected:
  void TearDown() override {
    clients_.clear();
    if (server_) server_->stop();
  }

  bool delta() const { return GetParam() == mode::delta; }

  /// Starts (or restarts) the server; the gate stays closed unless `open`.
  void start(ads_server_options options = {}, bool open = true) {
    if (server_) server_->stop();
    options.listen = "127.0.0.1:0";
    server_ = std::make_unique<ads_server>(std::move(options));
    server_->on_client_response([this](const client_response& r) {
      std::lock_guard lock(mu_);
      seen_.push_back(r);
      cv_.notify_all();
    });
    auto port = server_->start();
    ASSERT_TRUE(port) << describe(port.error());
    port_ = *port;
    if (open) server_->open_gate();
  }

  /// An Envoy: wildcard CDS and LDS, follows references to EDS and RDS, warms like Envoy.
  scripted_xds_client& envoy(std::string id = "envoy-1", bool subscribe = true) {
    scripted_xds_client_options o;
    o.node_id = std::move(id);
    o.role = role;
    o.follow_references = true;
    o.delta = delta();
    clients_.push_back(std::make_unique<scripted_xds_client>(o));
    auto& c = *clients_.back();
    EXPECT_TRUE(c.connect(port_));
    if (subscribe) {
      c.subscribe(cluster_type);
      c.subscribe(listener_type);
    }
    return c;
  }

  /// A client that names what it wants and follows nothing (like gRPC, or a test probe).
  scripted_xds_client& named(std::string id, std::string user_agent = "envoy") {
    scripted_xds_client_options o;
    o.node_id = std::move(id);
    o.role = role;
    o.user_agent_name = std::move(user_agent);
    o.delta = delta();
    clients_.push_back(std::make_unique<scripted_xds_client>(o));
    auto& c = *clients_.back();
    EXPECT_TRUE(c.connect(port_));
    return c;
  }

  bool wait_seen(const std::function<bool(const std::vector<client_response>&)>& pred) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, bound, [&] { return pred(seen_); });
  }

  std::vector<client_response> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

  size_t nacks_seen() {
    auto v = seen();
    return static_cast<size_t>(std::count_if(v.begin(), v.end(), [](auto& r) { return r.nack; }));
  }

  /// Polls the server until `pred(metrics)` holds (bounded).
  bool wait_metrics(const std::function<bool(const ads_metrics&)>& pred) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (!pred(server_->metrics())) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(2ms);  // polling a condition, bounded by the deadline
    }
    return true;
  }

  bool wait_streams(size_t n) {
    return wait_metrics([&](const ads_metrics&) { return server_->stream_count() == n; });
  }

  /// Publishes and waits until `client` holds it exactly.
  void publish_and_converge(scripted_xds_client& client, const snapshot_ptr& snap) {
    server_->publish(snap);
    ASSERT_TRUE(client.wait_for([&](const state& s) { return holds(s, *snap); }, bound))
        << "client did not converge";
  }

  /// Every response of any type the client received, in the mode's form, as (type, count).
  static size_t responses_of(const state& s, std::string_view type) { return s.count(type); }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<client_response> seen_;
  std::vector<std::unique_ptr<scripted_xds_client>> clients_;
  std::unique_ptr<ads_server> server_;
  int port_ = 0;
};

// ---- first request, ACK -----------------------------------------------------------------------

TEST_P(XdsConformanceTest, FirstRequestGetsTheWholeConsistentConfiguration) {
  start();
  auto snap = build(simple_world({"a", "b"}));
  server_->publish(snap);
  auto& c = envoy();
  ASSERT_TRUE(c.wait_for([&](const state& s) { return holds(s, *snap); }, bound));
  EXPECT_TRUE(c.violations().empty()) << c.violations().front();
  EXPECT_TRUE(c.consistency_errors().empty());
}

TEST_P(XdsConformanceTest, EveryResponseIsAcknowledgedAndObserved) {
  start();
  auto snap = build(simple_world({"a", "b"}));
  server_->publish(snap);
  auto& c = envoy();
  ASSERT_TRUE(c.wait_for([&](const state& s) { return holds(s, *snap); }, bound));
  const size_t responses = c.current().response_count;
  ASSERT_TRUE(wait_seen([&](const auto& v) { return v.size() >= responses; }));
  for (const auto& r : seen()) {
    EXPECT_FALSE(r.nack);
    EXPECT_EQ(r.node_id, "envoy-1");
    EXPECT_EQ(r.key, role);
    EXPECT_EQ(r.delta, delta());
  }
  EXPECT_EQ(server_->metrics().acks, responses);
  EXPECT_EQ(server_->metrics().nacks, 0u);
}

TEST_P(XdsConformanceTest, UnchangedPublishSendsNothing) {
  start();
  auto& c = envoy();
  publish_and_converge(c, build(simple_world({"a", "b"})));
  ASSERT_TRUE(wait_seen([&](const auto& v) { return v.size() >= c.current().response_count; }));
  const size_t before = c.current().response_count;
  server_->publish(build(simple_world({"a", "b"})));  // equal content, new objects
  // A sentinel change proves the server processed the publish before it.
  auto w = simple_world({"a", "b"});
  w.endpoints["a"] = 7777;
  auto sentinel = build(w);
  publish_and_converge(c, sentinel);
  auto s = c.current();
  EXPECT_EQ(s.response_count, before + 1);
  EXPECT_EQ(s.count(endpoint_type), 2u);
}

// ---- NACK -------------------------------------------------------------------------------------

TEST_P(XdsConformanceTest, NackIsRecordedNeverResentAndTheFixIsAccepted) {
  start();
  auto& c = envoy("envoy-1", false);
  // The client rejects any cluster with a 99 s connect timeout.
  c.set_resource_nack_oracle(
      [](const std::string& type, const auto& resources) -> std::optional<std::string> {
        for (const auto& any : resources) {
          if (type == cluster_type && connect_timeout_of(any) == 99) {
            return "errors validating Cluster resource: [field:connect_timeout error:too long]";
          }
        }
        return std::nullopt;
      });
  c.subscribe(cluster_type);
  c.subscribe(listener_type);
  publish_and_converge(c, build(simple_world({"a", "b"})));

  auto bad = simple_world({"a", "b"});
  bad.clusters["a"] = 99;
  server_->publish(build(bad));
  ASSERT_TRUE(wait_seen([](const auto& v) {
    return std::any_of(v.begin(), v.end(), [](const auto& r) { return r.nack; });
  }));
  const auto cds_after_nack = c.current().count(cluster_type);
  {
    auto v = seen();
    auto n = std::find_if(v.begin(), v.end(), [](const auto& r) { return r.nack; });
    EXPECT_EQ(n->type_url, cluster_type);
    EXPECT_NE(n->error_message.find("connect_timeout"), std::string::npos);
    EXPECT_NE(std::find(n->resource_names.begin(), n->resource_names.end(), "a"),
              n->resource_names.end());
  }
  // An unrelated change goes out; the rejected clusters are not sent again with it.
  auto bad2 = bad;
  bad2.endpoints["b"] = 7000;
  auto with_eds_change = build(bad2);
  server_->publish(with_eds_change);
  ASSERT_TRUE(c.wait_for(
      [&](const state& s) { return holds(s, *with_eds_change, {endpoint_type}); }, bound));
  EXPECT_EQ(c.current().count(cluster_type), cds_after_nack);
  EXPECT_EQ(nacks_seen(), 1u);

  auto fixed = bad2;
  fixed.clusters["a"] = 2;
  publish_and_converge(c, build(fixed));
  EXPECT_EQ(nacks_seen(), 1u);
  auto m = server_->metrics();
  EXPECT_EQ(m.nacks, 1u);
  EXPECT_EQ(m.nacks_by_type[std::string(cluster_type)], 1u);
  EXPECT_TRUE(c.violations().empty()) << c.violations().front();
}

TEST_P(XdsConformanceTest, NacksAreCountedPerType) {
  start();
  auto& c = named("probe");
  c.set_resource_nack_oracle(
      [](const std::string& type, const auto&) -> std::optional<std::string> {
        if (type == endpoint_type || type == route_type) return "rejected " + type;
        return std::nullopt;
      });
  server_->publish(build(simple_world({"a"})));
  c.subscribe(cluster_type);
  c.subscribe(endpoint_type, {"a"});
  c.subscribe(route_type, {"routes-1"});
  ASSERT_TRUE(wait_metrics([](const ads_metrics& m) { return m.nacks == 2; }));
  auto m = server_->metrics();
  EXPECT_EQ(m.nacks_by_type[std::string(endpoint_type)], 1u);
  EXPECT_EQ(m.nacks_by_type[std::string(route_type)], 1u);
  EXPECT_EQ(m.nacks_by_type.count(std::string(cluster_type)), 0u);
  EXPECT_GE(m.acks, 1u);
}

// ---- nonces -----------------------------------------------------------------------------------

TEST_P(XdsConformanceTest, StaleNonceIsNeitherAckNorNackButChangesNamesApply) {
  start();
  server_->publish(build(simple_world({"a", "b"})));
  auto& c = named("probe");
  c.subscribe(endpoint_type, {"a"});
  ASSERT_TRUE(c.wait_for([](const state& s) { return s.count(endpoint_type) >= 1; }, bound));
  const std::string first_nonce = c.current().last_nonce.at(std::string(endpoint_type));
  // A newer response makes the first nonce stale.
  auto w = simple_world({"a", "b"});
  w.endpoints["a"] = 8111;
  server_->publish(build(w));
  ASSERT_TRUE(c.wait_for([](const state& s) { return s.count(endpoint_type) >= 2; }, bound));

  // A "NACK" carrying the stale nonce, which also subscribes "b".
  DiscoveryRequest sotw;
  sotw.set_type_url(std::string(endpoint_type));
  sotw.add_resource_names("a");
  sotw.add_resource_names("b");
  sotw.set_response_nonce(first_nonce);
  sotw.mutable_error_detail()->set_message("stale complaint");
  DeltaDiscoveryRequest d;
  d.set_type_url(std::string(endpoint_type));
  d.add_resource_names_subscribe("b");
  d.set_response_nonce(first_nonce);
  d.mutable_error_detail()->set_message("stale complaint");
  if (delta()) {
    c.send_delta(d);
  } else {
    c.send(sotw);
  }
  // "b" arriving proves the server read the stale request (same message).
  ASSERT_TRUE(
      c.wait_for([](const state& s) { return s.names(endpoint_type).count("b") == 1; }, bound));
  EXPECT_EQ(nacks_seen(), 0u);
  EXPECT_EQ(server_->metrics().nacks, 0u);
}

TEST_P(XdsConformanceTest, NoncesAreUniqueAcrossStreamsAndResponses) {
  start();
  server_->publish(build(simple_world({"a", "b"})));
  auto& one = envoy("envoy-1");
  auto& two = envoy("envoy-2");
  auto snap = build(simple_world({"a", "b"}));
  ASSERT_TRUE(one.wait_for([&](const state& s) { return holds(s, *snap); }, bound));
  ASSERT_TRUE(two.wait_for([&](const state& s) { return holds(s, *snap); }, bound));
  std::set<std::string> nonces;
  size_t total = 0;
  for (auto* c : {&one, &two}) {
    auto s = c->current();
    for (const auto& r : s.responses) {
      nonces.insert(r.response.nonce());
      ++total;
    }
    for (const auto& r : s.delta_responses) {
      nonces.insert(r.response.nonce());
      ++total;
    }
  }
  EXPECT_GE(total, 8u);
  EXPECT_EQ(nonces.size(), total);
}

// ---- subscriptions ----------------------------------------------------------------------------

TEST_P(XdsConformanceTest, GrowingSubscriptionSendsOnlyTheNewName) {
  start();
  auto snap = build(simple_world({"a", "b", "c"}));
  server_->publish(snap);
  auto& c = named("probe");
  c.subscribe(endpoint_type, {"a"});
  ASSERT_TRUE(c.wait_for([](const state& s) { return s.count(endpoint_type) >= 1; }, bound));
  c.subscribe(endpoint_type, {"a", "b"});
  ASSERT_TRUE(c.wait_for([](const state& s) { return s.names(endpoint_type).size() == 2; }, bound));
  auto s = c.current();
  if (delta()) {
    const auto& last = s.delta_responses.back().response;
    ASSERT_EQ(last.resources_size(), 1);
    EXPECT_EQ(last.resources(0).name(), "b");
  } else {
    // SotW EDS is not full state: the response may carry just the new assignment.
    EXPECT_EQ(s.responses.back().response.resources_size(), 1);
  }
}

TEST_P(XdsConformanceTest, UnsubscribedResourceGetsNoMoreUpdates) {
  start();
  server_->publish(build(simple_world({"a", "b"})));
  auto& c = named("probe");
  c.subscribe(endpoint_type, {"a", "b"});
  ASSERT_TRUE(c.wait_for([](const state& s) { return s.names(endpoint_type).size() == 2; }, bound));
  c.subscribe(endpoint_type, {"a"});
  // A response on another type proves the server read the unsubscribe (requests are ordered).
  c.subscribe(cluster_type, {"a"});
  ASSERT_TRUE(c.wait_for([](const state& s) { return s.count(cluster_type) >= 1; }, bound));
  const auto before = c.current();
  // Change b (unsubscribed), then a: only a's change may arrive.
  auto w = simple_world({"a", "b"});
  w.endpoints["b"] = 8222;
  server_->publish(build(w));
  w.endpoints["a"] = 8333;
  auto last = build(w);
  server_->publish(last);
  const std::string newest_a = last->of(endpoint_type).items.at("a")->bytes;
  ASSERT_TRUE(c.wait_for(
      [&](const state& s) {
        auto i = s.held.find(std::string(endpoint_type));
        return i != s.held.end() && i->second.count("a") && i->second.at("a").value() == newest_a;
      },
      bound));
  auto s = c.current();
  std::set<std::string> names_after;
  for (size_t i = before.responses.size(); i < s.responses.size(); ++i) {
    for (const auto& any : s.responses[i].response.resources()) {
      envoy::config::endpoint::v3::ClusterLoadAssignment cla;
      ASSERT_TRUE(any.UnpackTo(&cla));
      names_after.insert(cla.cluster_name());
    }
  }
  for (size_t i = before.delta_responses.size(); i < s.delta_responses.size(); ++i) {
    for (const auto& res : s.delta_responses[i].response.resources())
      names_after.insert(res.name());
  }
  EXPECT_EQ(names_after, std::set<std::string>{"a"});
}

TEST_P(XdsConformanceTest, WildcardFollowsAdditionsAndDeletions) {
  start();
  auto& c = named("probe");
  c.subscribe(cluster_type);
  auto first = build(simple_world({"a", "b"}));
  server_->publish(first);
  ASSERT_TRUE(c.wait_for([&](const state& s) { return holds(s, *first, {cluster_type}); }, bound));
  auto next = build(simple_world({"b", "c"}));
  server_->publish(next);
  ASSERT_TRUE(c.wait_for(
      [](const state& s) {
        return s.names(cluster_type) == std::set<std::string>{"b", "c"};
      },
      bound));
  if (delta()) {
    auto s = c.current();
    const auto& last = s.delta_responses.back().response;
    ASSERT_EQ(last.removed_resources_size(), 1);
    EXPECT_EQ(last.removed_resources(0), "a");
    ASSERT_EQ(last.resources_size(), 1);
    EXPECT_EQ(last.resources(0).name(), "c");
  }
}

TEST_P(XdsConformanceTest, ExplicitWildcardNameGetsEverything) {
  start();
  auto snap = build(simple_world({"a", "b", "c"}));
  server_->publish(snap);
  auto& c = named("probe");
  c.subscribe(endpoint_type, {"*"});
  ASSERT_TRUE(c.wait_for([&](const state& s) { return holds(s, *snap, {endpoint_type}); }, bound));
}

TEST_P(XdsConformanceTest, MissingResourceIsDeliveredWhenItAppears) {
  start();
  server_->publish(build(simple_world({"a"})));
  auto& c = named("probe");
  c.subscribe(endpoint_type, {"a", "later"});
  ASSERT_TRUE(c.wait_for([](const state& s) { return s.names(endpoint_type).count("a"); }, bound));
  if (delta()) {
    // Delta says at once that "later" does not exist.
    auto s = c.current();
    bool reported = false;
    for (const auto& r : s.delta_responses) {
      for (const auto& n : r.response.removed_resources()) reported |= n == "later";
    }
    EXPECT_TRUE(reported);
  }
  server_->publish(build(simple_world({"a", "later"})));
  ASSERT_TRUE(
      c.wait_for([](const state& s) { return s.names(endpoint_type).count("later"); }, bound));
}

TEST_P(XdsConformanceTest, GrpcStyleNamedClustersGetOnlyWhatTheyName) {
  start();
  server_->publish(build(simple_world({"a", "b", "c"})));
  auto& c = named("grpc-probe", "gRPC C-core linux");
  c.subscribe(cluster_type, {"b"});
  ASSERT_TRUE(c.wait_for([](const state& s) { return s.count(cluster_type) >= 1; }, bound));
  EXPECT_EQ(c.current().names(cluster_type), std::set<std::string>{"b"});
}

TEST_P(XdsConformanceTest, UnservedTypeIsIgnoredAndTheStreamStaysUp) {
  start();
  server_->publish(build(simple_world({"a"})));
  auto& c = named("probe");
  c.subscribe("type.googleapis.com/envoy.service.runtime.v3.Runtime", {"rtds"});
  c.subscribe(cluster_type);
  ASSERT_TRUE(c.wait_for([](const state& s) { return s.count(cluster_type) >= 1; }, bound));
  auto s = c.current();
  EXPECT_FALSE(s.stream_ended);
  EXPECT_EQ(s.count("type.googleapis.com/envoy.service.runtime.v3.Runtime"), 0u);
}

// ---- ordering ---------------------------------------------------------------------------------

TEST_P(XdsConformanceTest, PushOrderIsClustersEndpointsListenersRoutes) {
  start();
  auto& c = envoy();
  publish_and_converge(c, build(simple_world({"a", "b"})));
  const size_t before = c.current().response_count;
  auto w = simple_world({"a", "b"});
  w.clusters["a"] = 2;
  w.endpoints["b"] = 9999;
  w.listener_generation = 2;
  w.routes.emplace_back("/extra", "b");
  auto next = build(w);
  publish_and_converge(c, next);
  auto s = c.current();
  std::vector<std::string> order;
  if (delta()) {
    for (size_t i = before; i < s.delta_responses.size(); ++i) {
      order.push_back(s.delta_responses[i].response.type_url());
    }
  } else {
    for (size_t i = before; i < s.responses.size(); ++i) {
      order.push_back(s.responses[i].response.type_url());
    }
  }
  ASSERT_GE(order.size(), 4u);
  EXPECT_EQ(order[0], cluster_type);
  EXPECT_EQ(order[1], endpoint_type);
  EXPECT_EQ(order[2], listener_type);
  EXPECT_EQ(order[3], route_type);
}

TEST_P(XdsConformanceTest, RouteMovingToANewClusterNeverDangles) {
  start();
  auto& c = envoy();
  auto w = simple_world({"x", "keep"});
  publish_and_converge(c, build(w));
  // The route moves from x to a new y, and x is deleted, in one snapshot.
  w.clusters.erase("x");
  w.endpoints.erase("x");
  w.clusters["y"] = 1;
  w.endpoints["y"] = 9300;
  w.routes = {{"/x", "y"}, {"/keep", "keep"}};
  auto next = build(w);
  publish_and_converge(c, next);
  EXPECT_TRUE(c.violations().empty()) << c.violations().front();
  EXPECT_EQ(c.current().names(cluster_type), (std::set<std::string>{"keep", "y"}));
}

TEST_P(XdsConformanceTest, ClusterIsRemovedOnlyAfterRoutesStopUsingIt) {
  start();
  auto& c = envoy();
  auto w = simple_world({"x", "keep"});
  publish_and_converge(c, build(w));
  w.clusters.erase("x");
  w.endpoints.erase("x");
  w.routes = {{"/keep", "keep"}};
  auto next = build(w);
  publish_and_converge(c, next);
  // The response that removed x came after the response that changed the routes.
  auto s = c.current();
  int route_change = -1, cluster_removal = -1;
  int i = 0;
  if (delta()) {
    for (const auto& r : s.delta_responses) {
      if (r.response.type_url() == route_type && i > 0) route_change = i;
      for (const auto& n : r.response.removed_resources()) {
        if (n == "x" && r.response.type_url() == cluster_type) cluster_removal = i;
      }
      ++i;
    }
  } else {
    for (const auto& r : s.responses) {
      if (r.response.type_url() == route_type) route_change = i;
      if (r.response.type_url() == cluster_type && r.response.resources_size() == 1) {
        cluster_removal = i;
      }
      ++i;
    }
  }
  ASSERT_GE(route_change, 0);
  ASSERT_GE(cluster_removal, 0);
  EXPECT_LT(route_change, cluster_removal);
  EXPECT_TRUE(c.violations().empty()) << c.violations().front();
}

TEST_P(XdsConformanceTest, ManySnapshotChangesNeverLeaveADanglingReference) {
  start();
  auto& c = envoy();
  // Routes hop between a changing set of clusters; each step is one published snapshot.
  std::vector<std::vector<std::string>> steps
      = {{"a", "b"},      {"b", "c"}, {"c", "d", "e"}, {"e"},      {"f", "g"},
         {"a", "g", "h"}, {"h"},      {"i", "j"},      {"a", "b"}, {"b", "z"}};
  int generation = 1;
  for (const auto& clusters : steps) {
    world w;
    int port = 9400;
    for (const auto& n : clusters) {
      w.clusters[n] = generation;
      w.endpoints[n] = ++port;
      w.routes.emplace_back("/" + n, n);
    }
    w.listener_generation = generation;
    ++generation;
    publish_and_converge(c, build(w));
  }
  EXPECT_TRUE(c.violations().empty()) << c.violations().front();
  EXPECT_TRUE(c.consistency_errors().empty());
}

TEST_P(XdsConformanceTest, RapidPublishesWithoutWaitingNeverDangle) {
  start();
  auto& c = envoy();
  publish_and_converge(c, build(simple_world({"a"})));
  snapshot_ptr last;
  for (int step = 0; step < 20; ++step) {
    world w;
    const std::string n = "c" + std::to_string(step);
    const std::string m = "c" + std::to_string(step + 1);
    w.clusters[n] = 1;
    w.clusters[m] = 1;
    w.endpoints[n] = 9500 + step;
    w.endpoints[m] = 9600 + step;
    w.routes = {{"/one", n}, {"/two", m}};
    last = build(w);
    server_->publish(last);  // no waiting: the server must coalesce safely
  }
  ASSERT_TRUE(c.wait_for([&](const state& s) { return holds(s, *last); }, bound));
  EXPECT_TRUE(c.violations().empty()) << c.violations().front();
}

TEST_P(XdsConformanceTest, ListenerSwitchingRouteConfigurationNeverDangles) {
  start();
  auto& c = envoy();
  auto w = simple_world({"a"});
  publish_and_converge(c, build(w));
  w.route_config = "routes-2";
  w.clusters["b"] = 1;
  w.endpoints["b"] = 9700;
  w.routes = {{"/", "b"}};
  publish_and_converge(c, build(w));
  EXPECT_TRUE(c.violations().empty()) << c.violations().front();
}

TEST_P(XdsConformanceTest, ClusterChangeIsFollowedByAFreshLoadAssignment) {
  start();
  auto& c = envoy();
  auto w = simple_world({"a", "b"});
  publish_and_converge(c, build(w));
  const size_t eds_before = c.current().count(endpoint_type);
  w.clusters["a"] = 5;  // endpoints unchanged
  publish_and_converge(c, build(w));
  ASSERT_TRUE(
      c.wait_for([&](const state& s) { return s.count(endpoint_type) > eds_before; }, bound));
  auto s = c.current();
  bool fresh_a = false;
  if (delta()) {
    for (const auto& res : s.delta_responses.back().response.resources())
      fresh_a |= res.name() == "a";
    for (const auto* r : s.delta_of(endpoint_type)) {
      for (const auto& res : r->response.resources()) fresh_a |= res.name() == "a";
    }
  } else {
    for (const auto& any : s.of(endpoint_type).back()->response.resources()) {
      envoy::config::endpoint::v3::ClusterLoadAssignment cla;
      ASSERT_TRUE(any.UnpackTo(&cla));
      fresh_a |= cla.cluster_name() == "a";
    }
  }
  EXPECT_TRUE(fresh_a);
  EXPECT_TRUE(c.violations().empty()) << c.violations().front();
}

// ---- reconnect and restart ----------------------------------------------------------------------

/// Waits until the client's re-subscriptions on a new stream were all answered: in SotW every
/// type answers; in delta only the wildcard types are sure to (the named ones answer when
/// something differs, or with one empty response after initial_resource_versions).
bool wait_reconnect_answered(scripted_xds_client& c, const state& before, bool delta) {
  return c.wait_for(
      [&](const state& s) {
        for (auto type : {cluster_type, endpoint_type, listener_type, route_type}) {
          if (s.count(type) <= before.count(type)) return false;
        }
        (void)delta;
        return true;
      },
      bound);
}

/// After a reconnect, responses carry nothing new: delta responses carry no resources (except
/// the sentinel endpoint `sentinel`) and no removals; SotW responses repeat the versions the
/// client had (except the sentinel's EDS response, the last one).
void expect_no_new_version(const state& s, const state& before, const std::string& sentinel) {
  for (size_t i = before.delta_responses.size(); i < s.delta_responses.size(); ++i) {
    const auto& r = s.delta_responses[i].response;
    EXPECT_TRUE(r.removed_resources().empty()) << r.type_url();
    for (const auto& res : r.resources()) {
      EXPECT_TRUE(r.type_url() == endpoint_type && res.name() == sentinel)
          << r.type_url() << " " << res.name() << " was sent again";
    }
  }
  for (size_t i = before.responses.size(); i + 1 < s.responses.size(); ++i) {
    const auto& r = s.responses[i].response;
    EXPECT_EQ(r.version_info(), before.version(r.type_url())) << r.type_url();
  }
}

TEST_P(XdsConformanceTest, ReconnectWithUnchangedConfigurationGetsNoNewVersion) {
  start();
  auto& c = envoy();
  auto w = simple_world({"a", "b"});
  auto snap = build(w);
  publish_and_converge(c, snap);
  const auto before = c.current();
  c.reconnect(port_);
  ASSERT_TRUE(wait_reconnect_answered(c, before, delta()));
  // A sentinel change after the reconnect answers: it is the only thing allowed to differ.
  w.endpoints["b"] = 9123;
  publish_and_converge(c, build(w));
  expect_no_new_version(c.current(), before, "b");
  EXPECT_TRUE(c.violations().empty()) << c.violations().front();
}

TEST_P(XdsConformanceTest, ReconnectAfterChangesGetsOnlyTheDifferences) {
  start();
  auto& c = envoy();
  auto w = simple_world({"a", "b", "c"});
  publish_and_converge(c, build(w));
  c.close();
  ASSERT_TRUE(wait_streams(0));
  // While the client is away: b's endpoints change, c disappears (routes too).
  w.endpoints["b"] = 9876;
  w.clusters.erase("c");
  w.endpoints.erase("c");
  w.routes = {{"/a", "a"}, {"/b", "b"}};
  auto next = build(w);
  server_->publish(next);
  const auto before = c.current();
  c.reconnect(port_);
  ASSERT_TRUE(c.wait_for([&](const state& s) { return holds(s, *next); }, bound));
  if (delta()) {
    auto s = c.current();
    std::set<std::string> sent, removed;
    for (size_t i = before.delta_responses.size(); i < s.delta_responses.size(); ++i) {
      const auto& r = s.delta_responses[i].response;
      for (const auto& res : r.resources()) sent.insert(r.type_url() + "/" + res.name());
      for (const auto& n : r.removed_resources()) removed.insert(r.type_url() + "/" + n);
    }
    EXPECT_TRUE(sent.contains(std::string(endpoint_type) + "/b"));
    EXPECT_FALSE(sent.contains(std::string(endpoint_type) + "/a"));
    EXPECT_FALSE(sent.contains(std::string(cluster_type) + "/a"));
    EXPECT_TRUE(removed.contains(std::string(cluster_type) + "/c"));
    // initial_resource_versions let the server keep "c" until the routes that used it were
    // replaced, so the client never served a route to a missing cluster.
    EXPECT_TRUE(c.violations().empty()) << c.violations().front();
  }
  // SotW: see ReconnectAfterChangesNeverDangles.
  EXPECT_TRUE(c.violations().empty()) << c.violations().front();
}

TEST_P(XdsConformanceTest, ReconnectAfterChangesNeverDangles) {
  start();
  auto& c = envoy();
  auto w = simple_world({"a", "b", "c"});
  publish_and_converge(c, build(w));
  c.close();
  ASSERT_TRUE(wait_streams(0));
  // While the client is away, c is deleted and the routes stop using it, over two snapshots:
  // the client's versions name neither the current snapshot nor an unknown one.
  w.endpoints["b"] = 9876;
  server_->publish(build(w));
  w.clusters.erase("c");
  w.endpoints.erase("c");
  w.routes = {{"/a", "a"}, {"/b", "b"}};
  auto next = build(w);
  server_->publish(next);
  c.reconnect(port_);
  ASSERT_TRUE(c.wait_for([&](const state& s) { return holds(s, *next); }, bound));
  // SotW clients report one version per type; the server recognizes it among recent snapshots
  // and keeps c until the client acknowledged routes without it, as for delta.
  EXPECT_TRUE(c.violations().empty()) << c.violations().front();
  EXPECT_TRUE(c.consistency_errors().empty());
}

TEST_P(XdsConformanceTest, ServerRestartWithUnchangedConfigurationKeepsEveryVersion) {
  start();
  auto& c = envoy();
  auto w = simple_world({"a", "b"});
  publish_and_converge(c, build(w));
  const auto before = c.current();
  // A second server instance (new nonce epoch) built from the same configuration: versions are
  // content hashes, so they must not move.
  start({}, false);
  server_->publish(build(w));
  server_->open_gate();
  c.reconnect(port_);
  ASSERT_TRUE(wait_reconnect_answered(c, before, delta()));
  w.endpoints["a"] = 9234;
  publish_and_converge(c, build(w));
  expect_no_new_version(c.current(), before, "a");
  EXPECT_TRUE(c.violations().empty()) << c.violations().front();
}

// ---- startup gating ---------------------------------------------------------------------------

TEST_P(XdsConformanceTest, SlowSourceNeverYieldsAPartialSnapshot) {
  start({}, false);
  auto& early = envoy("early");
  // A slow source: the world arrives in pieces while the gate is closed.
  std::vector<std::string> all = {"a", "b", "c", "d", "e", "f"};
  world w;
  for (size_t i = 0; i < all.size(); ++i) {
    w.clusters[all[i]] = 1;
    w.endpoints[all[i]] = 9800 + static_cast<int>(i);
    w.routes.emplace_back("/" + all[i], all[i]);
    server_->publish(build(w));
    if (i == 2) envoy("late");  // connects in the middle of the sync
  }
  auto full = build(w);
  ASSERT_TRUE(wait_streams(2));
  EXPECT_EQ(early.current().response_count, 0u);
  server_->open_gate();
  auto& late = *clients_.back();
  for (auto* c : {&early, &late}) {
    ASSERT_TRUE(c->wait_for([&](const state& s) { return holds(s, *full); }, bound));
    auto s = c->current();
    // Every cluster or listener response ever received was the full configuration.
    for (const auto& r : s.responses) {
      if (r.response.type_url() == cluster_type) {
        EXPECT_EQ(r.response.resources_size(), static_cast<int>(all.size()));
      }
    }
    for (const auto* r : s.delta_of(cluster_type)) {
      EXPECT_EQ(r->response.resources_size(), static_cast<int>(all.size()));
    }
    EXPECT_TRUE(c->violations().empty()) << c->violations().front();
  }
}

TEST_P(XdsConformanceTest, ClientsOfTheSameRoleConvergeToIdenticalVersions) {
  start();
  auto snap = build(simple_world({"a", "b"}));
  server_->publish(snap);
  auto& one = envoy("envoy-1");
  auto& two = envoy("envoy-2");
  ASSERT_TRUE(one.wait_for([&](const state& s) { return holds(s, *snap); }, bound));
  ASSERT_TRUE(two.wait_for([&](const state& s) { return holds(s, *snap); }, bound));
  auto a = one.current(), b = two.current();
  EXPECT_EQ(a.accepted_version, b.accepted_version);
  EXPECT_EQ(a.resource_versions, b.resource_versions);
}

// ---- limits and bad requests ------------------------------------------------------------------

/// After a bad client, the server must still serve a good one.
void expect_healthy(int port, bool delta) {
  scripted_xds_client_options o;
  o.node_id = "healthy";
  o.role = role;
  o.delta = delta;
  scripted_xds_client good(o);
  ASSERT_TRUE(good.connect(port));
  good.subscribe(cluster_type);
  EXPECT_TRUE(good.wait_for([](const state& s) { return s.count(cluster_type) >= 1; }, bound));
}

TEST_P(XdsConformanceTest, HundredThousandNamesEndTheStreamWithResourceExhausted) {
  start();
  server_->publish(build(simple_world({"a"})));
  raw_stream raw(port_, delta());
  std::vector<std::string> names;
  names.reserve(100'000);
  for (int i = 0; i < 100'000; ++i) names.push_back("n" + std::to_string(i));
  raw.subscribe(endpoint_type, names);
  auto status = raw.finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(status.error_message().find("names"), std::string::npos);
  EXPECT_EQ(server_->metrics().bad_requests, 1u);
  expect_healthy(port_, delta());
}

TEST_P(XdsConformanceTest, UnknownTypeUrlEndsTheStreamWithInvalidArgument) {
  start();
  server_->publish(build(simple_world({"a"})));
  raw_stream raw(port_, delta());
  raw.subscribe("type.googleapis.com/not.an.xds.Type", {});
  auto status = raw.finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("not.an.xds.Type"), std::string::npos);
  expect_healthy(port_, delta());
}

TEST_P(XdsConformanceTest, MalformedNodeEndsTheStreamWithInvalidArgument) {
  start();
  server_->publish(build(simple_world({"a"})));
  {
    raw_stream raw(port_, delta());
    raw.subscribe(cluster_type, {}, false);  // first request without a node
    auto status = raw.finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("node id"), std::string::npos);
  }
  {
    raw_stream raw(port_, delta());
    DiscoveryRequest sotw;
    sotw.set_type_url(std::string(cluster_type));
    sotw.mutable_node()->set_id("bad-role");
    (*sotw.mutable_node()->mutable_metadata()->mutable_fields())["role"].set_bool_value(true);
    DeltaDiscoveryRequest d;
    d.set_type_url(std::string(cluster_type));
    *d.mutable_node() = sotw.node();
    raw.send(sotw, d);
    auto status = raw.finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("metadata.role"), std::string::npos);
  }
  EXPECT_EQ(server_->metrics().bad_requests, 2u);
  expect_healthy(port_, delta());
}

TEST_P(XdsConformanceTest, OversizedRequestIsRejectedByTheReceiveLimit) {
  start({.max_receive_bytes = 64 * 1024});
  server_->publish(build(simple_world({"a"})));
  raw_stream raw(port_, delta());
  raw.subscribe(endpoint_type, {std::string(100 * 1024, 'n')});
  auto status = raw.finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  expect_healthy(port_, delta());
}

TEST_P(XdsConformanceTest, StreamsBeyondTheLimitAreRefused) {
  start({.max_streams = 2});
  server_->publish(build(simple_world({"a"})));
  auto& one = named("one");
  auto& two = named("two");
  one.subscribe(cluster_type);
  two.subscribe(cluster_type);
  ASSERT_TRUE(one.wait_for([](const state& s) { return s.count(cluster_type) >= 1; }, bound));
  ASSERT_TRUE(two.wait_for([](const state& s) { return s.count(cluster_type) >= 1; }, bound));
  auto& three = named("three");
  three.subscribe(cluster_type);
  ASSERT_TRUE(three.wait_for([](const state& s) { return s.stream_ended; }, bound));
  EXPECT_EQ(three.current().end_code, static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  EXPECT_EQ(server_->metrics().streams_refused, 1u);
  EXPECT_FALSE(one.current().stream_ended);
}

TEST_P(XdsConformanceTest, SlowClientGetsTheNewestStateNotAQueue) {
  start();
  auto w = simple_world({"big"});
  w.pad_bytes = 2 * 1024 * 1024;  // responses far larger than the HTTP/2 windows
  server_->publish(build(w));
  raw_stream raw(port_, delta());
  raw.subscribe(cluster_type, {});
  auto first = raw.read();
  ASSERT_TRUE(first);
  // The client stops reading; twenty versions are published meanwhile.
  snapshot_ptr newest;
  for (int generation = 2; generation <= 21; ++generation) {
    w.clusters["big"] = generation;
    newest = build(w);
    server_->publish(newest);
  }
  const std::string newest_version = delta() ? newest->of(cluster_type).items.at("big")->version
                                             : newest->of(cluster_type).version;
  int read = 0;
  std::string last;
  while (last != newest_version) {
    auto r = raw.read();
    ASSERT_TRUE(r);
    last = r->version;
    ++read;
    ASSERT_LE(read, 20);
  }
  // Latest wins: far fewer responses than publishes (what the transport buffered before the
  // client stopped reading, then the newest), and the newest came.
  EXPECT_LE(read, 6);
  EXPECT_EQ(last, newest_version);
}

TEST_P(XdsConformanceTest, StalledStreamIsCancelledAfterTheDeadline) {
  start({.stall_timeout = 300ms});
  auto w = simple_world({"big"});
  w.pad_bytes = 2 * 1024 * 1024;
  server_->publish(build(w));
  raw_stream raw(port_, delta());
  raw.subscribe(cluster_type, {});
  ASSERT_TRUE(wait_streams(1));
  // The client never reads: a 2 MiB response cannot drain, and a second one waits behind it.
  w.clusters["big"] = 2;
  server_->publish(build(w));
  ASSERT_TRUE(wait_metrics([](const ads_metrics& m) { return m.streams_stalled == 1; }));
  ASSERT_TRUE(wait_streams(0));
  EXPECT_NE(raw.finish().error_code(), grpc::StatusCode::OK);
  expect_healthy(port_, delta());
}

TEST_P(XdsConformanceTest, SilentStreamIsCancelledAfterTheDeadline) {
  start({.stall_timeout = 200ms});
  server_->publish(build(simple_world({"a"})));
  raw_stream raw(port_, delta());  // opens the stream, never sends a request
  auto status = raw.finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(server_->metrics().streams_stalled, 1u);
  expect_healthy(port_, delta());
}

TEST_P(XdsConformanceTest, MetricsCountStreamsAndBytesPerProtocol) {
  start();
  auto snap = build(simple_world({"a"}));
  server_->publish(snap);
  auto& c = envoy();
  ASSERT_TRUE(c.wait_for([&](const state& s) { return holds(s, *snap); }, bound));
  auto m = server_->metrics();
  EXPECT_EQ(m.streams_opened, 1u);
  EXPECT_EQ(delta() ? m.delta_streams : m.sotw_streams, 1u);
  EXPECT_EQ(delta() ? m.sotw_streams : m.delta_streams, 0u);
  EXPECT_EQ(delta() ? m.delta_bytes : m.sotw_bytes, c.current().bytes_received);
  EXPECT_EQ(delta() ? m.delta_responses : m.sotw_responses, c.current().response_count);
}

INSTANTIATE_TEST_SUITE_P(Modes, XdsConformanceTest, ::testing::Values(mode::sotw, mode::delta),
                         [](const auto& info) {
                           return std::string(info.param == mode::sotw ? "Sotw" : "Delta");
                         });

// ---- mode-specific scenarios ------------------------------------------------------------------

class XdsConformanceSingleModeTest : public ::testing::Test {};

TEST_F(XdsConformanceSingleModeTest, DeltaLegacyWildcardEmptyFirstRequest) {
  // Only meaningful in delta; the fixture's parameter is not used.
  ads_server server({.listen = "127.0.0.1:0"});
  auto port = server.start();
  ASSERT_TRUE(port);
  auto snap = build(simple_world({"a", "b"}));
  server.publish(snap);
  server.open_gate();
  raw_stream raw(*port, true);
  raw.subscribe(cluster_type, {});  // both lists empty on the first request
  auto r = raw.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->type_url, cluster_type);
  EXPECT_EQ(r->resources, 2);
  server.stop();
}

TEST_F(XdsConformanceSingleModeTest, SotwEmptyNameListAfterNamesUnsubscribesEverything) {
  ads_server server({.listen = "127.0.0.1:0"});
  auto port = server.start();
  ASSERT_TRUE(port);
  server.publish(build(simple_world({"a", "b"})));
  server.open_gate();
  scripted_xds_client_options o;
  o.role = role;
  scripted_xds_client c(o);
  ASSERT_TRUE(c.connect(*port));
  c.subscribe(cluster_type, {"a"});
  ASSERT_TRUE(c.wait_for([](const state& s) { return s.count(cluster_type) >= 1; }, bound));
  c.subscribe(cluster_type, {});
  // Probes on other types: their answers prove the server read everything sent before them.
  c.subscribe(endpoint_type, {"a"});
  ASSERT_TRUE(c.wait_for([](const state& s) { return s.count(endpoint_type) >= 1; }, bound));
  // Not a wildcard now: a change to clusters reaches the client as nothing at all.
  auto w = simple_world({"a", "b", "c"});
  w.clusters["a"] = 4;
  server.publish(build(w));
  c.subscribe(route_type, {"routes-1"});
  ASSERT_TRUE(c.wait_for([](const state& s) { return s.count(route_type) >= 1; }, bound));
  EXPECT_EQ(c.current().count(cluster_type), 1u);
  c.close();
  server.stop();
}

TEST_F(XdsConformanceSingleModeTest, SotwAndDeltaClientsShareOneServer) {
  ads_server server({.listen = "127.0.0.1:0"});
  auto port = server.start();
  ASSERT_TRUE(port);
  auto snap = build(simple_world({"a", "b"}));
  server.publish(snap);
  server.open_gate();
  std::vector<std::unique_ptr<scripted_xds_client>> clients;
  for (bool d : {false, true}) {
    scripted_xds_client_options o;
    o.node_id = d ? "delta-envoy" : "sotw-envoy";
    o.role = role;
    o.delta = d;
    o.follow_references = true;
    clients.push_back(std::make_unique<scripted_xds_client>(o));
    ASSERT_TRUE(clients.back()->connect(*port));
    clients.back()->subscribe(cluster_type);
    clients.back()->subscribe(listener_type);
  }
  auto w = simple_world({"b", "c"});
  auto next = build(w);
  server.publish(next);
  for (auto& c : clients) {
    ASSERT_TRUE(c->wait_for([&](const state& s) { return holds(s, *next); }, bound));
    EXPECT_TRUE(c->violations().empty()) << c->violations().front();
  }
  auto m = server.metrics();
  EXPECT_EQ(m.sotw_streams, 1u);
  EXPECT_EQ(m.delta_streams, 1u);
  clients.clear();
  server.stop();
}

}  // namespace
}  // namespace sluice::xds
