#include "model/gateway_translator.hpp"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>

#include "model/gateway_attribution.hpp"
#include "model/gateway_route_converter.hpp"
#include "model/gateway_virtual_host.hpp"
#include "model/resource.hpp"
#include "solo/gateway.pb.h"
#include "solo/gloo.pb.h"

namespace sluice::model {
namespace {

namespace gw = ::gateway::solo::io;
namespace gl = ::gloo::solo::io;

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
    stored_resource r;
    r.key = resource_key{kind, ns, name};
    r.content_hash = content_hash(canonical_bytes(*msg));
    r.seq = ++seq_;
    r.message = std::move(msg);
    w_.put(std::move(r));
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
  world_builder& secret(const std::string& ns, const std::string& name) {
    return add<gl::Secret>(resource_kind::secret, ns, name,
                           R"({"tls": {"certChain": "cert", "privateKey": "key"}})");
  }
  world_builder& vhost_option(const std::string& ns, const std::string& name,
                              const std::string& json) {
    return add<gw::VirtualHostOption>(resource_kind::virtual_host_option, ns, name, json);
  }
  world_builder& route_option(const std::string& ns, const std::string& name,
                              const std::string& json) {
    return add<gw::RouteOption>(resource_kind::route_option, ns, name, json);
  }
  world_builder& settings(const std::string& json) {
    return add<gl::Settings>(resource_kind::settings, "gloo-system", "default", json);
  }
  const world& get() const { return w_; }

 private:
  world w_;
  uint64_t seq_ = 0;
};

resource_key gateway_key(const std::string& ns, const std::string& name) {
  return {resource_kind::gateway, ns, name};
}
resource_key vs_key(const std::string& ns, const std::string& name) {
  return {resource_kind::virtual_service, ns, name};
}
resource_key rt_key(const std::string& ns, const std::string& name) {
  return {resource_kind::route_table, ns, name};
}

const resource_report* find_report(const translation_report& r, const resource_key& k) {
  auto i = r.entries().find(k);
  return i == r.entries().end() ? nullptr : &i->second;
}

bool has_message(const std::vector<std::string>& list, const std::string& part) {
  return std::any_of(list.begin(), list.end(),
                     [&](const std::string& m) { return m.find(part) != std::string::npos; });
}

std::vector<std::string> vhost_names(const gl::Listener& l) {
  std::vector<std::string> out;
  for (const auto& vh : l.http_listener().virtual_hosts()) {
    out.push_back(vh.name());
  }
  return out;
}

std::vector<std::string> route_paths(const gl::VirtualHost& vh) {
  std::vector<std::string> out;
  for (const auto& r : vh.routes()) {
    for (const auto& m : r.matchers()) {
      out.push_back(path_as_string(m));
    }
  }
  return out;
}

constexpr const char* http_gateway =
    R"({"bindAddress": "::", "bindPort": 8080, "httpGateway": {}})";

std::string route_to(const std::string& prefix, const std::string& upstream) {
  return R"({"matchers": [{"prefix": ")" + prefix +
         R"("}], "routeAction": {"single": {"upstream": {"name": ")" + upstream + R"("}}}})";
}

std::string vs_json(const std::string& domains, const std::string& routes) {
  return R"({"virtualHost": {"domains": [)" + domains + R"(], "routes": [)" + routes + "]}}";
}

TEST(GatewayTranslatorTest, DefaultGatewayMakesOneProxyWithGlooNames) {
  world_builder b;
  b.gateway("gloo-system", "gateway-proxy", R"({"bindPort": 8080, "httpGateway": {}})")
      .vs("default", "petstore",
          R"({"virtualHost": {"domains": ["pets.example.com"], "routes": [
                {"routeAction": {"single": {"upstream": {"name": "petstore"}}}}]}})");
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  const auto& p = proxies[0];
  EXPECT_EQ(p.role, "gloo-system~gateway-proxy");
  EXPECT_EQ(p.proxy.metadata().name(), "gateway-proxy");
  EXPECT_EQ(p.proxy.metadata().namespace_(), "gloo-system");
  EXPECT_EQ(p.proxy.metadata().labels().at("created_by"), "gloo-gateway");
  ASSERT_EQ(p.proxy.listeners_size(), 1);
  const auto& l = p.proxy.listeners(0);
  EXPECT_EQ(l.name(), "listener-::-8080");  // empty bindAddress means "::"
  EXPECT_EQ(l.bind_address(), "::");
  EXPECT_EQ(l.bind_port(), 8080u);
  ASSERT_EQ(l.http_listener().virtual_hosts_size(), 1);
  const auto& vh = l.http_listener().virtual_hosts(0);
  EXPECT_EQ(vh.name(), "default.petstore");
  ASSERT_EQ(vh.domains_size(), 1);
  EXPECT_EQ(vh.domains(0), "pets.example.com");
  ASSERT_EQ(vh.routes_size(), 1);
  // No matchers means prefix "/"; an upstream ref without namespace takes the VS's namespace.
  ASSERT_EQ(vh.routes(0).matchers_size(), 1);
  EXPECT_EQ(vh.routes(0).matchers(0).prefix(), "/");
  EXPECT_EQ(vh.routes(0).route_action().single().upstream().namespace_(), "default");
  EXPECT_TRUE(vh.routes(0).name().empty());  // unnamed branches carry no generated name
  // Everything touched, nothing wrong.
  for (const auto& k :
       {gateway_key("gloo-system", "gateway-proxy"), vs_key("default", "petstore")}) {
    const auto* r = find_report(report, k);
    ASSERT_NE(r, nullptr) << k.to_string();
    EXPECT_TRUE(r->errors.empty());
    EXPECT_TRUE(r->warnings.empty());
  }
}

TEST(GatewayTranslatorTest, ProxyNamesGroupGatewaysIntoProxies) {
  world_builder b;
  b.gateway(
       "gloo-system", "a",
       R"({"bindAddress": "0.0.0.0", "bindPort": 8080, "httpGateway": {}, "proxyNames": ["edge"]})")
      .gateway("gloo-system", "b",
               R"({"bindPort": 8081, "httpGateway": {}, "proxyNames": ["edge", "internal"]})")
      .vs("default", "vs", vs_json(R"("x")", route_to("/", "up")));
  translation_report report;
  gateway_translation_options options;
  options.write_namespace = "gloo-system";
  auto proxies = translate_gateways(b.get(), report, options);
  ASSERT_EQ(proxies.size(), 2u);
  EXPECT_EQ(proxies[0].role, "gloo-system~edge");
  EXPECT_EQ(proxies[1].role, "gloo-system~internal");
  ASSERT_EQ(proxies[0].proxy.listeners_size(), 2);
  EXPECT_EQ(proxies[0].proxy.listeners(0).name(), "listener-0.0.0.0-8080");
  EXPECT_EQ(proxies[0].proxy.listeners(1).name(), "listener-::-8081");
  ASSERT_EQ(proxies[1].proxy.listeners_size(), 1);
  EXPECT_EQ(proxies[1].proxy.listeners(0).name(), "listener-::-8081");
}

