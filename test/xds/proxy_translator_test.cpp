#include "xds/proxy_translator.hpp"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/http/cors/v3/cors.pb.h"
#include "envoy/extensions/filters/http/ext_authz/v3/ext_authz.pb.h"
#include "envoy/extensions/filters/http/fault/v3/fault.pb.h"
#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb.h"
#include "kube/core.pb.h"
#include "model/gateway_translator.hpp"
#include "model/resource.hpp"
#include "solo/gateway.pb.h"
#include "solo/enterprise.pb.h"
#include "solo/gloo.pb.h"
#include "xds/envoy_clusters.hpp"
#include "xds/envoy_common.hpp"
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
  world_builder& settings(const std::string& json) {
    return add<gl::Settings>(resource_kind::settings, "gloo-system", "default", json);
  }
  world_builder& auth_config(const std::string& ns, const std::string& name,
                             const std::string& json) {
    return add<::enterprise::gloo::solo::io::AuthConfig>(resource_kind::auth_config, ns, name,
                                                         json);
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

TEST(ProxyTranslatorTest, RouteWithABadRegexRejectsOnlyItsVirtualService) {
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
  // A VirtualService is served whole or not at all: the broken one loses its virtual host, the
  // other one on the same listener is untouched.
  auto rc = get<route_v3::RouteConfiguration>(*res.snap, route_type, "listener-::-8080-routes");
  ASSERT_EQ(rc.virtual_hosts_size(), 1);
  EXPECT_EQ(rc.virtual_hosts(0).name(), "default_other");
  const auto* r = find_report(res.report, vs_key("default", "vs"));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->errors.size(), 2u);
  EXPECT_TRUE(has_message(r->errors, "/bad/(unclosed"));
  EXPECT_TRUE(has_message(r->errors, "not served"));
  EXPECT_TRUE(find_report(res.report, vs_key("default", "other"))->errors.empty());
}

TEST(ProxyTranslatorTest, RegexOverTheProgramSizeLimitIsRejected) {
  world_builder b;
  b.gateway("gloo-system", "gw", gateway_8080)
      .vs("default", "vs",
          R"({"virtualHost": {"domains": ["big"], "routes": [
                {"matchers": [{"regex": "/(abcdefghij){20}"}], "directResponseAction": {"status": 200}},
                {"matchers": [{"prefix": "/"}], "directResponseAction": {"status": 200}}]}})")
      .vs("default", "small", R"({"virtualHost": {"domains": ["small"], "routes": [
                {"matchers": [{"regex": "/(ab){2}"}], "directResponseAction": {"status": 200}}]}})");
  auto res = run(b.get());
  ASSERT_TRUE(res.snap);
  EXPECT_EQ(only_vhost(*res.snap, "listener-::-8080-routes").name(), "default_small");
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
      .upstream("default", "k", R"({"kube": {"serviceName": "k",
                                                "subsetSpec": {"selectors": [{"keys": ["a", "b"]}]}}})")
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
  // Envoy serves host names fine, so a proxyless-only limitation does not degrade the status
  // (glooctl-style checks would flag every such Upstream).
  EXPECT_TRUE(report.entries().at({resource_kind::upstream, "default", "greeter-a"}).warnings.empty());
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
  // A warning, not an error: on gateways the two may well be fine (different listeners).
  EXPECT_TRUE(find_report(report, vs_key("b", "second"))->errors.empty());
  EXPECT_TRUE(has_message(find_report(report, vs_key("b", "second"))->warnings, "svc"));
  EXPECT_TRUE(find_report(report, vs_key("a", "first"))->warnings.empty());
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


// --- route and virtual host options onto HTTP filters ---------------------------------------------

std::vector<std::string> http_filter_names(const hcm_v3::HttpConnectionManager& hcm) {
  std::vector<std::string> out;
  for (const auto& f : hcm.http_filters()) {
    out.push_back(f.name());
  }
  return out;
}

