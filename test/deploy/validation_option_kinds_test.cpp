// VirtualHostOption and RouteOption (gateway.solo.io/v1) under validation: a create, update or
// delete of either kind is judged, like any other kind, by the problems it introduces into the
// Proxies of the VirtualServices and RouteTables that reference it (reference gloo.md §3.6, F13).
#include <gtest/gtest.h>

#include "test/deploy/validation_engine_fixture.hpp"
#include "xds/validation_engine.hpp"

namespace sluice::xds {
namespace {

std::string joined(const std::vector<validation_problem>& problems) {
  std::string out;
  for (const auto& p : problems) {
    out += p.to_string() + "\n";
  }
  return out;
}

bool names(const std::vector<validation_problem>& problems, const std::string& resource,
           const std::string& text) {
  return std::any_of(problems.begin(), problems.end(), [&](const validation_problem& p) {
    return p.resource && p.resource->to_string() == resource
           && p.message.find(text) != std::string::npos;
  });
}

// A VirtualService whose virtual host and one route take their options from option resources in
// namespace `opts`, and a RouteTable (delegated to) whose route does the same.
const char* const referencing = R"(
apiVersion: gateway.solo.io/v1
kind: VirtualHostOption
metadata: {name: std-vhost, namespace: opts}
spec:
  options:
    headerManipulation:
      responseHeadersToAdd: [{header: {key: x-served-by, value: sluice}}]
---
apiVersion: gateway.solo.io/v1
kind: RouteOption
metadata: {name: std-timeouts, namespace: opts}
spec: {options: {timeout: 30s, retries: {retryOn: 5xx, numRetries: 3}}}
---
apiVersion: gateway.solo.io/v1
kind: VirtualService
metadata: {name: slow, namespace: apps}
spec:
  virtualHost:
    domains: [slow.example.com]
    optionsConfigRefs: {delegateOptions: [{name: std-vhost, namespace: opts}]}
    routes:
    - matchers: [{prefix: /slow}]
      options: {timeout: 60s}
      optionsConfigRefs: {delegateOptions: [{name: std-timeouts, namespace: opts}]}
      routeAction: {single: {upstream: {name: petstore-v1, namespace: gloo-system}}}
    - matchers: [{prefix: /team}]
      delegateAction: {ref: {name: team, namespace: apps}}
---
apiVersion: gateway.solo.io/v1
kind: RouteTable
metadata: {name: team, namespace: apps}
spec:
  routes:
  - matchers: [{prefix: /team/api}]
    optionsConfigRefs: {delegateOptions: [{name: std-timeouts, namespace: opts}]}
    routeAction: {single: {upstream: {name: petstore-v1, namespace: gloo-system}}}
)";

std::string virtual_host_option(const std::string& name, const std::string& options) {
  return "apiVersion: gateway.solo.io/v1\nkind: VirtualHostOption\nmetadata: {name: " + name
         + ", namespace: opts}\nspec:\n  options: " + options + "\n";
}

std::string route_option(const std::string& name, const std::string& options) {
  return "apiVersion: gateway.solo.io/v1\nkind: RouteOption\nmetadata: {name: " + name
         + ", namespace: opts}\nspec:\n  options: " + options + "\n";
}

/// The example configuration plus `referencing`, which every option kind is named from.
class ValidationOptionKindsTest : public test::validation_engine_fixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(validation_engine_fixture::SetUp());
    auto problems = test::add_yaml(base_, referencing);
    ASSERT_TRUE(problems.empty()) << problems.front();
    set_world(base_);
  }
};

TEST_F(ValidationOptionKindsTest, TheReferencingConfigurationIsClean) {
  // The baseline the other tests change: no error anywhere, so every error below is new.
  auto translation = translate_world(*current_);
  for (const auto& [key, report] : translation.report.entries()) {
    EXPECT_TRUE(report.errors.empty()) << key.to_string() << ": " << report.errors.front();
    EXPECT_TRUE(report.warnings.empty()) << key.to_string() << ": " << report.warnings.front();
  }
}

TEST_F(ValidationOptionKindsTest, AnUpdatedVirtualHostOptionThatBreaksTheVirtualHostIsRejected) {
  // Decodes and validates on its own, but Envoy cannot take a route-added `:path` header: the
  // virtual host of every VirtualService that references it fails.
  auto v = engine()->validate(upsert(virtual_host_option(
      "std-vhost",
      "{headerManipulation: {requestHeadersToAdd: [{header: {key: ':path', value: "
      "/x}}]}}")));
  EXPECT_FALSE(v.allowed);
  EXPECT_FALSE(v.valid);
  ASSERT_TRUE(v.resource);
  EXPECT_EQ(v.resource->to_string(), "VirtualHostOption opts.std-vhost");
  EXPECT_TRUE(names(v.errors, "VirtualService apps.slow", ":path")) << joined(v.errors);
  EXPECT_NE(v.message.find("VirtualHostOption opts.std-vhost would introduce"), std::string::npos)
      << v.message;
  EXPECT_NE(v.message.find("VirtualService apps.slow"), std::string::npos) << v.message;
}

