#include <google/protobuf/message.h>
#include <gtest/gtest.h>

#include <string>

#include "model/resource_decoder.hpp"

namespace sluice::model {
namespace {

decode_context context(resource_kind kind) {
  return decode_context{"config/v.yaml", kind, "gloo-system"};
}

std::string describe(const std::vector<decode_error>& errors) {
  std::string out;
  for (const auto& e : errors) {
    out += e.to_string() + "\n";
  }
  return out;
}

// Decodes one resource (which must decode cleanly) and validates it.
std::vector<decode_error> validate(const std::string& text, resource_kind kind) {
  auto ctx = context(kind);
  decode_result r = decode_documents(text, ctx);
  std::string decode_errors;
  for (const auto& e : r.errors) {
    decode_errors += e.to_string() + "\n";
  }
  EXPECT_TRUE(r.errors.empty()) << decode_errors;
  if (r.resources.size() != 1) {
    ADD_FAILURE() << "expected one resource, got " << r.resources.size();
    return {};
  }
  return validate_resource(r.resources.front(), ctx);
}

// Expects exactly one error, on `field`, whose message contains `message`.
void expect_one_error(const std::vector<decode_error>& errors, const std::string& field,
                      const std::string& message) {
  ASSERT_EQ(errors.size(), 1u) << describe(errors);
  EXPECT_EQ(errors[0].field, field) << describe(errors);
  EXPECT_NE(errors[0].message.find(message), std::string::npos) << errors[0].message;
}

TEST(ResourceValidatorTest, ValidResourcesHaveNoErrors) {
  EXPECT_TRUE(validate("metadata: {name: shop.example-1}\nvirtualHost:\n  routes:\n"
                       "  - matchers: [{regex: \"/items/[0-9]+\", headers: [{name: x, value: "
                       "\"a|b\", regex: true}]}]\n"
                       "    routeAction: {multi: {destinations: [{destination: {upstream: {name: "
                       "a}}, weight: 1}, {destination: {kube: {ref: {name: svc}, port: 80}}}]}}\n"
                       "  - matchers: [{prefix: /a}]\n"
                       "    delegateAction: {selector: {labels: {team: a}}}\n",
                       resource_kind::virtual_service)
                  .empty());
  EXPECT_TRUE(validate("metadata: {name: gw}\nbindPort: 8080\nhttpGateway: {}\n",
                       resource_kind::gateway)
                  .empty());
  EXPECT_TRUE(validate("metadata: {name: us}\nstatic: {hosts: [{addr: 10.0.0.1, port: 65535}]}\n",
                       resource_kind::upstream)
                  .empty());
  EXPECT_TRUE(validate("metadata: {name: s}\ntls: {rootCa: ca}\n", resource_kind::secret).empty());
}

TEST(ResourceValidatorTest, RouteWithoutActionIsRejectedLikeGloo) {
  auto errors = validate("metadata: {name: vs}\nvirtualHost:\n  routes:\n"
                         "  - matchers: [{prefix: /a}]\n    directResponseAction: {status: 200}\n"
                         "  - matchers: [{prefix: /b}]\n",
                         resource_kind::virtual_service);
  expect_one_error(errors, "virtualHost.routes[1]", "invalid route: route must specify an action");
  EXPECT_EQ(errors[0].file, "config/v.yaml");
  EXPECT_EQ(errors[0].kind, resource_kind::virtual_service);
  EXPECT_EQ(errors[0].ns, "gloo-system");
  EXPECT_EQ(errors[0].name, "vs");
  EXPECT_EQ(errors[0].to_string(),
            "config/v.yaml:1: VirtualService gloo-system.vs: virtualHost.routes[1]: invalid route: "
            "route must specify an action");

  expect_one_error(validate("metadata: {name: rt}\nroutes: [{matchers: [{prefix: /}]}]\n",
                            resource_kind::route_table),
                   "routes[0]", "invalid route: route must specify an action");
}

TEST(ResourceValidatorTest, RegexesMustCompileUnderRe2) {
  expect_one_error(
      validate("metadata: {name: vs}\nvirtualHost: {routes: [{matchers: [{regex: \"/a(b\"}], "
               "directResponseAction: {status: 200}}]}\n",
               resource_kind::virtual_service),
      "virtualHost.routes[0].matchers[0].regex", "invalid regex \"/a(b\": missing ): /a(b");
  expect_one_error(
      validate("metadata: {name: vs}\nvirtualHost: {routes: [{matchers: [{headers: [{name: h, "
               "value: \"[z-a]\", regex: true}]}], directResponseAction: {status: 200}}]}\n",
               resource_kind::virtual_service),
      "virtualHost.routes[0].matchers[0].headers[0].value", "invalid character class range");
  expect_one_error(
      validate("metadata: {name: vs}\nvirtualHost: {routes: [{matchers: [{queryParameters: "
               "[{name: q, value: \"a**\", regex: true}]}], directResponseAction: {status: 200}}]}\n",
               resource_kind::virtual_service),
      "virtualHost.routes[0].matchers[0].queryParameters[0].value", "bad repetition operator");
  // Backreferences are not RE2.
  expect_one_error(
      validate("metadata: {name: vs}\nvirtualHost: {routes: [{matchers: [{prefix: /}], "
               "options: {regexRewrite: {pattern: {regex: \"(a)\\\\1\"}, substitution: x}}, "
               "directResponseAction: {status: 200}}]}\n",
               resource_kind::virtual_service),
      "virtualHost.routes[0].options.regexRewrite.pattern.regex", "invalid escape sequence");
  // A header value that is not flagged as a regex is not compiled.
  EXPECT_TRUE(validate("metadata: {name: vs}\nvirtualHost: {routes: [{matchers: [{headers: "
                       "[{name: h, value: \"(\"}]}], directResponseAction: {status: 200}}]}\n",
                       resource_kind::virtual_service)
                  .empty());
}

TEST(ResourceValidatorTest, WeightedDestinationsNeedTotalWeight) {
  expect_one_error(
      validate("metadata: {name: vs}\nvirtualHost: {routes: [{matchers: [{prefix: /}], "
               "routeAction: {multi: {destinations: [{destination: {upstream: {name: a}}, weight: "
               "0}, {destination: {upstream: {name: b}}}]}}}]}\n",
               resource_kind::virtual_service),
      "virtualHost.routes[0].routeAction.multi.destinations",
      "Weighted Destinations require a total weight that is greater than or equal to 1");
  expect_one_error(
      validate("metadata: {name: vs}\nvirtualHost: {routes: [{matchers: [{prefix: /}], "
               "routeAction: {multi: {destinations: []}}}]}\n",
               resource_kind::virtual_service),
      "virtualHost.routes[0].routeAction.multi.destinations", "at least one weighted destination");
  expect_one_error(
      validate("metadata: {name: ug}\ndestinations: [{destination: {upstream: {name: a}}}]\n",
               resource_kind::upstream_group),
      "destinations", "Weighted Destinations require a total weight");
  expect_one_error(validate("metadata: {name: ug}\n", resource_kind::upstream_group),
                   "destinations", "at least one weighted destination");
  expect_one_error(validate("metadata: {name: ug}\ndestinations: [{weight: 1}]\n",
                            resource_kind::upstream_group),
                   "destinations[0].destination", "needs a destination");
}

TEST(ResourceValidatorTest, StaticUpstreamHostsNeedAddressAndPort) {
  expect_one_error(validate("metadata: {name: us}\nstatic: {hosts: []}\n", resource_kind::upstream),
                   "static.hosts", "at least one host");
  expect_one_error(validate("metadata: {name: us}\nstatic: {hosts: [{addr: a, port: 80}, {port: "
                            "80}]}\n",
                            resource_kind::upstream),
                   "static.hosts[1].addr", "must not be empty");
  expect_one_error(validate("metadata: {name: us}\nstatic: {hosts: [{addr: a}]}\n",
                            resource_kind::upstream),
                   "static.hosts[0].port", "between 1 and 65535, got 0");
  expect_one_error(validate("metadata: {name: us}\nstatic: {hosts: [{addr: a, port: 70000}]}\n",
                            resource_kind::upstream),
                   "static.hosts[0].port", "got 70000");
}

TEST(ResourceValidatorTest, GatewayNeedsOneTypeAndAPort) {
  expect_one_error(validate("metadata: {name: gw}\nbindPort: 8080\n", resource_kind::gateway),
                   "gatewayType", "exactly one of httpGateway, tcpGateway, hybridGateway");
  expect_one_error(validate("metadata: {name: gw}\nhttpGateway: {}\n", resource_kind::gateway),
                   "bindPort", "between 1 and 65535");
  expect_one_error(validate("metadata: {name: gw}\nbindPort: 9000\ntcpGateway: {tcpHosts: [{name: "
                            "t}]}\n",
                            resource_kind::gateway),
                   "tcpGateway.tcpHosts[0].destination", "must specify one of single, multi");
}

TEST(ResourceValidatorTest, VirtualServiceNeedsVirtualHost) {
  expect_one_error(validate("metadata: {name: vs}\ndisplayName: x\n", resource_kind::virtual_service),
                   "virtualHost", "must have a virtualHost");
}

TEST(ResourceValidatorTest, NamesMustBeDnsSubdomains) {
  for (const std::string& bad :
       std::vector<std::string>{"Foo", "a_b", "-a", "a-", "a b", std::string(254, 'a')}) {
    SCOPED_TRACE(bad);
    expect_one_error(validate("metadata: {name: \"" + bad + "\"}\ndata: {}\n",
                              resource_kind::artifact),
                     "metadata.name", "invalid name");
  }
  EXPECT_TRUE(validate("metadata: {name: \"" + std::string(253, 'a') + "\"}\n",
                       resource_kind::artifact)
                  .empty());
  // A resource built in code without a name (decoding would have refused it).
  decoded_resource unnamed;
  unnamed.key = {resource_kind::artifact, "ns", ""};
  unnamed.message = std::shared_ptr<const google::protobuf::Message>(new_message(resource_kind::artifact));
  expect_one_error(validate_resource(unnamed, context(resource_kind::artifact)), "metadata.name",
                   "metadata.name is required");
}

TEST(ResourceValidatorTest, ProxyRoutesAndListeners) {
  auto errors = validate("metadata: {name: px}\nlisteners:\n"
                         "- name: l\n  bindPort: 8080\n  httpListener:\n    virtualHosts:\n"
                         "    - name: vh\n      routes: [{matchers: [{prefix: /}]}]\n"
                         "- name: l2\n  bindPort: 0\n  tcpListener: {tcpHosts: [{destination: "
                         "{forwardSniClusterName: {}}}]}\n"
                         "- name: l3\n  bindPort: 1\n",
                         resource_kind::proxy);
  ASSERT_EQ(errors.size(), 3u) << describe(errors);
  EXPECT_EQ(errors[0].field, "listeners[0].httpListener.virtualHosts[0].routes[0]");
  EXPECT_EQ(errors[0].message, "invalid route: route must specify an action");
  EXPECT_EQ(errors[1].field, "listeners[1].bindPort");
  EXPECT_EQ(errors[2].field, "listeners[2]");
}

TEST(ResourceValidatorTest, SecretsEndpointsAndAuthConfigs) {
  expect_one_error(validate("metadata: {name: s}\ntls: {certChain: c}\n", resource_kind::secret),
                   "tls.privateKey", "must be given together");
  expect_one_error(validate("metadata: {name: s}\n", resource_kind::secret), "",
                   "must specify one of tls");
  expect_one_error(validate("metadata: {name: e}\naddress: 10.0.0.1\n", resource_kind::endpoint),
                   "port", "between 1 and 65535");
  expect_one_error(validate("metadata: {name: ac}\nconfigs: [{name: x}]\n",
                            resource_kind::auth_config),
                   "configs[0]", "must specify its type");
}

TEST(ResourceValidatorTest, ReportsEveryProblem) {
  auto errors = validate("metadata: {name: Bad_Name}\nvirtualHost:\n  routes:\n"
                         "  - matchers: [{regex: \"(\"}]\n  - {}\n",
                         resource_kind::virtual_service);
  ASSERT_EQ(errors.size(), 4u) << describe(errors);
  EXPECT_EQ(errors[0].field, "metadata.name");
  EXPECT_EQ(errors[1].field, "virtualHost.routes[0].matchers[0].regex");
  EXPECT_EQ(errors[2].field, "virtualHost.routes[0]");
  EXPECT_EQ(errors[3].field, "virtualHost.routes[1]");
}

}  // namespace
}  // namespace sluice::model
