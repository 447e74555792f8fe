// Time travel over the log (actors/log_replayer): replay at a seq or time, from a checkpoint or
// from the start, diffs with causes, and the determinism promise checked against a real run of
// the control plane (DESIGN.md: every served version is a pure function of a log prefix).
#include "actors/log_replayer.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "actors/actor_types.hpp"
#include "actors/control_plane.hpp"
#include "actors/world_actor.hpp"
#include "envoy/config/route/v3/route.pb.h"
#include "model/error.hpp"
#include "test/store/store_fixtures.hpp"
#include "test/support/temp_dir.hpp"

namespace sluice::actors {
namespace {

namespace fs = std::filesystem;
using model::resource_kind;
using test::gateway_role;

std::unique_ptr<store::event_log> open_log(const std::string& path, bool read_only = false) {
  auto log = store::event_log::open(store::event_log_options{path, true, read_only});
  EXPECT_TRUE(log) << describe(log.error());
  return log ? std::move(*log) : nullptr;
}

/// Every resource of every snapshot as "role type name version bytes", for exact comparison.
std::vector<std::string> fingerprint(const xds::world_translation& t) {
  std::vector<std::string> out;
  for (const auto& [role, snap] : t.snapshots) {
    for (const auto& [type, set] : snap->types) {
      out.push_back(role + " " + type + " version " + set.version);
      for (const auto& [name, res] : set.items) {
        out.push_back(role + " " + type + " " + name + " " + res->version + " " + res->bytes);
      }
    }
  }
  return out;
}

/// The cluster of the first route of the route configuration of the gateway listener.
std::string routed_cluster(const replayed_point& p) {
  auto snap = p.translation.snapshots.find(gateway_role);
  if (snap == p.translation.snapshots.end()) {
    return "";
  }
  const auto& routes = snap->second->of(xds::route_type).items;
  if (routes.empty()) {
    return "";
  }
  envoy::config::route::v3::RouteConfiguration rc;
  if (!rc.ParseFromString(routes.begin()->second->bytes) || rc.virtual_hosts_size() == 0
      || rc.virtual_hosts(0).routes_size() == 0) {
    return "";
  }
  return rc.virtual_hosts(0).routes(0).route().cluster();
}

TEST(LogReplayerTest, ReplayAtASeqRebuildsThatPoint) {
  test::temp_dir dir;
  auto log = open_log(dir.str());
  test::tracked_writer writer{*log};
  const uint64_t before = writer.seed();
  const uint64_t after
      = writer.put(resource_kind::virtual_service, "virtualservices/gloo-system/greeter.yaml",
                   test::vs_yaml("greeter", "greeter", "b"));
  ASSERT_GT(after, before);

  log_replayer replayer{*log};
  auto at_before = replayer.replay(before);
  ASSERT_TRUE(at_before) << describe(at_before.error());
  auto at_after = replayer.replay(after);
  ASSERT_TRUE(at_after) << describe(at_after.error());
  EXPECT_EQ(at_before->seq, before);
  EXPECT_EQ(at_before->world->watermark(), before);
  EXPECT_EQ(routed_cluster(*at_before), "a_gloo-system");
  EXPECT_EQ(routed_cluster(*at_after), "b_gloo-system");
  EXPECT_GT(at_after->time_unix_ns, 0);
  // An early point knows nothing of later resources.
  auto at_one = replayer.replay(1);
  ASSERT_TRUE(at_one);
  EXPECT_EQ(at_one->world->size(), 1u);
}

TEST(LogReplayerTest, ReplayFromACheckpointEqualsReplayFromTheStart) {
  test::temp_dir dir;
  auto log = open_log(dir.str());
  test::tracked_writer writer{*log};
  writer.seed();
  ASSERT_TRUE(log->write_checkpoint());
  writer.put(resource_kind::upstream, "upstreams/gloo-system/c.yaml", test::upstream_yaml("c", 1));
  writer.put(resource_kind::virtual_service, "virtualservices/gloo-system/greeter.yaml",
             test::vs_yaml("greeter", "greeter", "c"));
  writer.remove(resource_kind::upstream, "upstreams/gloo-system/a.yaml");
  const uint64_t head = log->last_seq();

  log_replayer replayer{*log};
  auto from_checkpoint = replayer.world_at(head);
  ASSERT_TRUE(from_checkpoint) << describe(from_checkpoint.error());
  EXPECT_EQ(from_checkpoint->checkpoint_seq, 4u);
  EXPECT_EQ(from_checkpoint->events_applied, head - 4);

  // The reference: every event from seq 1 applied by hand, as the world actor does.
  model::world by_hand;
  ASSERT_TRUE(log->for_each_event(1, head, [&](const sluice::v1::Event& ev) {
    EXPECT_TRUE(apply_event(by_hand, ev));
    return true;
  }));
  auto a = xds::translate_world(from_checkpoint->world);
  auto b = xds::translate_world(by_hand);
  EXPECT_EQ(fingerprint(a), fingerprint(b));
  EXPECT_FALSE(fingerprint(a).empty());
  // Two replays agree.
  auto again = replayer.replay(head);
  ASSERT_TRUE(again);
  EXPECT_EQ(fingerprint(again->translation), fingerprint(a));
}

TEST(LogReplayerTest, PointsOlderThanRetentionNameTheFloor) {
  test::temp_dir dir;
  auto log = open_log(dir.str());
  test::tracked_writer writer{*log};
  writer.seed();
  ASSERT_TRUE(log->write_checkpoint());
  writer.put(resource_kind::upstream, "upstreams/gloo-system/c.yaml", test::upstream_yaml("c", 1));
  store::retention_policy keep_1;
  keep_1.max_events = 1;
  ASSERT_TRUE(log->apply_retention(keep_1, 0));
  ASSERT_EQ(log->retention_floor(), 4u);

  log_replayer replayer{*log};
  auto old = replayer.replay(3);
  ASSERT_FALSE(old);
  EXPECT_NE(describe(old.error()).find("up to seq 4"), std::string::npos) << describe(old.error());
  auto at_floor = replayer.replay(4);
  ASSERT_TRUE(at_floor) << describe(at_floor.error());
  EXPECT_EQ(routed_cluster(*at_floor), "a_gloo-system");
  auto head = replayer.replay(5);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->world->size(), 5u);
}

TEST(LogReplayerTest, TimesResolveToTheLastEventCommittedThen) {
  test::temp_dir dir;
  auto log = open_log(dir.str());
  test::tracked_writer writer{*log};
  writer.seed();
  auto third = log->event(3);
  ASSERT_TRUE(third && *third);
  auto at
      = resolve_point(*log, "@" + std::to_string((*third)->time_unix_ns() / 1'000'000'000 + 3600));
  ASSERT_TRUE(at);
  EXPECT_EQ(*at, 4u);
  auto text = format_time((*third)->time_unix_ns());
  auto parsed = parse_time(text);
  ASSERT_TRUE(parsed) << describe(parsed.error());
  EXPECT_EQ(*parsed, (*third)->time_unix_ns());
  auto via_text = resolve_point(*log, text);
  ASSERT_TRUE(via_text);
  EXPECT_GE(*via_text, 3u);
  EXPECT_EQ(*resolve_point(*log, "head"), 4u);
  EXPECT_EQ(*resolve_point(*log, "2"), 2u);
  EXPECT_FALSE(resolve_point(*log, "yesterday"));
}

TEST(LogReplayerTest, ParseTimeAcceptsRfc3339WithFractionAndOffset) {
  EXPECT_EQ(*parse_time("1970-01-01T00:00:01Z"), 1'000'000'000);
  EXPECT_EQ(*parse_time("1970-01-01T00:00:01.5Z"), 1'500'000'000);
  EXPECT_EQ(*parse_time("1970-01-01T01:00:01+01:00"), 1'000'000'000);
  EXPECT_EQ(*parse_time("@42"), 42'000'000'000);
  EXPECT_FALSE(parse_time("1970-01-01"));
  EXPECT_FALSE(parse_time("1970-01-01T00:00:01"));
  EXPECT_FALSE(parse_time("@4x"));
  EXPECT_EQ(format_time(1'500'000'000), "1970-01-01T00:00:01.500000000Z");
}

TEST(LogReplayerTest, DiffShowsFieldChangesAndTheEventsThatCausedThem) {
  test::temp_dir dir;
  auto log = open_log(dir.str());
  test::tracked_writer writer{*log};
  const uint64_t from = writer.seed();
  const uint64_t move
      = writer.put(resource_kind::virtual_service, "virtualservices/gloo-system/greeter.yaml",
                   test::vs_yaml("greeter", "greeter", "b"));
  const uint64_t port = writer.put(resource_kind::upstream, "upstreams/gloo-system/a.yaml",
                                   test::upstream_yaml("a", 50071));
  const uint64_t added = writer.put(resource_kind::upstream, "upstreams/gloo-system/c.yaml",
                                    test::upstream_yaml("c", 50073));
  // A rejected edit changes nothing and causes nothing.
  const uint64_t broken
      = writer.put(resource_kind::upstream, "upstreams/gloo-system/b.yaml", "metadata: {name: b\n");

  auto d = log_replayer{*log}.diff(from, broken, gateway_role);
  ASSERT_TRUE(d) << describe(d.error());
  auto find = [&](std::string_view type, const std::string& name) -> const resource_change* {
    for (const auto& c : d->changes) {
      if (c.type_url == type && c.name == name) {
        return &c;
      }
    }
    return nullptr;
  };
  const auto* route = find(xds::route_type, "listener-::-8080-routes");
  ASSERT_NE(route, nullptr) << dump_json(diff_json(*d), 2);
  EXPECT_EQ(route->kind, change_kind::changed);
  bool cluster_field = false;
  for (const auto& f : route->fields) {
    if (f.path.find("cluster") != std::string::npos && f.from == "\"a_gloo-system\""
        && f.to == "\"b_gloo-system\"") {
      cluster_field = true;
      EXPECT_NE(f.path.find("virtualHosts[name=gloo-system_greeter]"), std::string::npos) << f.path;
    }
  }
  EXPECT_TRUE(cluster_field) << dump_json(diff_json(*d), 2);
  EXPECT_EQ(route->causes, (std::vector<uint64_t>{move})) << dump_json(diff_json(*d), 2);

  const auto* cluster_a = find(xds::endpoint_type, "a_gloo-system");
  if (cluster_a == nullptr) {
    cluster_a = find(xds::cluster_type, "a_gloo-system");  // static hosts may be inline
  }
  ASSERT_NE(cluster_a, nullptr) << dump_json(diff_json(*d), 2);
  EXPECT_EQ(cluster_a->causes, (std::vector<uint64_t>{port}));

  const auto* cluster_c = find(xds::cluster_type, "c_gloo-system");
  ASSERT_NE(cluster_c, nullptr);
  EXPECT_EQ(cluster_c->kind, change_kind::added);
  EXPECT_EQ(cluster_c->causes, (std::vector<uint64_t>{added}));
  EXPECT_TRUE(cluster_c->from_version.empty());
  EXPECT_FALSE(cluster_c->to_version.empty());

  for (const auto& c : d->changes) {
    for (auto seq : c.causes) {
      EXPECT_NE(seq, broken) << "a rejected event was blamed for " << c.name;
    }
  }
  EXPECT_EQ(d->causes.count(broken), 0u);
  ASSERT_TRUE(d->versions.count(gateway_role));
}

TEST(LogReplayerTest, JsonDifferencesMatchNamedListItemsByName) {
  auto a = nlohmann::json::parse(R"({"items":[{"name":"x","v":1},{"name":"y","v":2}],"n":1})");
  auto b = nlohmann::json::parse(
      R"({"items":[{"name":"w","v":0},{"name":"x","v":1},{"name":"y","v":3}]})");
  auto diffs = json_differences(a, b);
  std::vector<std::string> paths;
  for (const auto& d : diffs) {
    paths.push_back(d.path + " " + d.from + " -> " + d.to);
  }
  EXPECT_EQ(paths,
            (std::vector<std::string>{"items[name=y].v 2 -> 3",
                                      "items[name=w]  -> {\"name\":\"w\",\"v\":0}", "n 1 -> "}));
}

// ---- determinism against the real control plane --------------------------------------------

void write_atomically(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  auto tmp = path.parent_path() / ("." + path.filename().string() + ".tmp");
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
  }
  fs::rename(tmp, path);
}

class ControlPlaneReplayTest : public ::testing::Test {
 protected:
  ControlPlaneReplayTest() {
    config_ = dir_.path() / "config";
    data_ = dir_.path() / "data";
    write_atomically(config_ / "gateways/gloo-system/gateway-proxy.yaml", test::gateway_yaml());
    write_atomically(config_ / "upstreams/gloo-system/a.yaml", test::upstream_yaml("a", 50061));
    write_atomically(config_ / "virtualservices/gloo-system/greeter.yaml",
                     test::vs_yaml("greeter", "greeter", "a"));
  }
  ~ControlPlaneReplayTest() override { stop(); }

  void start() {
    cfg_ = std::make_unique<caf::actor_system_config>();
    cfg_->add_message_types<caf::id_block::sluice>();
    sys_ = std::make_unique<caf::actor_system>(*cfg_);
    control_plane_options options;
    options.config_dir = config_.string();
    options.data_dir = data_.string();
    options.xds_listen = "127.0.0.1:0";
    auto cp = control_plane::start(*sys_, options);
    ASSERT_TRUE(cp) << describe(cp.error());
    cp_ = std::move(*cp);
  }

  void stop() {
    if (cp_) {
      cp_->stop();
      cp_.reset();
    }
    sys_.reset();
    cfg_.reset();
  }

  /// Waits until the log holds at least `min_events` events and a publish at or after the last
  /// accepted one, i.e. the server translated everything it ingested. (Rejected events change no
  /// version, so nothing is published for them.)
  bool settled(size_t min_events) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      auto log = store::event_log::open(store::event_log_options{data_.string(), true, true});
      if (log && (*log)->last_seq() >= min_events) {
        uint64_t accepted = 0;
        (void)(*log)->for_each_event(0, UINT64_MAX, [&](const sluice::v1::Event& ev) {
          if (ev.verdict() == sluice::v1::VERDICT_ACCEPTED) {
            accepted = ev.seq();
          }
          return true;
        });
        uint64_t newest = 0;
        if (auto records = (*log)->publish_records()) {
          for (const auto& r : *records) {
            newest = std::max(newest, r.watermark_seq());
          }
        }
        if (newest >= accepted && newest > 0) {
          return true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling interval, bounded
    }
    return false;
  }

  test::temp_dir dir_;
  fs::path config_;
  fs::path data_;
  std::unique_ptr<caf::actor_system_config> cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<control_plane> cp_;
};

TEST_F(ControlPlaneReplayTest, ReplayReproducesEveryRecordedPublishByteForByte) {
  start();
  ASSERT_TRUE(settled(3));
  // A workload of edits, additions, a rejected file, a delete, each settled before the next so
  // that many distinct watermarks get published.
  write_atomically(config_ / "upstreams/gloo-system/b.yaml", test::upstream_yaml("b", 50062));
  ASSERT_TRUE(settled(4));
  write_atomically(config_ / "virtualservices/gloo-system/greeter.yaml",
                   test::vs_yaml("greeter", "greeter", "b"));
  ASSERT_TRUE(settled(5));
  write_atomically(config_ / "virtualservices/gloo-system/other.yaml",
                   test::vs_yaml("other", "other.example.com", "a"));
  ASSERT_TRUE(settled(6));
  write_atomically(config_ / "upstreams/gloo-system/b.yaml", "metadata: {name: b\n");
  ASSERT_TRUE(settled(7));
  write_atomically(config_ / "upstreams/gloo-system/a.yaml", test::upstream_yaml("a", 50071));
  ASSERT_TRUE(settled(8));
  fs::remove(config_ / "virtualservices/gloo-system/other.yaml");
  ASSERT_TRUE(settled(9));
  stop();

  auto log = open_log(data_.string(), true);
  ASSERT_NE(log, nullptr);
  log_replayer replayer{*log};
  auto checked = replayer.verify_publishes();
  ASSERT_TRUE(checked) << describe(checked.error());
  EXPECT_GE(checked->checked, 10u);
  for (const auto& m : checked->mismatches) {
    ADD_FAILURE() << "role " << m.record.role() << " type " << m.record.type_url()
                  << " at watermark " << m.record.watermark_seq() << ": recorded "
                  << m.record.version() << ", replay gives " << m.replayed_version;
  }
  // Two replays of the same log agree byte for byte.
  auto first = replayer.replay(log->last_seq());
  auto second = log_replayer{*log}.replay(log->last_seq());
  ASSERT_TRUE(first && second);
  EXPECT_EQ(fingerprint(first->translation), fingerprint(second->translation));
}

}  // namespace
}  // namespace sluice::actors
