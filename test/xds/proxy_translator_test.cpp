#include "xds/proxy_translator.hpp"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb.h"
#include "model/gateway_translator.hpp"
#include "model/resource.hpp"
#include "solo/gateway.pb.h"
#include "solo/gloo.pb.h"
#include "xds/snapshot_checker.hpp"

namespace sluice::xds {
namespace {

namespace gw = ::gateway::solo::io;
namespace gl = ::gloo::solo::io;
namespace listener_v3 = envoy::config::listener::v3;
namespace route_v3 = envoy::config::route::v3;
namespace cluster_v3 = envoy::config::cluster::v3;
namespace endpoint_v3 = envoy::config::endpoint::v3;
namespace hcm_v3 = envoy::extensions::filters::network::http_connection_manager::v3;
using model::resource_key;
using model::resource_kind;

// Builds worlds from Gloo's JSON form (the same field names as the YAML users write).
class world_builder {
 public:
  template <class T>
  world_builder& add(resource_kind kind, const std::string& ns, const std::string& name,
                     const std::string& json) {
    auto msg = std::make_shared<T>();
    auto status = google::protobuf::util::JsonStringToMessage(json, msg.get());
    EXPECT_TRUE(status.ok()) << name << ": " << status.ToString();
    msg->mutable_metadata()->set_name(name);
    msg->mutable_metadata()->set_namespace_(ns);
    model::stored_resource r;
    r.key = resource_key{kind, ns, name};
    r.content_hash = model::content_hash(model::canonical_bytes(*msg));
    r.seq = ++seq_;
    r.message = std::move(msg);
    w_.put(std::move(r));
    w_.set_watermark(seq_);
    return *this;
  }
  world_builder& gateway(const std::string& ns, const std::string& name, const std::string& json) {
    return add<gw::Gateway>(resource_kind::gateway, ns, name, json);
  }
  world_builder& vs(const std::string& ns, const std::string& name, const std::string& json) {
    return add<gw::VirtualService>(resource_kind::virtual_service, ns, name, json);
  }
  world_builder& rt(const std::string& ns, const std::string& name, const std::string& json) {
    return add<gw::RouteTable>(resource_kind::route_table, ns, name, json);
  }
  world_builder& upstream(const std::string& ns, const std::string& name, const std::string& json) {
    return add<gl::Upstream>(resource_kind::upstream, ns, name, json);
  }
  world_builder& group(const std::string& ns, const std::string& name, const std::string& json) {
    return add<gl::UpstreamGroup>(resource_kind::upstream_group, ns, name, json);
  }
  world_builder& endpoint(const std::string& ns, const std::string& name, const std::string& json) {
    return add<gl::Endpoint>(resource_kind::endpoint, ns, name, json);
  }
  world_builder& secret(const std::string& ns, const std::string& name, const std::string& json) {
    return add<gl::Secret>(resource_kind::secret, ns, name, json);
  }
  const model::world& get() const { return w_; }

