// Interop: routing through sluice as the real gRPC xDS clients see it (the harness is in
// interop_fixture.hpp): prefix and header matchers, UpstreamGroup weights, pushed edits and
// NACKed changes.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <string>
#include <thread>

#include "test/interop/interop_fixture.hpp"

namespace sluice::interop {
namespace {

// (1) A prefix matcher on the service path selects its route. The first route (another service's
// prefix) goes to B, so a translation that ignored the matcher would send the calls to B.
TEST_P(XdsInteropTest, PrefixRouteReachesBackendA) {
  write_config(
      "virtualservices", "greeter",
      virtual_service_yaml(single_route("{prefix: /sluice.interop.Other/}", "backend-b") +
                           single_route("{prefix: /sluice.interop.Greeter/}", "backend-a")));
  ASSERT_NO_FATAL_FAILURE(start_sluice());

  client_run run = run_client(10);
  EXPECT_EQ(run.exit_code, 0) << describe(run);
  EXPECT_EQ(run.on("A"), 10) << describe(run);
  EXPECT_EQ(run.on("B"), 0) << describe(run);
  expect_no_nacks();
}

// (2) A header matcher: `x-variant: b` goes to B; a missing or different value falls through to
// the catch-all route on A.
TEST_P(XdsInteropTest, HeaderRouteSelectsBackendB) {
  write_config(
      "virtualservices", "greeter",
      virtual_service_yaml(
          single_route("{prefix: /, headers: [{name: x-variant, value: b}]}", "backend-b") +
          single_route("{prefix: /}", "backend-a")));
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
}

// (3) An UpstreamGroup's weights become weighted_clusters (C++ 1.51 NACKs unless total_weight
// equals the sum, which sluice sets). Tolerance: the share on A must be in [0.55, 0.85] over 200
// calls. At p = 0.7 that is about +-4.6 standard deviations (0.032): a false failure about 3 times
// in a million runs (exact binomial). It always catches a dropped destination (100/0) or swapped
// weights (30/70); a 50/50 split (weights ignored) still passes about 9% of the time, which is
// the price of keeping the run at 200 calls.
TEST_P(XdsInteropTest, UpstreamGroupSplitsSeventyThirty) {
  write_config("upstreamgroups", "split",
               fill(R"(metadata: {name: split, namespace: $ns}
destinations:
- {destination: {upstream: {name: backend-a, namespace: $ns}}, weight: 70}
- {destination: {upstream: {name: backend-b, namespace: $ns}}, weight: 30}
)",
                    {{"ns", resource_ns}}));
  write_config("virtualservices", "greeter",
               virtual_service_yaml(fill(R"(  - matchers: [{prefix: /sluice.interop.Greeter/}]
    routeAction: {upstreamGroup: {name: split, namespace: $ns}}
)",
                                         {{"ns", resource_ns}})));
  ASSERT_NO_FATAL_FAILURE(start_sluice());

  constexpr int calls = 200;
  client_run run = run_client(calls);
  EXPECT_EQ(run.exit_code, 0) << describe(run);
  ASSERT_EQ(run.ok(), calls) << describe(run);
  double share_a = static_cast<double>(run.on("A")) / calls;
  EXPECT_GE(share_a, 0.55) << describe(run);
  EXPECT_LE(share_a, 0.85) << describe(run);
  EXPECT_EQ(run.on("A") + run.on("B"), calls) << describe(run);
  expect_no_nacks();
}

// (4) Editing the VirtualService file moves traffic on a client that stays connected: nothing is
// restarted, the change arrives as a push on the open ADS stream.
TEST_P(XdsInteropTest, EditedVirtualServiceMovesTrafficToB) {
  write_config(
      "virtualservices", "greeter",
      virtual_service_yaml(single_route("{prefix: /sluice.interop.Greeter/}", "backend-a")));
  ASSERT_NO_FATAL_FAILURE(start_sluice());

  auto* client = start_client(1000000, {}, 50);
  ASSERT_NE(client, nullptr);
  size_t next = 0;
  ASSERT_NO_FATAL_FAILURE(expect_next_calls_on(*client, next, 3, "A", "before the edit"));
  ASSERT_FALSE(HasFailure());

  write_config(
      "virtualservices", "greeter",
      virtual_service_yaml(single_route("{prefix: /sluice.interop.Greeter/}", "backend-b")));

  // Poll the running client's results until 5 calls in a row land on B, up to 20 s.
  constexpr int wanted_in_a_row = 5;
  const auto deadline = std::chrono::steady_clock::now() + route_change_timeout;
  int in_a_row = 0;
  int before_switch = 0;
  while (in_a_row < wanted_in_a_row) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    ASSERT_GT(left.count(), 0) << "traffic did not move to B within "
                               << route_change_timeout.count() << " s of the edit";
    auto call = next_call(*client, next, left);
    ASSERT_TRUE(call) << "the client stopped reporting calls after the edit";
    if (call->ok && call->backend == "B") {
      ++in_a_row;
    } else {
      in_a_row = 0;
      ++before_switch;
    }
  }
  std::cout << "calls before traffic moved to B: " << before_switch << "\n";
  expect_no_nacks();
}