TEST(GatewayTranslatorTest, WriteNamespaceDecidesProxyNamespaceAndWhichGatewaysCount) {
  world_builder b;
  b.gateway("other", "gw", http_gateway)
      .gateway("edge-ns", "gw", R"({"bindPort": 9090, "httpGateway": {}})")
      .vs("default", "vs", vs_json(R"("x")", route_to("/", "up")));
  translation_report report;
  gateway_translation_options options;
  options.write_namespace = "edge-ns";
  auto proxies = translate_gateways(b.get(), report, options);
  ASSERT_EQ(proxies.size(), 1u);
  EXPECT_EQ(proxies[0].role, "edge-ns~gateway-proxy");
  ASSERT_EQ(proxies[0].proxy.listeners_size(), 1);
  EXPECT_EQ(proxies[0].proxy.listeners(0).bind_port(), 9090u);
  const auto* ignored = find_report(report, gateway_key("other", "gw"));
  ASSERT_NE(ignored, nullptr);
  EXPECT_TRUE(has_message(ignored->warnings, "only gateways in namespace edge-ns"));

  options.read_gateways_from_all_namespaces = true;
  translation_report all;
  auto both = translate_gateways(b.get(), all, options);
  ASSERT_EQ(both.size(), 1u);
  EXPECT_EQ(both[0].proxy.listeners_size(), 2);
}

TEST(GatewayTranslatorTest, SelectsVirtualServicesByRefSelectorNamespaceAndSsl) {
  world_builder b;
  b.gateway(
       "gloo-system", "by-ref",
       R"({"bindPort": 1001, "httpGateway": {"virtualServices": [{"name": "a", "namespace": "team1"}]}})")
      .gateway("gloo-system", "by-label",
               R"({"bindPort": 1002, "httpGateway": {"virtualServiceSelector": {"tier": "gold"}}})")
      .gateway("gloo-system", "by-ns",
               R"({"bindPort": 1003, "httpGateway": {"virtualServiceNamespaces": ["team2"]}})")
      .gateway("gloo-system", "by-expr",
               R"({"bindPort": 1004, "httpGateway": {"virtualServiceExpressions": {"expressions": [
                    {"key": "tier", "operator": "In", "values": ["silver", "bronze"]}]}}})")
      .gateway("gloo-system", "tls", R"({"bindPort": 1005, "ssl": true, "httpGateway": {}})")
      .gateway("gloo-system", "all", R"({"bindPort": 1006, "httpGateway": {}})");
  b.vs("team1", "a", vs_json(R"("a")", route_to("/", "up")));
  b.add<gw::VirtualService>(resource_kind::virtual_service, "team1", "gold",
                            vs_json(R"("gold")", route_to("/", "up")));
  b.vs("team2", "silver",
       R"({"metadata": {"labels": {"tier": "silver"}}, "virtualHost": {"domains": ["silver"]}})");
  b.vs("team2", "secure",
       R"({"sslConfig": {"secretRef": {"name": "tls", "namespace": "gloo-system"}},
           "virtualHost": {"domains": ["secure"]}})");
  b.vs("team3", "labelled",
       R"({"metadata": {"labels": {"tier": "gold"}}, "virtualHost": {"domains": ["labelled"]}})");
  b.add<gl::Secret>(resource_kind::secret, "gloo-system", "tls",
                    R"({"tls": {"certChain": "cert", "privateKey": "key"}})");
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  std::map<uint32_t, std::vector<std::string>> by_port;
  for (const auto& l : proxies[0].proxy.listeners()) {
    by_port[l.bind_port()] = vhost_names(l);
  }
  using names = std::vector<std::string>;
  EXPECT_EQ(by_port[1001], (names{"team1.a"}));
  EXPECT_EQ(by_port[1002], (names{"team3.labelled"}));
  EXPECT_EQ(by_port[1003], (names{"team2.silver"}));  // non-ssl only: "secure" is ssl
  EXPECT_EQ(by_port[1004], (names{"team2.silver"}));
  EXPECT_EQ(by_port[1005], (names{"team2.secure"}));
  EXPECT_EQ(by_port[1006], (names{"team1.a", "team1.gold", "team2.silver", "team3.labelled"}));
  // The ssl gateway carries the VirtualService's sslConfig.
  for (const auto& l : proxies[0].proxy.listeners()) {
    EXPECT_EQ(l.ssl_configurations_size(), l.bind_port() == 1005 ? 1 : 0) << l.name();
  }
}

TEST(GatewayTranslatorTest, VirtualServiceExpressionsUseLabelSelectorSemantics) {
  world_builder b;
  b.gateway("gloo-system", "not-in",
            R"({"bindPort": 1001, "httpGateway": {"virtualServiceExpressions": {"expressions": [
                 {"key": "env", "operator": "NotIn", "values": ["prod"]},
                 {"key": "team", "operator": "Exists"}]}}})")
      .gateway("gloo-system", "greater",
               R"({"bindPort": 1002, "httpGateway": {"virtualServiceExpressions": {"expressions": [
                    {"key": "rank", "operator": "GreaterThan", "values": ["5"]}]}}})")
      .gateway("gloo-system", "broken",
               R"({"bindPort": 1003, "httpGateway": {"virtualServiceExpressions": {"expressions": [
                    {"key": "rank", "operator": "GreaterThan", "values": ["five"]}]}}})")
      .vs("default", "dev",
          R"({"metadata": {"labels": {"env": "dev", "team": "a", "rank": "9"}},
              "virtualHost": {"domains": ["dev"]}})")
      .vs("default", "prod",
          R"({"metadata": {"labels": {"env": "prod", "team": "a", "rank": "2"}},
              "virtualHost": {"domains": ["prod"]}})")
      .vs("default", "anon", R"({"virtualHost": {"domains": ["anon"]}})");
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  std::map<uint32_t, std::vector<std::string>> by_port;
  for (const auto& l : proxies[0].proxy.listeners()) {
    by_port[l.bind_port()] = vhost_names(l);
  }
  EXPECT_EQ(by_port[1001], std::vector<std::string>{"default.dev"});
  EXPECT_EQ(by_port[1002], std::vector<std::string>{"default.dev"});
  EXPECT_TRUE(by_port[1003].empty());
  EXPECT_TRUE(has_message(find_report(report, gateway_key("gloo-system", "broken"))->errors,
                          "invalid virtualServiceExpressions"));
}

