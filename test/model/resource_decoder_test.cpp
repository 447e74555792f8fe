#include "model/resource_decoder.hpp"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <iterator>
#include <string>

#include "kube/core.pb.h"
#include "model/decode_scalar.hpp"
#include "model/resource_kind.hpp"
#include "solo/enterprise.pb.h"
#include "solo/gateway.pb.h"
#include "solo/gloo.pb.h"

namespace sluice::model {
namespace {

namespace gw = ::gateway::solo::io;
namespace gl = ::gloo::solo::io;

// Raw strings start on the line after R"( so that line 1 is the first line of YAML.
std::string yaml(std::string_view text) {
  if (!text.empty() && text.front() == '\n') {
    text.remove_prefix(1);
  }
  return std::string(text);
}

decode_context context(std::optional<resource_kind> kind = std::nullopt,
                       std::string ns = "gloo-system") {
  return decode_context{"config/test.yaml", kind, std::move(ns)};
}

std::string describe(const decode_result& r) {
  std::string out;
  for (const auto& e : r.errors) {
    out += e.to_string() + "\n";
  }
  return out;
}

template <class T>
const T& as(const decoded_resource& r) {
  return dynamic_cast<const T&>(*r.message);
}

// Decodes a text expected to hold exactly one valid resource.
decoded_resource decode_one(const std::string& text, const decode_context& ctx) {
  decode_result r = decode_documents(text, ctx);
  EXPECT_TRUE(r.errors.empty()) << describe(r);
  EXPECT_FALSE(r.file_failed);
  EXPECT_EQ(r.resources.size(), 1u) << describe(r);
  return r.resources.empty() ? decoded_resource{} : r.resources.front();
}

// Decodes a text expected to fail; returns its single error.
decode_error decode_error_of(const std::string& text, const decode_context& ctx) {
  decode_result r = decode_documents(text, ctx);
  EXPECT_TRUE(r.resources.empty());
  EXPECT_EQ(r.errors.size(), 1u) << describe(r);
  return r.errors.empty() ? decode_error{} : r.errors.front();
}

bool has(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// --- good input -----------------------------------------------------------------------------

TEST(ResourceDecoderTest, FlatVirtualServiceDecodesWithDefaultNamespace) {
  auto text = yaml(R"(
metadata:
  name: shop
virtualHost:
  domains: [shop.example.com, "*.shop.example.com"]
  routes:
  - name: api
    matchers:
    - prefix: /api
      headers: [{name: x-canary, value: "true"}]
      methods: [GET, POST]
    routeAction: {single: {upstream: {name: api-v2}}}
    options:
      prefixRewrite: /v2
      timeout: 3s
      retries: {retryOn: "5xx,connect-failure", numRetries: 2, perTryTimeout: 1.5s}
      headerManipulation:
        requestHeadersToAdd: [{header: {key: x-gw, value: gloo}, append: false}]
  - matchers: [{exact: /healthz}]
    directResponseAction: {status: 200, body: ok}
)");
  auto r = decode_one(text, context(resource_kind::virtual_service, "apps"));
  EXPECT_EQ(r.key, (resource_key{resource_kind::virtual_service, "apps", "shop"}));
  EXPECT_EQ(r.line, 1);
  const auto& vs = as<gw::VirtualService>(r);
  EXPECT_EQ(vs.metadata().namespace_(), "apps");  // filled from the context
  ASSERT_EQ(vs.virtual_host().routes_size(), 2);
  EXPECT_EQ(vs.virtual_host().domains(1), "*.shop.example.com");
  const auto& route = vs.virtual_host().routes(0);
  EXPECT_EQ(route.matchers(0).prefix(), "/api");
  EXPECT_EQ(route.matchers(0).headers(0).value(), "true");
  EXPECT_EQ(route.matchers(0).methods_size(), 2);
  EXPECT_EQ(route.route_action().single().upstream().name(), "api-v2");
  EXPECT_EQ(route.options().prefix_rewrite().value(), "/v2");
  EXPECT_EQ(route.options().timeout().seconds(), 3);
  EXPECT_EQ(route.options().retries().num_retries(), 2u);
  EXPECT_EQ(route.options().retries().per_try_timeout().seconds(), 1);
  EXPECT_EQ(route.options().retries().per_try_timeout().nanos(), 500'000'000);
  const auto& add = route.options().header_manipulation().request_headers_to_add(0);
  EXPECT_TRUE(add.has_append());
  EXPECT_FALSE(add.append().value());
  EXPECT_EQ(vs.virtual_host().routes(1).direct_response_action().status(), 200u);
}

TEST(ResourceDecoderTest, KubernetesFormMultiDocument) {
  auto text = yaml(R"(
apiVersion: gateway.solo.io/v1
kind: Gateway
metadata: {name: gateway-proxy, namespace: gloo-system}
spec: {bindAddress: "::", bindPort: 8080, httpGateway: {}, proxyNames: [gateway-proxy]}
status:
  statuses: {gloo-system: {state: Accepted}}
---
apiVersion: gateway.solo.io/v1
kind: Gateway
metadata: {name: gateway-proxy-ssl, namespace: other}
spec: {bindAddress: "::", bindPort: 8443, ssl: true, httpGateway: {}, proxyNames: [gateway-proxy]}
)");
  decode_result r = decode_documents(text, context());
  ASSERT_TRUE(r.errors.empty()) << describe(r);
  ASSERT_EQ(r.resources.size(), 2u);
  EXPECT_EQ(r.resources[0].key, (resource_key{resource_kind::gateway, "gloo-system", "gateway-proxy"}));
  EXPECT_EQ(r.resources[1].key, (resource_key{resource_kind::gateway, "other", "gateway-proxy-ssl"}));
  EXPECT_EQ(r.resources[0].line, 1);
  EXPECT_EQ(r.resources[1].line, 8);
  const auto& plain = as<gw::Gateway>(r.resources[0]);
  const auto& ssl = as<gw::Gateway>(r.resources[1]);
  EXPECT_EQ(plain.bind_port(), 8080u);
  EXPECT_EQ(plain.bind_address(), "::");
  EXPECT_TRUE(plain.has_http_gateway());  // `{}` sets the oneof member
  EXPECT_FALSE(plain.ssl());
  EXPECT_TRUE(ssl.ssl());
  EXPECT_EQ(ssl.bind_port(), 8443u);
  EXPECT_EQ(ssl.proxy_names(0), "gateway-proxy");
  EXPECT_FALSE(plain.has_namespaced_statuses());  // status is ignored
}

struct kind_case {
  resource_kind kind;
  const char* spec;
  const char* type;
};

TEST(ResourceDecoderTest, EveryKindDecodesInBothForms) {
  const kind_case cases[] = {
      {resource_kind::gateway, "bindPort: 8080\nhttpGateway: {}", "gateway.solo.io.Gateway"},
      {resource_kind::virtual_service, "virtualHost: {domains: ['*']}",
       "gateway.solo.io.VirtualService"},
      {resource_kind::route_table, "weight: 10\nroutes: []", "gateway.solo.io.RouteTable"},
      {resource_kind::upstream, "static: {hosts: [{addr: 10.0.0.1, port: 80}]}",
       "gloo.solo.io.Upstream"},
      {resource_kind::upstream_group,
       "destinations: [{destination: {upstream: {name: a}}, weight: 1}]",
       "gloo.solo.io.UpstreamGroup"},
      {resource_kind::settings, "discoveryNamespace: gloo-system\nrefreshRate: 60s",
       "gloo.solo.io.Settings"},
      {resource_kind::proxy, "listeners: [{name: l, bindPort: 8080, httpListener: {}}]",
       "gloo.solo.io.Proxy"},
      {resource_kind::secret, "tls: {certChain: cert, privateKey: key}", "gloo.solo.io.Secret"},
      {resource_kind::artifact, "data: {a: b}", "gloo.solo.io.Artifact"},
      {resource_kind::endpoint, "address: 10.0.0.2\nport: 8080\nupstreams: [{name: u}]",
       "gloo.solo.io.Endpoint"},
      {resource_kind::auth_config, "configs: [{basicAuth: {realm: r}}]",
       "enterprise.gloo.solo.io.AuthConfig"},
      {resource_kind::virtual_host_option, "options: {retries: {retryOn: 5xx}}",
       "gateway.solo.io.VirtualHostOption"},
      {resource_kind::route_option,
       "options: {timeout: 30s}\ntargetRefs: [{group: gateway.networking.k8s.io, kind: "
       "HTTPRoute, name: r}]",
       "gateway.solo.io.RouteOption"},
      {resource_kind::service, "type: ClusterIP\nports: [{name: http, port: 80, targetPort: 8080}]",
       "kube.core.v1.Service"},
  };
  // Every kind has a case: a kind added to the table is decoded here too.
  EXPECT_EQ(std::size(cases), resource_kind_count);
  for (const auto& c : cases) {
    const auto& k = info(c.kind);
    SCOPED_TRACE(std::string(k.name));
    // Kubernetes form: spec indented under `spec:`.
    std::string spec;
    std::string line;
    for (char ch : std::string(c.spec) + "\n") {
      if (ch == '\n') {
        spec += "  " + line + "\n";
        line.clear();
      } else {
        line += ch;
      }
    }
    std::string kube = "apiVersion: " + api_version_of(c.kind)
                       + "\nkind: " + std::string(k.name) + "\nmetadata:\n  name: x\n  namespace: ns\nspec:\n"
                       + spec;
    auto r1 = decode_one(kube, context());
    EXPECT_EQ(r1.key, (resource_key{c.kind, "ns", "x"}));
    ASSERT_TRUE(r1.message);
    EXPECT_EQ(r1.message->GetDescriptor()->full_name(), c.type);
    // Flat form with the kind from the directory.
    std::string flat = "metadata: {name: x}\n" + std::string(c.spec) + "\n";
    auto r2 = decode_one(flat, context(c.kind, "dir-ns"));
    EXPECT_EQ(r2.key, (resource_key{c.kind, "dir-ns", "x"}));
    ASSERT_TRUE(r2.message);
    EXPECT_EQ(r2.message->GetDescriptor()->full_name(), c.type);
  }
}

TEST(ResourceDecoderTest, KindTableFollowsTheEnumAndGlooNames) {
  for (size_t i = 0; i < resource_kind_count; ++i) {
    EXPECT_EQ(static_cast<size_t>(all_kinds()[i].kind), i);
  }
  EXPECT_EQ(all_kinds().size(), resource_kind_count);
  EXPECT_EQ(parse_kind("vhopts"), resource_kind::virtual_host_option);
  EXPECT_EQ(parse_kind("VirtualHostOption"), resource_kind::virtual_host_option);
  EXPECT_EQ(parse_kind("routeoptions"), resource_kind::route_option);
  EXPECT_EQ(parse_kind("rtopts"), resource_kind::route_option);
  EXPECT_EQ(info(resource_kind::route_option).group, "gateway.solo.io");
  EXPECT_EQ(parse_kind("svc"), resource_kind::service);
  EXPECT_EQ(api_version_of(resource_kind::service), "v1");
  EXPECT_FALSE(is_custom_resource(resource_kind::service));
  EXPECT_TRUE(is_custom_resource(resource_kind::upstream));
}

// A Service manifest as kubectl prints it loads; the spec fields sluice does not keep are
// accepted, a misspelt one is not, and only apiVersion v1 names the kind.
TEST(ResourceDecoderTest, KubernetesServiceManifestLoads) {
  auto ok = decode_one(R"(apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: apps
  uid: 0b1c
  resourceVersion: "812"
  labels: {app: web}
spec:
  type: ClusterIP
  clusterIP: 10.96.0.12
  clusterIPs: [10.96.0.12]
  ipFamilies: [IPv4]
  ipFamilyPolicy: SingleStack
  sessionAffinity: None
  internalTrafficPolicy: Cluster
  selector: {app: web}
  ports:
  - {name: http, protocol: TCP, port: 80, targetPort: http}
  - {name: admin, port: 9000, targetPort: 9001}
status:
  loadBalancer: {}
)",
                       context());
  ASSERT_TRUE(ok.message);
  EXPECT_EQ(ok.key, (resource_key{resource_kind::service, "apps", "web"}));
  const auto& svc = static_cast<const ::kube::core::v1::Service&>(*ok.message);
  EXPECT_EQ(svc.cluster_ip(), "10.96.0.12");
  ASSERT_EQ(svc.ports_size(), 2);
  EXPECT_EQ(svc.ports(0).target_port(), "http");
  EXPECT_EQ(svc.ports(1).target_port(), "9001");
  EXPECT_EQ(svc.selector().at("app"), "web");

  auto typo = decode_documents("apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
                               "spec:\n  selectr: {app: web}\n",
                               context());
  ASSERT_EQ(typo.errors.size(), 1u);
  EXPECT_NE(typo.errors[0].to_string().find("selectr"), std::string::npos)
      << typo.errors[0].to_string();

  auto wrong_group = decode_documents(
      "apiVersion: gloo.solo.io/v1\nkind: Service\nmetadata: {name: web}\nspec: {}\n",
      context());
  ASSERT_EQ(wrong_group.errors.size(), 1u);
  EXPECT_NE(wrong_group.errors[0].message.find("expected \"v1\""), std::string::npos)
      << wrong_group.errors[0].message;
}

TEST(ResourceDecoderTest, SnakeCaseFieldNamesAreAccepted) {
  auto text = yaml(R"(
metadata: {name: gw}
bind_port: 8080
use_proxy_proto: true
http_gateway:
  virtual_service_namespaces: ["*"]
)");
  auto r = decode_one(text, context(resource_kind::gateway));
  const auto& g = as<gw::Gateway>(r);
  EXPECT_EQ(g.bind_port(), 8080u);
  EXPECT_TRUE(g.use_proxy_proto().value());
  EXPECT_EQ(g.http_gateway().virtual_service_namespaces(0), "*");
}

TEST(ResourceDecoderTest, WellKnownTypesAndScalarForms) {
  auto text = yaml(R"(
metadata:
  name: petstore
  generation: "42"
  labels: {port: 8080, enabled: yes, app.kubernetes.io/name: pets}
static:
  hosts:
  - addr: petstore.example.com
    port: 443
    loadBalancingWeight: 3
    metadata:
      envoy.lb: {canary: true, weight: 1.5, tags: [a, 2, null], nested: {k: "on"}}
  useTls: On
  serviceSpec: {rest: {swaggerInfo: {url: "http://x/swagger.json"}}}
connectionConfig:
  connectTimeout: 100ms
  tcpKeepalive: {keepaliveTime: 1m30s, keepaliveInterval: "0.25s", keepaliveProbes: 3}
healthChecks:
- timeout: 1h
  interval: 250us
  unhealthyThreshold: 2
loadBalancerConfig:
  healthyPanicThreshold: 0.5
  ringHash: {ringHashConfig: {minimumRingSize: 1024, maximumRingSize: "18446744073709551615"}}
protocolSelection: 1
useHttp2: off
)");
  auto r = decode_one(text, context(resource_kind::upstream));
  const auto& us = as<gl::Upstream>(r);
  EXPECT_EQ(us.metadata().generation(), 42);
  EXPECT_EQ(us.metadata().labels().at("port"), "8080");      // scalars kept as text for strings
  EXPECT_EQ(us.metadata().labels().at("enabled"), "yes");
  EXPECT_EQ(us.metadata().labels().at("app.kubernetes.io/name"), "pets");
  const auto& host = us.static_().hosts(0);
  EXPECT_EQ(host.port(), 443u);
  EXPECT_EQ(host.load_balancing_weight().value(), 3u);
  const auto& lb = host.metadata().at("envoy.lb").fields();
  EXPECT_TRUE(lb.at("canary").bool_value());
  EXPECT_DOUBLE_EQ(lb.at("weight").number_value(), 1.5);
  ASSERT_EQ(lb.at("tags").list_value().values_size(), 3);
  EXPECT_EQ(lb.at("tags").list_value().values(0).string_value(), "a");
  EXPECT_DOUBLE_EQ(lb.at("tags").list_value().values(1).number_value(), 2);
  EXPECT_TRUE(lb.at("tags").list_value().values(2).has_null_value());
  EXPECT_EQ(lb.at("nested").struct_value().fields().at("k").string_value(), "on");  // quoted
  EXPECT_TRUE(us.static_().use_tls().value());
  EXPECT_EQ(us.static_()
                .service_spec()
                .fields()
                .at("rest")
                .struct_value()
                .fields()
                .at("swaggerInfo")
                .struct_value()
                .fields()
                .at("url")
                .string_value(),
            "http://x/swagger.json");
  EXPECT_EQ(us.connection_config().connect_timeout().nanos(), 100'000'000);
  EXPECT_EQ(us.connection_config().tcp_keepalive().keepalive_time().seconds(), 90);
  EXPECT_EQ(us.connection_config().tcp_keepalive().keepalive_interval().nanos(), 250'000'000);
  EXPECT_EQ(us.health_checks(0).timeout().seconds(), 3600);
  EXPECT_EQ(us.health_checks(0).interval().nanos(), 250'000);
  EXPECT_EQ(us.health_checks(0).unhealthy_threshold().value(), 2u);
  EXPECT_DOUBLE_EQ(us.load_balancer_config().healthy_panic_threshold().value(), 0.5);
  EXPECT_EQ(us.load_balancer_config().ring_hash().ring_hash_config().maximum_ring_size(),
            18446744073709551615ULL);
  EXPECT_EQ(us.protocol_selection(), gl::Upstream::USE_DOWNSTREAM_PROTOCOL);
  EXPECT_TRUE(us.has_use_http2());
  EXPECT_FALSE(us.use_http2().value());
}

TEST(ResourceDecoderTest, EnumsByNameOrNumberAndBytesAsBase64) {
  auto text = yaml(R"(
metadata: {name: rt}
routes:
- matchers: [{prefix: /old}]
  redirectAction: {hostRedirect: new.example.com, responseCode: PERMANENT_REDIRECT}
- matchers: [{prefix: /older}]
  redirectAction: {hostRedirect: new.example.com, responseCode: 2}
)");
  auto r = decode_one(text, context(resource_kind::route_table));
  const auto& rt = as<gw::RouteTable>(r);
  EXPECT_EQ(rt.routes(0).redirect_action().response_code(),
            gl::RedirectAction::PERMANENT_REDIRECT);
  EXPECT_EQ(rt.routes(1).redirect_action().response_code(), gl::RedirectAction::SEE_OTHER);

  auto secret = decode_one("metadata: {name: s}\ntls: {certChain: c, privateKey: k, ocspStaple: "
                           "aGVsbG8=}\n",
                           context(resource_kind::secret));
  EXPECT_EQ(as<gl::Secret>(secret).tls().ocsp_staple(), "hello");
}

TEST(ResourceDecoderTest, EmptyDocumentsAreSkippedSilently) {
  auto text = yaml(R"(
# leading comment only
---
---
# another comment
---
metadata: {name: a}
data: {k: v}
---
)");
  decode_result r = decode_documents(text, context(resource_kind::artifact));
  EXPECT_TRUE(r.errors.empty()) << describe(r);
  ASSERT_EQ(r.resources.size(), 1u);
  EXPECT_EQ(r.resources[0].key.name, "a");
  EXPECT_EQ(r.resources[0].line, 6);
  EXPECT_TRUE(decode_documents("", context(resource_kind::artifact)).resources.empty());
  EXPECT_TRUE(decode_documents("# nothing\n", context(resource_kind::artifact)).errors.empty());
}

TEST(ResourceDecoderTest, KubernetesTlsSecretBecomesGlooTlsSecret) {
  std::string cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  std::string key = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
  std::string text = "apiVersion: v1\nkind: Secret\nmetadata: {name: tls, namespace: apps}\n"
                     "type: kubernetes.io/tls\ndata:\n  tls.crt: "
                     + encode_base64(cert) + "\n  tls.key: " + encode_base64(key)
                     + "\n  ca.crt: " + encode_base64("CA") + "\n  extra: " + encode_base64("x")
                     + "\n";
  auto r = decode_one(text, context(resource_kind::secret));
  EXPECT_EQ(r.key, (resource_key{resource_kind::secret, "apps", "tls"}));
  const auto& tls = as<gl::Secret>(r).tls();
  EXPECT_EQ(tls.cert_chain(), cert);
  EXPECT_EQ(tls.private_key(), key);
  EXPECT_EQ(tls.root_ca(), "CA");

  auto r2 = decode_one(yaml(R"(
apiVersion: v1
kind: Secret
metadata: {name: tls2}
type: kubernetes.io/tls
stringData:
  tls.crt: |
    CERT
  tls.key: KEY
)"),
                       context());
  EXPECT_EQ(r2.key.ns, "gloo-system");
  EXPECT_EQ(as<gl::Secret>(r2).tls().cert_chain(), "CERT\n");
  EXPECT_EQ(as<gl::Secret>(r2).tls().private_key(), "KEY");
}

TEST(ResourceDecoderTest, KubernetesSecretOfOtherTypeIsRejected) {
  auto e = decode_error_of(yaml(R"(
apiVersion: v1
kind: Secret
metadata: {name: creds}
type: Opaque
data: {password: cGFzcw==}
)"),
                           context());
  EXPECT_EQ(e.field, "type");
  EXPECT_EQ(e.line, 4);
  EXPECT_TRUE(has(e.message, "\"Opaque\" is not supported")) << e.message;
}

TEST(ResourceDecoderTest, FlatFormAcceptsMatchingKindAndApiVersion) {
  auto r = decode_one(yaml(R"(
apiVersion: gloo.solo.io/v1
kind: Upstream
metadata: {name: u}
static: {hosts: [{addr: a, port: 1}]}
)"),
                      context(resource_kind::upstream));
  EXPECT_EQ(r.key.kind, resource_kind::upstream);
}

TEST(ResourceDecoderTest, KubernetesMetadataExtrasAreIgnoredAndStatusesDropped) {
  auto r = decode_one(yaml(R"(
apiVersion: gloo.solo.io/v1
kind: Upstream
metadata:
  name: u
  namespace: apps
  uid: 0b5c1c2e-1111-2222-3333-444455556666
  creationTimestamp: "2024-01-01T00:00:00Z"
  resourceVersion: "123"
  managedFields: [{manager: kubectl}]
spec:
  static: {hosts: [{addr: a, port: 1}]}
status:
  statuses: {gloo-system: {state: 1}}
)"),
                      context());
  EXPECT_EQ(as<gl::Upstream>(r).metadata().resource_version(), "123");
  // Flat form: namespacedStatuses are read (enum as number) but not kept.
  auto flat = decode_one(yaml(R"(
metadata: {name: u}
namespacedStatuses:
  statuses:
    gloo-system: {state: 1, reportedBy: gloo}
static: {hosts: [{addr: a, port: 1}]}
)"),
                         context(resource_kind::upstream));
  EXPECT_FALSE(as<gl::Upstream>(flat).has_namespaced_statuses());
}

TEST(ResourceDecoderTest, BadDocumentDoesNotAffectOthers) {
  auto text = yaml(R"(
metadata: {name: good-1}
data: {a: b}
---
metadata: {name: bad}
data: [not, a, map]
---
metadata: {name: good-2}
data: {c: d}
)");
  decode_result r = decode_documents(text, context(resource_kind::artifact));
  EXPECT_FALSE(r.file_failed);
  ASSERT_EQ(r.resources.size(), 2u);
  EXPECT_EQ(r.resources[0].key.name, "good-1");
  EXPECT_EQ(r.resources[1].key.name, "good-2");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].name, "bad");
  EXPECT_EQ(r.errors[0].line, 5);
  EXPECT_EQ(r.errors[0].field, "data");
  EXPECT_TRUE(has(r.errors[0].message, "expected a mapping, got a list")) << r.errors[0].message;
}

TEST(ResourceDecoderTest, DuplicateResourceInOneFileKeepsTheFirst) {
  auto text = "metadata: {name: a}\ndata: {k: '1'}\n---\nmetadata: {name: a}\ndata: {k: '2'}\n";
  decode_result r = decode_documents(text, context(resource_kind::artifact));
  ASSERT_EQ(r.resources.size(), 1u);
  EXPECT_EQ(as<gl::Artifact>(r.resources[0]).data().at("k"), "1");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_TRUE(has(r.errors[0].message, "duplicate resource")) << r.errors[0].message;
  EXPECT_EQ(r.errors[0].line, 4);
}

// --- bad input: schema ------------------------------------------------------------------------

TEST(ResourceDecoderTest, UnknownFieldNamesPathPositionAndValidFields) {
  auto text = yaml(R"(
apiVersion: gateway.solo.io/v1
kind: VirtualService
metadata: {name: shop, namespace: apps}
spec:
  virtualHost:
    routes:
    - matchers:
      - prefx: /api
      routeAction: {single: {upstream: {name: a}}}
)");
  auto e = decode_error_of(text, context());
  EXPECT_EQ(e.file, "config/test.yaml");
  EXPECT_EQ(e.line, 8);
  EXPECT_EQ(e.column, 9);
  EXPECT_EQ(e.kind, resource_kind::virtual_service);
  EXPECT_EQ(e.ns, "apps");
  EXPECT_EQ(e.name, "shop");
  EXPECT_EQ(e.field, "virtualHost.routes[0].matchers[0].prefx");
  EXPECT_TRUE(has(e.message, "unknown field \"prefx\"")) << e.message;
  EXPECT_TRUE(has(e.message, "did you mean \"prefix\"")) << e.message;
  EXPECT_TRUE(has(e.message, "valid fields: prefix, exact, regex, connectMatcher")) << e.message;
  EXPECT_EQ(e.to_string(),
            "config/test.yaml:8:9: VirtualService apps.shop: "
            "virtualHost.routes[0].matchers[0].prefx: "
                + e.message);
}

TEST(ResourceDecoderTest, ErrorBeforeMetadataStillNamesTheResource) {
  auto e = decode_error_of("bindPort: abc\nhttpGateway: {}\nmetadata: {name: gw}\n",
                           context(resource_kind::gateway, "gloo-system"));
  EXPECT_EQ(e.name, "gw");
  EXPECT_EQ(e.ns, "gloo-system");
  EXPECT_EQ(e.field, "bindPort");
  EXPECT_EQ(e.line, 1);
  EXPECT_EQ(e.column, 11);
  EXPECT_TRUE(has(e.message, "expected a non-negative integer (uint32), got \"abc\"")) << e.message;
}

TEST(ResourceDecoderTest, WrongTypesAreErrors) {
  struct bad {
    std::string body;
    std::string field;
    std::string message;
  };
  const bad cases[] = {
      {"virtualHost: {routes: {a: b}}", "virtualHost.routes", "expected a list, got a mapping"},
      {"virtualHost: [a]", "virtualHost", "expected a mapping (gateway.solo.io.VirtualHost), got a list"},
      {"virtualHost: {domains: [{a: b}]}", "virtualHost.domains[0]",
       "expected a string, got a mapping"},
      {"virtualHost: {routes: [{matchers: [{prefix: /}], directResponseAction: {status: -1}}]}",
       "virtualHost.routes[0].directResponseAction.status", "must not be negative"},
      {"virtualHost: {routes: [{matchers: [{prefix: /}], directResponseAction: {status: "
       "5000000000}}]}",
       "virtualHost.routes[0].directResponseAction.status", "out of range for uint32"},
      {"virtualHost: {routes: [{options: {timeout: 5}}]}", "virtualHost.routes[0].options.timeout",
       "expected a duration"},
      {"virtualHost: {routes: [{options: {timeout: 5 parsecs}}]}",
       "virtualHost.routes[0].options.timeout", "expected a duration"},
      {"virtualHost: {routes: [{inheritableMatchers: maybe}]}",
       "virtualHost.routes[0].inheritableMatchers", "expected true or false, got \"maybe\""},
      {"virtualHost: {routes: [{redirectAction: {responseCode: MOVED}}]}",
       "virtualHost.routes[0].redirectAction.responseCode",
       "invalid value \"MOVED\" for RedirectResponseCode; valid values: MOVED_PERMANENTLY, "
       "FOUND, SEE_OTHER, TEMPORARY_REDIRECT, PERMANENT_REDIRECT"},
      {"virtualHost: {routes: [{redirectAction: {responseCode: 9}}]}",
       "virtualHost.routes[0].redirectAction.responseCode", "invalid value \"9\""},
      {"virtualHost: {routes: [{options: {faults: {abort: {percentage: 1e300}}}}]}",
       "virtualHost.routes[0].options.faults.abort.percentage", "out of range for float"},
      {"virtualHost: {routes: [null]}", "virtualHost.routes[0]", "list items must not be null"},
      {"metadata: {name: vs, labels: {a: [1]}}", "metadata.labels.a",
       "expected a string, got a list"},
      {"metadata: {name: vs, generation: 1.5}", "metadata.generation",
       "expected an integer (int64)"},
      {"virtualHost: {options: {cors: {allowCredentials: \"1\"}}}",
       "virtualHost.options.cors.allowCredentials", "expected true or false"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    std::string text = c.body.starts_with("metadata") ? c.body + "\n"
                                                      : "metadata: {name: vs}\n" + c.body + "\n";
    auto e = decode_error_of(text, context(resource_kind::virtual_service));
    EXPECT_EQ(e.field, c.field);
    EXPECT_TRUE(has(e.message, c.message)) << e.message;
    EXPECT_GT(e.line, 0);
    EXPECT_GT(e.column, 0);
  }
}

TEST(ResourceDecoderTest, TwoMembersOfOneOneofAreAnError) {
  auto text = yaml(R"(
metadata: {name: vs}
virtualHost:
  routes:
  - matchers: [{prefix: /a, exact: /b}]
    routeAction: {single: {upstream: {name: a}}}
    directResponseAction: {status: 200}
)");
  decode_result r = decode_documents(text, context(resource_kind::virtual_service));
  EXPECT_TRUE(r.resources.empty());
  ASSERT_EQ(r.errors.size(), 2u) << describe(r);
  EXPECT_EQ(r.errors[0].field, "virtualHost.routes[0].matchers[0].exact");
  EXPECT_EQ(r.errors[0].line, 4);
  EXPECT_TRUE(has(r.errors[0].message, "\"prefix\" and \"exact\" are both set")) << r.errors[0].message;
  EXPECT_TRUE(has(r.errors[0].message, "oneof path_specifier")) << r.errors[0].message;
  EXPECT_EQ(r.errors[1].field, "virtualHost.routes[0].directResponseAction");
  EXPECT_EQ(r.errors[1].line, 6);
  EXPECT_TRUE(has(r.errors[1].message, "only one of routeAction, redirectAction, "
                                       "directResponseAction, delegateAction"))
      << r.errors[1].message;
}

TEST(ResourceDecoderTest, SameFieldTwiceUnderBothNamesIsAnError) {
  auto e = decode_error_of("metadata: {name: gw}\nbindPort: 80\nbind_port: 81\nhttpGateway: {}\n",
                           context(resource_kind::gateway));
  EXPECT_EQ(e.field, "bindPort");
  EXPECT_EQ(e.line, 3);
  EXPECT_TRUE(has(e.message, "given more than once")) << e.message;
}

TEST(ResourceDecoderTest, InvalidBase64IsAnError) {
  auto e = decode_error_of("metadata: {name: s}\ntls: {certChain: c, privateKey: k, ocspStaple: "
                           "\"not base64!\"}\n",
                           context(resource_kind::secret));
  EXPECT_EQ(e.field, "tls.ocspStaple");
  EXPECT_TRUE(has(e.message, "invalid base64")) << e.message;

  auto kube = decode_error_of(yaml(R"(
apiVersion: v1
kind: Secret
metadata: {name: tls}
type: kubernetes.io/tls
data: {tls.crt: "%%%", tls.key: a2V5}
)"),
                              context());
  EXPECT_EQ(kube.field, "data[\"tls.crt\"]");
  EXPECT_EQ(kube.line, 5);
}

TEST(ResourceDecoderTest, KindAndApiVersionProblems) {
  // apiVersion of the wrong group.
  auto e1 = decode_error_of(
      "apiVersion: gateway.solo.io/v1\nkind: Upstream\nmetadata: {name: u}\nspec: {}\n", context());
  EXPECT_EQ(e1.field, "apiVersion");
  EXPECT_EQ(e1.line, 1);
  EXPECT_TRUE(has(e1.message, "expected \"gloo.solo.io/v1\"")) << e1.message;
  // Unknown kind.
  auto e2 = decode_error_of(
      "apiVersion: gloo.solo.io/v1\nkind: Upstreem\nmetadata: {name: u}\nspec: {}\n", context());
  EXPECT_EQ(e2.field, "kind");
  EXPECT_TRUE(has(e2.message, "unknown kind \"Upstreem\"; valid kinds: Gateway, VirtualService"))
      << e2.message;
  // Kind other than the directory's.
  auto e3 = decode_error_of(
      "apiVersion: gloo.solo.io/v1\nkind: Upstream\nmetadata: {name: u}\nspec: {}\n",
      context(resource_kind::virtual_service));
  EXPECT_TRUE(has(e3.message, "does not match the kind expected here, VirtualService")) << e3.message;
  // Flat form without any kind.
  auto e4 = decode_error_of("metadata: {name: u}\nstatic: {}\n", context());
  EXPECT_TRUE(has(e4.message, "cannot tell the resource kind")) << e4.message;
  // Flat form with a mismatching kind.
  auto e5 = decode_error_of("kind: Gateway\nmetadata: {name: u}\nstatic: {}\n",
                            context(resource_kind::upstream));
  EXPECT_EQ(e5.field, "kind");
  // Unknown top-level key in the Kubernetes form.
  auto e6 = decode_error_of(
      "apiVersion: gloo.solo.io/v1\nkind: Upstream\nmetadata: {name: u}\nspc: {}\nspec: {}\n",
      context());
  EXPECT_EQ(e6.field, "spc");
  EXPECT_EQ(e6.line, 4);
  // metadata inside spec is not part of the spec.
  auto e7 = decode_error_of(
      "apiVersion: gloo.solo.io/v1\nkind: Upstream\nmetadata: {name: u}\nspec: {metadata: {}}\n",
      context());
  EXPECT_EQ(e7.field, "metadata");
  EXPECT_TRUE(has(e7.message, "unknown field \"metadata\"")) << e7.message;
  // A core v1 kind other than Secret.
  auto e8 = decode_error_of("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", context());
  EXPECT_TRUE(has(e8.message, "ConfigMap")) << e8.message;
}

TEST(ResourceDecoderTest, MissingNameIsAnError) {
  auto e = decode_error_of("metadata: {namespace: a}\ndata: {}\n", context(resource_kind::artifact));
  EXPECT_EQ(e.field, "metadata.name");
  EXPECT_EQ(e.message, "metadata.name is required");
  auto e2 = decode_error_of("data: {}\n", context(resource_kind::artifact));
  EXPECT_EQ(e2.field, "metadata.name");
}

TEST(ResourceDecoderTest, NonMappingDocumentIsAnError) {
  auto e = decode_error_of("- a\n- b\n", context(resource_kind::artifact));
  EXPECT_TRUE(has(e.message, "must be a mapping")) << e.message;
  EXPECT_EQ(e.line, 1);
}

TEST(ResourceDecoderTest, SyntaxErrorFailsTheWholeFile) {
  auto text = yaml(R"(
metadata: {name: good}
data: {a: b}
---
metadata: {name: broken
data: {a: b}
)");
  decode_result r = decode_documents(text, context(resource_kind::artifact));
  EXPECT_TRUE(r.file_failed);
  EXPECT_TRUE(r.resources.empty());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].file, "config/test.yaml");
  EXPECT_GE(r.errors[0].line, 5);
  EXPECT_TRUE(has(r.errors[0].message, "YAML syntax error")) << r.errors[0].message;

  decode_result tabs = decode_documents("metadata:\n\tname: x\n", context(resource_kind::artifact));
  EXPECT_TRUE(tabs.file_failed);
  ASSERT_EQ(tabs.errors.size(), 1u);
  EXPECT_GT(tabs.errors[0].line, 0);
}

TEST(ResourceDecoderTest, UnknownAnchorIsASyntaxError) {
  decode_result r = decode_documents("metadata: {name: *nope}\n", context(resource_kind::artifact));
  EXPECT_TRUE(r.file_failed);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 1);
}

