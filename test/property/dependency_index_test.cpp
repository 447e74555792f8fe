#include "model/dependency_index.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <random>
#include <set>

#include "bench/workload.hpp"
#include "kube/core.pb.h"
#include "solo/gateway.pb.h"
#include "solo/gloo.pb.h"
#include "xds/envoy_clusters.hpp"

namespace sluice::model {
namespace {

namespace gw = ::gateway::solo::io;
namespace gl = ::gloo::solo::io;

std::vector<piece_id> affected(const dependency_index& index, const resource_key& key,
                               const google::protobuf::Message* before,
                               const google::protobuf::Message* after) {
  std::vector<piece_id> out;
  index.affected(key, before, after, out);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

gw::RouteTable table(const std::string& ns, const std::string& label, const std::string& value) {
  gw::RouteTable rt;
  rt.mutable_metadata()->set_namespace_(ns);
  (*rt.mutable_metadata()->mutable_labels())[label] = value;
  return rt;
}

TEST(DependencyIndexTest, ReadOfAMissingResourceIsAffectedWhenItAppears) {
  dependency_index index;
  const resource_key missing{resource_kind::upstream, "team-0", "later"};
  index.record(7, piece_reads{{missing}, {}, {}, {}});
  gl::Upstream u;
  EXPECT_EQ(affected(index, missing, nullptr, &u), std::vector<piece_id>{7});
  EXPECT_TRUE(affected(index, {resource_kind::upstream, "team-0", "other"}, nullptr, &u).empty());
}

TEST(DependencyIndexTest, SelectorReadSeesLabelsBeforeAndAfter) {
  dependency_index index;
  piece_reads reads;
  selector_read s;
  s.kind = resource_kind::route_table;
  s.owner_namespace = "team-0";
  s.labels["chain"] = "a";
  reads.selectors.push_back(s);
  index.record(1, reads);

  const resource_key rt{resource_kind::route_table, "team-0", "rt"};
  const auto matching = table("team-0", "chain", "a");
  const auto other = table("team-0", "chain", "b");
  EXPECT_EQ(affected(index, rt, nullptr, &matching), std::vector<piece_id>{1});  // created
  EXPECT_EQ(affected(index, rt, &matching, &other), std::vector<piece_id>{1});   // renamed away
  EXPECT_EQ(affected(index, rt, &other, nullptr).size(), 0u);                    // never matched
  // An empty namespace list means the owner's namespace only.
  const auto elsewhere = table("team-1", "chain", "a");
  EXPECT_TRUE(
      affected(index, {resource_kind::route_table, "team-1", "rt"}, nullptr, &elsewhere).empty());
}

TEST(DependencyIndexTest, ReferenceReadFollowsTheEndpointsUpstreams) {
  dependency_index index;
  const resource_key upstream{resource_kind::upstream, "team-0", "svc"};
  index.record(3, piece_reads{{}, {}, {{resource_kind::endpoint, upstream}}, {}});
  gl::Endpoint e;
  e.add_upstreams()->set_name("svc");  // no namespace: the Endpoint's
  gl::Endpoint moved;
  moved.add_upstreams()->set_name("svc");
  moved.mutable_upstreams(0)->set_namespace_("team-1");
  const resource_key ek{resource_kind::endpoint, "team-0", "ep"};
  EXPECT_EQ(affected(index, ek, nullptr, &e), std::vector<piece_id>{3});
  EXPECT_EQ(affected(index, ek, &e, &moved), std::vector<piece_id>{3});
  EXPECT_TRUE(affected(index, ek, &moved, &moved).empty());
}

TEST(DependencyIndexTest, KindReadsSeeEveryResourceOfTheKind) {
  dependency_index index;
  index.record(4, piece_reads{{}, {}, {}, {resource_kind::secret}});
  gl::Secret s;
  EXPECT_EQ(affected(index, {resource_kind::secret, "x", "y"}, nullptr, &s),
            std::vector<piece_id>{4});
  EXPECT_TRUE(affected(index, {resource_kind::upstream, "x", "y"}, nullptr, &s).empty());
}

TEST(DependencyIndexTest, RecordReplacesAndForgetRemoves) {
  dependency_index index;
  const resource_key a{resource_kind::upstream, "ns", "a"};
  const resource_key b{resource_kind::upstream, "ns", "b"};
  index.record(5, piece_reads{{a}, {}, {}, {}});
  index.record(5, piece_reads{{b}, {}, {}, {}});
  gl::Upstream u;
  EXPECT_TRUE(affected(index, a, nullptr, &u).empty());
  EXPECT_EQ(affected(index, b, nullptr, &u), std::vector<piece_id>{5});
  index.forget(5);
  EXPECT_TRUE(affected(index, b, nullptr, &u).empty());
  EXPECT_EQ(index.pieces(), 0u);
  EXPECT_EQ(index.reads_of(5), nullptr);
}

TEST(DependencyIndexTest, ServiceKeyReadIsAffectedByTheServiceComingAndGoing) {
  dependency_index index;
  gl::Upstream u;
  u.mutable_kube()->set_service_name("web");  // no serviceNamespace: the Upstream's
  const resource_key upstream{resource_kind::upstream, "team-0", "web"};
  const auto service = xds::kube_service_of(u, upstream);
  ASSERT_TRUE(service.has_value());
  EXPECT_EQ(*service, (resource_key{resource_kind::service, "team-0", "web"}));
  index.record(9, piece_reads{{upstream, *service}, {}, {}, {}});
  ::kube::core::v1::Service svc;
  EXPECT_EQ(affected(index, *service, nullptr, &svc), std::vector<piece_id>{9});
  EXPECT_EQ(affected(index, *service, &svc, nullptr), std::vector<piece_id>{9});
  EXPECT_TRUE(affected(index, {resource_kind::service, "team-1", "web"}, nullptr, &svc).empty());
}

// --- property: Service reads never under-approximate the cluster translation ---------------------

// What the incremental translator records for an Upstream's cluster piece
// (xds/incremental_translator.cpp, translate_clusters): the Upstream, its Endpoints, the Service
// a kube Upstream names (present or not) and the Endpoints of that Service port's kube-svc:
// upstream, every Secret when it has an sslConfig. That the translator records these is checked
// by incremental_equals_full_test; this test checks that they are enough.
piece_reads cluster_reads(const stored_resource& stored) {
  piece_reads reads;
  reads.keys.push_back(stored.key);
  reads.references.push_back({resource_kind::endpoint, stored.key});
  const auto& u = static_cast<const gl::Upstream&>(*stored.message);
  if (auto service = xds::kube_service_of(u, stored.key)) {
    reads.keys.push_back(*service);
  }
  if (auto alias = xds::kube_service_upstream_of(u, stored.key)) {
    reads.references.push_back({resource_kind::endpoint, *alias});
  }
  if (u.has_ssl_config()) {
    reads.kinds.push_back(resource_kind::secret);
  }
  return reads;
}

// Everything xds::translate_upstream says about each Upstream, both client flavors, as text.
std::map<resource_key, std::string> translate_each_upstream(const world& w) {
  const auto endpoints = xds::index_endpoints(w);
  std::map<resource_key, std::string> out;
  for (const auto& [nn, stored] : w.of(resource_kind::upstream)) {
    const auto mine = xds::endpoints_of(endpoints, stored);
    std::string& text = out[stored.key];
    for (auto flavor : {xds::cluster_flavor::envoy, xds::cluster_flavor::proxyless}) {
      auto piece = xds::translate_upstream(stored, mine, w, flavor);
      text += piece.cluster ? canonical_bytes(*piece.cluster) : "(no cluster)";
      text += piece.load_assignment ? canonical_bytes(*piece.load_assignment) : "(no eds)";
      for (const auto& [name, secret] : piece.secrets) {
        text += "secret " + name + canonical_bytes(secret);
      }
      for (const auto& [key, r] : piece.report.entries()) {
        for (const auto& m : r.errors) {
          text += "error " + key.to_string() + m;
        }
        for (const auto& m : r.warnings) {
          text += "warning " + key.to_string() + m;
        }
      }
    }
  }
  return out;
}

// Random Service creates, edits and deletes, kube Upstreams retargeted to other (or missing)
// Services, and every Service deleted or re-created: after each event, every Upstream whose
// translation changed is among the pieces dependency_index::affected returns for the event, or
// the event flipped the world between "holds Services" and "holds none" (the incremental
// translator then translates every kube Upstream again).
TEST(DependencyIndexTest, ServiceReadsNeverUnderApproximateTheClusterTranslation) {
  size_t by_index = 0;
  size_t by_flip = 0;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    auto o = bench::workload_options::scaled(40);
    o.seed = seed;
    o.namespaces = 2;
    o.upstreams = 16;
    o.endpoints_per_upstream = 2;
    o.static_every = 4;
    world w = bench::build_world(o);
    std::mt19937_64 rng(seed);
    dependency_index index;
    std::map<resource_key, piece_id> ids;
    piece_id next_id = 0;
    auto record_all = [&] {
      for (auto i = ids.begin(); i != ids.end();) {
        if (w.find(i->first) == nullptr) {
          index.forget(i->second);
          i = ids.erase(i);
        } else {
          ++i;
        }
      }
      for (const auto& [nn, stored] : w.of(resource_kind::upstream)) {
        const auto id = ids.emplace(stored.key, next_id).first->second;
        next_id += id == next_id ? 1 : 0;
        index.record(id, cluster_reads(stored));
      }
    };
    auto before = translate_each_upstream(w);
    record_all();
    std::deque<sluice::v1::Event> flip;
    for (int i = 0; i < 400; ++i) {
      sluice::v1::Event ev;
      if (!flip.empty()) {
        ev = std::move(flip.front());
        flip.pop_front();
      } else if (const auto r = rng() % 20; r == 0) {
        auto events = bench::service_flip(w, rng);
        flip.assign(events.begin(), events.end());
        continue;
      } else {
        ev = bench::random_change(
            w, r < 12 ? bench::change_kind::service : bench::change_kind::upstream, rng);
      }
      auto kind = parse_kind(ev.kind());
      ASSERT_TRUE(kind.has_value());
      const resource_key key{*kind, ev.namespace_(), ev.name()};
      const auto* old = w.find(key);
      const auto was = old != nullptr ? old->message : nullptr;
      const bool had_services = !w.of(resource_kind::service).empty();
      bench::apply_to(w, ev, w.watermark() + 1);
      const auto* now = w.find(key);
      std::vector<piece_id> hit;
      index.affected(key, was.get(), now != nullptr ? now->message.get() : nullptr, hit);
      const bool flipped = had_services == w.of(resource_kind::service).empty();
      auto after = translate_each_upstream(w);
      for (const auto& [uk, text] : after) {
        auto b = before.find(uk);
        if (b == before.end() || b->second == text) {
          continue;  // new (translated because it is), or the same
        }
        if (std::find(hit.begin(), hit.end(), ids.at(uk)) != hit.end()) {
          ++by_index;
        } else if (flipped && static_cast<const gl::Upstream&>(*w.find(uk)->message).has_kube()) {
          ++by_flip;
        } else {
          ADD_FAILURE() << "seed " << seed << ", event " << i << " (" << ev.op() << " "
                        << key.to_string() << "): the translation of " << uk.to_string()
                        << " changed, and no read it recorded is affected";
        }
      }
      before = std::move(after);
      record_all();
    }
  }
  // The sequences did what they are for: Service events changed translations through the index,
  // and flips through the rule.
  EXPECT_GT(by_index, 100u);
  EXPECT_GT(by_flip, 10u);
}

}  // namespace
}  // namespace sluice::model
