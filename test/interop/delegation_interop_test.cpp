// Interop through delegation (reference gloo.md §1.3): the real gRPC clients route through a
// VirtualService -> RouteTable -> RouteTable -> RouteTable chain, and through a weighted
// UpstreamGroup at the end of such a chain. Every chain has a decoy that catches the calls when
// sluice expands it wrongly, so a broken expansion shows up as calls on the wrong backend.
//
// The expected routes follow Gloo, not whatever sluice happens to do: a child route must start
// with its parent's prefix (plain string prefix) or it is dropped with a Warning on its table;
// inheritableMatchers / inheritablePathMatchers flow down the chain unless a child sets them.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "test/interop/interop_fixture.hpp"

namespace sluice::interop {
namespace {

class DelegationInteropTest : public XdsInteropTest {
 protected:
  // A RouteTable named `name` in resource_namespace; `labels` is a flow mapping ("{tier: x}") or
  // empty. "$ns" in `body` becomes the namespace.
  void write_route_table(const std::string& name, const std::string& body,
                         const std::string& labels = "") {
    write_config("routetables", name,
                 fill("metadata: {name: $name, namespace: $ns$labels}\n",
                      {{"name", name},
                       {"ns", resource_ns},
                       {"labels", labels.empty() ? "" : ", labels: " + labels}})
                     + fill(body, {{"ns", resource_ns}}));
  }

  // The STATUS cell of `name`'s row in `sluice get <kind>` (empty when there is no such row).
  std::string status_of(const std::string& kind, const std::string& name) {
    auto result = sluice_get({kind, "-n", std::string(resource_namespace)});
    if (result.exit_code != 0) {
      ADD_FAILURE() << "sluice get " << kind << " failed";
      return "";
    }
    std::istringstream in(result.out);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream cells(line);
      std::string ns;
      std::string row_name;
      std::string state;
      cells >> ns >> row_name >> state;
      if (row_name == name) return state;
    }
    return "";
  }
};

// (1) Three levels: the VirtualService delegates /sluice.interop. by ref, level-1 delegates the
// Greeter service by label selector, level-2 delegates /sluice.interop.Greeter/Say by ref, and
// level-3 routes SayHello to A. Decoys to B: a VirtualService catch-all after the delegation
// (reached when the chain yields no route), a sibling route for another service in level-1, and
// a `/` route at the top of level-3 that breaks Gloo's prefix rule and must be dropped (if it were
// kept, it would win, being first).
TEST_P(DelegationInteropTest, ThreeLevelChainReachesTheLeafRoute) {
  write_config("virtualservices", "greeter",
               virtual_service_yaml(fill(R"(  - matchers: [{prefix: /sluice.interop.}]
    delegateAction: {ref: {name: level-1, namespace: $ns}}
)",
                                         {{"ns", resource_ns}})
                                    + single_route("{prefix: /}", "backend-b")));
  write_route_table("level-1", R"(routes:
- matchers: [{prefix: /sluice.interop.Other/}]
  routeAction: {single: {upstream: {name: backend-b, namespace: $ns}}}
- matchers: [{prefix: /sluice.interop.Greeter/}]
  delegateAction: {selector: {labels: {tier: level-2}}}
)");
  write_route_table("level-2", R"(routes:
- matchers: [{prefix: /sluice.interop.Greeter/Say}]
  delegateAction: {ref: {name: level-3, namespace: $ns}}
)",
                    "{tier: level-2}");
  write_route_table("level-3", R"(routes:
- matchers: [{prefix: /}]
  routeAction: {single: {upstream: {name: backend-b, namespace: $ns}}}
- matchers: [{prefix: /sluice.interop.Greeter/SayHello}]
  routeAction: {single: {upstream: {name: backend-a, namespace: $ns}}}
)");
  ASSERT_NO_FATAL_FAILURE(start_sluice());

  client_run run = run_client(10);
  EXPECT_EQ(run.exit_code, 0) << describe(run);
  EXPECT_EQ(run.on("A"), 10) << describe(run);
  EXPECT_EQ(run.on("B"), 0) << describe(run);
  expect_no_nacks();

  // Gloo's statuses for the chain: the dropped child is a Warning on level-3 (and, repeated, on
  // the VirtualService); the tables that only delegated are Accepted.
  EXPECT_EQ(status_of("routetables", "level-3"), "Warning");
  EXPECT_EQ(status_of("routetables", "level-1"), "Accepted");
  EXPECT_EQ(status_of("routetables", "level-2"), "Accepted");
  EXPECT_EQ(status_of("virtualservices", "greeter"), "Warning");
}