TEST(GatewayTranslatorTest, MissingVirtualServiceRefIsAnErrorOnTheGateway) {
  world_builder b;
  b.gateway("gloo-system", "gw",
            R"({"bindPort": 8080, "httpGateway": {"virtualServices": [
                 {"name": "here", "namespace": "default"}, {"name": "gone"}]}})")
      .vs("default", "here", vs_json(R"("here")", route_to("/", "up")));
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  const auto* r = find_report(report, gateway_key("gloo-system", "gw"));
  ASSERT_NE(r, nullptr);
  // A ref without namespace means the gateway's namespace.
  EXPECT_TRUE(has_message(r->errors, "gloo-system.gone"));
  // The virtual service that exists keeps serving.
  ASSERT_EQ(proxies.size(), 1u);
  EXPECT_EQ(vhost_names(proxies[0].proxy.listeners(0)), std::vector<std::string>{"default.here"});
}

TEST(GatewayTranslatorTest, DomainConflictBlamesTheLaterVirtualServiceOnly) {
  world_builder b;
  b.gateway("gloo-system", "gw", http_gateway)
      .vs("a", "first", vs_json(R"("shop.example.com", "a.example.com")", route_to("/", "up")))
      .vs("b", "second", vs_json(R"("b.example.com", "shop.example.com")", route_to("/", "up")))
      .vs("c", "third", vs_json(R"("c.example.com")", route_to("/", "up")));
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  EXPECT_EQ(vhost_names(proxies[0].proxy.listeners(0)),
            (std::vector<std::string>{"a.first", "c.third"}));
  const auto* second = find_report(report, vs_key("b", "second"));
  ASSERT_NE(second, nullptr);
  ASSERT_EQ(second->errors.size(), 1u);
  EXPECT_TRUE(has_message(second->errors, "domain conflict: the [shop.example.com] domain"));
  EXPECT_TRUE(has_message(second->errors, "a.first"));
  EXPECT_TRUE(find_report(report, vs_key("a", "first"))->errors.empty());
  EXPECT_TRUE(find_report(report, gateway_key("gloo-system", "gw"))->errors.empty());
}

TEST(GatewayTranslatorTest, VirtualServicesWithoutDomainsConflictAsWildcard) {
  world_builder b;
  b.gateway("gloo-system", "gw", http_gateway)
      .vs("default", "one", vs_json("", route_to("/", "up")))
      .vs("default", "two", vs_json("", route_to("/", "up")));
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  EXPECT_EQ(vhost_names(proxies[0].proxy.listeners(0)), std::vector<std::string>{"default.one"});
  EXPECT_TRUE(has_message(find_report(report, vs_key("default", "two"))->errors, "[*]"));
}

TEST(GatewayTranslatorTest, InvalidVirtualServiceLosesOnlyItsOwnVirtualHost) {
  world_builder b;
  b.gateway("gloo-system", "gw", http_gateway)
      .vs("default", "broken",
          R"({"virtualHost": {"domains": ["broken"], "routes": [{"matchers": [{"prefix": "/"}]}]}})")
      .vs("default", "fine", vs_json(R"("fine")", route_to("/", "up")));
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  EXPECT_EQ(vhost_names(proxies[0].proxy.listeners(0)), std::vector<std::string>{"default.fine"});
  EXPECT_TRUE(has_message(find_report(report, vs_key("default", "broken"))->errors,
                          "route must specify an action"));
  EXPECT_TRUE(find_report(report, gateway_key("gloo-system", "gw"))->errors.empty());
}

TEST(GatewayTranslatorTest, SecondGatewayOnTheSamePortIsRejectedForThatProxy) {
  world_builder b;
  b.gateway("gloo-system", "a", http_gateway)
      .gateway("gloo-system", "b",
               R"({"bindAddress": "0.0.0.0", "bindPort": 8080, "httpGateway": {}})")
      .vs("default", "vs", vs_json(R"("x")", route_to("/", "up")));
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  ASSERT_EQ(proxies[0].proxy.listeners_size(), 1);
  EXPECT_EQ(proxies[0].proxy.listeners(0).name(), "listener-::-8080");
  EXPECT_TRUE(find_report(report, gateway_key("gloo-system", "a"))->errors.empty());
  EXPECT_TRUE(has_message(find_report(report, gateway_key("gloo-system", "b"))->errors,
                          "bind port 8080 is already used by gateway gloo-system.a"));
}

TEST(GatewayTranslatorTest, GatewayWithoutTypeIsAnError) {
  world_builder b;
  b.gateway("gloo-system", "gw", R"({"bindPort": 8080})")
      .vs("default", "vs", vs_json(R"("x")", route_to("/", "up")));
  translation_report report;
  EXPECT_TRUE(translate_gateways(b.get(), report).empty());
  EXPECT_FALSE(find_report(report, gateway_key("gloo-system", "gw"))->errors.empty());
}

TEST(GatewayTranslatorTest, NoVirtualServicesAtAllMeansNoProxy) {
  world_builder b;
  b.gateway("gloo-system", "gw", http_gateway);
  translation_report report;
  EXPECT_TRUE(translate_gateways(b.get(), report).empty());
}

TEST(GatewayTranslatorTest, NamedRoutesGetGlooGeneratedNames) {
  world_builder b;
  b.gateway("gloo-system", "gw", http_gateway)
      .vs("default", "vs",
          R"({"virtualHost": {"routes": [
                {"name": "first", "routeAction": {"single": {"upstream": {"name": "up"}}}},
                {"routeAction": {"single": {"upstream": {"name": "up"}}}}]}})");
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  const auto& vh = proxies[0].proxy.listeners(0).http_listener().virtual_hosts(0);
  EXPECT_EQ(vh.routes(0).name(), "vs:gw_gateway-proxy_default_vs_route:first");
  EXPECT_EQ(vh.routes(1).name(), "");
}

// --- delegation ---------------------------------------------------------------------------------

