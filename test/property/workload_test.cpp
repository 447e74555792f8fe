#include "bench/workload.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <set>

#include "kube/core.pb.h"
#include "model/resource_decoder.hpp"
#include "solo/gateway.pb.h"
#include "solo/gloo.pb.h"
#include "xds/world_translation.hpp"

namespace sluice::bench {
namespace {

using model::resource_kind;

// What translation says about a kube Upstream whose Service is missing (xds/envoy_clusters.cpp).
std::string missing_service_error(const model::resource_key& upstream, const std::string& service) {
  return "Upstream " + upstream.ns + "." + upstream.name + " references the service '" + service
         + "' which does not exist in namespace '" + upstream.ns
         + "'; no cluster is built until it exists";
}

// The problems a generated world has by design: its svc-unbound Upstreams' missing Services.
std::string unbound_problems(const model::world& w) {
  std::string out;
  for (const auto& [nn, s] : w.of(resource_kind::upstream)) {
    if (s.key.name.rfind("svc-unbound-", 0) == 0) {
      out += "error " + s.key.to_string() + ": " + missing_service_error(s.key, s.key.name) + "\n";
    }
  }
  return out;
}

std::string problems_of(const model::translation_report& report,
                        std::optional<resource_kind> only = std::nullopt) {
  std::string out;
  for (const auto& [key, r] : report.entries()) {
    if (only && key.kind != *only) {
      continue;
    }
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
  // 500 Upstreams, plus the 3 whose Service is missing.
  EXPECT_EQ(w.of(resource_kind::upstream).size(), 503u);
  EXPECT_EQ(w.of(resource_kind::upstream_group).size(), 50u);
  EXPECT_EQ(w.of(resource_kind::gateway).size(), 2u);
  EXPECT_EQ(w.of(resource_kind::secret).size(), 50u);
  // 20% delegate through 3 levels: about 600 RouteTables.
  const auto rts = w.of(resource_kind::route_table).size();
  EXPECT_GT(rts, 450u);
  EXPECT_LT(rts, 750u);
  EXPECT_EQ(rts % 3, 0u);
  // Kube upstreams (all but one in 20, and the 3 unbound ones) have 10 Endpoint resources each,
  // and a Service of their name, except the unbound ones; default.kubernetes is one more.
  EXPECT_EQ(w.of(resource_kind::endpoint).size(), (500u - 25u + 3u) * 10u);
  EXPECT_EQ(w.of(resource_kind::service).size(), 500u - 25u + 1u);
  EXPECT_NE(w.find({resource_kind::service, "default", "kubernetes"}), nullptr);
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

TEST(WorkloadTest, WorldTranslatesWithoutProblemsButTheMissingServices) {
  auto w = build_world(workload_options::scaled(300));
  auto t = xds::translate_world(w);
  ASSERT_NE(unbound_problems(w), "");
  EXPECT_EQ(problems_of(t.report), unbound_problems(w));
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
                      change_kind::route_table, change_kind::service}) {
      auto ev = gen.next_update(kind);
      ASSERT_EQ(ev.op(), sluice::v1::EVENT_OP_UPSERT);
    }
  }
  auto t = xds::translate_world(gen.world());
  EXPECT_EQ(problems_of(t.report), unbound_problems(gen.world()));
}

// A directory world without Services: no kube Upstream is checked, so there is nothing to leave
// unbound; everything else is the same world.
TEST(WorkloadTest, WithoutServicesTheWorldIsTheSameLessServices) {
  auto o = workload_options::scaled(200);
  const auto with = build_world(o);
  o.services = false;
  const auto without = build_world(o);
  EXPECT_TRUE(without.of(resource_kind::service).empty());
  for (const auto& k : model::all_kinds()) {
    if (k.kind == resource_kind::service) {
      continue;
    }
    for (const auto& [nn, s] : without.of(k.kind)) {
      const auto* other = with.find(s.key);
      ASSERT_NE(other, nullptr) << s.key.to_string();
      EXPECT_EQ(other->content_hash, s.content_hash) << s.key.to_string();
    }
  }
  EXPECT_EQ(with.size() - without.size(),
            with.of(resource_kind::service).size() + 3u * (1u + o.endpoints_per_upstream));
  EXPECT_EQ(problems_of(xds::translate_world(without).report), "");
}

TEST(WorkloadTest, ServiceChangesCreateEditAndDeleteServices) {
  change_generator gen(build_world(workload_options::scaled(100)), 11);
  std::map<std::string, int> seen;  // "upsert new", "upsert existing", "delete"
  bool repaired_an_upstream = false;
  for (int i = 0; i < 400; ++i) {
    const auto before = gen.world();
    auto ev = gen.next(change_kind::service);
    ASSERT_EQ(ev.kind(), "Service");
    const model::resource_key key{resource_kind::service, ev.namespace_(), ev.name()};
    if (ev.op() == sluice::v1::EVENT_OP_DELETE) {
      ASSERT_NE(before.find(key), nullptr);
      ++seen["delete"];
      continue;
    }
    ASSERT_EQ(ev.op(), sluice::v1::EVENT_OP_UPSERT);
    ++seen[before.find(key) != nullptr ? "upsert existing" : "upsert new"];
    ::kube::core::v1::Service parsed;
    ASSERT_TRUE(parsed.ParseFromString(ev.resource()));
    EXPECT_EQ(parsed.metadata().name(), ev.name());
    // A create names a kube Upstream's missing Service whenever one is found.
    if (before.find(key) == nullptr) {
      for (const auto& [nn, s] : before.of(resource_kind::upstream)) {
        const auto& u = static_cast<const ::gloo::solo::io::Upstream&>(*s.message);
        repaired_an_upstream = repaired_an_upstream
                               || (u.has_kube() && u.kube().service_name() == ev.name()
                                   && u.kube().service_namespace() == ev.namespace_());
      }
    }
  }
  EXPECT_GT(seen["delete"], 50);
  EXPECT_GT(seen["upsert existing"], 100);
  EXPECT_GT(seen["upsert new"], 50);
  EXPECT_TRUE(repaired_an_upstream);
}

TEST(WorkloadTest, UpstreamChangesRetargetKubeServices) {
  change_generator gen(build_world(workload_options::scaled(100)), 12);
  int retargeted = 0;
  for (int i = 0; i < 1000; ++i) {
    const auto before = gen.world();
    auto ev = gen.next(change_kind::upstream);
    const model::resource_key key{resource_kind::upstream, ev.namespace_(), ev.name()};
    const auto* old = before.find(key);
    if (ev.op() != sluice::v1::EVENT_OP_UPSERT || old == nullptr) {
      continue;
    }
    ::gloo::solo::io::Upstream now;
    ASSERT_TRUE(now.ParseFromString(ev.resource()));
    const auto& was = static_cast<const ::gloo::solo::io::Upstream&>(*old->message);
    if (was.has_kube()
        && (was.kube().service_name() != now.kube().service_name()
            || was.kube().service_namespace() != now.kube().service_namespace()
            || was.kube().service_port() != now.kube().service_port())) {
      ++retargeted;
    }
  }
  EXPECT_GT(retargeted, 50);
}

// No Services, then Services for most kube Upstreams: the check goes off (every kube Upstream
// gets its cluster, the unbound ones too), then on again for the Upstreams left without one.
TEST(WorkloadTest, ServiceFlipDeletesEveryServiceThenRecreatesMost) {
  change_generator gen(build_world(workload_options::scaled(200)), 5);
  const auto services = gen.world().of(resource_kind::service).size();
  const auto gone = gen.next_service_flip();
  EXPECT_EQ(gone.size(), services);
  for (const auto& ev : gone) {
    EXPECT_EQ(ev.op(), sluice::v1::EVENT_OP_DELETE);
  }
  EXPECT_TRUE(gen.world().of(resource_kind::service).empty());
  EXPECT_EQ(problems_of(xds::translate_world(gen.world()).report), "");

  const auto back = gen.next_service_flip();
  size_t kube = 0;
  for (const auto& [nn, s] : gen.world().of(resource_kind::upstream)) {
    kube += static_cast<const ::gloo::solo::io::Upstream&>(*s.message).has_kube() ? 1 : 0;
  }
  EXPECT_EQ(gen.world().of(resource_kind::service).size(), back.size());
  EXPECT_GT(back.size(), kube * 3 / 4);
  EXPECT_LT(back.size(), kube);
  // Exactly the kube Upstreams left without a Service are rejected (routes to them have no
  // cluster to go to: their VirtualServices have findings too).
  std::string want;
  for (const auto& [nn, s] : gen.world().of(resource_kind::upstream)) {
    const auto& u = static_cast<const ::gloo::solo::io::Upstream&>(*s.message);
    if (u.has_kube()
        && gen.world().find({resource_kind::service, s.key.ns, s.key.name}) == nullptr) {
      want += "error " + s.key.to_string() + ": " + missing_service_error(s.key, s.key.name) + "\n";
    }
  }
  ASSERT_NE(want, "");
  EXPECT_EQ(problems_of(xds::translate_world(gen.world()).report, resource_kind::upstream), want);
}

TEST(WorkloadTest, ChurnMixFollowsTheIssueAndIsReproducible) {
  auto w = build_world(workload_options::scaled(100));
  change_generator a(w, 3);
  change_generator b(w, 3);
  std::map<std::string, int> kinds;
  std::set<sluice::v1::EventOp> ops;
  // The Service each Upstream names: the churn leaves them be (its figures compare with those
  // measured before Services were in the world), and its new Upstreams name existing ones.
  std::map<model::resource_key, std::string> service_of;
  auto service_text = [](const ::gloo::solo::io::Upstream& u) {
    return u.kube().service_namespace() + "/" + u.kube().service_name();
  };
  for (const auto& [nn, s] : w.of(resource_kind::upstream)) {
    service_of[s.key] = service_text(static_cast<const ::gloo::solo::io::Upstream&>(*s.message));
  }
  for (int i = 0; i < 2000; ++i) {
    auto ev = a.next_churn();
    ASSERT_EQ(ev.SerializeAsString(), b.next_churn().SerializeAsString()) << i;
    ++kinds[ev.kind()];
    ops.insert(ev.op());
    if (ev.kind() == "Upstream" && ev.op() == sluice::v1::EVENT_OP_UPSERT) {
      ::gloo::solo::io::Upstream u;
      ASSERT_TRUE(u.ParseFromString(ev.resource()));
      const model::resource_key key{resource_kind::upstream, ev.namespace_(), ev.name()};
      if (auto known = service_of.find(key); known != service_of.end()) {
        EXPECT_EQ(service_text(u), known->second) << key.to_string();
      } else {
        EXPECT_NE(a.world().find({resource_kind::service, u.kube().service_namespace(),
                                  u.kube().service_name()}),
                  nullptr)
            << key.to_string();
        service_of[key] = service_text(u);
      }
    }
  }
  EXPECT_EQ(kinds.count("Service"), 0u);
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
    EXPECT_EQ(random_change(w, change_kind::service, rng).kind(), "Service");
  }
}

}  // namespace
}  // namespace sluice::bench