 private:
  model::world w_;
  uint64_t seq_ = 0;
};

resource_key vs_key(const std::string& ns, const std::string& name) {
  return {resource_kind::virtual_service, ns, name};
}

const model::resource_report* find_report(const model::translation_report& r,
                                          const resource_key& k) {
  auto i = r.entries().find(k);
  return i == r.entries().end() ? nullptr : &i->second;
}

bool has_message(const std::vector<std::string>& list, const std::string& part) {
  return std::any_of(list.begin(), list.end(),
                     [&](const std::string& m) { return m.find(part) != std::string::npos; });
}

template <class Message>
Message get(const snapshot& s, std::string_view type, const std::string& name) {
  Message m;
  const auto& items = s.of(type).items;
  auto i = items.find(name);
  EXPECT_NE(i, items.end()) << "missing " << type << " " << name;
  if (i != items.end()) {
    EXPECT_TRUE(m.ParseFromString(i->second->bytes));
  }
  return m;
}

std::vector<std::string> names(const snapshot& s, std::string_view type) {
  std::vector<std::string> out;
  for (const auto& [name, r] : s.of(type).items) {
    out.push_back(name);
  }
  return out;
}

// The full pipeline of the skeleton: gateways -> proxies -> the one proxy's Envoy snapshot.
struct pipeline_result {
  snapshot_ptr snap;
  model::translation_report report;
};

pipeline_result run(const model::world& w, const envoy_translation_options& options = {}) {
  pipeline_result out;
  auto proxies = model::translate_gateways(w, out.report);
  EXPECT_EQ(proxies.size(), 1u);
  if (proxies.empty()) {
    return out;
  }
  out.snap = translate_proxy(proxies[0].role, proxies[0].proxy, w, out.report, options);
  EXPECT_EQ(check_snapshot(*out.snap), std::vector<std::string>{});
  return out;
}

route_v3::VirtualHost only_vhost(const snapshot& s, const std::string& rc) {
  auto config = get<route_v3::RouteConfiguration>(s, route_type, rc);
  EXPECT_EQ(config.virtual_hosts_size(), 1);
  return config.virtual_hosts_size() > 0 ? config.virtual_hosts(0) : route_v3::VirtualHost();
}

hcm_v3::HttpConnectionManager hcm_of(const listener_v3::Listener& l) {
  hcm_v3::HttpConnectionManager hcm;
  if (l.has_api_listener()) {
    EXPECT_TRUE(l.api_listener().api_listener().UnpackTo(&hcm));
  } else {
    EXPECT_EQ(l.filter_chains_size(), 1);
    EXPECT_EQ(l.filter_chains(0).filters(0).name(),
              "envoy.filters.network.http_connection_manager");
    EXPECT_TRUE(l.filter_chains(0).filters(0).typed_config().UnpackTo(&hcm));
  }
  return hcm;
}

constexpr const char* gateway_8080 =
    R"({"bindAddress": "::", "bindPort": 8080, "httpGateway": {}})";
constexpr const char* static_upstream =
    R"({"static": {"hosts": [{"addr": "127.0.0.1", "port": 9001}, {"addr": "127.0.0.2", "port": 9002}]}})";

TEST(ProxyTranslatorTest, ListenerRouteConfigurationAndVirtualHostHaveGlooShapes) {
  world_builder b;
  b.gateway("gloo-system", "gateway-proxy", gateway_8080)
      .upstream("gloo-system", "backend", static_upstream)
      .vs("default", "shop",
          R"({"virtualHost": {"domains": ["shop.example.com", "shop"], "routes": [
                {"routeAction": {"single": {"upstream": {"name": "backend", "namespace": "gloo-system"}}}}]}})")
      .vs("default", "catchall",
          R"({"virtualHost": {"routes": [{"directResponseAction": {"status": 200, "body": "ok"}}]}})");
  auto res = run(b.get());
  ASSERT_TRUE(res.snap);
  const auto& s = *res.snap;
  EXPECT_EQ(s.key, "gloo-system~gateway-proxy");
  EXPECT_EQ(names(s, listener_type), std::vector<std::string>{"listener-::-8080"});
  auto l = get<listener_v3::Listener>(s, listener_type, "listener-::-8080");
  EXPECT_EQ(l.address().socket_address().address(), "::");
  EXPECT_EQ(l.address().socket_address().port_value(), 8080u);
  EXPECT_TRUE(l.address().socket_address().ipv4_compat());
  auto hcm = hcm_of(l);
  EXPECT_EQ(hcm.stat_prefix(), "http");
  EXPECT_EQ(hcm.codec_type(), hcm_v3::HttpConnectionManager::AUTO);
  EXPECT_TRUE(hcm.rds().config_source().has_ads());
  EXPECT_EQ(hcm.rds().route_config_name(), "listener-::-8080-routes");
  ASSERT_EQ(hcm.http_filters_size(), 1);
  EXPECT_EQ(hcm.http_filters(0).name(), "envoy.filters.http.router");
  EXPECT_TRUE(hcm.http_filters(0)
                  .typed_config()
                  .Is<envoy::extensions::filters::http::router::v3::Router>());

  auto rc = get<route_v3::RouteConfiguration>(s, route_type, "listener-::-8080-routes");
  ASSERT_EQ(rc.virtual_hosts_size(), 2);
  EXPECT_EQ(rc.virtual_hosts(0).name(), "default_catchall");
  ASSERT_EQ(rc.virtual_hosts(0).domains_size(), 1);
  EXPECT_EQ(rc.virtual_hosts(0).domains(0), "*");
  const auto& shop = rc.virtual_hosts(1);
  EXPECT_EQ(shop.name(), "default_shop");
  ASSERT_EQ(shop.domains_size(), 2);
  EXPECT_EQ(shop.domains(0), "shop.example.com");
  ASSERT_EQ(shop.routes_size(), 1);
  EXPECT_EQ(shop.routes(0).name(), "default_shop-route-0-matcher-0");
  EXPECT_EQ(shop.routes(0).match().prefix(), "/");
  EXPECT_EQ(shop.routes(0).route().cluster(), "backend_gloo-system");
  EXPECT_EQ(rc.virtual_hosts(0).routes(0).direct_response().body().inline_string(), "ok");
}

TEST(ProxyTranslatorTest, MatchersBecomeEnvoyRouteMatches) {
  world_builder b;
  b.gateway("gloo-system", "gw", gateway_8080)
      .upstream("default", "up", static_upstream)
      .vs("default", "vs",
          R"({"virtualHost": {"routes": [{"matchers": [
                {"prefix": "/p", "caseSensitive": false},
                {"exact": "/e"},
                {"regex": "/r/[0-9]+"},
                {"prefix": "/h", "headers": [
                   {"name": "x-present"},
                   {"name": "x-exact", "value": "v"},
                   {"name": "x-regex", "value": "a.*", "regex": true},
                   {"name": "x-not", "value": "no", "invertMatch": true}]},
                {"prefix": "/q", "queryParameters": [
                   {"name": "present"}, {"name": "exact", "value": "1"}, {"name": "re", "value": "[a-z]+", "regex": true}]},
                {"prefix": "/m", "methods": ["GET", "POST"]}],
              "routeAction": {"single": {"upstream": {"name": "up"}}}}]}})");
  auto res = run(b.get());
  ASSERT_TRUE(res.snap);
  auto vh = only_vhost(*res.snap, "listener-::-8080-routes");
  ASSERT_EQ(vh.routes_size(), 6);
  for (int j = 0; j < 6; ++j) {
    EXPECT_EQ(vh.routes(j).name(), "default_vs-route-0-matcher-" + std::to_string(j));
    EXPECT_EQ(vh.routes(j).route().cluster(), "up_default");
  }
  EXPECT_EQ(vh.routes(0).match().prefix(), "/p");
  EXPECT_FALSE(vh.routes(0).match().case_sensitive().value());
  EXPECT_TRUE(vh.routes(0).match().has_case_sensitive());
  EXPECT_EQ(vh.routes(1).match().path(), "/e");
  EXPECT_EQ(vh.routes(2).match().safe_regex().regex(), "/r/[0-9]+");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  EXPECT_TRUE(vh.routes(2).match().safe_regex().has_google_re2());