TEST(ResourceDecoderTest, AliasesWithinBudgetAreExpanded) {
  auto text = yaml(R"(
metadata: {name: vs}
virtualHost:
  routes:
  - matchers: [{prefix: /a}]
    routeAction: &dest {single: {upstream: {name: shared}}}
  - matchers: [{prefix: /b}]
    routeAction: *dest
)");
  auto r = decode_one(text, context(resource_kind::virtual_service));
  const auto& vs = as<gw::VirtualService>(r);
  EXPECT_EQ(vs.virtual_host().routes(1).route_action().single().upstream().name(), "shared");
}

TEST(ResourceDecoderTest, BracketsInPlainScalarsAndBlockScalarsAreNotNesting) {
  std::string deep(200, '[');
  std::string text = "metadata: {name: vs}\nvirtualHost:\n  routes:\n  - matchers:\n"
                     "    - regex: ^/api[0-9]+/{x}\n"
                     "    directResponseAction:\n      body: |\n        "
                     + deep + "\n        '\"{{\n      status: 200\n"
                     "  domains: ['it''s [', \"[\\\"{\"]\n";
  auto r = decode_one(text, context(resource_kind::virtual_service));
  const auto& vs = as<gw::VirtualService>(r);
  EXPECT_EQ(vs.virtual_host().routes(0).matchers(0).regex(), "^/api[0-9]+/{x}");
  EXPECT_EQ(vs.virtual_host().routes(0).direct_response_action().body(), deep + "\n'\"{{\n");
  EXPECT_EQ(vs.virtual_host().domains(0), "it's [");
  EXPECT_EQ(vs.virtual_host().domains(1), "[\"{");
}