TEST(GatewayTranslatorTest, DelegationByRefExpandsInPlaceAndChecksThePrefix) {
  world_builder b;
  b.gateway("gloo-system", "gw", http_gateway)
      .vs("default", "vs",
          R"({"virtualHost": {"routes": [
                {"matchers": [{"exact": "/first"}], "routeAction": {"single": {"upstream": {"name": "up"}}}},
                {"matchers": [{"prefix": "/api"}], "delegateAction": {"ref": {"name": "api"}}},
                {"matchers": [{"prefix": "/"}], "routeAction": {"single": {"upstream": {"name": "up"}}}}]}})")
      .rt("default", "api",
          R"({"routes": [
                {"matchers": [{"prefix": "/api/v1"}], "routeAction": {"single": {"upstream": {"name": "v1"}}}},
                {"matchers": [{"prefix": "/other"}], "routeAction": {"single": {"upstream": {"name": "v1"}}}},
                {"matchers": [{"prefix": "/api/v2"}], "directResponseAction": {"status": 200, "body": "v2"}}]})");
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  const auto& vh = proxies[0].proxy.listeners(0).http_listener().virtual_hosts(0);
  EXPECT_EQ(route_paths(vh), (std::vector<std::string>{"/first", "/api/v1", "/api/v2", "/"}));
  // The table's own namespace fills its refs, and each route records where it came from.
  EXPECT_EQ(vh.routes(1).route_action().single().upstream().namespace_(), "default");
  ASSERT_EQ(vh.routes(1).metadata_static().sources_size(), 2);
  EXPECT_EQ(vh.routes(1).metadata_static().sources(0).resource_kind(), "*v1.RouteTable");
  EXPECT_EQ(vh.routes(1).metadata_static().sources(1).resource_kind(), "*v1.VirtualService");
  // "/other" is not under "/api": a warning on the table and the VS, only that route dropped.
  const auto* rt = find_report(report, rt_key("default", "api"));
  ASSERT_NE(rt, nullptr);
  EXPECT_TRUE(rt->errors.empty());
  EXPECT_TRUE(has_message(rt->warnings, "required prefix: /api, path: /other"));
  const auto* vs = find_report(report, vs_key("default", "vs"));
  EXPECT_TRUE(vs->errors.empty());
  EXPECT_TRUE(has_message(vs->warnings, "on sub route table default.api"));
}

TEST(GatewayTranslatorTest, DelegationBySelectorOrdersByWeightAndSortsSharedWeights) {
  world_builder b;
  b.gateway("gloo-system", "gw", http_gateway)
      .vs("default", "vs",
          R"({"virtualHost": {"routes": [
                {"matchers": [{"prefix": "/"}], "delegateAction": {"selector": {
                   "labels": {"team": "shop"}, "namespaces": ["*"]}}}]}})")
      .rt("ns1", "late",
          R"({"metadata": {"labels": {"team": "shop"}}, "weight": 10, "routes": [
                {"matchers": [{"prefix": "/z"}], "directResponseAction": {"status": 200}}]})")
      .rt("ns1", "short",
          R"({"metadata": {"labels": {"team": "shop"}}, "routes": [
                {"matchers": [{"prefix": "/foo"}], "directResponseAction": {"status": 200}},
                {"matchers": [{"prefix": "/a"}], "directResponseAction": {"status": 200}}]})")
      .rt("ns2", "long",
          R"({"metadata": {"labels": {"team": "shop"}}, "routes": [
                {"matchers": [{"prefix": "/foo/bar"}], "directResponseAction": {"status": 200}},
                {"matchers": [{"exact": "/foo"}], "directResponseAction": {"status": 200}}]})")
      .rt("ns2", "unlabelled",
          R"({"routes": [{"matchers": [{"prefix": "/never"}], "directResponseAction": {"status": 200}}]})");
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  const auto& vh = proxies[0].proxy.listeners(0).http_listener().virtual_hosts(0);
  // Weight 0 group (two tables, sorted: exact first, then longer prefixes first), then weight 10.
  EXPECT_EQ(route_paths(vh), (std::vector<std::string>{"/foo", "/foo/bar", "/foo", "/a", "/z"}));
  EXPECT_EQ(vh.routes(0).matchers(0).exact(), "/foo");
}

TEST(GatewayTranslatorTest, SelectorWithoutNamespacesLooksOnlyInTheOwnersNamespace) {
  world_builder b;
  b.gateway("gloo-system", "gw", http_gateway)
      .vs("default", "vs",
          R"({"virtualHost": {"routes": [
                {"delegateAction": {"selector": {"labels": {"team": "shop"}}}}]}})")
      .rt("elsewhere", "rt",
          R"({"metadata": {"labels": {"team": "shop"}}, "routes": [
                {"directResponseAction": {"status": 200}}]})");
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  EXPECT_TRUE(has_message(find_report(report, vs_key("default", "vs"))->warnings,
                          "no route table matches the given selector"));
  ASSERT_EQ(proxies.size(), 1u);
  EXPECT_EQ(proxies[0].proxy.listeners(0).http_listener().virtual_hosts(0).routes_size(), 0);
}

TEST(GatewayTranslatorTest, MissingRouteTableIsAWarningAndDropsOnlyTheDelegatingRoute) {
  world_builder b;
  b.gateway("gloo-system", "gw", http_gateway)
      .vs("default", "vs",
          R"({"virtualHost": {"routes": [
                {"matchers": [{"prefix": "/a"}], "delegateAction": {"ref": {"name": "nope"}}},
                {"matchers": [{"prefix": "/"}], "directResponseAction": {"status": 200}}]}})");
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  EXPECT_EQ(route_paths(proxies[0].proxy.listeners(0).http_listener().virtual_hosts(0)),
            std::vector<std::string>{"/"});
  EXPECT_TRUE(has_message(find_report(report, vs_key("default", "vs"))->warnings,
                          "route table default.nope missing"));
}

TEST(GatewayTranslatorTest, DelegatingRouteMustUseOnePrefixMatcher) {
  world_builder b;
  b.gateway("gloo-system", "gw", http_gateway)
      .vs("default", "exact",
          R"({"virtualHost": {"domains": ["e"], "routes": [
                {"matchers": [{"exact": "/a"}], "delegateAction": {"ref": {"name": "rt"}}}]}})")
      .vs("default", "two",
          R"({"virtualHost": {"domains": ["t"], "routes": [
                {"matchers": [{"prefix": "/a"}, {"prefix": "/b"}], "delegateAction": {"ref": {"name": "rt"}}}]}})")
      .rt("default", "rt", R"({"routes": [{"directResponseAction": {"status": 200}}]})");
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  EXPECT_TRUE(has_message(find_report(report, vs_key("default", "exact"))->errors,
                          "must use a prefix matcher"));
  EXPECT_TRUE(has_message(find_report(report, vs_key("default", "two"))->errors,
                          "must omit or specify a single matcher"));
  ASSERT_EQ(proxies.size(), 1u);
  EXPECT_TRUE(vhost_names(proxies[0].proxy.listeners(0)).empty());
}

