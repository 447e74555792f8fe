#include "bench/workload.hpp"

#include <gtest/gtest.h>

#include <set>

#include "model/resource_decoder.hpp"
#include "solo/gateway.pb.h"
#include "solo/gloo.pb.h"
#include "xds/world_translation.hpp"

namespace sluice::bench {
namespace {

using model::resource_kind;

std::string problems_of(const model::translation_report& report) {
  std::string out;
  for (const auto& [key, r] : report.entries()) {
    for (const auto& e : r.errors) {
      out += "error " + key.to_string() + ": " + e + "\n";
    }
    for (const auto& w : r.warnings) {
      out += "warning " + key.to_string() + ": " + w + "\n";
    }
  }
  return out;
}

TEST(WorkloadTest, SameSeedGivesSameEventsAndOtherSeedDoesNot) {
  auto o = workload_options::scaled(100);
  auto a = initial_events(o);
  auto b = initial_events(o);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].SerializeAsString(), b[i].SerializeAsString()) << i;
  }
  o.seed = 2;
  auto c = initial_events(o);
  bool differs = c.size() != a.size();
  for (size_t i = 0; !differs && i < a.size(); ++i) {
    differs = a[i].resource() != c[i].resource();
  }
  EXPECT_TRUE(differs);
}

TEST(WorkloadTest, ScaledScenarioHasTheIssueProportions) {
  auto o = workload_options::scaled(1000);
  auto w = build_world(o);
  EXPECT_EQ(w.of(resource_kind::virtual_service).size(), 1000u);
  EXPECT_EQ(w.of(resource_kind::upstream).size(), 500u);
  EXPECT_EQ(w.of(resource_kind::upstream_group).size(), 50u);
  EXPECT_EQ(w.of(resource_kind::gateway).size(), 2u);
  EXPECT_EQ(w.of(resource_kind::secret).size(), 50u);
  // 20% delegate through 3 levels: about 600 RouteTables.
  const auto rts = w.of(resource_kind::route_table).size();
  EXPECT_GT(rts, 450u);
  EXPECT_LT(rts, 750u);
  EXPECT_EQ(rts % 3, 0u);
  // Kube upstreams (all but one in 20) have 10 Endpoint resources each.
  EXPECT_EQ(w.of(resource_kind::endpoint).size(), (500u - 25u) * 10u);
  size_t routes = 0;
  for (const auto& [nn, s] : w.of(resource_kind::virtual_service)) {
    routes += static_cast<const ::gateway::solo::io::VirtualService&>(*s.message)
                  .virtual_host()
                  .routes_size();
  }
  EXPECT_EQ(routes, 10'000u);
  EXPECT_EQ(w.watermark(), w.size());
}

TEST(WorkloadTest, EventsBuildTheSameWorldAsBuildWorld) {
  auto o = workload_options::scaled(100);
  auto events = initial_events(o);
  model::world from_events;
  uint64_t seq = 0;
  for (const auto& ev : events) {
    apply_to(from_events, ev, ++seq);
  }
  auto built = build_world(o);
  ASSERT_EQ(from_events.size(), built.size());
  for (const auto& k : model::all_kinds()) {
    for (const auto& [nn, s] : built.of(k.kind)) {
      const auto* other = from_events.find(s.key);
      ASSERT_NE(other, nullptr) << s.key.to_string();
      EXPECT_EQ(other->content_hash, s.content_hash) << s.key.to_string();
      EXPECT_EQ(other->origin, s.origin);
    }
  }
}

TEST(WorkloadTest, EveryResourceDecodesAndValidates) {
  auto o = workload_options::scaled(100);
  auto w = build_world(o);
  size_t checked = 0;
  for (const auto& k : model::all_kinds()) {
    for (const auto& [nn, s] : w.of(k.kind)) {
      model::decode_context ctx{s.origin, k.kind, s.key.ns};
      auto result = model::decode_documents(model::to_json(*s.message), ctx);
      ASSERT_TRUE(result.errors.empty()) << s.key.to_string() << ": "
                                         << result.errors.front().to_string();
      ASSERT_EQ(result.resources.size(), 1u) << s.key.to_string();
      auto problems = model::validate_resource(result.resources.front(), ctx);
      ASSERT_TRUE(problems.empty()) << s.key.to_string() << ": " << problems.front().to_string();
      EXPECT_EQ(model::canonical_bytes(*result.resources.front().message),
                model::canonical_bytes(*s.message))
          << s.key.to_string();
      ++checked;
    }
  }
  EXPECT_EQ(checked, w.size());
}

TEST(WorkloadTest, WorldTranslatesWithoutProblems) {
  auto w = build_world(workload_options::scaled(300));
  auto t = xds::translate_world(w);
  EXPECT_EQ(problems_of(t.report), "");
  ASSERT_EQ(t.proxies.size(), 1u);
  const auto& snap = *t.snapshots.at("gloo-system~gateway-proxy");
  EXPECT_EQ(snap.of(xds::listener_type).items.size(), 2u);
  EXPECT_EQ(snap.of(xds::route_type).items.size(), 2u);
  EXPECT_EQ(snap.of(xds::cluster_type).items.size(), 150u);
  // EDS for the kube upstreams only; static ones carry their hosts inline.
  EXPECT_EQ(snap.of(xds::endpoint_type).items.size(), 150u - 7u);
}

TEST(WorkloadTest, UpdatesKeepTheWorldFreeOfProblems) {
  change_generator gen(build_world(workload_options::scaled(200)), 7);
  for (int i = 0; i < 100; ++i) {
    for (auto kind : {change_kind::endpoint, change_kind::virtual_service, change_kind::upstream,
                      change_kind::route_table}) {
      auto ev = gen.next_update(kind);
      ASSERT_EQ(ev.op(), sluice::v1::EVENT_OP_UPSERT);
    }
  }
  auto t = xds::translate_world(gen.world());
  EXPECT_EQ(problems_of(t.report), "");
}

TEST(WorkloadTest, ChurnMixFollowsTheIssueAndIsReproducible) {
  auto w = build_world(workload_options::scaled(100));
  change_generator a(w, 3);
  change_generator b(w, 3);
  std::map<std::string, int> kinds;
  std::set<sluice::v1::EventOp> ops;
  for (int i = 0; i < 2000; ++i) {
    auto ev = a.next_churn();
    ASSERT_EQ(ev.SerializeAsString(), b.next_churn().SerializeAsString()) << i;
    ++kinds[ev.kind()];
    ops.insert(ev.op());
  }
  EXPECT_GT(kinds["Endpoint"], 1400);
  EXPECT_LT(kinds["Endpoint"], 1800);
  EXPECT_GT(kinds["VirtualService"], 200);
  EXPECT_GT(kinds["Upstream"] + kinds["RouteTable"], 40);
  EXPECT_EQ(ops.size(), 2u);  // upserts and deletes
}

TEST(WorkloadTest, RandomChangeTargetsTheRequestedKind) {
  auto w = build_world(workload_options::scaled(100));
  std::mt19937_64 rng(5);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(random_change(w, change_kind::endpoint, rng).kind(), "Endpoint");
    EXPECT_EQ(random_change(w, change_kind::upstream, rng).kind(), "Upstream");
    auto rt = random_change(w, change_kind::route_table, rng);
    EXPECT_EQ(rt.kind(), "RouteTable");
    auto vs = random_change(w, change_kind::virtual_service, rng);
    EXPECT_EQ(vs.kind(), "VirtualService");
  }
}

}  // namespace
}  // namespace sluice::bench