#pragma GCC diagnostic pop
  const auto& h = vh.routes(3).match().headers();
  ASSERT_EQ(h.size(), 4);
  EXPECT_TRUE(h[0].present_match());
  EXPECT_EQ(h[1].string_match().exact(), "v");
  EXPECT_EQ(h[2].string_match().safe_regex().regex(), "a.*");
  EXPECT_EQ(h[3].string_match().exact(), "no");
  EXPECT_TRUE(h[3].invert_match());
  const auto& q = vh.routes(4).match().query_parameters();
  ASSERT_EQ(q.size(), 3);
  EXPECT_TRUE(q[0].present_match());
  EXPECT_EQ(q[1].string_match().exact(), "1");
  EXPECT_EQ(q[2].string_match().safe_regex().regex(), "[a-z]+");
  const auto& m = vh.routes(5).match().headers();
  ASSERT_EQ(m.size(), 1);
  EXPECT_EQ(m[0].name(), ":method");
  EXPECT_EQ(m[0].string_match().safe_regex().regex(), "GET|POST");
}

TEST(ProxyTranslatorTest, MultiDestinationsAndUpstreamGroupsBecomeWeightedClusters) {
  world_builder b;
  b.gateway("gloo-system", "gw", gateway_8080)
      .upstream("default", "a", static_upstream)
      .upstream("other", "b", static_upstream)
      .group("default", "ab",
             R"({"destinations": [
                   {"destination": {"upstream": {"name": "a"}}, "weight": 1},
                   {"destination": {"upstream": {"name": "b", "namespace": "other"}}, "weight": 3}]})")
      .vs("default", "vs",
          R"({"virtualHost": {"routes": [
                {"matchers": [{"prefix": "/multi"}], "routeAction": {"multi": {"destinations": [
                   {"destination": {"upstream": {"name": "a"}}, "weight": 70,
                    "options": {"headerManipulation": {"requestHeadersToAdd": [{"header": {"key": "x-a", "value": "1"}}]}}},
                   {"destination": {"upstream": {"name": "b", "namespace": "other"},
                                    "subset": {"values": {"version": "v2"}}}, "weight": 30}]}}},
                {"matchers": [{"prefix": "/group"}], "routeAction": {"upstreamGroup": {"name": "ab"}}}]}})");
  auto res = run(b.get());
  ASSERT_TRUE(res.snap);
  auto vh = only_vhost(*res.snap, "listener-::-8080-routes");
  ASSERT_EQ(vh.routes_size(), 2);
  const auto& multi = vh.routes(0).route().weighted_clusters();
  ASSERT_EQ(multi.clusters_size(), 2);
  EXPECT_EQ(multi.clusters(0).name(), "a_default");
  EXPECT_EQ(multi.clusters(0).weight().value(), 70u);
  ASSERT_EQ(multi.clusters(0).request_headers_to_add_size(), 1);
  EXPECT_EQ(multi.clusters(0).request_headers_to_add(0).header().key(), "x-a");
  EXPECT_EQ(multi.clusters(1).name(), "b_other");
  EXPECT_EQ(multi.clusters(1)
                .metadata_match()
                .filter_metadata()
                .at("envoy.lb")
                .fields()
                .at("version")
                .string_value(),
            "v2");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  EXPECT_EQ(multi.total_weight().value(), 100u);
  const auto& group = vh.routes(1).route().weighted_clusters();
  EXPECT_EQ(group.total_weight().value(), 4u);
#pragma GCC diagnostic pop
  ASSERT_EQ(group.clusters_size(), 2);
  EXPECT_EQ(group.clusters(0).name(), "a_default");  // the group's namespace fills the ref
  EXPECT_EQ(group.clusters(1).weight().value(), 3u);
}

TEST(ProxyTranslatorTest, RedirectAndDirectResponseActions) {
  world_builder b;
  b.gateway("gloo-system", "gw", gateway_8080)
      .vs("default", "vs",
          R"({"virtualHost": {"routes": [
                {"matchers": [{"prefix": "/old"}], "redirectAction": {"hostRedirect": "new.example.com",
                   "prefixRewrite": "/new", "responseCode": "PERMANENT_REDIRECT", "httpsRedirect": true,
                   "stripQuery": true, "portRedirect": 8443}},
                {"matchers": [{"prefix": "/path"}], "redirectAction": {"pathRedirect": "/elsewhere"}},
                {"matchers": [{"prefix": "/"}], "directResponseAction": {"status": 418, "body": "teapot"}}]}})");
  auto res = run(b.get());
  ASSERT_TRUE(res.snap);
  auto vh = only_vhost(*res.snap, "listener-::-8080-routes");
  ASSERT_EQ(vh.routes_size(), 3);
  const auto& r = vh.routes(0).redirect();
  EXPECT_EQ(r.host_redirect(), "new.example.com");
  EXPECT_EQ(r.prefix_rewrite(), "/new");
  EXPECT_EQ(r.response_code(), route_v3::RedirectAction::PERMANENT_REDIRECT);
  EXPECT_TRUE(r.https_redirect());
  EXPECT_TRUE(r.strip_query());
  EXPECT_EQ(r.port_redirect(), 8443u);
  EXPECT_EQ(vh.routes(1).redirect().path_redirect(), "/elsewhere");
  EXPECT_EQ(vh.routes(1).redirect().response_code(), route_v3::RedirectAction::MOVED_PERMANENTLY);
  EXPECT_EQ(vh.routes(2).direct_response().status(), 418u);
  EXPECT_EQ(vh.routes(2).direct_response().body().inline_string(), "teapot");
}