TEST(ResourceDecoderTest, PrescanSkipsCommentsQuotesAndBlockScalars) {
  // Eighty brackets in every place where they are text, not nesting.
  std::string b(80, '[');
  std::string text = "# comment " + b + "\nmetadata: {name: x} # trailing " + b + "\ndata:\n"
                     "  a: \"" + b + "\n    " + b + " continued\"\n"
                     "  b: '" + b + "''" + b + "'\n"
                     "  c: >-\n    " + b + "\n     " + b + "\n\n    " + b + "\n"
                     "  d: |+\n      " + b + "\n"
                     "  e: x" + b + "\n"
                     "  g: \"esc \\\" " + b + "\"\n";
  auto r = decode_one(text, context(resource_kind::artifact));
  const auto& data = as<gl::Artifact>(r).data();
  EXPECT_EQ(data.at("a"), b + " " + b + " continued");
  EXPECT_EQ(data.at("b"), b + "'" + b);
  EXPECT_EQ(data.at("c"), b + "\n " + b + "\n\n" + b);
  EXPECT_EQ(data.at("d"), b + "\n");
  EXPECT_EQ(data.at("e"), "x" + b);
  EXPECT_EQ(data.at("g"), "esc \" " + b);
  // A tag does not end the place where a node starts: this is a flow list, and too deep.
  decode_result tagged =
      decode_documents("metadata: {name: x}\ndata: !!seq " + b + "\n", context(resource_kind::artifact));
  EXPECT_TRUE(tagged.file_failed);
}

