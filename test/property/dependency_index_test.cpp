#include "model/dependency_index.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "solo/gateway.pb.h"
#include "solo/gloo.pb.h"

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

}  // namespace
}  // namespace sluice::model