TEST(ProxyTranslatorTest, MissingDestinationBecomesADirectResponseAndAWarning) {
  world_builder b;
  b.gateway("gloo-system", "gw", gateway_8080)
      .upstream("default", "here", static_upstream)
      .vs("default", "vs",
          R"({"virtualHost": {"routes": [
                {"matchers": [{"prefix": "/gone"}], "routeAction": {"single": {"upstream": {"name": "gone"}}}},
                {"matchers": [{"prefix": "/group"}], "routeAction": {"upstreamGroup": {"name": "nogroup"}}},
                {"matchers": [{"prefix": "/half"}], "routeAction": {"multi": {"destinations": [
                   {"destination": {"upstream": {"name": "here"}}, "weight": 1},
                   {"destination": {"upstream": {"name": "gone"}}, "weight": 1}]}}},
                {"matchers": [{"prefix": "/"}], "routeAction": {"single": {"upstream": {"name": "here"}}}}]}})");
  envoy_translation_options options;
  options.invalid_route_status = 599;
  options.invalid_route_body = "missing";
  auto res = run(b.get(), options);
  ASSERT_TRUE(res.snap);
  auto vh = only_vhost(*res.snap, "listener-::-8080-routes");
  ASSERT_EQ(vh.routes_size(), 4);
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(vh.routes(i).has_route()) << i;
    EXPECT_EQ(vh.routes(i).direct_response().status(), 599u) << i;
    EXPECT_EQ(vh.routes(i).direct_response().body().inline_string(), "missing");
  }
  EXPECT_EQ(vh.routes(3).route().cluster(), "here_default");
  const auto* r = find_report(res.report, vs_key("default", "vs"));
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->errors.empty());
  EXPECT_TRUE(has_message(r->warnings, "upstream default.gone does not exist"));
  EXPECT_TRUE(has_message(r->warnings, "upstream group default.nogroup does not exist"));
}

TEST(ProxyTranslatorTest, RouteWithABadRegexIsDroppedWithAnErrorOnTheVirtualService) {
  world_builder b;
  b.gateway("gloo-system", "gw", gateway_8080)
      .upstream("default", "up", static_upstream)
      .vs("default", "vs",
          R"({"virtualHost": {"domains": ["a"], "routes": [
                {"matchers": [{"regex": "/bad/(unclosed"}], "routeAction": {"single": {"upstream": {"name": "up"}}}},
                {"matchers": [{"prefix": "/h", "headers": [{"name": "x", "value": "[z-a]", "regex": true}]}],
                 "routeAction": {"single": {"upstream": {"name": "up"}}}},
                {"matchers": [{"prefix": "/"}], "routeAction": {"single": {"upstream": {"name": "up"}}}}]}})")
      .vs("default", "other", R"({"virtualHost": {"domains": ["b"], "routes": [
                {"routeAction": {"single": {"upstream": {"name": "up"}}}}]}})");
  auto res = run(b.get());
  ASSERT_TRUE(res.snap);
  auto rc = get<route_v3::RouteConfiguration>(*res.snap, route_type, "listener-::-8080-routes");
  ASSERT_EQ(rc.virtual_hosts_size(), 2);
  const auto& vh = rc.virtual_hosts(1);
  EXPECT_EQ(vh.name(), "default_vs");
  ASSERT_EQ(vh.routes_size(), 1);
  // Route indexes stay those of the Proxy: the surviving route is still route 2.
  EXPECT_EQ(vh.routes(0).name(), "default_vs-route-2-matcher-0");
  const auto* r = find_report(res.report, vs_key("default", "vs"));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->errors.size(), 2u);
  EXPECT_TRUE(has_message(r->errors, "/bad/(unclosed"));
  EXPECT_TRUE(find_report(res.report, vs_key("default", "other"))->errors.empty());
}

TEST(ProxyTranslatorTest, RegexOverTheProgramSizeLimitIsRejected) {
  world_builder b;
  b.gateway("gloo-system", "gw", gateway_8080)
      .vs("default", "vs",
          R"({"virtualHost": {"routes": [
                {"matchers": [{"regex": "/(abcdefghij){20}"}], "directResponseAction": {"status": 200}},
                {"matchers": [{"prefix": "/"}], "directResponseAction": {"status": 200}}]}})");
  auto res = run(b.get());
  ASSERT_TRUE(res.snap);
  EXPECT_EQ(only_vhost(*res.snap, "listener-::-8080-routes").routes_size(), 1);
  EXPECT_TRUE(
      has_message(find_report(res.report, vs_key("default", "vs"))->errors, "program size"));
}

TEST(ProxyTranslatorTest, RouteOptionsAreApplied) {
  world_builder b;
  b.gateway("gloo-system", "gw", gateway_8080)
      .upstream("default", "up", static_upstream)
      .vs("default", "vs",
          R"({"virtualHost": {"options": {"headerManipulation": {"responseHeadersToAdd": [
                {"header": {"key": "x-vh", "value": "1"}}]}},
              "routes": [{"matchers": [{"prefix": "/api"}],
                "routeAction": {"single": {"upstream": {"name": "up"}}},
                "options": {"prefixRewrite": "/", "timeout": "2.5s", "hostRewrite": "internal",
                  "retries": {"retryOn": "5xx", "numRetries": 3, "perTryTimeout": "1s",
                              "retryBackOff": {"baseInterval": "0.1s", "maxInterval": "1s"}},
                  "headerManipulation": {
                    "requestHeadersToAdd": [{"header": {"key": "x-add", "value": "v"}, "append": false}],
                    "requestHeadersToRemove": ["x-drop"]}}}]}})");
  auto res = run(b.get());
  ASSERT_TRUE(res.snap);
  auto vh = only_vhost(*res.snap, "listener-::-8080-routes");
  ASSERT_EQ(vh.response_headers_to_add_size(), 1);
  ASSERT_EQ(vh.routes_size(), 1);
  const auto& r = vh.routes(0);
  EXPECT_EQ(r.route().prefix_rewrite(), "/");
  EXPECT_EQ(r.route().timeout().seconds(), 2);
  EXPECT_EQ(r.route().timeout().nanos(), 500000000);
  EXPECT_EQ(r.route().host_rewrite_literal(), "internal");
  EXPECT_EQ(r.route().retry_policy().retry_on(), "5xx");
  EXPECT_EQ(r.route().retry_policy().num_retries().value(), 3u);
  EXPECT_EQ(r.route().retry_policy().retry_back_off().base_interval().nanos(), 100000000);
  ASSERT_EQ(r.request_headers_to_add_size(), 1);
  EXPECT_EQ(r.request_headers_to_add(0).header().key(), "x-add");
  EXPECT_EQ(r.request_headers_to_add(0).append_action(),
            envoy::config::core::v3::HeaderValueOption::OVERWRITE_IF_EXISTS_OR_ADD);
  ASSERT_EQ(r.request_headers_to_remove_size(), 1);
}