TEST(ProxyTranslatorTest, CorsAndFaultsAddTheirFiltersInGlooStageOrderOnlyWhenUsed) {
  world_builder b;
  b.gateway("gloo-system", "gw", gateway_8080)
      .upstream("default", "up", static_upstream)
      .vs("default", "plain", R"({"virtualHost": {"domains": ["plain"], "routes": [
                {"routeAction": {"single": {"upstream": {"name": "up"}}}}]}})");
  auto without = run(b.get());
  ASSERT_TRUE(without.snap);
  EXPECT_EQ(http_filter_names(hcm_of(get<listener_v3::Listener>(*without.snap, listener_type,
                                                                 "listener-::-8080"))),
            std::vector<std::string>{"envoy.filters.http.router"});

  b.vs("default", "fancy", R"({"virtualHost": {"domains": ["fancy"],
          "options": {"cors": {"allowOrigin": ["https://a"], "allowMethods": ["GET", "POST"], "maxAge": "60"}},
          "routes": [
            {"matchers": [{"prefix": "/chaos"}], "routeAction": {"single": {"upstream": {"name": "up"}}},
             "options": {"faults": {"abort": {"percentage": 12.5, "httpStatus": 503}}}},
            {"matchers": [{"prefix": "/"}], "routeAction": {"single": {"upstream": {"name": "up"}}},
             "options": {"cors": {"disableForRoute": true}}}]}})");
  auto with = run(b.get());
  ASSERT_TRUE(with.snap);
  auto hcm = hcm_of(get<listener_v3::Listener>(*with.snap, listener_type, "listener-::-8080"));
  EXPECT_EQ(http_filter_names(hcm),
            (std::vector<std::string>{"envoy.filters.http.fault", "envoy.filters.http.cors",
                                      "envoy.filters.http.router"}));
  auto rc = get<route_v3::RouteConfiguration>(*with.snap, route_type, "listener-::-8080-routes");
  ASSERT_EQ(rc.virtual_hosts_size(), 2);
  const auto& fancy = rc.virtual_hosts(0);
  ASSERT_EQ(fancy.name(), "default_fancy");
  envoy::extensions::filters::http::cors::v3::CorsPolicy cors;
  ASSERT_TRUE(fancy.typed_per_filter_config().at("envoy.filters.http.cors").UnpackTo(&cors));
  EXPECT_EQ(cors.allow_origin_string_match(0).exact(), "https://a");
  EXPECT_EQ(cors.allow_methods(), "GET,POST");
  EXPECT_EQ(cors.max_age(), "60");
  envoy::extensions::filters::http::fault::v3::HTTPFault fault;
  ASSERT_TRUE(fancy.routes(0).typed_per_filter_config().at("envoy.filters.http.fault").UnpackTo(
      &fault));
  EXPECT_EQ(fault.abort().http_status(), 503u);
  EXPECT_EQ(fault.abort().percentage().numerator(), 125000u);  // parts per million, as Gloo
  envoy::extensions::filters::http::cors::v3::CorsPolicy off;
  ASSERT_TRUE(
      fancy.routes(1).typed_per_filter_config().at("envoy.filters.http.cors").UnpackTo(&off));
  EXPECT_EQ(off.filter_enabled().default_value().numerator(), 0u);
  // The plain virtual host is untouched by its neighbour's options.
  EXPECT_TRUE(rc.virtual_hosts(1).typed_per_filter_config().empty());
}

TEST(ProxyTranslatorTest, ExtAuthPointsAtTheSettingsServerAndOnlyCoversConfiguredHosts) {
  world_builder b;
  b.gateway("gloo-system", "gw", gateway_8080)
      .upstream("default", "up", static_upstream)
      .upstream("gloo-system", "extauth", R"({"static": {"hosts": [{"addr": "10.0.0.1", "port": 8083}]}})")
      .settings(R"({"extauth": {"extauthzServerRef": {"name": "extauth", "namespace": "gloo-system"},
                                "requestTimeout": "0.5s", "failureModeAllow": true}})")
      .auth_config("default", "basic", R"({"configs": [{"basicAuth": {"realm": "x"}}]})")
      .vs("default", "secured", R"({"virtualHost": {"domains": ["secured"],
          "options": {"extauth": {"configRef": {"name": "basic"}}},
          "routes": [
            {"matchers": [{"prefix": "/health"}], "directResponseAction": {"status": 200},
             "options": {"extauth": {"disable": true}}},
            {"matchers": [{"prefix": "/"}], "routeAction": {"single": {"upstream": {"name": "up"}}}}]}})")
      .vs("default", "open", R"({"virtualHost": {"domains": ["open"], "routes": [
                {"routeAction": {"single": {"upstream": {"name": "up"}}}}]}})");
  auto res = run(b.get());
  ASSERT_TRUE(res.snap);
  auto hcm = hcm_of(get<listener_v3::Listener>(*res.snap, listener_type, "listener-::-8080"));
  ASSERT_EQ(http_filter_names(hcm), (std::vector<std::string>{"envoy.filters.http.ext_authz",
                                                               "envoy.filters.http.router"}));
  envoy::extensions::filters::http::ext_authz::v3::ExtAuthz authz;
  ASSERT_TRUE(hcm.http_filters(0).typed_config().UnpackTo(&authz));
  EXPECT_EQ(authz.grpc_service().envoy_grpc().cluster_name(), "extauth_gloo-system");
  EXPECT_EQ(millis(authz.grpc_service().timeout()), 500);
  EXPECT_TRUE(authz.failure_mode_allow());

  auto rc = get<route_v3::RouteConfiguration>(*res.snap, route_type, "listener-::-8080-routes");
  ASSERT_EQ(rc.virtual_hosts_size(), 2);
  using per_route = envoy::extensions::filters::http::ext_authz::v3::ExtAuthzPerRoute;
  per_route open, secured, health;
  ASSERT_EQ(rc.virtual_hosts(0).name(), "default_open");
  ASSERT_TRUE(rc.virtual_hosts(0)
                  .typed_per_filter_config()
                  .at("envoy.filters.http.ext_authz")
                  .UnpackTo(&open));
  EXPECT_TRUE(open.disabled());  // the filter is on the listener: hosts without auth opt out
  ASSERT_TRUE(rc.virtual_hosts(1)
                  .typed_per_filter_config()
                  .at("envoy.filters.http.ext_authz")
                  .UnpackTo(&secured));
  EXPECT_EQ(secured.check_settings().context_extensions().at("config_id"), "default.basic");
  ASSERT_TRUE(rc.virtual_hosts(1)
                  .routes(0)
                  .typed_per_filter_config()
                  .at("envoy.filters.http.ext_authz")
                  .UnpackTo(&health));
  EXPECT_TRUE(health.disabled());
  EXPECT_TRUE(res.report.entries().count({resource_kind::auth_config, "default", "basic"}));
}