TEST(GatewayTranslatorTest, DelegationCycleRejectsTheTableAndTheVirtualService) {
  world_builder b;
  b.gateway("gloo-system", "gw", http_gateway)
      .vs("default", "vs",
          R"({"virtualHost": {"domains": ["cyc"], "routes": [
                {"matchers": [{"prefix": "/"}], "delegateAction": {"ref": {"name": "a"}}}]}})")
      .vs("default", "ok", vs_json(R"("ok")", route_to("/", "up")))
      .rt("default", "a",
          R"({"routes": [{"matchers": [{"prefix": "/x"}], "delegateAction": {"ref": {"name": "b"}}}]})")
      .rt("default", "b",
          R"({"routes": [{"matchers": [{"prefix": "/x/y"}], "delegateAction": {"ref": {"name": "a"}}}]})");
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  const std::string cycle = "delegation cycle detected: [default.a] -> [default.b] -> [default.a]";
  EXPECT_TRUE(has_message(find_report(report, rt_key("default", "a"))->errors, cycle));
  EXPECT_TRUE(has_message(find_report(report, vs_key("default", "vs"))->errors,
                          "on sub route table default.a: invalid route: " + cycle));
  ASSERT_EQ(proxies.size(), 1u);
  EXPECT_EQ(vhost_names(proxies[0].proxy.listeners(0)), std::vector<std::string>{"default.ok"});
}

TEST(GatewayTranslatorTest, DiamondDelegationIsNotACycle) {
  world_builder b;
  b.gateway("gloo-system", "gw", http_gateway)
      .vs("default", "vs",
          R"({"virtualHost": {"routes": [
                {"matchers": [{"prefix": "/a"}], "delegateAction": {"ref": {"name": "shared"}}},
                {"matchers": [{"prefix": "/"}], "delegateAction": {"ref": {"name": "shared"}}}]}})")
      .rt("default", "shared",
          R"({"routes": [{"matchers": [{"prefix": "/a/b"}], "directResponseAction": {"status": 200}}]})");
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  EXPECT_EQ(route_paths(proxies[0].proxy.listeners(0).http_listener().virtual_hosts(0)),
            (std::vector<std::string>{"/a/b", "/a/b"}));
  EXPECT_TRUE(find_report(report, vs_key("default", "vs"))->errors.empty());
}

TEST(GatewayTranslatorTest, InheritanceOfMatchersAndOptionsFollowsGloo) {
  world_builder b;
  b.gateway("gloo-system", "gw", http_gateway)
      .vs("default", "vs",
          R"({"virtualHost": {"routes": [
                {"matchers": [{"prefix": "/api", "headers": [{"name": "x-team", "value": "a"}],
                               "methods": ["GET"]}],
                 "inheritableMatchers": true, "inheritablePathMatchers": true,
                 "options": {"timeout": "5s", "prefixRewrite": "/parent"},
                 "delegateAction": {"ref": {"name": "rt"}}}]}})")
      .rt("default", "rt",
          R"({"routes": [
                {"options": {"prefixRewrite": "/child"},
                 "routeAction": {"single": {"upstream": {"name": "up"}}}},
                {"matchers": [{"prefix": "/other"}], "inheritablePathMatchers": false,
                 "routeAction": {"single": {"upstream": {"name": "up"}}}}]})");
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  const auto& vh = proxies[0].proxy.listeners(0).http_listener().virtual_hosts(0);
  ASSERT_EQ(vh.routes_size(), 1);
  const auto& r = vh.routes(0);
  // Path inherited (the child had no matcher), headers and methods prepended.
  ASSERT_EQ(r.matchers_size(), 1);
  EXPECT_EQ(r.matchers(0).prefix(), "/api");
  ASSERT_EQ(r.matchers(0).headers_size(), 1);
  EXPECT_EQ(r.matchers(0).headers(0).name(), "x-team");
  ASSERT_EQ(r.matchers(0).methods_size(), 1);
  // Options: the child's prefixRewrite wins, the parent's timeout fills the gap.
  EXPECT_EQ(r.options().prefix_rewrite().value(), "/child");
  EXPECT_EQ(r.options().timeout().seconds(), 5);
  // The second child opted out of path inheritance and is not under /api: dropped with a warning.
  EXPECT_TRUE(has_message(find_report(report, rt_key("default", "rt"))->warnings,
                          "required prefix: /api, path: /other"));
}

TEST(GatewayTranslatorTest, ChildMustKeepTheParentsHeadersWithoutInheritance) {
  world_builder b;
  b.gateway("gloo-system", "gw", http_gateway)
      .vs("default", "vs",
          R"({"virtualHost": {"routes": [
                {"matchers": [{"prefix": "/api", "headers": [{"name": "x-team", "value": "a"}]}],
                 "delegateAction": {"ref": {"name": "rt"}}}]}})")
      .rt("default", "rt",
          R"({"routes": [
                {"matchers": [{"prefix": "/api/a", "headers": [{"name": "x-team", "value": "a"}]}],
                 "directResponseAction": {"status": 200}},
                {"matchers": [{"prefix": "/api/b"}], "directResponseAction": {"status": 200}}]})");
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  EXPECT_EQ(route_paths(proxies[0].proxy.listeners(0).http_listener().virtual_hosts(0)),
            std::vector<std::string>{"/api/a"});
  EXPECT_TRUE(
      has_message(find_report(report, rt_key("default", "rt"))->warnings, "must have all headers"));
}

TEST(GatewayTranslatorTest, TranslationIsDeterministic) {
  world_builder b;
  b.gateway("gloo-system", "gw", http_gateway)
      .gateway("gloo-system", "gw2",
               R"({"bindPort": 8443, "httpGateway": {}, "proxyNames": ["p2"]})")
      .vs("default", "vs",
          R"({"metadata": {"labels": {"a": "1", "b": "2", "c": "3"}}, "virtualHost": {"domains": ["x"], "routes": [
                {"matchers": [{"prefix": "/"}], "delegateAction": {"selector": {"namespaces": ["*"]}}}]}})")
      .rt("n1", "r1",
          R"({"routes": [{"matchers": [{"prefix": "/b"}], "directResponseAction": {"status": 200}}]})")
      .rt("n2", "r2",
          R"({"routes": [{"matchers": [{"prefix": "/a"}], "directResponseAction": {"status": 200}}]})");
  translation_report r1, r2;
  auto a = translate_gateways(b.get(), r1);
  auto c = translate_gateways(b.get(), r2);
  ASSERT_EQ(a.size(), c.size());
  ASSERT_EQ(a.size(), 2u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].role, c[i].role);
    EXPECT_EQ(canonical_bytes(a[i].proxy), canonical_bytes(c[i].proxy));
  }
  EXPECT_EQ(r1.entries().size(), r2.entries().size());
}