TEST(ProxyTranslatorTest, StaticUpstreamClusters) {
  world_builder b;
  b.gateway("gloo-system", "gw", gateway_8080)
      .upstream(
          "gloo-system", "ips",
          R"({"static": {"hosts": [{"addr": "10.0.0.1", "port": 80, "loadBalancingWeight": 3}]},
                    "useHttp2": true,
                    "circuitBreakers": {"maxConnections": 10, "maxRequests": 20},
                    "loadBalancerConfig": {"leastRequest": {"choiceCount": 4}, "healthyPanicThreshold": 50},
                    "connectionConfig": {"connectTimeout": "2s"}})")
      .upstream("gloo-system", "dns",
                R"({"static": {"hosts": [{"addr": "example.com", "port": 443}]},
                    "loadBalancerConfig": {"ringHash": {"ringHashConfig": {"minimumRingSize": 64}}}})")
      .upstream("gloo-system", "bad", R"({"static": {"hosts": [{"addr": "", "port": 80}]}})")
      .vs("default", "vs",
          R"({"virtualHost": {"routes": [{"directResponseAction": {"status": 200}}]}})");
  auto res = run(b.get());
  ASSERT_TRUE(res.snap);
  EXPECT_EQ(names(*res.snap, cluster_type),
            (std::vector<std::string>{"dns_gloo-system", "ips_gloo-system"}));
  EXPECT_TRUE(res.snap->of(endpoint_type).items.empty());
  auto ips = get<cluster_v3::Cluster>(*res.snap, cluster_type, "ips_gloo-system");
  EXPECT_EQ(ips.type(), cluster_v3::Cluster::STATIC);
  EXPECT_EQ(ips.connect_timeout().seconds(), 2);
  ASSERT_EQ(ips.load_assignment().endpoints_size(), 1);
  ASSERT_EQ(ips.load_assignment().endpoints(0).lb_endpoints_size(), 1);
  const auto& ep = ips.load_assignment().endpoints(0).lb_endpoints(0);
  EXPECT_EQ(ep.endpoint().address().socket_address().address(), "10.0.0.1");
  EXPECT_EQ(ep.endpoint().address().socket_address().port_value(), 80u);
  EXPECT_EQ(ep.load_balancing_weight().value(), 3u);
  EXPECT_EQ(ips.lb_policy(), cluster_v3::Cluster::LEAST_REQUEST);
  EXPECT_EQ(ips.least_request_lb_config().choice_count().value(), 4u);
  EXPECT_EQ(ips.common_lb_config().healthy_panic_threshold().value(), 50);
  EXPECT_EQ(ips.circuit_breakers().thresholds(0).max_connections().value(), 10u);
  EXPECT_EQ(ips.circuit_breakers().thresholds(0).max_requests().value(), 20u);
  envoy::extensions::upstreams::http::v3::HttpProtocolOptions h2;
  ASSERT_TRUE(ips.typed_extension_protocol_options()
                  .at("envoy.extensions.upstreams.http.v3.HttpProtocolOptions")
                  .UnpackTo(&h2));
  EXPECT_TRUE(h2.explicit_http_config().has_http2_protocol_options());
  EXPECT_FALSE(ips.has_transport_socket());

  auto dns = get<cluster_v3::Cluster>(*res.snap, cluster_type, "dns_gloo-system");
  EXPECT_EQ(dns.type(), cluster_v3::Cluster::STRICT_DNS);
  EXPECT_EQ(dns.dns_lookup_family(), cluster_v3::Cluster::V4_ONLY);
  EXPECT_EQ(dns.connect_timeout().seconds(), 5);
  EXPECT_EQ(dns.lb_policy(), cluster_v3::Cluster::RING_HASH);
  EXPECT_EQ(dns.ring_hash_lb_config().minimum_ring_size().value(), 64u);
  // Port 443 without useTls means TLS, with the host name as SNI (Gloo's static plugin).
  ASSERT_TRUE(dns.has_transport_socket());
  envoy::extensions::transport_sockets::tls::v3::UpstreamTlsContext tls;
  ASSERT_TRUE(dns.transport_socket().typed_config().UnpackTo(&tls));
  EXPECT_EQ(tls.sni(), "example.com");

  const auto* bad = find_report(res.report, {resource_kind::upstream, "gloo-system", "bad"});
  ASSERT_NE(bad, nullptr);
  EXPECT_FALSE(bad->errors.empty());
}