TEST(ProxyTranslatorTest, ExtAuthWithoutAServerFailsClosed) {
  world_builder b;
  b.gateway("gloo-system", "gw", gateway_8080)
      .upstream("default", "up", static_upstream)
      .auth_config("default", "basic", R"({"configs": [{"basicAuth": {"realm": "x"}}]})")
      .vs("default", "secured", R"({"virtualHost": {"domains": ["secured"], "routes": [
            {"routeAction": {"single": {"upstream": {"name": "up"}}},
             "options": {"extauth": {"configRef": {"name": "basic"}}}}]}})")
      .vs("default", "open", R"({"virtualHost": {"domains": ["open"], "routes": [
                {"routeAction": {"single": {"upstream": {"name": "up"}}}}]}})");
  auto res = run(b.get());
  ASSERT_TRUE(res.snap);
  // Never served without the auth it asks for; the neighbour is unaffected.
  EXPECT_EQ(only_vhost(*res.snap, "listener-::-8080-routes").name(), "default_open");
  EXPECT_TRUE(has_message(find_report(res.report, vs_key("default", "secured"))->errors,
                          "extauthzServerRef"));
}

// --- Settings -----------------------------------------------------------------------------------

TEST(ProxyTranslatorTest, SettingsReplaceInvalidRoutesTurnsRouteErrorsIntoDirectResponses) {
  world_builder b;
  b.gateway("gloo-system", "gw", gateway_8080)
      .upstream("default", "up", static_upstream)
      .settings(R"({"gloo": {"invalidConfigPolicy": {"replaceInvalidRoutes": true,
                             "invalidRouteResponseCode": 418, "invalidRouteResponseBody": "fix me"}}})")
      .vs("default", "vs", R"({"virtualHost": {"domains": ["a"], "routes": [
            {"matchers": [{"prefix": "/missing"}], "routeAction": {"single": {"upstream": {"name": "nope"}}}},
            {"matchers": [{"prefix": "/bad"}], "routeAction": {"single": {"upstream": {"name": "up"}}},
             "options": {"retries": {"retryBackOff": {"baseInterval": "0s"}}}},
            {"matchers": [{"prefix": "/"}], "routeAction": {"single": {"upstream": {"name": "up"}}}}]}})");
  auto res = run(b.get());
  ASSERT_TRUE(res.snap);
  auto vh = only_vhost(*res.snap, "listener-::-8080-routes");
  ASSERT_EQ(vh.routes_size(), 3);
  for (int i : {0, 1}) {
    EXPECT_EQ(vh.routes(i).direct_response().status(), 418u) << i;
    EXPECT_EQ(vh.routes(i).direct_response().body().inline_string(), "fix me") << i;
  }
  EXPECT_EQ(vh.routes(2).route().cluster(), "up_default");
  const auto* r = find_report(res.report, vs_key("default", "vs"));
  EXPECT_TRUE(r->errors.empty());
  EXPECT_EQ(r->warnings.size(), 2u);
}

TEST(ProxyTranslatorTest, SettingsDefaultCircuitBreakersApplyToUpstreamsWithoutTheirOwn) {
  world_builder b;
  b.gateway("gloo-system", "gw", gateway_8080)
      .upstream("default", "plain", static_upstream)
      .upstream("default", "own", R"({"static": {"hosts": [{"addr": "127.0.0.1", "port": 1}]},
                                       "circuitBreakers": {"maxConnections": 7}})")
      .settings(R"({"gloo": {"circuitBreakers": {"maxConnections": 99}}})")
      .vs("default", "vs", R"({"virtualHost": {"routes": [
                {"routeAction": {"single": {"upstream": {"name": "plain"}}}}]}})");
  auto res = run(b.get());
  ASSERT_TRUE(res.snap);
  auto plain = get<cluster_v3::Cluster>(*res.snap, cluster_type, "plain_default");
  EXPECT_EQ(plain.circuit_breakers().thresholds(0).max_connections().value(), 99u);
  auto own = get<cluster_v3::Cluster>(*res.snap, cluster_type, "own_default");
  EXPECT_EQ(own.circuit_breakers().thresholds(0).max_connections().value(), 7u);
}

// --- upstreams ----------------------------------------------------------------------------------