TEST_F(ValidationOptionKindsTest, AGoodVirtualHostOptionUpdateIsAcceptedAndChangesTheProxy) {
  auto v = engine()->validate(
      upsert(virtual_host_option("std-vhost", "{retries: {retryOn: connect-failure}}")));
  EXPECT_TRUE(v.allowed) << v.message;
  EXPECT_TRUE(v.valid);
  EXPECT_TRUE(v.errors.empty()) << joined(v.errors);
  EXPECT_TRUE(v.warnings.empty()) << joined(v.warnings);
  EXPECT_NE(
      std::find(v.affected_proxies.begin(), v.affected_proxies.end(), "gloo-system~gateway-proxy"),
      v.affected_proxies.end());
}

TEST_F(ValidationOptionKindsTest, AnUnreferencedOptionChangesNothing) {
  // Nothing reads it, so it cannot break a Proxy (Gloo translates option resources only through
  // the refs that name them).
  auto v = engine()->validate(upsert(virtual_host_option(
      "unused",
      "{headerManipulation: {requestHeadersToAdd: [{header: {key: ':path', value: "
      "/x}}]}}")));
  EXPECT_TRUE(v.allowed) << v.message;
  EXPECT_TRUE(v.affected_proxies.empty());
}

TEST_F(ValidationOptionKindsTest, ARouteOptionThatBreaksRoutesIsBlamedWhereItIsUsed) {
  // Both rewrites at once is a route error; both the VirtualService's route and the delegated
  // RouteTable's route take this RouteOption. The example Settings replace invalid routes
  // (invalidConfigPolicy.replaceInvalidRoutes), which makes route errors warnings.
  const auto both_rewrites
      = route_option("std-timeouts",
                     "{prefixRewrite: /v1, regexRewrite: {pattern: {regex: '^/x'}, "
                     "substitution: /y}}");
  auto replaced = engine()->validate(upsert(both_rewrites));
  EXPECT_TRUE(replaced.allowed) << replaced.message;
  EXPECT_TRUE(replaced.errors.empty()) << joined(replaced.errors);
  EXPECT_TRUE(names(replaced.warnings, "VirtualService apps.slow", "cannot both be set"))
      << joined(replaced.warnings);
  EXPECT_TRUE(names(replaced.warnings, "RouteTable apps.team", "cannot both be set"))
      << joined(replaced.warnings);

  // Without replacement the routes fail: an error on each resource that uses the option.
  auto w = base_;
  ASSERT_TRUE(
      w.erase(model::resource_key{model::resource_kind::settings, "gloo-system", "default"}));
  current_ = std::make_shared<const model::world>(std::move(w));
  auto v = engine()->validate(upsert(both_rewrites));
  EXPECT_FALSE(v.allowed);
  ASSERT_TRUE(v.resource);
  EXPECT_EQ(v.resource->to_string(), "RouteOption opts.std-timeouts");
  EXPECT_TRUE(names(v.errors, "VirtualService apps.slow", "cannot both be set"))
      << joined(v.errors);
  EXPECT_TRUE(names(v.errors, "RouteTable apps.team", "cannot both be set")) << joined(v.errors);
  EXPECT_NE(v.message.find("RouteOption opts.std-timeouts would introduce"), std::string::npos)
      << v.message;
}

TEST_F(ValidationOptionKindsTest, ARouteOptionTheDecoderRefusesIsRejectedWithItsOwnError) {
  auto v = engine()->validate(upsert(route_option(
      "std-timeouts", "{regexRewrite: {pattern: {regex: '(unclosed'}, substitution: /}}")));
  EXPECT_FALSE(v.allowed);
  ASSERT_FALSE(v.errors.empty());
  EXPECT_TRUE(names(v.errors, "RouteOption opts.std-timeouts", "(unclosed")) << joined(v.errors);
  EXPECT_TRUE(v.affected_proxies.empty());
}

TEST_F(ValidationOptionKindsTest, AnUnknownOptionFieldIsRejectedWithItsPath) {
  auto v = engine()->validate(upsert(route_option("std-timeouts", "{timeuot: 3s}")));
  EXPECT_FALSE(v.allowed);
  ASSERT_EQ(v.errors.size(), 1u) << joined(v.errors);
  EXPECT_NE(v.errors[0].message.find("timeuot"), std::string::npos) << v.errors[0].message;
}

