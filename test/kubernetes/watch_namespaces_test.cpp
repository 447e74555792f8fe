// Settings `spec.watchNamespaces` applies without a restart: the watches of namespaces no longer
// watched stop and what they held is removed, newly watched namespaces are listed and watched;
// `--watch-namespaces` on the command line still wins over Settings. End to end, in process,
// against test/support/fake_kube_apiserver.
#include <gtest/gtest.h>

#include "model/world.hpp"
#include "test/kubernetes/in_process_plane.hpp"

namespace sluice::test::kube {
namespace {

using json = nlohmann::json;

json settings(const std::vector<std::string>& namespaces) {
  return {{"apiVersion", "gloo.solo.io/v1"},
          {"kind", "Settings"},
          {"metadata", {{"name", "default"}, {"namespace", "gloo-system"}}},
          {"spec", {{"discoveryNamespace", "gloo-system"}, {"watchNamespaces", namespaces}}}};
}

json upstream_in(const std::string& ns, const std::string& name, int port) {
  json u = ::sluice::test::kube::upstream(name, port);
  u["metadata"]["namespace"] = ns;
  return u;
}

class WatchNamespacesTest : public in_process_plane {
 protected:
  WatchNamespacesTest() {
    fake_.apply(settings({"gloo-system", "team-a"}));
    fake_.apply(upstream_in("team-a", "ua", 50081));
    fake_.apply(upstream_in("team-b", "ub", 50082));
    // Any route, so the gateway-proxy has a Proxy (and every Upstream a cluster).
    fake_.apply(virtual_service("greeter", "greeter", "missing"));
  }

  /// Requests of any kind on a namespace's objects.
  size_t requests_in(const std::string& ns) const {
    size_t n = 0;
    for (const auto& r : fake_.requests()) {
      n += r.path.find("/namespaces/" + ns + "/") != std::string::npos;
    }
    return n;
  }

  /// Whether a path is a collection (a list or watch) in a namespace:
  /// ".../namespaces/<ns>/<plural>".
  static bool collection_in(const std::string& path, const std::string& ns) {
    const std::string head = "/namespaces/" + ns + "/";
    auto at = path.find(head);
    return at != std::string::npos && path.find('/', at + head.size()) == std::string::npos;
  }
};

TEST_F(WatchNamespacesTest, SettingsChangeMovesTheWatchesWithoutRestart) {
  start();
  auto& c = envoy_client();
  ASSERT_TRUE(c.wait_for([&](const auto& s) { return has_cluster(s, "ua", "team-a"); }))
      << ::testing::PrintToString(c.current().names(xds::cluster_type));
  EXPECT_FALSE(has_cluster(c.current(), "ub", "team-b"));
  EXPECT_EQ(requests_in("team-b"), 0u);

  fake_.apply(settings({"gloo-system", "team-b"}));
  ASSERT_TRUE(c.wait_for([&](const auto& s) {
    return has_cluster(s, "ub", "team-b") && !has_cluster(s, "ua", "team-a");
  })) << ::testing::PrintToString(c.current().names(xds::cluster_type));

  // team-a is no longer watched: a change there is not seen, while team-b's are. (Requests are
  // counted as they arrive: the fake records a finished watch only when it ends.)
  auto team_a_collections = std::make_shared<std::atomic<int>>(0);
  fake_.on_request([team_a_collections](const std::string&, const std::string& path) {
    *team_a_collections += collection_in(path, "team-a") ? 1 : 0;
  });
  fake_.apply(upstream_in("team-a", "ua2", 50083));
  fake_.apply(upstream_in("team-b", "ub2", 50084));
  ASSERT_TRUE(c.wait_for([&](const auto& s) { return has_cluster(s, "ub2", "team-b"); }));
  EXPECT_FALSE(has_cluster(c.current(), "ua2", "team-a"));
  EXPECT_FALSE(has_cluster(c.current(), "ua", "team-a"));
  EXPECT_EQ(team_a_collections->load(), 0) << "no list or watch of team-a after the change";
  fake_.on_request(nullptr);

  // Back to every namespace: both are served, and nothing still in scope was dropped.
  fake_.apply(settings({}));
  ASSERT_TRUE(c.wait_for([&](const auto& s) {
    return has_cluster(s, "ua", "team-a") && has_cluster(s, "ua2", "team-a")
           && has_cluster(s, "ub", "team-b") && has_cluster(s, "ub2", "team-b");
  })) << ::testing::PrintToString(c.current().names(xds::cluster_type));
}

TEST_F(WatchNamespacesTest, CommandLineNamespacesOverrideSettings) {
  auto o = options();
  o.kube.watch_namespaces = {"gloo-system", "team-a"};
  start(o);
  auto& c = envoy_client();
  ASSERT_TRUE(c.wait_for([&](const auto& s) { return has_cluster(s, "ua", "team-a"); }));

  fake_.apply(settings({"gloo-system", "team-b"}));
  // The new Settings reached the world (so the source saw them) ...
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] {
    auto out = cp_->latest_outcome();
    if (!out || !out->world) {
      return false;
    }
    const auto* s = out->world->find(model::resource_kind::settings, "gloo-system", "default");
    return s != nullptr && s->message->DebugString().find("team-b") != std::string::npos;
  }));
  // ... and a change in a watched namespace after them is served, with team-b still unwatched.
  fake_.apply(upstream_in("team-a", "ua2", 50083));
  ASSERT_TRUE(c.wait_for([&](const auto& s) { return has_cluster(s, "ua2", "team-a"); }));
  EXPECT_FALSE(has_cluster(c.current(), "ub", "team-b"));
  EXPECT_EQ(requests_in("team-b"), 0u);
}

}  // namespace
}  // namespace sluice::test::kube