TEST(GatewayTranslatorTest, FindingsAreReportedOnceWhenTwoGatewaysShareAVirtualService) {
  world_builder b;
  b.gateway("gloo-system", "a", http_gateway)
      .gateway("gloo-system", "b", R"({"bindPort": 8081, "httpGateway": {}})")
      .vs("default", "vs",
          R"({"virtualHost": {"routes": [
                {"matchers": [{"prefix": "/x"}], "delegateAction": {"ref": {"name": "nope"}}}]}})");
  translation_report report;
  (void)translate_gateways(b.get(), report);
  EXPECT_EQ(find_report(report, vs_key("default", "vs"))->warnings.size(), 1u);
}

// --- conflicts: the newcomer is blamed -------------------------------------------------------------

TEST(GatewayTranslatorTest, DomainConflictBlamesTheLaterArrivalNotTheLaterName) {
  world_builder b;
  b.gateway("gloo-system", "gw", http_gateway)
      .vs("z", "old", vs_json(R"("shop.example.com")", route_to("/", "up")))
      .vs("a", "new", vs_json(R"("shop.example.com")", route_to("/", "up")));
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  EXPECT_EQ(vhost_names(proxies[0].proxy.listeners(0)), std::vector<std::string>{"z.old"});
  EXPECT_TRUE(has_message(find_report(report, vs_key("a", "new"))->errors, "z.old"));
  EXPECT_TRUE(find_report(report, vs_key("z", "old"))->errors.empty());
  // Gloo also blames the Gateway (freezing its whole listener); sluice does not.
  EXPECT_TRUE(find_report(report, gateway_key("gloo-system", "gw"))->errors.empty());
}

TEST(GatewayTranslatorTest, OverlappingSniBlamesTheNewcomerAndSameCertificatesMerge) {
  world_builder b;
  b.gateway("gloo-system", "tls", R"({"bindPort": 8443, "ssl": true, "httpGateway": {}})")
      .secret("apps", "one")
      .secret("apps", "two")
      .vs("apps", "first", R"({"sslConfig": {"secretRef": {"name": "one"}, "sniDomains": ["a.com", "shared.com"]},
            "virtualHost": {"domains": ["a.com"]}})")
      .vs("apps", "same-cert", R"({"sslConfig": {"secretRef": {"name": "one"}, "sniDomains": ["shared.com"]},
            "virtualHost": {"domains": ["shared.com"]}})")
      .vs("apps", "newcomer", R"({"sslConfig": {"secretRef": {"name": "two"}, "sniDomains": ["shared.com", "b.com"]},
            "virtualHost": {"domains": ["b.com"]}})");
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  const auto& l = proxies[0].proxy.listeners(0);
  EXPECT_EQ(vhost_names(l), (std::vector<std::string>{"apps.first", "apps.same-cert"}));
  ASSERT_EQ(l.ssl_configurations_size(), 2);
  // The Proxy names the secret fully (a ref without namespace means the VirtualService's).
  EXPECT_EQ(l.ssl_configurations(0).secret_ref().namespace_(), "apps");
  EXPECT_TRUE(has_message(find_report(report, vs_key("apps", "newcomer"))->errors,
                          "SNI domain shared.com is already served"));
  EXPECT_TRUE(find_report(report, vs_key("apps", "same-cert"))->errors.empty());
  EXPECT_TRUE(find_report(report, gateway_key("gloo-system", "tls"))->errors.empty());
}

TEST(GatewayTranslatorTest, MissingTlsSecretLeavesTheVirtualServiceOutWithAWarningOrAnError) {
  auto build = [](const std::string& settings) {
    world_builder b;
    b.gateway("gloo-system", "tls", R"({"bindPort": 8443, "ssl": true, "httpGateway": {}})")
        .secret("apps", "here")
        .vs("apps", "good", R"({"sslConfig": {"secretRef": {"name": "here"}, "sniDomains": ["g.com"]},
              "virtualHost": {"domains": ["g.com"]}})")
        .vs("apps", "bad", R"({"sslConfig": {"secretRef": {"name": "gone"}, "sniDomains": ["b.com"]},
              "virtualHost": {"domains": ["b.com"]}})");
    if (!settings.empty()) {
      b.settings(settings);
    }
    return b;
  };
  {
    auto b = build("");
    translation_report report;
    auto proxies = translate_gateways(b.get(), report);
    ASSERT_EQ(proxies.size(), 1u);
    EXPECT_EQ(vhost_names(proxies[0].proxy.listeners(0)), std::vector<std::string>{"apps.good"});
    const auto* r = find_report(report, vs_key("apps", "bad"));
    EXPECT_TRUE(r->errors.empty());
    EXPECT_TRUE(has_message(r->warnings, "SSL secret apps.gone not found"));
  }
  {
    auto b = build(R"({"gateway": {"validation": {"warnMissingTlsSecret": false}}})");
    translation_report report;
    auto proxies = translate_gateways(b.get(), report);
    ASSERT_EQ(proxies.size(), 1u);
    EXPECT_EQ(vhost_names(proxies[0].proxy.listeners(0)), std::vector<std::string>{"apps.good"});
    EXPECT_TRUE(has_message(find_report(report, vs_key("apps", "bad"))->errors, "apps.gone"));
  }
}

TEST(GatewayTranslatorTest, BindPortConflictBlamesTheLaterArrival) {
  world_builder b;
  b.gateway("gloo-system", "zz-first", R"({"bindPort": 8080, "httpGateway": {}})")
      .gateway("gloo-system", "aa-second", R"({"bindPort": 8080, "httpGateway": {}})")
      .vs("default", "vs", vs_json(R"("x")", route_to("/", "up")));
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  ASSERT_EQ(proxies[0].proxy.listeners_size(), 1);
  EXPECT_EQ(sources_of(proxies[0].proxy.listeners(0).metadata_static(), resource_kind::gateway)[0].name,
            "zz-first");
  EXPECT_TRUE(has_message(find_report(report, gateway_key("gloo-system", "aa-second"))->errors,
                          "already used by gateway gloo-system.zz-first"));
}