// (2) Inherited matchers: the VirtualService's delegating route matches the Greeter prefix AND
// `x-variant: b`, with inheritableMatchers and inheritablePathMatchers on. Neither middle table
// nor the leaf writes a matcher, so each inherits the path and the header from above; the leaf
// sends to B. Without the header the calls fall through to the catch-all on A. If the header were
// lost on the way down, calls without it would land on B; if the leaf were dropped (Gloo would
// reject a child lacking the parent's header only without inheritance), calls with it would land
// on A.
TEST_P(DelegationInteropTest, InheritedMatchersCarryTheHeaderDownTheChain) {
  write_config("virtualservices", "greeter",
               virtual_service_yaml(fill(R"(  - matchers:
    - prefix: /sluice.interop.Greeter/
      headers: [{name: x-variant, value: b}]
    inheritableMatchers: true
    inheritablePathMatchers: true
    delegateAction: {ref: {name: level-1, namespace: $ns}}
)",
                                         {{"ns", resource_ns}})
                                    + single_route("{prefix: /}", "backend-a")));
  write_route_table("level-1", R"(routes:
- delegateAction: {ref: {name: level-2, namespace: $ns}}
)");
  write_route_table("level-2", R"(routes:
- delegateAction: {ref: {name: level-3, namespace: $ns}}
)");
  write_route_table("level-3", R"(routes:
- routeAction: {single: {upstream: {name: backend-b, namespace: $ns}}}
)");
  ASSERT_NO_FATAL_FAILURE(start_sluice());

  client_run with_b = run_client(10, {"x-variant=b"});
  EXPECT_EQ(with_b.exit_code, 0) << describe(with_b);
  EXPECT_EQ(with_b.on("B"), 10) << "x-variant: b: " << describe(with_b);

  client_run without = run_client(10);
  EXPECT_EQ(without.exit_code, 0) << describe(without);
  EXPECT_EQ(without.on("A"), 10) << "no x-variant: " << describe(without);

  client_run with_c = run_client(10, {"x-variant=c"});
  EXPECT_EQ(with_c.exit_code, 0) << describe(with_c);
  EXPECT_EQ(with_c.on("A"), 10) << "x-variant: c: " << describe(with_c);
  expect_no_nacks();
  for (const char* table : {"level-1", "level-2", "level-3"}) {
    EXPECT_EQ(status_of("routetables", table), "Accepted") << table;
  }
}

// (3) A weighted UpstreamGroup at the end of a three-level chain: 70/30 between A and B. The
// tolerance is the one of XdsInteropTest.UpstreamGroupSplitsSeventyThirty (share of A in
// [0.55, 0.85] over 200 calls: a false failure about 3 times in a million runs; always catches a
// dropped destination or swapped weights). The VirtualService's catch-all goes to B as well, so a
// chain that yields no route shows up as 100% B.
TEST_P(DelegationInteropTest, WeightedUpstreamGroupAtTheEndOfTheChainSplitsTraffic) {
  write_config("upstreamgroups", "split",
               fill(R"(metadata: {name: split, namespace: $ns}
destinations:
- {destination: {upstream: {name: backend-a, namespace: $ns}}, weight: 70}
- {destination: {upstream: {name: backend-b, namespace: $ns}}, weight: 30}
)",
                    {{"ns", resource_ns}}));
  write_config("virtualservices", "greeter",
               virtual_service_yaml(fill(R"(  - matchers: [{prefix: /sluice}]
    delegateAction: {ref: {name: level-1, namespace: $ns}}
)",
                                         {{"ns", resource_ns}})
                                    + single_route("{prefix: /}", "backend-b")));
  write_route_table("level-1", R"(routes:
- matchers: [{prefix: /sluice.interop}]
  delegateAction: {selector: {labels: {tier: level-2}}}
)");
  write_route_table("level-2", R"(routes:
- matchers: [{prefix: /sluice.interop.Greeter}]
  delegateAction: {ref: {name: level-3, namespace: $ns}}
)",
                    "{tier: level-2}");
  write_route_table("level-3", R"(routes:
- matchers: [{prefix: /sluice.interop.Greeter/SayHello}]
  routeAction: {upstreamGroup: {name: split, namespace: $ns}}
)");
  ASSERT_NO_FATAL_FAILURE(start_sluice());

  constexpr int calls = 200;
  client_run run = run_client(calls);
  EXPECT_EQ(run.exit_code, 0) << describe(run);
  ASSERT_EQ(run.ok(), calls) << describe(run);
  double share_a = static_cast<double>(run.on("A")) / calls;
  EXPECT_GE(share_a, 0.55) << describe(run);
  EXPECT_LE(share_a, 0.85) << describe(run);
  expect_no_nacks();
  EXPECT_EQ(status_of("upstreamgroups", "split"), "Accepted");
}

INSTANTIATE_TEST_SUITE_P(Clients, DelegationInteropTest,
                         ::testing::Values(client_kind::cpp, client_kind::node),
                         [](const ::testing::TestParamInfo<client_kind>& info) {
                           return info.param == client_kind::cpp ? std::string("Cpp")
                                                                 : std::string("Node");
                         });

}  // namespace
}  // namespace sluice::interop