TEST(ProxyTranslatorTest, HealthChecksAndKubeSubsetsReachTheCluster) {
  world_builder b;
  b.gateway("gloo-system", "gw", gateway_8080)
      .upstream("default", "k", R"({"kube": {"serviceName": "k",
          "subsetSpec": {"selectors": [{"keys": ["version"]}], "fallbackPolicy": "NO_FALLBACK"}},
          "healthChecks": [{"timeout": "1s", "interval": "2s", "healthyThreshold": 1,
                            "unhealthyThreshold": 2, "httpHealthCheck": {"path": "/ready", "useHttp2": true}}]})")
      .endpoint("default", "e1", R"({"metadata": {"labels": {"version": "v1", "app": "k"}},
          "upstreams": [{"name": "k"}], "address": "10.0.0.1", "port": 80})")
      .endpoint("default", "e2", R"({"metadata": {"labels": {"app": "k"}},
          "upstreams": [{"name": "k"}], "address": "10.0.0.2", "port": 80})")
      .vs("default", "vs", R"({"virtualHost": {"routes": [
                {"routeAction": {"single": {"upstream": {"name": "k"}, "subset": {"values": {"version": "v1"}}}}}]}})");
  auto res = run(b.get());
  ASSERT_TRUE(res.snap);
  auto c = get<cluster_v3::Cluster>(*res.snap, cluster_type, "k_default");
  ASSERT_EQ(c.health_checks_size(), 1);
  EXPECT_EQ(c.health_checks(0).http_health_check().path(), "/ready");
  EXPECT_EQ(c.health_checks(0).http_health_check().codec_client_type(), envoy::type::v3::HTTP2);
  EXPECT_EQ(c.lb_subset_config().fallback_policy(),
            cluster_v3::Cluster::LbSubsetConfig::NO_FALLBACK);
  ASSERT_EQ(c.lb_subset_config().subset_selectors_size(), 1);
  EXPECT_EQ(c.lb_subset_config().subset_selectors(0).keys(0), "version");
  auto cla = get<endpoint_v3::ClusterLoadAssignment>(*res.snap, endpoint_type,
                                                     c.eds_cluster_config().service_name());
  ASSERT_EQ(cla.endpoints(0).lb_endpoints_size(), 2);
  const auto& lb0 = cla.endpoints(0).lb_endpoints(0).metadata().filter_metadata().at("envoy.lb");
  EXPECT_EQ(lb0.fields().at("version").string_value(), "v1");
  // A selector key an endpoint lacks is present and empty (Gloo's getLbMetadata).
  const auto& lb1 = cla.endpoints(0).lb_endpoints(1).metadata().filter_metadata().at("envoy.lb");
  EXPECT_EQ(lb1.fields().at("version").string_value(), "");
  auto vh = only_vhost(*res.snap, "listener-::-8080-routes");
  EXPECT_EQ(vh.routes(0)
                .route()
                .metadata_match()
                .filter_metadata()
                .at("envoy.lb")
                .fields()
                .at("version")
                .string_value(),
            "v1");
}

TEST(ProxyTranslatorTest, HealthCheckWithoutThresholdRejectsOnlyThatUpstream) {
  world_builder b;
  b.gateway("gloo-system", "gw", gateway_8080)
      .upstream("default", "good", static_upstream)
      .upstream("default", "bad", R"({"static": {"hosts": [{"addr": "127.0.0.1", "port": 1}]},
          "healthChecks": [{"timeout": "1s", "interval": "2s", "healthyThreshold": 1,
                            "tcpHealthCheck": {}}]})")
      .vs("default", "vs", R"({"virtualHost": {"routes": [
            {"matchers": [{"prefix": "/bad"}], "routeAction": {"single": {"upstream": {"name": "bad"}}}},
            {"matchers": [{"prefix": "/"}], "routeAction": {"single": {"upstream": {"name": "good"}}}}]}})");
  auto res = run(b.get());
  ASSERT_TRUE(res.snap);
  EXPECT_EQ(names(*res.snap, cluster_type), std::vector<std::string>{"good_default"});
  const auto& errors =
      res.report.entries().at({resource_kind::upstream, "default", "bad"}).errors;
  EXPECT_TRUE(has_message(errors, "HealthCheck[0].unhealthyThreshold cannot be nil"));
  auto vh = only_vhost(*res.snap, "listener-::-8080-routes");
  EXPECT_EQ(vh.routes(0).direct_response().status(), 503u);
  EXPECT_EQ(vh.routes(1).route().cluster(), "good_default");
}

TEST(ProxyTranslatorTest, KubeAndConsulDestinationsUseGlooInMemoryUpstreamNames) {
  world_builder b;
  // The Kubernetes and Consul sources put these in-memory upstreams into the world.
  b.gateway("gloo-system", "gw", gateway_8080)
      .upstream("apps", "kube-svc:apps-items-8080", R"({"kube": {"serviceName": "items",
                 "serviceNamespace": "apps", "servicePort": 8080}})")
      .upstream("gloo-system", "consul-svc:orders", R"({"consul": {"serviceName": "orders",
                 "subsetTags": ["v1", "v2"], "dataCenters": ["dc1", "dc2"]}})")
      .vs("apps", "vs", R"({"virtualHost": {"routes": [
            {"matchers": [{"prefix": "/items"}],
             "routeAction": {"single": {"kube": {"ref": {"name": "items", "namespace": "apps"}, "port": 8080}}}},
            {"matchers": [{"prefix": "/orders"}],
             "routeAction": {"single": {"consul": {"serviceName": "orders", "tags": ["v2"], "dataCenters": ["dc1"]}}}}]}})");
  auto res = run(b.get());
  ASSERT_TRUE(res.snap);
  auto vh = only_vhost(*res.snap, "listener-::-8080-routes");
  ASSERT_EQ(vh.routes_size(), 2);
  EXPECT_EQ(vh.routes(0).route().cluster(), "kube-svc:apps-items-8080_apps");
  EXPECT_EQ(vh.routes(1).route().cluster(), "consul-svc:orders_gloo-system");
  // Every tag and data center the upstream knows is pinned (Gloo's consulMetadataMatch).
  const auto& match = vh.routes(1).route().metadata_match().filter_metadata().at("envoy.lb");
  EXPECT_EQ(match.fields().at("tag_v1").string_value(), "0");
  EXPECT_EQ(match.fields().at("tag_v2").string_value(), "1");
  EXPECT_EQ(match.fields().at("dc_dc1").string_value(), "1");
  EXPECT_EQ(match.fields().at("dc_dc2").string_value(), "0");
  auto consul = get<cluster_v3::Cluster>(*res.snap, cluster_type, "consul-svc:orders_gloo-system");
  ASSERT_EQ(consul.lb_subset_config().subset_selectors_size(), 3);
  EXPECT_EQ(consul.lb_subset_config().subset_selectors(2).keys_size(), 4);
}