TEST_F(ValidationOptionKindsTest, DeletingAnOptionSomeoneUsesIsAWarningAsInTranslation) {
  auto e = engine();
  auto route = e->validate(remove("RouteOption", "opts", "std-timeouts"));
  EXPECT_TRUE(route.allowed) << route.message;
  EXPECT_TRUE(route.valid);
  EXPECT_TRUE(route.errors.empty()) << joined(route.errors);
  EXPECT_TRUE(names(route.warnings, "VirtualService apps.slow", "routeOption opts.std-timeouts"))
      << joined(route.warnings);
  EXPECT_TRUE(names(route.warnings, "RouteTable apps.team", "routeOption opts.std-timeouts"))
      << joined(route.warnings);
  EXPECT_FALSE(route.affected_proxies.empty());

  auto vhost = e->validate(remove("vhopts", "opts", "std-vhost"));  // the short name works too
  EXPECT_TRUE(vhost.allowed) << vhost.message;
  EXPECT_TRUE(names(vhost.warnings, "VirtualService apps.slow", "virtualHostOption opts.std-vhost"))
      << joined(vhost.warnings);
}

TEST_F(ValidationOptionKindsTest, DeletingAUsedOptionIsRefusedWhenWarningsAreNot) {
  validation_engine_options strict;
  strict.policy_override = validation_policy{false, false};
  auto v = engine(strict)->validate(remove("RouteOption", "opts", "std-timeouts"));
  EXPECT_FALSE(v.allowed);
  EXPECT_NE(v.message.find("deleting RouteOption opts.std-timeouts would introduce"),
            std::string::npos)
      << v.message;
  EXPECT_NE(v.message.find("allowWarnings is false"), std::string::npos) << v.message;
}

TEST_F(ValidationOptionKindsTest, DeletingAnUnusedOptionIsClean) {
  auto w = base_;
  ASSERT_TRUE(test::add_yaml(w, route_option("spare", "{timeout: 1s}")).empty());
  current_ = std::make_shared<const model::world>(std::move(w));
  validation_engine_options strict;
  strict.policy_override = validation_policy{false, false};
  auto v = engine(strict)->validate(remove("RouteOption", "opts", "spare"));
  EXPECT_TRUE(v.allowed) << v.message;
  EXPECT_TRUE(v.warnings.empty()) << joined(v.warnings);
  EXPECT_TRUE(v.affected_proxies.empty());
}

TEST_F(ValidationOptionKindsTest, CreatingAMissingOptionClearsWarningsAndIsAccepted) {
  // A VirtualService that references a RouteOption not created yet carries a warning; creating
  // the option introduces nothing.
  auto w = base_;
  ASSERT_TRUE(test::add_yaml(w, R"(
apiVersion: gateway.solo.io/v1
kind: VirtualService
metadata: {name: early, namespace: apps}
spec:
  virtualHost:
    domains: [early.example.com]
    routes:
    - matchers: [{prefix: /}]
      optionsConfigRefs: {delegateOptions: [{name: later, namespace: opts}]}
      routeAction: {single: {upstream: {name: petstore-v1, namespace: gloo-system}}}
)")
                  .empty());
  current_ = std::make_shared<const model::world>(std::move(w));
  validation_engine_options strict;
  strict.policy_override = validation_policy{false, false};
  auto v = engine(strict)->validate(upsert(route_option("later", "{timeout: 5s}")));
  EXPECT_TRUE(v.allowed) << v.message;
  EXPECT_TRUE(v.warnings.empty()) << joined(v.warnings);
  EXPECT_FALSE(v.affected_proxies.empty());
}

TEST_F(ValidationOptionKindsTest, AnAdmittedOptionIsRememberedForTheNextQuestion) {
  // Admitted for real (not a dry run): a VirtualService created right after, before the world
  // shows the option, finds it and gets no missing-ref warning.
  validation_engine_options strict;
  strict.policy_override = validation_policy{false, false};
  auto e = engine(strict);
  const std::string vs = R"(
apiVersion: gateway.solo.io/v1
kind: VirtualService
metadata: {name: quick, namespace: apps}
spec:
  virtualHost:
    domains: [quick.example.com]
    routes:
    - matchers: [{prefix: /}]
      optionsConfigRefs: {delegateOptions: [{name: fresh, namespace: opts}]}
      directResponseAction: {status: 200}
)";
  ASSERT_FALSE(e->validate(upsert(vs)).allowed) << "the ref is missing: a warning, refused here";
  ASSERT_TRUE(
      e->validate(upsert(route_option("fresh", "{timeout: 5s}"), /*dry_run=*/false)).allowed);
  auto after = e->validate(upsert(vs));
  EXPECT_TRUE(after.allowed) << after.message;
}

TEST_F(ValidationOptionKindsTest, TheFlatFormNeedsTheKind) {
  proposed_change c = upsert("metadata: {name: flat, namespace: opts}\noptions: {timeout: 2s}\n");
  c.kind = "RouteOption";
  auto v = engine()->validate(c);
  EXPECT_TRUE(v.allowed) << v.message;
  ASSERT_TRUE(v.resource);
  EXPECT_EQ(v.resource->to_string(), "RouteOption opts.flat");
}

}  // namespace
}  // namespace sluice::xds