// (5) A change both gRPC clients reject (LEAST_REQUEST, which Envoy accepts): sluice logs their
// NACK, and the clients keep routing with the last configuration they accepted.
TEST_P(XdsInteropTest, NackedUpstreamKeepsLastGoodConfig) {
  write_config(
      "virtualservices", "greeter",
      virtual_service_yaml(single_route("{prefix: /sluice.interop.Greeter/}", "backend-a")));
  ASSERT_NO_FATAL_FAILURE(start_sluice());

  auto* client = start_client(1000000, {}, 50);
  ASSERT_NE(client, nullptr);
  size_t next = 0;
  ASSERT_NO_FATAL_FAILURE(expect_next_calls_on(*client, next, 3, "A", "before the change"));
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(nack_lines().empty()) << "NACK before the bad change: " << nack_lines().front();

  size_t sluice_lines_before = sluice_->line_count(output_stream::err);
  write_config("upstreams", "backend-a",
               upstream_yaml("backend-a", port_a_, "loadBalancerConfig: {leastRequest: {}}\n"));

  auto nack =
      sluice_->wait_for_line(output_stream::err, is_nack_line, nack_timeout, sluice_lines_before);
  ASSERT_TRUE(nack) << "sluice logged no NACK within " << nack_timeout.count()
                    << " s of the LEAST_REQUEST change";
  std::cout << "nack line: " << nack->text << "\n";

  // Everything the client did since the change (before and after the NACK was logged) and ten
  // more calls must still succeed on A with the cluster it had accepted.
  ASSERT_NO_FATAL_FAILURE(expect_next_calls_on(
      *client, next, static_cast<int>(client->line_count(output_stream::out) - next), "A",
      "between the change and the nack"));
  ASSERT_NO_FATAL_FAILURE(expect_next_calls_on(*client, next, 10, "A", "after the nack"));

  // The NACK shows in the Upstream's status (`sluice get`, reading the running server's log).
  // C-core names the rejected resource ("resource index 0: backend-a_gloo-system: ..."); grpc-js
  // says "resource index 0" alone, which the server's record of the rejected response (its
  // resource names, in order) maps to backend-a's cluster.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  std::string status;
  while (true) {
    auto result = sluice_get(
        {"upstream", "backend-a", "-n", std::string(resource_namespace), "-o", "json"});
    ASSERT_EQ(result.exit_code, 0);
    status = result.out;
    if (contains(status, "\"state\": \"Rejected\"")) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "the NACK did not reach backend-a's status within 10 s: " << status;
    std::this_thread::sleep_for(100ms);  // polling interval, bounded by the deadline
  }
  const std::string client_id = GetParam() == client_kind::cpp ? "sluice-interop-cpp"
                                                               : "sluice-interop-node";
  EXPECT_TRUE(contains(status, "rejected by xDS client " + client_id + " (Cluster)")) << status;
  if (GetParam() == client_kind::cpp) {
    EXPECT_TRUE(contains(status, "LB policy is not supported")) << "the client's words: " << status;
  } else {
    EXPECT_TRUE(contains(status, "resource index 0")) << "the client's words: " << status;
  }
  // Only the Upstream whose cluster was rejected is blamed.
  auto other = sluice_get(
      {"upstream", "backend-b", "-n", std::string(resource_namespace), "-o", "json"});
  ASSERT_EQ(other.exit_code, 0);
  EXPECT_FALSE(contains(other.out, "\"state\": \"Rejected\"")) << other.out;
}

INSTANTIATE_TEST_SUITE_P(Clients, XdsInteropTest,
                         ::testing::Values(client_kind::cpp, client_kind::node),
                         [](const ::testing::TestParamInfo<client_kind>& info) {
                           return info.param == client_kind::cpp ? std::string("Cpp")
                                                                 : std::string("Node");
                         });

}  // namespace
}  // namespace sluice::interop