TEST(GatewayTranslatorTest, DelegationCycleIsReportedOnEveryTableInTheCycle) {
  world_builder b;
  b.gateway("gloo-system", "gw", http_gateway)
      .vs("default", "vs", R"({"virtualHost": {"domains": ["cyc"], "routes": [
            {"matchers": [{"prefix": "/"}], "delegateAction": {"ref": {"name": "entry"}}}]}})")
      .rt("default", "entry",
          R"({"routes": [{"matchers": [{"prefix": "/x"}], "delegateAction": {"ref": {"name": "a"}}}]})")
      .rt("default", "a",
          R"({"routes": [{"matchers": [{"prefix": "/x/y"}], "delegateAction": {"ref": {"name": "b"}}}]})")
      .rt("default", "b",
          R"({"routes": [{"matchers": [{"prefix": "/x/y/z"}], "delegateAction": {"ref": {"name": "a"}}}]})");
  translation_report report;
  (void)translate_gateways(b.get(), report);
  for (const auto* name : {"a", "b"}) {
    EXPECT_TRUE(has_message(find_report(report, rt_key("default", name))->errors,
                            "[default.a] -> [default.b] -> [default.a]"))
        << name;
  }
  // The table leading into the cycle is not part of it.
  EXPECT_TRUE(find_report(report, rt_key("default", "entry"))->errors.empty());
  EXPECT_FALSE(find_report(report, vs_key("default", "vs"))->errors.empty());
}

// --- hybrid gateways ------------------------------------------------------------------------------

TEST(GatewayTranslatorTest, HybridGatewayBecomesAHybridListenerInGlooJsonShape) {
  world_builder b;
  b.gateway("gloo-system", "hybrid", R"({"bindPort": 8080, "hybridGateway": {"matchedGateways": [
          {"matcher": {"sourcePrefixRanges": [{"addressPrefix": "10.0.0.0", "prefixLen": 8}]},
           "httpGateway": {"virtualServiceSelector": {"exposure": "internal"}}},
          {"matcher": {}, "httpGateway": {}},
          {"matcher": {}, "tcpGateway": {"tcpHosts": [{"name": "dup", "destination": {"single": {"upstream": {"name": "x"}}}}]}},
          {"matcher": {"sourcePrefixRanges": [{"addressPrefix": "not-an-ip"}]}, "httpGateway": {}}]}})")
      .vs("default", "internal", R"({"metadata": {"labels": {"exposure": "internal"}},
          "virtualHost": {"domains": ["i"], "routes": [{"directResponseAction": {"status": 200}}]}})")
      .vs("default", "public", R"({"virtualHost": {"domains": ["p"], "routes": [
          {"name": "named", "directResponseAction": {"status": 200}}]}})");
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  const auto& l = proxies[0].proxy.listeners(0);
  ASSERT_TRUE(l.has_hybrid_listener());
  const auto& matched = l.hybrid_listener().fields().at("matchedListeners").list_value();
  ASSERT_EQ(matched.values_size(), 2);  // the duplicate and the malformed matchers are dropped
  const auto& first = matched.values(0).struct_value();
  const auto& vhosts =
      first.fields().at("httpListener").struct_value().fields().at("virtualHosts").list_value();
  ASSERT_EQ(vhosts.values_size(), 1);
  EXPECT_EQ(vhosts.values(0).struct_value().fields().at("name").string_value(),
            "default.internal");
  // Route names are qualified inside the JSON too.
  const auto& second = matched.values(1).struct_value();
  const auto& public_vh =
      second.fields().at("httpListener").struct_value().fields().at("virtualHosts").list_value();
  ASSERT_EQ(public_vh.values_size(), 2);
  const auto& route = public_vh.values(1).struct_value().fields().at("routes").list_value();
  EXPECT_EQ(route.values(0).struct_value().fields().at("name").string_value(),
            "vs:hybrid_gateway-proxy_default_public_route:named");
  const auto* r = find_report(report, gateway_key("gloo-system", "hybrid"));
  EXPECT_TRUE(has_message(r->errors, "matchedGateways[2]: its matcher equals"));
  EXPECT_TRUE(has_message(r->errors, "matchedGateways[3]: matcher.sourcePrefixRanges[0]"));
}

// --- Settings -------------------------------------------------------------------------------------

TEST(GatewayTranslatorTest, SettingsChooseTheProxyNamespaceGatewayNamespacesAndOneWayTls) {
  world_builder b;
  b.gateway("team", "gw", http_gateway)
      .gateway("team", "tls", R"({"bindPort": 8443, "ssl": true, "httpGateway": {}})")
      .secret("default", "cert")
      .vs("default", "vs", vs_json(R"("x")", route_to("/", "up")))
      .vs("default", "secure", R"({"sslConfig": {"secretRef": {"name": "cert"}},
            "virtualHost": {"domains": ["s"]}})")
      .settings(R"({"discoveryNamespace": "edge",
                    "gateway": {"readGatewaysFromAllNamespaces": true,
                                "virtualServiceOptions": {"oneWayTls": true}}})");
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  EXPECT_EQ(proxies[0].role, "edge~gateway-proxy");
  ASSERT_EQ(proxies[0].proxy.listeners_size(), 2);
  const auto& tls = proxies[0].proxy.listeners(1);
  ASSERT_EQ(tls.ssl_configurations_size(), 1);
  EXPECT_TRUE(tls.ssl_configurations(0).one_way_tls().value());
  EXPECT_TRUE(report.entries().count({resource_kind::settings, "gloo-system", "default"}));

  gateway_translation_options ignore;
  ignore.apply_settings = false;
  translation_report plain;
  auto without = translate_gateways(b.get(), plain, ignore);
  EXPECT_TRUE(without.empty());  // gateways outside gloo-system are not read by default
}

TEST(GatewayRouteConverterTest, MergeRouteOptionsFillsOnlyUnsetFields) {
  gl::RouteOptions child, parent;
  child.mutable_prefix_rewrite()->set_value("/child");
  child.set_host_rewrite("child.example.com");
  parent.mutable_prefix_rewrite()->set_value("/parent");
  parent.mutable_timeout()->set_seconds(3);
  parent.mutable_auto_host_rewrite()->set_value(true);  // same oneof as host_rewrite
  parent.add_lb_hash();
  merge_route_options(child, parent);
  EXPECT_EQ(child.prefix_rewrite().value(), "/child");
  EXPECT_EQ(child.timeout().seconds(), 3);
  EXPECT_EQ(child.host_rewrite(), "child.example.com");
  EXPECT_EQ(child.lb_hash_size(), 1);
}

TEST(GatewayRouteConverterTest, MergeVirtualHostOptionsFillsOnlyUnsetFields) {
  gl::VirtualHostOptions inline_options, referenced;
  inline_options.mutable_retries()->set_retry_on("5xx");
  referenced.mutable_retries()->set_retry_on("connect-failure");
  referenced.mutable_header_manipulation()->add_request_headers_to_remove("x-debug");
  merge_virtual_host_options(inline_options, referenced);
  EXPECT_EQ(inline_options.retries().retry_on(), "5xx");
  ASSERT_EQ(inline_options.header_manipulation().request_headers_to_remove_size(), 1);
}