TEST(ProxyTranslatorTest, TranslateUpstreamIsThePerUpstreamPieceOfTranslateUpstreams) {
  world_builder b;
  b.upstream("default", "a", static_upstream)
      .upstream("default", "k", R"({"kube": {"serviceName": "k"}})")
      .endpoint("default", "e", R"({"upstreams": [{"name": "k"}], "address": "10.0.0.9", "port": 1})");
  model::translation_report report;
  auto all = translate_upstreams(b.get(), report, cluster_flavor::envoy);
  const auto endpoints = index_endpoints(b.get());
  for (const auto& [nn, stored] : b.get().of(resource_kind::upstream)) {
    auto piece = translate_upstream(stored, endpoints_of(endpoints, stored), b.get(),
                                    cluster_flavor::envoy);
    ASSERT_TRUE(piece.cluster);
    EXPECT_EQ(model::canonical_bytes(*piece.cluster),
              model::canonical_bytes(all.clusters.at(piece.cluster->name())));
  }
}

// A kube Upstream's endpoints follow the Service port its spec names, as Gloo's EDS does:
// Endpoints naming the port's in-memory `kube-svc:` upstream count for it (once, also when they
// name it directly), whatever Upstreams they list.
TEST(ProxyTranslatorTest, KubeUpstreamTakesTheEndpointsOfItsServicePort) {
  world_builder b;
  b.upstream("apps", "web", R"({"kube": {"serviceName": "web", "servicePort": 80}})")
      .upstream("apps", "other-port", R"({"kube": {"serviceName": "web", "servicePort": 81}})")
      .endpoint("apps", "e1",
                R"({"upstreams": [{"name": "kube-svc:apps-web-80"}], "address": "10.0.0.1", "port": 8080})")
      .endpoint("apps", "e2",
                R"({"upstreams": [{"name": "kube-svc:apps-web-80"}, {"name": "web"}], "address": "10.0.0.2", "port": 8080})")
      .endpoint("apps", "e3", R"({"upstreams": [{"name": "web"}], "address": "10.0.0.3", "port": 8080})");
  model::translation_report report;
  auto all = translate_upstreams(b.get(), report, cluster_flavor::envoy);
  auto addresses = [&](const std::string& cluster) {
    std::vector<std::string> out;
    const auto& eds = all.clusters.at(cluster).eds_cluster_config().service_name();
    auto cla = all.load_assignments.find(eds.empty() ? cluster : eds);
    if (cla == all.load_assignments.end()) {
      ADD_FAILURE() << "no EDS resource for " << cluster;
      return out;
    }
    for (const auto& group : cla->second.endpoints()) {
      for (const auto& lb : group.lb_endpoints()) {
        out.push_back(lb.endpoint().address().socket_address().address());
      }
    }
    return out;
  };
  EXPECT_EQ(addresses("web_apps"), (std::vector<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
  EXPECT_TRUE(addresses("other-port_apps").empty());
}

// With Services in the world, a kube Upstream naming a missing one is rejected and gets no
// cluster (Gloo's kubernetes plugin); without any Service nothing is checked.
TEST(ProxyTranslatorTest, KubeUpstreamOfAMissingServiceIsRejectedOnceServicesAreKnown) {
  world_builder b;
  b.upstream("apps", "web", R"({"kube": {"serviceName": "web", "servicePort": 80}})")
      .upstream("apps", "gone", R"({"kube": {"serviceName": "nope", "servicePort": 80}})");
  {
    model::translation_report report;
    auto all = translate_upstreams(b.get(), report, cluster_flavor::envoy);
    EXPECT_TRUE(all.clusters.count("gone_apps")) << "no Services at all: not checked";
  }
  b.add<::kube::core::v1::Service>(resource_kind::service, "apps", "web", R"({"ports": [{"port": 80}]})");
  model::translation_report report;
  auto all = translate_upstreams(b.get(), report, cluster_flavor::envoy);
  EXPECT_TRUE(all.clusters.count("web_apps"));
  EXPECT_FALSE(all.clusters.count("gone_apps"));
  const auto& errors = report.entries().at({resource_kind::upstream, "apps", "gone"}).errors;
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("references the service 'nope' which does not exist in namespace 'apps'"),
            std::string::npos)
      << errors[0];
}

// --- TLS and listeners --------------------------------------------------------------------------

TEST(ProxyTranslatorTest, SdsDeliveryServesSecretsAndReferencesThemByName) {
  world_builder b;
  b.gateway("gloo-system", "gw", R"({"bindPort": 8443, "ssl": true, "httpGateway": {}})")
      .upstream("default", "up", R"({"static": {"hosts": [{"addr": "127.0.0.1", "port": 1}]},
          "sslConfig": {"secretRef": {"name": "tls"}}})")
      .secret("default", "tls", R"({"tls": {"certChain": "C", "privateKey": "K", "rootCa": "CA"}})")
      .vs("default", "vs", R"({"sslConfig": {"secretRef": {"name": "tls"}, "oneWayTls": true},
          "virtualHost": {"routes": [{"routeAction": {"single": {"upstream": {"name": "up"}}}}]}})");
  envoy_translation_options options;
  options.secrets = secret_delivery::sds;
  auto res = run(b.get(), options);
  ASSERT_TRUE(res.snap);
  EXPECT_EQ(names(*res.snap, secret_type),
            (std::vector<std::string>{"tls_default", "tls_default-validation"}));
  auto l = get<listener_v3::Listener>(*res.snap, listener_type, "listener-::-8443");
  envoy::extensions::transport_sockets::tls::v3::DownstreamTlsContext ctx;
  ASSERT_TRUE(l.filter_chains(0).transport_socket().typed_config().UnpackTo(&ctx));
  EXPECT_TRUE(ctx.common_tls_context().tls_certificates().empty());  // nothing inline
  EXPECT_EQ(ctx.common_tls_context().tls_certificate_sds_secret_configs(0).name(), "tls_default");
  EXPECT_FALSE(ctx.require_client_certificate().value());  // oneWayTls
  auto c = get<cluster_v3::Cluster>(*res.snap, cluster_type, "up_default");
  envoy::extensions::transport_sockets::tls::v3::UpstreamTlsContext up;
  ASSERT_TRUE(c.transport_socket().typed_config().UnpackTo(&up));
  EXPECT_EQ(up.common_tls_context().validation_context_sds_secret_config().name(),
            "tls_default-validation");
}