TEST(ResourceDecoderTest, InvalidUtf8IsRejected) {
  decode_result r = decode_documents("metadata: {name: x}\ndata: {a: \"\xff ok\", b: \xc3\x28}\n",
                                     context(resource_kind::artifact));
  EXPECT_TRUE(r.resources.empty());
  ASSERT_EQ(r.errors.size(), 2u) << describe(r);
  EXPECT_EQ(r.errors[0].field, "data.a");
  EXPECT_EQ(r.errors[0].message, "text is not valid UTF-8");
  EXPECT_EQ(r.errors[1].field, "data.b");
  EXPECT_TRUE(valid_utf8("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
}

TEST(ResourceDecoderTest, DuplicateTopLevelKeysAreErrors) {
  auto e = decode_error_of(
      "apiVersion: gloo.solo.io/v1\nkind: Artifact\nmetadata: {name: a}\nspec: {}\nspec: {}\n",
      context());
  EXPECT_EQ(e.field, "spec");
  EXPECT_EQ(e.line, 5);
  EXPECT_TRUE(has(e.message, "first at line 4")) << e.message;
  auto flat = decode_error_of("metadata: {name: a}\ndata: {}\ndata: {}\n",
                              context(resource_kind::artifact));
  EXPECT_EQ(flat.field, "data");
  EXPECT_EQ(flat.line, 3);
  auto flat_api = decode_error_of("apiVersion: gateway.solo.io/v1\nmetadata: {name: a}\ndata: {}\n",
                                  context(resource_kind::artifact));
  EXPECT_EQ(flat_api.field, "apiVersion");
  EXPECT_TRUE(has(flat_api.message, "expected \"gloo.solo.io/v1\"")) << flat_api.message;
}

TEST(ResourceDecoderTest, ErrorsPerDocumentAreCapped) {
  std::string text = "metadata: {name: x}\n";
  for (int i = 0; i < 150; ++i) {
    text += "unknown" + std::to_string(i) + ": 1\n";
  }
  decode_result r = decode_documents(text, context(resource_kind::artifact));
  ASSERT_EQ(r.errors.size(), 101u);
  EXPECT_EQ(r.errors[0].field, "unknown0");
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_TRUE(has(r.errors.back().message, "too many errors")) << r.errors.back().message;
}

// --- limits -----------------------------------------------------------------------------------

std::string billion_laughs(int levels) {
  std::string text = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i <= levels; ++i) {
    std::string prev = "*a" + std::to_string(i - 1);
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + prev;
    for (int j = 1; j < 9; ++j) {
      text += ", " + prev;
    }
    text += "]\n";
  }
  return text;
}

TEST(ResourceDecoderTest, BillionLaughsFailsTheFile) {
  decode_result r = decode_documents("metadata: {name: x}\ndata:\n  " + billion_laughs(9),
                                     context(resource_kind::settings));
  EXPECT_TRUE(r.file_failed);
  EXPECT_TRUE(r.resources.empty());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_TRUE(has(r.errors[0].message, "aliases expand to more than 1000000 nodes"))
      << r.errors[0].message;
  EXPECT_GT(r.errors[0].line, 0);
}

TEST(ResourceDecoderTest, AliasUseCountIsLimited) {
  decode_limits limits;
  limits.max_aliases = 3;
  std::string text = "metadata: {name: x}\ndata: {a: &v x, b: *v, c: *v, d: *v, e: *v}\n";
  decode_result r = decode_documents(text, context(resource_kind::artifact), limits);
  EXPECT_TRUE(r.file_failed);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_TRUE(has(r.errors[0].message, "more than 3 alias uses")) << r.errors[0].message;
  EXPECT_EQ(r.errors[0].line, 2);
}

TEST(ResourceDecoderTest, MillionNestedBracketsFailFast) {
  std::string text = "metadata: {name: x}\ndata: " + std::string(1'000'000, '[');
  decode_result r = decode_documents(text, context(resource_kind::artifact));
  EXPECT_TRUE(r.file_failed);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_TRUE(has(r.errors[0].message, "nesting deeper than 64 levels")) << r.errors[0].message;
  EXPECT_EQ(r.errors[0].line, 2);
}

TEST(ResourceDecoderTest, DeepBlockNestingFails) {
  std::string text = "metadata: {name: x}\nserviceSpec:\n";
  for (int i = 1; i <= 200; ++i) {
    text += std::string(static_cast<size_t>(i), ' ') + "k:\n";
  }
  decode_result r = decode_documents(text, context(resource_kind::settings));
  EXPECT_TRUE(r.file_failed);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_TRUE(has(r.errors[0].message, "nesting deeper than 64")) << r.errors[0].message;

  std::string compact = "metadata: {name: x}\nconsul:\n  a: ";
  for (int i = 0; i < 5000; ++i) {
    compact += "- ";
  }
  compact += "x\n";
  decode_result r2 = decode_documents(compact, context(resource_kind::settings));
  EXPECT_TRUE(r2.file_failed);
  EXPECT_TRUE(has(describe(r2), "nesting deeper than 64")) << describe(r2);
}

TEST(ResourceDecoderTest, AliasesCannotBuildDepth) {
  // Each level is shallow, but expanding the aliases would nest 4 * 30 levels.
  std::string text = "metadata: {name: x}\nconsul:\n";
  std::string prev;
  for (int i = 0; i < 4; ++i) {
    std::string open(30, '[');
    std::string close(30, ']');
    text += "  k" + std::to_string(i) + ": &k" + std::to_string(i) + " " + open
            + (prev.empty() ? "x" : prev) + close + "\n";
    prev = "*k" + std::to_string(i);
  }
  decode_result r = decode_documents(text, context(resource_kind::settings));
  EXPECT_TRUE(r.file_failed);
  EXPECT_TRUE(has(describe(r), "once aliases are expanded")) << describe(r);
}

TEST(ResourceDecoderTest, OversizeFileFailsBeforeParsing) {
  decode_limits limits;
  limits.max_bytes = 1024;
  std::string text = "metadata: {name: x}\ndata:\n";
  while (text.size() <= 1024) {
    text += "  k" + std::to_string(text.size()) + ": v\n";
  }
  decode_result r = decode_documents(text, context(resource_kind::artifact), limits);
  EXPECT_TRUE(r.file_failed);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_TRUE(has(r.errors[0].message, "over the limit of 1024 bytes")) << r.errors[0].message;
  EXPECT_EQ(r.errors[0].to_string().rfind("config/test.yaml: Artifact: ", 0), 0u)
      << r.errors[0].to_string();
}

TEST(ResourceDecoderTest, TooManyDocumentsFailTheFile) {
  decode_limits limits;
  limits.max_documents = 5;
  std::string text;
  for (int i = 0; i < 6; ++i) {
    text += "---\nmetadata: {name: a" + std::to_string(i) + "}\n";
  }
  decode_result r = decode_documents(text, context(resource_kind::artifact), limits);
  EXPECT_TRUE(r.file_failed);
  EXPECT_TRUE(r.resources.empty());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_TRUE(has(r.errors[0].message, "more than 5 documents")) << r.errors[0].message;
  limits.max_documents = 6;
  EXPECT_EQ(decode_documents(text, context(resource_kind::artifact), limits).resources.size(), 6u);
}

TEST(ResourceDecoderTest, NodeCountIsLimited) {
  decode_limits limits;
  limits.max_nodes = 50;
  std::string text = "metadata: {name: x}\ndata: {";
  for (int i = 0; i < 40; ++i) {
    text += "k" + std::to_string(i) + ": v, ";
  }
  text += "}\n";
  decode_result r = decode_documents(text, context(resource_kind::artifact), limits);
  EXPECT_TRUE(r.file_failed);
  EXPECT_TRUE(has(describe(r), "more than 50 YAML nodes")) << describe(r);
}

// --- scalar helpers ---------------------------------------------------------------------------

TEST(ResourceDecoderTest, DurationForms) {
  auto seconds_nanos = [](std::string_view text) {
    auto v = parse_duration(text);
    if (auto* e = std::get_if<std::string>(&v)) {
      return "error: " + *e;
    }
    auto d = std::get<duration_value>(v);
    return std::to_string(d.seconds) + "/" + std::to_string(d.nanos);
  };
  EXPECT_EQ(seconds_nanos("1.5s"), "1/500000000");
  EXPECT_EQ(seconds_nanos("-0.25s"), "0/-250000000");
  EXPECT_EQ(seconds_nanos("100ms"), "0/100000000");
  EXPECT_EQ(seconds_nanos("1h30m"), "5400/0");
  EXPECT_EQ(seconds_nanos("2m0.5s"), "120/500000000");
  EXPECT_EQ(seconds_nanos("10ns"), "0/10");
  EXPECT_EQ(seconds_nanos("1.000000001s"), "1/1");
  EXPECT_EQ(seconds_nanos("0"), "0/0");
  EXPECT_TRUE(seconds_nanos("5").starts_with("error"));
  EXPECT_TRUE(seconds_nanos("1d").starts_with("error"));
  EXPECT_TRUE(seconds_nanos("s").starts_with("error"));
  EXPECT_TRUE(seconds_nanos("").starts_with("error"));
  EXPECT_TRUE(seconds_nanos("99999999999999h").starts_with("error: duration out of range"));
}

TEST(ResourceDecoderTest, IntegerAndBooleanForms) {
  EXPECT_EQ(std::get<int64_t>(parse_int("-2147483648", INT32_MIN, INT32_MAX, "int32")), INT32_MIN);
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_int("2147483648", INT32_MIN, INT32_MAX, "int32")));
  EXPECT_EQ(std::get<int64_t>(parse_int("-9223372036854775808", INT64_MIN, INT64_MAX, "int64")),
            INT64_MIN);
  EXPECT_EQ(std::get<uint64_t>(parse_uint("+7", UINT32_MAX, "uint32")), 7u);
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_uint("0x10", UINT32_MAX, "uint32")));
  for (const char* yes : {"true", "True", "YES", "on", "On"}) {
    EXPECT_EQ(parse_bool(yes), std::optional<bool>(true)) << yes;
  }
  for (const char* no : {"false", "No", "OFF"}) {
    EXPECT_EQ(parse_bool(no), std::optional<bool>(false)) << no;
  }
  EXPECT_FALSE(parse_bool("1").has_value());
  std::string error;
  EXPECT_EQ(decode_base64("aGVsbG8", error), std::optional<std::string>("hello"));  // no padding
  EXPECT_EQ(decode_base64("-_8=", error), decode_base64("+/8=", error));            // URL-safe
  EXPECT_EQ(encode_base64("hello"), "aGVsbG8=");
}