TEST(ProxyTranslatorTest, KubeUpstreamsAreEdsClustersFedByEndpoints) {
  world_builder b;
  b.gateway("gloo-system", "gw", gateway_8080)
      .upstream(
          "gloo-system", "default-pets-8080",
          R"({"kube": {"serviceName": "pets", "serviceNamespace": "default", "servicePort": 8080}})")
      .upstream("gloo-system", "lonely", R"({"consul": {"serviceName": "lonely"}})")
      .endpoint("gloo-system", "ep-1",
                R"({"upstreams": [{"name": "default-pets-8080", "namespace": "gloo-system"}],
                    "address": "10.1.0.1", "port": 8080})")
      .endpoint("gloo-system", "ep-2",
                R"({"upstreams": [{"name": "default-pets-8080", "namespace": "gloo-system"}],
                    "address": "10.1.0.2", "port": 8080})")
      .vs("default", "vs", R"({"virtualHost": {"routes": [
            {"routeAction": {"single": {"upstream": {"name": "default-pets-8080", "namespace": "gloo-system"}}}}]}})");
  auto res = run(b.get());
  ASSERT_TRUE(res.snap);
  auto c = get<cluster_v3::Cluster>(*res.snap, cluster_type, "default-pets-8080_gloo-system");
  EXPECT_EQ(c.type(), cluster_v3::Cluster::EDS);
  EXPECT_TRUE(c.eds_cluster_config().eds_config().has_ads());
  const auto& eds_name = c.eds_cluster_config().service_name();
  EXPECT_EQ(eds_name.rfind("default-pets-8080_gloo-system-", 0), 0u) << eds_name;
  auto cla = get<endpoint_v3::ClusterLoadAssignment>(*res.snap, endpoint_type, eds_name);
  EXPECT_EQ(cla.cluster_name(), eds_name);
  ASSERT_EQ(cla.endpoints_size(), 1);
  ASSERT_EQ(cla.endpoints(0).lb_endpoints_size(), 2);
  EXPECT_EQ(cla.endpoints(0).lb_endpoints(1).endpoint().address().socket_address().address(),
            "10.1.0.2");
  // An EDS cluster without endpoints still gets its (empty) assignment.
  auto lonely = get<cluster_v3::Cluster>(*res.snap, cluster_type, "lonely_gloo-system");
  auto empty = get<endpoint_v3::ClusterLoadAssignment>(*res.snap, endpoint_type,
                                                       lonely.eds_cluster_config().service_name());
  EXPECT_EQ(empty.endpoints_size(), 0);
}

TEST(ProxyTranslatorTest, ListenerWithoutVirtualHostsIsDropped) {
  world_builder b;
  b.gateway("gloo-system", "plain", gateway_8080)
      .gateway("gloo-system", "tls", R"({"bindPort": 8443, "ssl": true, "httpGateway": {}})")
      .vs("default", "vs",
          R"({"virtualHost": {"routes": [{"directResponseAction": {"status": 200}}]}})");
  auto res = run(b.get());
  ASSERT_TRUE(res.snap);
  EXPECT_EQ(names(*res.snap, listener_type), std::vector<std::string>{"listener-::-8080"});
  EXPECT_EQ(names(*res.snap, route_type), std::vector<std::string>{"listener-::-8080-routes"});
}

TEST(ProxyTranslatorTest, SslGatewayGetsATlsFilterChainWithInlinedSecret) {
  world_builder b;
  b.gateway("gloo-system", "tls", R"({"bindPort": 8443, "ssl": true, "httpGateway": {}})")
      .secret("gloo-system", "cert", R"({"tls": {"certChain": "CERT", "privateKey": "KEY"}})")
      .vs("default", "secure",
          R"({"sslConfig": {"secretRef": {"name": "cert", "namespace": "gloo-system"}, "sniDomains": ["secure.example.com"]},
              "virtualHost": {"domains": ["secure.example.com"], "routes": [{"directResponseAction": {"status": 200}}]}})");
  auto res = run(b.get());
  ASSERT_TRUE(res.snap);
  auto l = get<listener_v3::Listener>(*res.snap, listener_type, "listener-::-8443");
  ASSERT_EQ(l.filter_chains_size(), 1);
  const auto& chain = l.filter_chains(0);
  ASSERT_EQ(chain.filter_chain_match().server_names_size(), 1);
  EXPECT_EQ(chain.filter_chain_match().server_names(0), "secure.example.com");
  envoy::extensions::transport_sockets::tls::v3::DownstreamTlsContext tls;
  ASSERT_TRUE(chain.transport_socket().typed_config().UnpackTo(&tls));
  EXPECT_EQ(tls.common_tls_context().tls_certificates(0).certificate_chain().inline_string(),
            "CERT");
  EXPECT_EQ(tls.common_tls_context().alpn_protocols_size(), 2);
  auto vh = only_vhost(*res.snap, "listener-::-8443-routes");
  EXPECT_EQ(vh.require_tls(), route_v3::VirtualHost::ALL);
}

TEST(ProxyTranslatorTest, TcpGatewayServesHostsWhoseDestinationsExist) {
  world_builder b;
  b.gateway("gloo-system", "tcp",
            R"({"bindPort": 8000, "tcpGateway": {"tcpHosts": [
                 {"name": "db", "sslConfig": {"sniDomains": ["db.example.com"]},
                  "destination": {"single": {"upstream": {"name": "db"}}}},
                 {"name": "gone", "sslConfig": {"sniDomains": ["gone.example.com"]},
                  "destination": {"single": {"upstream": {"name": "gone"}}}}]}})")
      .upstream("gloo-system", "db", static_upstream);
  model::translation_report report;
  auto proxies = model::translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  auto snap = translate_proxy(proxies[0].role, proxies[0].proxy, b.get(), report);
  EXPECT_EQ(check_snapshot(*snap), std::vector<std::string>{});
  auto l = get<listener_v3::Listener>(*snap, listener_type, "listener-::-8000");
  ASSERT_EQ(l.filter_chains_size(), 1);
  EXPECT_EQ(l.filter_chains(0).filter_chain_match().server_names(0), "db.example.com");
  envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy tcp;
  ASSERT_TRUE(l.filter_chains(0).filters(0).typed_config().UnpackTo(&tcp));
  EXPECT_EQ(tcp.cluster(), "db_gloo-system");
  EXPECT_EQ(tcp.stat_prefix(), "tcp");
  ASSERT_EQ(l.listener_filters_size(), 1);
  EXPECT_EQ(l.listener_filters(0).name(), "envoy.filters.listener.tls_inspector");
  const auto* gw = find_report(report, {resource_kind::gateway, "gloo-system", "tcp"});
  ASSERT_NE(gw, nullptr);
  EXPECT_TRUE(gw->errors.empty());
  EXPECT_TRUE(has_message(gw->warnings, "upstream gloo-system.gone does not exist"));
}