TEST(ProxyTranslatorTest, ForwardSniClusterNameUsesTheSniClusterFilter) {
  world_builder b;
  b.gateway("gloo-system", "tcp", R"({"bindPort": 9000, "tcpGateway": {"tcpHosts": [
          {"name": "sni", "sslConfig": {"sniDomains": ["db.example.com"]},
           "destination": {"forwardSniClusterName": {}}}]}})");
  model::translation_report report;
  auto proxies = model::translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  auto snap = translate_proxy(proxies[0].role, proxies[0].proxy, b.get(), report);
  EXPECT_EQ(check_snapshot(*snap), std::vector<std::string>{});
  auto l = get<listener_v3::Listener>(*snap, listener_type, "listener-::-9000");
  ASSERT_EQ(l.filter_chains_size(), 1);
  ASSERT_EQ(l.filter_chains(0).filters_size(), 2);
  EXPECT_EQ(l.filter_chains(0).filters(0).name(), "envoy.filters.network.sni_cluster");
  envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy proxy;
  ASSERT_TRUE(l.filter_chains(0).filters(1).typed_config().UnpackTo(&proxy));
  EXPECT_TRUE(proxy.has_cluster());
  EXPECT_EQ(proxy.cluster(), "");
  EXPECT_EQ(l.listener_filters(0).name(), "envoy.filters.listener.tls_inspector");
}

TEST(ProxyTranslatorTest, HybridGatewayGetsOneFilterChainAndRouteConfigurationPerMatcher) {
  world_builder b;
  b.gateway("gloo-system", "hybrid", R"({"bindPort": 8080, "hybridGateway": {"matchedGateways": [
          {"matcher": {"sourcePrefixRanges": [{"addressPrefix": "10.0.0.0", "prefixLen": 8}]},
           "httpGateway": {"virtualServiceSelector": {"exposure": "internal"}}},
          {"matcher": {}, "httpGateway": {"virtualServiceSelector": {"exposure": "public"}}}]}})")
      .upstream("default", "up", static_upstream)
      .vs("default", "internal", R"({"metadata": {"labels": {"exposure": "internal"}},
          "virtualHost": {"routes": [{"routeAction": {"single": {"upstream": {"name": "up"}}}}]}})")
      .vs("default", "public", R"({"metadata": {"labels": {"exposure": "public"}},
          "virtualHost": {"routes": [{"directResponseAction": {"status": 200}}]}})");
  auto res = run(b.get());
  ASSERT_TRUE(res.snap);
  auto l = get<listener_v3::Listener>(*res.snap, listener_type, "listener-::-8080");
  ASSERT_EQ(l.filter_chains_size(), 2);
  EXPECT_EQ(l.filter_chains(0).filter_chain_match().source_prefix_ranges(0).address_prefix(),
            "10.0.0.0");
  EXPECT_EQ(l.filter_chains(0).filter_chain_match().source_prefix_ranges(0).prefix_len().value(),
            8u);
  EXPECT_FALSE(l.filter_chains(1).has_filter_chain_match());
  auto route_names = names(*res.snap, route_type);
  ASSERT_EQ(route_names.size(), 2u);
  for (const auto& n : route_names) {
    EXPECT_EQ(n.rfind("listener-::-8080-routes-", 0), 0u) << n;
  }
  hcm_v3::HttpConnectionManager internal;
  ASSERT_TRUE(l.filter_chains(0).filters(0).typed_config().UnpackTo(&internal));
  auto rc = get<route_v3::RouteConfiguration>(*res.snap, route_type,
                                              internal.rds().route_config_name());
  ASSERT_EQ(rc.virtual_hosts_size(), 1);
  EXPECT_EQ(rc.virtual_hosts(0).name(), "default_internal");
}