// --- rendering --------------------------------------------------------------------------------

TEST(ResourceDecoderTest, ToJsonUsesGlooNamesAndOmitsDefaults) {
  auto r = decode_one("metadata: {name: gw, namespace: ns}\nbindPort: 8080\nssl: false\n"
                      "httpGateway: {}\n",
                      context(resource_kind::gateway));
  std::string json = to_json(*r.message, false);
  EXPECT_EQ(json, R"({"metadata":{"name":"gw","namespace":"ns"},"bindPort":8080,"httpGateway":{}})");
  EXPECT_TRUE(has(to_json(*r.message), "\n"));
}

TEST(ResourceDecoderTest, ToYamlRoundTripsAndIsStable) {
  auto text = yaml(R"(
metadata:
  name: shop
  labels: {zeta: "1", alpha: "true", mid: plain}
virtualHost:
  domains: ["*"]
  routes:
  - matchers: [{prefix: /}]
    options:
      timeout: 1.5s
      transformations: {z: 1, a: [yes, "no", null], m: {x: ""}}
    directResponseAction:
      status: 200
      body: |
        line one
        line two
)");
  auto r = decode_one(text, context(resource_kind::virtual_service, "apps"));
  std::string rendered = to_yaml(*r.message);
  EXPECT_EQ(rendered.rfind("metadata:", 0), 0u) << rendered;
  // Map keys are sorted, strings that would read back as other types are quoted.
  EXPECT_LT(rendered.find("alpha:"), rendered.find("zeta:")) << rendered;
  EXPECT_TRUE(has(rendered, "alpha: \"true\"")) << rendered;
  EXPECT_TRUE(has(rendered, "zeta: \"1\"")) << rendered;
  EXPECT_TRUE(has(rendered, "timeout: 1.500s")) << rendered;

  auto again = decode_one(rendered, context(resource_kind::virtual_service));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*r.message, *again.message))
      << rendered;
  EXPECT_EQ(to_yaml(*again.message), rendered);
}