// F13 (reference gloo.md §1.2 "Options merge precedence"): inline options win, then each
// referenced options resource in order fills what is still unset; a missing one is a warning.
TEST(GatewayTranslatorTest, OptionRefsFillUnsetFieldsInlineFirstThenInOrder) {
  world_builder b;
  b.gateway("gloo-system", "gw", http_gateway)
      .route_option("opts", "std-timeouts",
                    R"({"options": {"timeout": "30s", "retries": {"retryOn": "5xx",
                                    "numRetries": 3}}})")
      .route_option("opts", "rewrite", R"({"options": {"timeout": "1s", "prefixRewrite": "/r",
                                          "retries": {"retryOn": "reset"}}})")
      .vhost_option("opts", "std-vhost",
                    R"({"options": {"retries": {"retryOn": "connect-failure"},
                        "headerManipulation": {"requestHeadersToRemove": ["x-debug"]}}})")
      .vs("apps", "slow",
          R"({"virtualHost": {"domains": ["slow.example.com"],
                "options": {"retries": {"retryOn": "5xx"}},
                "optionsConfigRefs": {"delegateOptions": [
                  {"name": "std-vhost", "namespace": "opts"},
                  {"name": "gone", "namespace": "opts"}]},
                "routes": [{"matchers": [{"prefix": "/slow"}], "options": {"timeout": "60s"},
                  "optionsConfigRefs": {"delegateOptions": [
                    {"name": "std-timeouts", "namespace": "opts"},
                    {"name": "rewrite", "namespace": "opts"},
                    {"name": "missing", "namespace": "opts"}]},
                  "routeAction": {"single": {"upstream": {"name": "slow"}}}}]}})");
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  const auto& vh = proxies[0].proxy.listeners(0).http_listener().virtual_hosts(0);
  EXPECT_EQ(vh.options().retries().retry_on(), "5xx");  // inline wins
  ASSERT_EQ(vh.options().header_manipulation().request_headers_to_remove_size(), 1);
  ASSERT_EQ(vh.routes_size(), 1);
  const auto& o = vh.routes(0).options();
  EXPECT_EQ(o.timeout().seconds(), 60);            // inline wins over both refs
  EXPECT_EQ(o.retries().retry_on(), "5xx");        // the first ref beats the second
  EXPECT_EQ(o.retries().num_retries(), 3u);        // shallow: the whole retries of the first
  EXPECT_EQ(o.prefix_rewrite().value(), "/r");     // the second ref fills what is left
  const auto* r = find_report(report, vs_key("apps", "slow"));
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->errors.empty());
  ASSERT_EQ(r->warnings.size(), 2u);
  EXPECT_TRUE(has_message(r->warnings, "list did not find virtualHostOption opts.gone"));
  EXPECT_TRUE(has_message(r->warnings, "list did not find routeOption opts.missing"));
}

TEST(GatewayTranslatorTest, ChildRouteOptionRefsBeatTheParentsInlineOptions) {
  world_builder b;
  b.gateway("gloo-system", "gw", http_gateway)
      // No namespace on the ref: the RouteTable's own namespace.
      .route_option("team", "fast", R"({"options": {"timeout": "2s"}})")
      .vs("apps", "root",
          R"({"virtualHost": {"routes": [{"matchers": [{"prefix": "/a"}],
                "options": {"timeout": "10s", "prefixRewrite": "/p"},
                "delegateAction": {"ref": {"name": "rt", "namespace": "team"}}}]}})")
      .rt("team", "rt",
          R"({"routes": [
                {"matchers": [{"prefix": "/a/fast"}],
                 "optionsConfigRefs": {"delegateOptions": [{"name": "fast"}]},
                 "routeAction": {"single": {"upstream": {"name": "up"}}}},
                {"matchers": [{"prefix": "/a/slow"}], "name": "slow",
                 "optionsConfigRefs": {"delegateOptions": [{"name": "absent"}]},
                 "routeAction": {"single": {"upstream": {"name": "up"}}}}]})");
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  const auto& vh = proxies[0].proxy.listeners(0).http_listener().virtual_hosts(0);
  ASSERT_EQ(vh.routes_size(), 2);
  // Gloo merges a route's own refs before its parent's options (GWTR/converter.go).
  EXPECT_EQ(vh.routes(0).options().timeout().seconds(), 2);
  EXPECT_EQ(vh.routes(0).options().prefix_rewrite().value(), "/p");
  EXPECT_EQ(vh.routes(1).options().timeout().seconds(), 10);
  // The missing ref is a warning on the table and, as for every table finding, on the VS.
  const auto* rt = find_report(report, rt_key("team", "rt"));
  ASSERT_NE(rt, nullptr);
  EXPECT_TRUE(has_message(rt->warnings, "list did not find routeOption team.absent "
                                        "(referenced by route slow"));
  EXPECT_TRUE(has_message(find_report(report, vs_key("apps", "root"))->warnings,
                          "on sub route table team.rt: list did not find routeOption team.absent"));
}

TEST(GatewayTranslatorTest, TranslationListsTheOptionResourcesItRead) {
  world_builder b;
  b.route_option("apps", "present", R"({"options": {"timeout": "2s"}})")
      .vs("apps", "vs",
          R"({"virtualHost": {
                "optionsConfigRefs": {"delegateOptions": [{"name": "vho", "namespace": "o"}]},
                "routes": [{"matchers": [{"prefix": "/a"}],
                  "delegateAction": {"ref": {"name": "rt"}}}]}})")
      .rt("apps", "rt",
          R"({"routes": [{"matchers": [{"prefix": "/a"}],
                "optionsConfigRefs": {"delegateOptions": [{"name": "present"}, {"name": "x"}]},
                "directResponseAction": {"status": 200}}]})");
  const auto* stored = b.get().find(vs_key("apps", "vs"));
  ASSERT_NE(stored, nullptr);
  auto t = translate_virtual_service(b.get(), stored->key,
                                     static_cast<const gw::VirtualService&>(*stored->message));
  const std::vector<resource_key> expected{
      {resource_kind::virtual_host_option, "o", "vho"},
      {resource_kind::route_option, "apps", "present"},
      {resource_kind::route_option, "apps", "x"}};
  auto sorted = expected;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(t.option_resources, sorted);
}

}  // namespace
}  // namespace sluice::model