// --- error isolation: a malformed or conflicting resource never changes what others serve ------

// Builds the world twice, without and then with the bad resource (added last, so it is also the
// newcomer), and checks that everything served without it is served byte for byte with it.
void expect_isolated(const std::function<void(world_builder&)>& good,
                     const std::function<void(world_builder&)>& bad, const resource_key& blamed,
                     const envoy_translation_options& options = {}) {
  world_builder without;
  good(without);
  world_builder with;
  good(with);
  bad(with);
  auto a = run(without.get(), options);
  auto b = run(with.get(), options);
  ASSERT_TRUE(a.snap && b.snap);
  for (const auto& [type, set] : a.snap->types) {
    for (const auto& [name, res] : set.items) {
      const auto& other = b.snap->of(type).items;
      auto i = other.find(name);
      ASSERT_NE(i, other.end()) << type << " " << name << " disappeared";
      EXPECT_EQ(res->bytes, i->second->bytes) << type << " " << name << " changed";
    }
  }
  const auto* r = find_report(b.report, blamed);
  ASSERT_NE(r, nullptr) << blamed.to_string();
  EXPECT_FALSE(r->errors.empty() && r->warnings.empty()) << blamed.to_string() << " not blamed";
  // Nobody that was fine before got an error because of the newcomer.
  for (const auto& [key, report] : a.report.entries()) {
    if (report.errors.empty()) {
      const auto* now = find_report(b.report, key);
      EXPECT_TRUE(now == nullptr || now->errors.empty()) << key.to_string() << " was blamed";
    }
  }
}

void two_hosts(world_builder& b) {
  b.gateway("gloo-system", "gw", gateway_8080)
      .gateway("gloo-system", "tls", R"({"bindPort": 8443, "ssl": true, "httpGateway": {}})")
      .upstream("default", "up", static_upstream)
      .secret("default", "cert-a", R"({"tls": {"certChain": "A", "privateKey": "a"}})")
      .vs("default", "a", R"({"virtualHost": {"domains": ["a.example.com"], "routes": [
            {"routeAction": {"single": {"upstream": {"name": "up"}}}}]}})")
      .vs("default", "tls-a", R"({"sslConfig": {"secretRef": {"name": "cert-a"}, "sniDomains": ["a.example.com"]},
            "virtualHost": {"domains": ["a.example.com"], "routes": [
            {"routeAction": {"single": {"upstream": {"name": "up"}}}}]}})");
}

TEST(ErrorIsolationTest, DomainConflictLeavesTheFirstVirtualServiceServing) {
  expect_isolated(two_hosts, [](world_builder& b) {
    b.vs("default", "aa-newcomer", R"({"virtualHost": {"domains": ["a.example.com"], "routes": [
          {"directResponseAction": {"status": 200}}]}})");
  }, vs_key("default", "aa-newcomer"));
}

TEST(ErrorIsolationTest, OverlappingSniLeavesTheFirstTlsChainServing) {
  expect_isolated(two_hosts, [](world_builder& b) {
    b.secret("default", "cert-b", R"({"tls": {"certChain": "B", "privateKey": "b"}})")
        .vs("default", "tls-b", R"({"sslConfig": {"secretRef": {"name": "cert-b"}, "sniDomains": ["a.example.com"]},
            "virtualHost": {"domains": ["b.example.com"], "routes": [
            {"routeAction": {"single": {"upstream": {"name": "up"}}}}]}})");
  }, vs_key("default", "tls-b"));
}

TEST(ErrorIsolationTest, MissingTlsSecretLeavesOtherTlsVirtualServicesServing) {
  expect_isolated(two_hosts, [](world_builder& b) {
    b.vs("default", "tls-c", R"({"sslConfig": {"secretRef": {"name": "missing"}, "sniDomains": ["c.example.com"]},
          "virtualHost": {"domains": ["c.example.com"], "routes": [
          {"routeAction": {"single": {"upstream": {"name": "up"}}}}]}})");
  }, vs_key("default", "tls-c"));
}

TEST(ErrorIsolationTest, DelegationCycleRejectsOnlyItsVirtualService) {
  expect_isolated(two_hosts, [](world_builder& b) {
    b.vs("default", "looping", R"({"virtualHost": {"domains": ["loop.example.com"], "routes": [
          {"matchers": [{"prefix": "/l"}], "delegateAction": {"ref": {"name": "loop"}}}]}})")
        .rt("default", "loop", R"({"routes": [{"matchers": [{"prefix": "/l/l"}],
              "delegateAction": {"ref": {"name": "loop"}}}]})");
  }, vs_key("default", "looping"));
}