TEST(ResourceDecoderTest, ToYamlPutsMetadataFirstAndKeepsStringsExact) {
  auto r = decode_one(yaml(R"(
tls:
  certChain: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
  privateKey: "no trailing newline\nsecond"
  rootCa: "two newlines\n\n"
metadata: {name: s, labels: {hex: "0x1F", date: "2024-01-01", dot: ".5", word: "off", empty: ""}}
)"),
                      context(resource_kind::secret));
  std::string rendered = to_yaml(*r.message);
  EXPECT_EQ(rendered.rfind("metadata:\n", 0), 0u) << rendered;
  EXPECT_TRUE(has(rendered, "  certChain: |\n    -----BEGIN CERTIFICATE-----\n")) << rendered;
  auto again = decode_one(rendered, context(resource_kind::secret));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*r.message, *again.message))
      << rendered;

  auto gw = decode_one("proxyNames: [p]\nbindAddress: \"::\"\nbindPort: 80\nhttpGateway: {}\n"
                       "metadata: {name: g}\n",
                       context(resource_kind::gateway));
  EXPECT_EQ(to_yaml(*gw.message),
            "metadata:\n  name: g\n  namespace: gloo-system\nbindAddress: \"::\"\nbindPort: 80\n"
            "httpGateway: {}\nproxyNames:\n  - p\n");
}

}  // namespace
}  // namespace sluice::model