TEST(ProxyTranslatorTest, InvalidUpstreamGroupIsRejectedAndItsRoutesReplaced) {
  world_builder b;
  b.gateway("gloo-system", "gw", gateway_8080)
      .upstream("default", "a", static_upstream)
      .group("default", "broken",
             R"({"destinations": [{"destination": {"upstream": {"name": "a"}}, "weight": 1},
                                  {"destination": {"upstream": {"name": "nope"}}, "weight": 1}]})")
      .vs("default", "vs",
          R"({"virtualHost": {"routes": [{"routeAction": {"upstreamGroup": {"name": "broken"}}}]}})");
  auto res = run(b.get());
  ASSERT_TRUE(res.snap);
  auto vh = only_vhost(*res.snap, "listener-::-8080-routes");
  ASSERT_EQ(vh.routes_size(), 1);
  EXPECT_EQ(vh.routes(0).direct_response().status(), 503u);
  const auto* group = find_report(res.report, {resource_kind::upstream_group, "default", "broken"});
  ASSERT_NE(group, nullptr);
  EXPECT_TRUE(has_message(group->errors, "upstream default.nope not found"));
  EXPECT_TRUE(has_message(find_report(res.report, vs_key("default", "vs"))->warnings,
                          "upstream group default.broken is invalid"));
}

TEST(ProxyTranslatorTest, TranslationIsDeterministic) {
  world_builder b;
  b.gateway("gloo-system", "gw", gateway_8080)
      .upstream("default", "a", R"({"static": {"hosts": [{"addr": "10.0.0.1", "port": 80}]},
                                    "metadata": {"labels": {"x": "1", "y": "2", "z": "3"}}})")
      .upstream("default", "k", R"({"kube": {"serviceName": "k"}})")
      .endpoint("default", "e",
                R"({"upstreams": [{"name": "k"}], "address": "10.0.0.9", "port": 1})")
      .vs("default", "vs",
          R"({"virtualHost": {"domains": ["a", "b"], "routes": [
                {"matchers": [{"prefix": "/x", "headers": [{"name": "h", "value": "v"}]}],
                 "routeAction": {"multi": {"destinations": [
                   {"destination": {"upstream": {"name": "a"}}, "weight": 1,
                    "options": {"headerManipulation": {"requestHeadersToAdd": [{"header": {"key": "k", "value": "v"}}]}}},
                   {"destination": {"upstream": {"name": "k"}, "subset": {"values": {"b": "2", "a": "1"}}}, "weight": 2}]}}}]}})");
  auto one = run(b.get());
  auto two = run(b.get());
  ASSERT_TRUE(one.snap && two.snap);
  for (auto type : {listener_type, route_type, cluster_type, endpoint_type}) {
    const auto& x = one.snap->of(type);
    const auto& y = two.snap->of(type);
    EXPECT_FALSE(x.version.empty()) << type;
    EXPECT_EQ(x.version, y.version) << type;
    ASSERT_EQ(x.items.size(), y.items.size());
    for (const auto& [name, r] : x.items) {
      ASSERT_TRUE(y.items.count(name));
      EXPECT_EQ(r->bytes, y.items.at(name)->bytes) << name;
      EXPECT_EQ(r->version, y.items.at(name)->version) << name;
    }
  }
  auto p1 = translate_proxyless(b.get(), one.report);
  auto p2 = translate_proxyless(b.get(), two.report);
  for (auto type : {listener_type, route_type, cluster_type, endpoint_type}) {
    EXPECT_EQ(p1->of(type).version, p2->of(type).version) << type;
  }
}

// --- proxyless ----------------------------------------------------------------------------------

TEST(ProxylessTranslatorTest, ApiListenersRoutesAndEdsClustersForGrpcClients) {
  world_builder b;
  b.upstream(
       "default", "greeter-a",
       R"({"static": {"hosts": [{"addr": "127.0.0.1", "port": 50061}, {"addr": "127.0.0.1", "port": 50061},
                                      {"addr": "localhost", "port": 50063}]}})")
      .upstream("default", "greeter-b",
                R"({"kube": {"serviceName": "b"}, "loadBalancerConfig": {"leastRequest": {}}})")
      .endpoint("default", "b-1",
                R"({"upstreams": [{"name": "greeter-b"}], "address": "127.0.0.1", "port": 50062})")
      .vs("default", "greeter",
          R"({"virtualHost": {"domains": ["greeter", "*.wild"], "routes": [
                {"matchers": [{"prefix": "/", "headers": [{"name": "x-variant", "value": "b"},
                                                         {"name": "x-re", "value": "a+", "regex": true}]}],
                 "routeAction": {"single": {"upstream": {"name": "greeter-b"}}}},
                {"matchers": [{"prefix": "/"}], "routeAction": {"multi": {"destinations": [
                   {"destination": {"upstream": {"name": "greeter-a"}}, "weight": 70},
                   {"destination": {"upstream": {"name": "greeter-b"}}, "weight": 30}]}}}]}})");
  model::translation_report report;
  auto snap = translate_proxyless(b.get(), report);
  ASSERT_TRUE(snap);
  EXPECT_EQ(snap->key, "proxyless");
  EXPECT_EQ(check_snapshot(*snap), std::vector<std::string>{});
  // One API listener per concrete domain; the wildcard one cannot be a gRPC target.
  EXPECT_EQ(names(*snap, listener_type), std::vector<std::string>{"greeter"});
  auto l = get<listener_v3::Listener>(*snap, listener_type, "greeter");
  EXPECT_FALSE(l.has_address());
  auto hcm = hcm_of(l);
  EXPECT_TRUE(hcm.rds().config_source().has_ads());
  EXPECT_EQ(hcm.rds().route_config_name(), "greeter-routes");
  ASSERT_EQ(hcm.http_filters_size(), 1);
  EXPECT_EQ(hcm.http_filters(0).name(), "envoy.filters.http.router");

  auto vh = only_vhost(*snap, "greeter-routes");
  EXPECT_EQ(vh.name(), "default_greeter");
  ASSERT_EQ(vh.domains_size(), 2);
  EXPECT_EQ(vh.domains(0), "greeter");
  ASSERT_EQ(vh.routes_size(), 2);
  const auto& headers = vh.routes(0).match().headers();
  ASSERT_EQ(headers.size(), 2);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  // The legacy fields: gRPC C-core 1.51 NACKs string_match.
  EXPECT_EQ(headers[0].exact_match(), "b");
  EXPECT_EQ(headers[1].safe_regex_match().regex(), "a+");
  EXPECT_EQ(vh.routes(1).route().weighted_clusters().total_weight().value(), 100u);