TEST(ErrorIsolationTest, RouteLevelErrorRejectsOnlyItsVirtualService) {
  expect_isolated(two_hosts, [](world_builder& b) {
    b.vs("default", "broken", R"({"virtualHost": {"domains": ["broken.example.com"], "routes": [
          {"routeAction": {"single": {"upstream": {"name": "up"}}},
           "options": {"headerManipulation": {"requestHeadersToAdd": [{"header": {"key": ":path", "value": "/x"}}]}}}]}})");
  }, vs_key("default", "broken"));
}

TEST(ErrorIsolationTest, MissingAuthConfigRejectsOnlyItsVirtualService) {
  expect_isolated(two_hosts, [](world_builder& b) {
    b.vs("default", "auth", R"({"virtualHost": {"domains": ["auth.example.com"],
          "options": {"extauth": {"configRef": {"name": "missing"}}},
          "routes": [{"routeAction": {"single": {"upstream": {"name": "up"}}}}]}})");
  }, vs_key("default", "auth"));
}

TEST(ErrorIsolationTest, BrokenUpstreamLosesOnlyItsOwnCluster) {
  expect_isolated(two_hosts, [](world_builder& b) {
    b.upstream("default", "broken", R"({"static": {"hosts": [{"addr": "127.0.0.1", "port": 1}]},
          "sslConfig": {"secretRef": {"name": "missing"}}})");
  }, {resource_kind::upstream, "default", "broken"});
}

TEST(ErrorIsolationTest, InvalidUpstreamGroupChangesNothingElse) {
  expect_isolated(two_hosts, [](world_builder& b) {
    b.group("default", "broken", R"({"destinations": [{"destination": {"upstream": {"name": "nope"}}, "weight": 1}]})");
  }, {resource_kind::upstream_group, "default", "broken"});
}

TEST(ErrorIsolationTest, SecondGatewayOnAPortLeavesTheFirstListenerServing) {
  expect_isolated(two_hosts, [](world_builder& b) {
    b.gateway("gloo-system", "aa-newcomer", R"({"bindPort": 8080, "httpGateway": {"virtualServiceSelector": {"x": "y"}}})");
  }, {resource_kind::gateway, "gloo-system", "aa-newcomer"});
}

TEST(ErrorIsolationTest, GatewayWithABadExpressionChangesNothingElse) {
  expect_isolated(two_hosts, [](world_builder& b) {
    b.gateway("gloo-system", "bad-expr", R"({"bindPort": 9090, "httpGateway": {"virtualServiceExpressions":
          {"expressions": [{"key": "k", "operator": "GreaterThan", "values": ["x"]}]}}})");
  }, {resource_kind::gateway, "gloo-system", "bad-expr"});
}

TEST(ErrorIsolationTest, BadSettingsFieldFallsBackToDefaults) {
  expect_isolated(two_hosts, [](world_builder& b) {
    b.settings(R"({"extauth": {"extauthzServerRef": "not-an-object"}})");
  }, {resource_kind::settings, "gloo-system", "default"});
}

// F15 (reference gloo.md §3.2 "Misconfigured node snapshot"): an Envoy without role is told why.
TEST(ProxyTranslatorTest, MisconfiguredNodeSnapshotAnswersEveryRequestWith500) {
  auto snap = misconfigured_node_snapshot();
  EXPECT_EQ(snap->key, "misconfigured-node");
  EXPECT_EQ(check_snapshot(*snap), std::vector<std::string>{});
  auto l = get<listener_v3::Listener>(*snap, listener_type, "listener-for-invalid-envoy");
  EXPECT_EQ(l.address().socket_address().address(), "::");
  EXPECT_EQ(l.address().socket_address().port_value(), 8080u);
  ASSERT_EQ(l.filter_chains_size(), 1);
  envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager hcm;
  ASSERT_TRUE(l.filter_chains(0).filters(0).typed_config().UnpackTo(&hcm));
  EXPECT_EQ(hcm.rds().route_config_name(), "routes-for-invalid-envoy");
  auto rc = get<route_v3::RouteConfiguration>(*snap, route_type, "routes-for-invalid-envoy");
  ASSERT_EQ(rc.virtual_hosts_size(), 1);
  ASSERT_EQ(rc.virtual_hosts(0).routes_size(), 1);
  const auto& r = rc.virtual_hosts(0).routes(0);
  EXPECT_EQ(r.match().prefix(), "/");
  EXPECT_EQ(r.direct_response().status(), 500u);
  EXPECT_EQ(r.direct_response().body().inline_string(),
            "Invalid Envoy Bootstrap Configuration. Please refer to Gloo documentation "
            "https://gloo.solo.io/");
  EXPECT_TRUE(snap->of(cluster_type).items.empty());
  auto v4 = misconfigured_node_snapshot(true);
  EXPECT_EQ(get<listener_v3::Listener>(*v4, listener_type, "listener-for-invalid-envoy")
                .address()
                .socket_address()
                .address(),
            "0.0.0.0");
}

}  // namespace
}  // namespace sluice::xds
