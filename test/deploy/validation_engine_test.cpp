// The validation engine on the example configuration: what it accepts, what it rejects and why,
// the Settings policy, and how admitted changes are remembered while the world lags.
#include <gtest/gtest.h>

#include "test/deploy/validation_engine_fixture.hpp"
#include "xds/validation_engine.hpp"

namespace sluice::xds {
namespace {

using model::resource_key;
using model::resource_kind;

std::string joined(const std::vector<validation_problem>& problems) {
  std::string out;
  for (const auto& p : problems) {
    out += p.to_string() + "\n";
  }
  return out;
}

const char* const shop_vs = R"(
apiVersion: gateway.solo.io/v1
kind: VirtualService
metadata: {name: shop, namespace: gloo-system}
spec:
  virtualHost:
    domains: [shop.example.com]
    routes:
    - matchers: [{prefix: /}]
      routeAction: {single: {upstream: {name: petstore-v1, namespace: gloo-system}}}
)";

std::string vs_with_domain(const std::string& name, const std::string& domain) {
  return "apiVersion: gateway.solo.io/v1\nkind: VirtualService\nmetadata: {name: " + name
         + ", namespace: gloo-system}\nspec:\n  virtualHost:\n    domains: [" + domain
         + "]\n    routes:\n    - matchers: [{prefix: /}]\n      directResponseAction: {status: "
           "200}\n";
}

class ValidationEngineTest : public test::validation_engine_fixture {};

TEST_F(ValidationEngineTest, AcceptsAVirtualServiceWithANewDomain) {
  auto v = engine()->validate(upsert(shop_vs));
  EXPECT_TRUE(v.allowed) << v.message;
  EXPECT_TRUE(v.valid);
  EXPECT_TRUE(v.errors.empty()) << joined(v.errors);
  EXPECT_TRUE(v.message.empty()) << v.message;
  ASSERT_TRUE(v.resource);
  EXPECT_EQ(v.resource->to_string(), "VirtualService gloo-system.shop");
  EXPECT_NE(
      std::find(v.affected_proxies.begin(), v.affected_proxies.end(), "gloo-system~gateway-proxy"),
      v.affected_proxies.end());
}

TEST_F(ValidationEngineTest, RejectsADomainAnotherVirtualServiceServesAndSaysWhich) {
  auto v = engine()->validate(upsert(vs_with_domain("petstore-copy", "petstore.example.com")));
  EXPECT_FALSE(v.allowed);
  EXPECT_FALSE(v.valid);
  ASSERT_FALSE(v.errors.empty());
  // The newcomer is blamed, and the message names it, the domain and the other one.
  EXPECT_EQ(v.errors.front().resource->to_string(), "VirtualService gloo-system.petstore-copy");
  EXPECT_NE(v.message.find("VirtualService gloo-system.petstore-copy"), std::string::npos)
      << v.message;
  EXPECT_NE(v.message.find("petstore.example.com"), std::string::npos) << v.message;
  EXPECT_NE(v.message.find("gloo-system.petstore"), std::string::npos) << v.message;
}

TEST_F(ValidationEngineTest, RejectsAnUnknownFieldWithItsPath) {
  std::string text = shop_vs;
  text.replace(text.find("prefix"), 6, "prefx");
  auto v = engine()->validate(upsert(text));
  EXPECT_FALSE(v.allowed);
  ASSERT_EQ(v.errors.size(), 1u) << joined(v.errors);
  EXPECT_NE(v.errors[0].message.find("virtualHost.routes[0].matchers[0]"), std::string::npos)
      << v.errors[0].message;
  EXPECT_NE(v.errors[0].message.find("prefx"), std::string::npos) << v.errors[0].message;
  EXPECT_TRUE(v.affected_proxies.empty());
}

TEST_F(ValidationEngineTest, RejectsARegexRe2CannotCompile) {
  std::string text = shop_vs;
  text.replace(text.find("prefix: /"), 9, "regex: \"/(unclosed\"");
  auto v = engine()->validate(upsert(text));
  EXPECT_FALSE(v.allowed);
  EXPECT_NE(joined(v.errors).find("(unclosed"), std::string::npos) << joined(v.errors);
}

TEST_F(ValidationEngineTest, DeletingAnUpstreamARouteUsesIsAWarningByDefault) {
  auto v = engine()->validate(remove("Upstream", "gloo-system", "greeter-b"));
  EXPECT_TRUE(v.allowed) << v.message;
  EXPECT_TRUE(v.valid);
  EXPECT_TRUE(v.errors.empty()) << joined(v.errors);
  ASSERT_FALSE(v.warnings.empty());
  EXPECT_NE(joined(v.warnings).find("greeter-b"), std::string::npos) << joined(v.warnings);
  EXPECT_FALSE(v.affected_proxies.empty());
}

TEST_F(ValidationEngineTest, SettingsThatDisallowWarningsRejectThem) {
  auto w = base_;
  ASSERT_TRUE(test::add_yaml(w, R"(
apiVersion: gloo.solo.io/v1
kind: Settings
metadata: {name: default, namespace: gloo-system}
spec:
  discoveryNamespace: gloo-system
  gateway: {validation: {allowWarnings: false}}
)")
                  .empty());
  set_world(std::move(w));
  auto v = engine()->validate(remove("Upstream", "gloo-system", "greeter-b"));
  EXPECT_FALSE(v.allowed);
  EXPECT_NE(v.message.find("allowWarnings is false"), std::string::npos) << v.message;
  EXPECT_NE(v.message.find("greeter-b"), std::string::npos) << v.message;
}

TEST_F(ValidationEngineTest, AlwaysAcceptLetsAnErrorThroughButSaysWhat) {
  auto w = base_;
  ASSERT_TRUE(test::add_yaml(w, R"(
apiVersion: gloo.solo.io/v1
kind: Settings
metadata: {name: default, namespace: gloo-system}
spec:
  gateway: {validation: {alwaysAccept: true}}
)")
                  .empty());
  set_world(std::move(w));
  auto v = engine()->validate(upsert(vs_with_domain("petstore-copy", "petstore.example.com")));
  EXPECT_TRUE(v.allowed);
  EXPECT_FALSE(v.valid);
  EXPECT_FALSE(v.errors.empty());
  EXPECT_EQ(v.message.rfind("accepted because Settings gateway.validation.alwaysAccept", 0), 0u)
      << v.message;
}

TEST_F(ValidationEngineTest, APolicyOverrideWinsOverSettings) {
  validation_engine_options options;
  options.policy_override = validation_policy{false, false};
  auto v = engine(options)->validate(remove("Upstream", "gloo-system", "greeter-b"));
  EXPECT_FALSE(v.allowed);
}

TEST_F(ValidationEngineTest, RejectsUntilTheServerHasAWorld) {
  current_.reset();
  auto v = engine()->validate(upsert(shop_vs));
  EXPECT_FALSE(v.allowed);
  EXPECT_NE(v.message.find("not yet available"), std::string::npos) << v.message;
}

TEST_F(ValidationEngineTest, KindsSluiceDoesNotReadPassUnchecked) {
  auto e = engine();
  auto opaque = e->validate(upsert(R"(
apiVersion: v1
kind: Secret
type: Opaque
metadata: {name: api-key, namespace: apps}
data: {key: c2VjcmV0}
)"));
  EXPECT_TRUE(opaque.allowed);
  EXPECT_TRUE(opaque.ignored);
  auto rlc = e->validate(upsert(R"(
apiVersion: ratelimit.solo.io/v1alpha1
kind: RateLimitConfig
metadata: {name: limits, namespace: apps}
spec: {raw: {}}
)"));
  EXPECT_TRUE(rlc.allowed);
  EXPECT_TRUE(rlc.ignored);
  auto configmap = e->validate(remove("ConfigMap", "apps", "x"));
  EXPECT_TRUE(configmap.allowed);
  EXPECT_TRUE(configmap.ignored);
}

TEST_F(ValidationEngineTest, AnUnrelatedBrokenResourceDoesNotBlockOtherChanges) {
  // Gloo disables validation once a broken resource is stored; sluice counts new problems only.
  auto w = base_;
  ASSERT_TRUE(
      test::add_yaml(w, vs_with_domain("already-conflicting", "petstore.example.com")).empty());
  set_world(std::move(w));
  auto e = engine();
  auto unrelated = e->validate(upsert(shop_vs));
  EXPECT_TRUE(unrelated.allowed) << unrelated.message;
  // A second conflicting one is still new trouble.
  auto another = e->validate(upsert(vs_with_domain("second", "petstore.example.com")));
  EXPECT_FALSE(another.allowed);
  EXPECT_EQ(another.errors.front().resource->name, "second");
}

TEST_F(ValidationEngineTest, AnUnchangedResourceIsValidAndAffectsNothing) {
  auto e = engine();
  auto first = e->validate(upsert(shop_vs, /*dry_run=*/false));
  ASSERT_TRUE(first.allowed);
  auto again = e->validate(upsert(shop_vs));
  EXPECT_TRUE(again.valid);
  EXPECT_TRUE(again.affected_proxies.empty());
}

TEST_F(ValidationEngineTest, AdmittedChangesAreRememberedUntilTheWorldShowsThem) {
  validation_engine_options options;
  options.remember_admitted = std::chrono::seconds(30);
  auto e = engine(options);
  const auto a = vs_with_domain("a", "x.example.com");
  const auto b = vs_with_domain("b", "x.example.com");

  // A dry run is not remembered.
  ASSERT_TRUE(e->validate(upsert(a, /*dry_run=*/true)).allowed);
  EXPECT_TRUE(e->validate(upsert(b, /*dry_run=*/true)).allowed);

  // A real admission is: b now conflicts with a, though the world does not have a yet.
  ASSERT_TRUE(e->validate(upsert(a, /*dry_run=*/false)).allowed);
  auto conflict = e->validate(upsert(b, /*dry_run=*/true));
  EXPECT_FALSE(conflict.allowed);
  EXPECT_EQ(conflict.errors.front().resource->name, "b");

  // The world catches up: a is there; then a is deleted from the world. Had the engine not
  // forgotten its note about a once the world showed it, a would still block b.
  auto with_a = base_;
  ASSERT_TRUE(test::add_yaml(with_a, a).empty());
  set_world(with_a);
  EXPECT_FALSE(e->validate(upsert(b)).allowed);
  set_world(base_);
  EXPECT_TRUE(e->validate(upsert(b)).allowed);
}

TEST_F(ValidationEngineTest, AnAdmittedChangeThatNeverArrivesIsForgottenInTime) {
  validation_engine_options options;
  options.remember_admitted = std::chrono::seconds(30);
  auto e = engine(options);
  ASSERT_TRUE(e->validate(upsert(vs_with_domain("a", "y.example.com"), false)).allowed);
  EXPECT_FALSE(e->validate(upsert(vs_with_domain("b", "y.example.com"))).allowed);
  now_ += std::chrono::seconds(31);
  EXPECT_TRUE(e->validate(upsert(vs_with_domain("b", "y.example.com"))).allowed);
}

TEST_F(ValidationEngineTest, DeletingANamespaceIsValidatedAsAWhole) {
  auto w = base_;
  ASSERT_TRUE(test::add_yaml(w, R"(
apiVersion: gloo.solo.io/v1
kind: Upstream
metadata: {name: orders, namespace: backend}
spec: {static: {hosts: [{addr: 10.0.0.9, port: 8080}]}}
---
apiVersion: gateway.solo.io/v1
kind: VirtualService
metadata: {name: orders, namespace: gloo-system}
spec:
  virtualHost:
    domains: [orders.example.com]
    routes:
    - matchers: [{prefix: /}]
      routeAction: {single: {upstream: {name: orders, namespace: backend}}}
)")
                  .empty());
  set_world(std::move(w));
  proposed_change c;
  c.op = proposed_change::op_t::remove_namespace;
  c.ns = "backend";
  c.dry_run = true;
  validation_engine_options strict;
  strict.policy_override = validation_policy{false, false};
  auto v = engine(strict)->validate(c);
  EXPECT_FALSE(v.allowed);
  EXPECT_NE(v.message.find("deleting namespace backend"), std::string::npos) << v.message;
  EXPECT_NE(joined(v.warnings).find("VirtualService gloo-system.orders"), std::string::npos)
      << joined(v.warnings);
  // A namespace holding nothing sluice reads changes nothing.
  c.ns = "empty";
  auto empty = engine(strict)->validate(c);
  EXPECT_TRUE(empty.allowed);
  EXPECT_TRUE(empty.affected_proxies.empty());
}

TEST_F(ValidationEngineTest, PolicyIsReadFromTheNamedSettings) {
  auto w = base_;
  ASSERT_TRUE(test::add_yaml(w, R"(
apiVersion: gloo.solo.io/v1
kind: Settings
metadata: {name: default, namespace: gloo-system}
spec:
  gateway: {validation: {alwaysAccept: true, allowWarnings: false}}
)")
                  .empty());
  auto p = policy_from_settings(w, "gloo-system", "default");
  EXPECT_TRUE(p.always_accept);
  EXPECT_FALSE(p.allow_warnings);
  auto elsewhere = policy_from_settings(w, "other", "default");
  EXPECT_FALSE(elsewhere.always_accept);
  EXPECT_TRUE(elsewhere.allow_warnings);
}

}  // namespace
}  // namespace sluice::xds