#pragma GCC diagnostic pop
  EXPECT_FALSE(headers[0].has_string_match());
  EXPECT_EQ(vh.routes(0).route().cluster(), "greeter-b_default");

  // Clusters: all EDS over ADS, named like their assignment.
  EXPECT_EQ(names(*snap, cluster_type),
            (std::vector<std::string>{"greeter-a_default", "greeter-b_default"}));
  EXPECT_EQ(names(*snap, endpoint_type),
            (std::vector<std::string>{"greeter-a_default", "greeter-b_default"}));
  auto a = get<cluster_v3::Cluster>(*snap, cluster_type, "greeter-a_default");
  EXPECT_EQ(a.type(), cluster_v3::Cluster::EDS);
  EXPECT_TRUE(a.eds_cluster_config().eds_config().has_ads());
  EXPECT_TRUE(a.eds_cluster_config().service_name().empty());
  EXPECT_FALSE(a.has_load_assignment());
  EXPECT_EQ(a.lb_policy(), cluster_v3::Cluster::ROUND_ROBIN);
  // Faithful to the Upstream even though gRPC NACKs it.
  auto bc = get<cluster_v3::Cluster>(*snap, cluster_type, "greeter-b_default");
  EXPECT_EQ(bc.lb_policy(), cluster_v3::Cluster::LEAST_REQUEST);

  auto cla = get<endpoint_v3::ClusterLoadAssignment>(*snap, endpoint_type, "greeter-a_default");
  EXPECT_EQ(cla.cluster_name(), "greeter-a_default");
  ASSERT_EQ(cla.endpoints_size(), 1);
  EXPECT_EQ(cla.endpoints(0).load_balancing_weight().value(), 1u);
  EXPECT_FALSE(cla.endpoints(0).locality().region().empty());
  // The duplicate address and the host name are not sent.
  ASSERT_EQ(cla.endpoints(0).lb_endpoints_size(), 1);
  const auto& ep = cla.endpoints(0).lb_endpoints(0);
  EXPECT_EQ(ep.health_status(), envoy::config::core::v3::HEALTHY);
  EXPECT_EQ(ep.endpoint().address().socket_address().port_value(), 50061u);
  EXPECT_TRUE(
      has_message(report.entries().at({resource_kind::upstream, "default", "greeter-a"}).warnings,
                  "localhost"));
  auto b_cla = get<endpoint_v3::ClusterLoadAssignment>(*snap, endpoint_type, "greeter-b_default");
  ASSERT_EQ(b_cla.endpoints_size(), 1);
  EXPECT_EQ(b_cla.endpoints(0).lb_endpoints(0).endpoint().address().socket_address().port_value(),
            50062u);
}

TEST(ProxylessTranslatorTest, SecondVirtualServiceClaimingADomainIsBlamed) {
  world_builder b;
  b.vs("a", "first",
       R"({"virtualHost": {"domains": ["svc"], "routes": [{"directResponseAction": {"status": 200}}]}})")
      .vs("b", "second",
          R"({"virtualHost": {"domains": ["svc", "svc2"], "routes": [{"directResponseAction": {"status": 201}}]}})");
  model::translation_report report;
  auto snap = translate_proxyless(b.get(), report);
  EXPECT_EQ(check_snapshot(*snap), std::vector<std::string>{});
  EXPECT_EQ(names(*snap, listener_type), (std::vector<std::string>{"svc", "svc2"}));
  EXPECT_EQ(only_vhost(*snap, "svc-routes").name(), "a_first");
  EXPECT_EQ(only_vhost(*snap, "svc2-routes").name(), "b_second");
  EXPECT_TRUE(has_message(find_report(report, vs_key("b", "second"))->errors, "svc"));
  EXPECT_TRUE(find_report(report, vs_key("a", "first"))->errors.empty());
}

TEST(ProxylessTranslatorTest, DelegatedRoutesExpandToo) {
  world_builder b;
  b.upstream("default", "up", R"({"static": {"hosts": [{"addr": "127.0.0.1", "port": 1}]}})")
      .vs("default", "svc",
          R"({"virtualHost": {"domains": ["svc"], "routes": [
                {"matchers": [{"prefix": "/pkg.Service/"}], "delegateAction": {"ref": {"name": "methods"}}}]}})")
      .rt("default", "methods",
          R"({"routes": [{"matchers": [{"exact": "/pkg.Service/Call"}],
                          "routeAction": {"single": {"upstream": {"name": "up"}}}}]})");
  model::translation_report report;
  auto snap = translate_proxyless(b.get(), report);
  auto vh = only_vhost(*snap, "svc-routes");
  ASSERT_EQ(vh.routes_size(), 1);
  EXPECT_EQ(vh.routes(0).match().path(), "/pkg.Service/Call");
  EXPECT_EQ(vh.routes(0).route().cluster(), "up_default");
}

}  // namespace
}  // namespace sluice::xds
