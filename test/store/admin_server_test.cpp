// The admin port (adapters/admin_server) with the log-backed handlers of
// actors::make_admin_handlers, over real HTTP on 127.0.0.1.
#include "adapters/admin_server.hpp"

#include <httplib.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "actors/log_replayer.hpp"
#include "model/error.hpp"
#include "test/store/faulty_file_system.hpp"
#include "test/store/store_fixtures.hpp"
#include "test/support/temp_dir.hpp"

namespace sluice::adapters {
namespace {

class AdminServerTest : public ::testing::Test {
 protected:
  AdminServerTest() {
    fs_ = std::make_shared<test::faulty_file_system>();
    store::event_log_options options{dir_.str()};
    options.file_system = fs_;
    auto log = store::event_log::open(options);
    EXPECT_TRUE(log) << describe(log.error());
    log_ = std::shared_ptr<store::event_log>(std::move(*log));
    test::tracked_writer writer{*log_};
    writer.seed();
    writer.put(model::resource_kind::virtual_service, "virtualservices/gloo-system/greeter.yaml",
               test::vs_yaml("greeter", "greeter", "b"));
    sluice::v1::PublishRecord r;
    r.set_role(test::gateway_role);
    r.set_type_url("type.googleapis.com/envoy.config.cluster.v3.Cluster");
    r.set_version("abc");
    r.set_watermark_seq(4);
    EXPECT_TRUE(log_->record_publish(r));
  }

  void start(admin_handlers handlers) {
    server_ = std::make_unique<admin_server>(std::move(handlers));
    auto port = server_->start("127.0.0.1:0");
    ASSERT_TRUE(port) << describe(port.error());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", *port);
  }

  /// GET `path`: (status, parsed body).
  std::pair<int, nlohmann::json> get(const std::string& path) {
    auto res = client_->Get(path.c_str());
    if (!res) {
      ADD_FAILURE() << "no answer for " << path;
      return {0, {}};
    }
    auto body = nlohmann::json::parse(res->body, nullptr, false);
    EXPECT_FALSE(body.is_discarded()) << path << " answered non-JSON: " << res->body;
    return {res->status, body};
  }

  test::temp_dir dir_;
  std::shared_ptr<test::faulty_file_system> fs_;
  std::shared_ptr<store::event_log> log_;
  std::unique_ptr<admin_server> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(AdminServerTest, EventsAreFilteredAndPaged) {
  start(actors::make_admin_handlers({log_, {}, {}}));
  auto [status, body] = get("/events?kind=VirtualService");
  EXPECT_EQ(status, 200);
  ASSERT_EQ(body["events"].size(), 2u);
  EXPECT_EQ(body["events"][0]["seq"], 4);
  EXPECT_EQ(body["events"][1]["seq"], 5);
  EXPECT_EQ(body["lastSeq"], 5);
  auto [tail_status, tail] = get("/events?limit=2&tail=1");
  EXPECT_EQ(tail_status, 200);
  ASSERT_EQ(tail["events"].size(), 2u);
  EXPECT_EQ(tail["events"][1]["seq"], 5);
  auto [full_status, full] = get("/events?from=5&to=5&full=1");
  ASSERT_EQ(full["events"].size(), 1u);
  EXPECT_EQ(full["events"][0]["resource"]["virtualHost"]["domains"][0], "greeter");
  auto [bad_status, bad] = get("/events?from=x");
  EXPECT_EQ(bad_status, 400);
  EXPECT_NE(bad["error"].get<std::string>().find("from"), std::string::npos);
}

TEST_F(AdminServerTest, SnapshotsPerRoleCarryVersionsAndResources) {
  start(actors::make_admin_handlers({log_, {}, {}}));
  auto [status, body] = get("/snapshots");
  EXPECT_EQ(status, 200);
  std::set<std::string> roles;
  for (const auto& s : body["snapshots"]) {
    roles.insert(s["role"].get<std::string>());
  }
  EXPECT_TRUE(roles.count(test::gateway_role)) << body.dump();
  auto [one_status, one] = get(std::string("/snapshots/") + test::gateway_role);
  EXPECT_EQ(one_status, 200);
  const auto& clusters = one["types"]["type.googleapis.com/envoy.config.cluster.v3.Cluster"];
  EXPECT_FALSE(clusters["version"].get<std::string>().empty());
  EXPECT_EQ(clusters["resources"].size(), 2u);
  EXPECT_EQ(clusters["resources"][0]["resource"]["name"], "a_gloo-system");
  auto [missing_status, missing] = get("/snapshots/nobody~here");
  EXPECT_EQ(missing_status, 404);
}

TEST_F(AdminServerTest, PublishesReplayAndDiffAnswer) {
  start(actors::make_admin_handlers({log_, {}, {}}));
  auto [status, body] = get("/publishes?role=" + std::string(test::gateway_role));
  EXPECT_EQ(status, 200);
  ASSERT_EQ(body["publishes"].size(), 1u);
  EXPECT_EQ(body["publishes"][0]["version"], "abc");
  auto [replay_status, replay] = get("/replay?at=4&role=" + std::string(test::gateway_role));
  EXPECT_EQ(replay_status, 200);
  EXPECT_EQ(replay["seq"], 4);
  ASSERT_EQ(replay["roles"].size(), 1u);
  EXPECT_TRUE(replay["roles"][0].contains("proxy"));
  auto [diff_status, diff] = get("/diff?from=4&to=5");
  EXPECT_EQ(diff_status, 200);
  EXPECT_FALSE(diff["changes"].empty());
  EXPECT_EQ(diff["events"][0]["seq"], 5);
}

TEST_F(AdminServerTest, StatusesComeFromTheHeadOfTheLog) {
  start(actors::make_admin_handlers({log_, {}, {}}));
  auto [status, body] = get("/statuses?kind=VirtualService");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body["seq"], 5);
  ASSERT_EQ(body["statuses"].size(), 1u) << body.dump();
  EXPECT_EQ(body["statuses"][0]["name"], "greeter");
  EXPECT_EQ(body["statuses"][0]["state"], "Accepted");
  EXPECT_TRUE(body["nacks"].empty());
}

TEST_F(AdminServerTest, HealthzTurnsUnhealthyWhenTheDiskIsFull) {
  start(actors::make_admin_handlers({log_, {}, {}}));
  auto [status, body] = get("/healthz");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body["healthy"], true);
  fs_->full = true;
  EXPECT_FALSE(log_->append({}, {{"k", "v"}}));
  auto [sick_status, sick] = get("/healthz");
  EXPECT_EQ(sick_status, 503);
  EXPECT_EQ(sick["healthy"], false);
  EXPECT_NE(sick["error"].get<std::string>().find("No space"), std::string::npos);
  fs_->full = false;
  ASSERT_TRUE(log_->recover());
  ASSERT_TRUE(log_->append({}, {{"k", "v2"}}));
  EXPECT_EQ(get("/healthz").first, 200);
}

TEST_F(AdminServerTest, UnwiredRoutesUnknownPathsAndWritesAreRefusedAsJson) {
  admin_handlers handlers;
  handlers.healthz = [](const admin_request&) { return admin_response{200, "{\"ok\":true}"}; };
  handlers.extra["/boom"]
      = [](const admin_request&) -> admin_response { throw std::runtime_error("kaboom"); };
  start(std::move(handlers));
  EXPECT_EQ(get("/statuses").first, 404);
  EXPECT_EQ(get("/nowhere").first, 404);
  auto [boom_status, boom] = get("/boom");
  EXPECT_EQ(boom_status, 500);
  EXPECT_NE(boom["error"].get<std::string>().find("kaboom"), std::string::npos);
  auto [index_status, index] = get("/");
  EXPECT_EQ(index_status, 200);
  EXPECT_EQ(index["routes"], nlohmann::json::array({"/healthz", "/boom"}));
  auto post = client_->Post("/healthz", "{}", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
}

TEST_F(AdminServerTest, ServedSnapshotsComeFromTheOwnerWhenWired) {
  auto snap = std::make_shared<xds::snapshot>();
  snap->key = "live~role";
  snap->watermark = 99;
  actors::admin_sources sources{log_, {}, {}};
  sources.served = [snap] { return std::map<std::string, xds::snapshot_ptr>{{snap->key, snap}}; };
  start(actors::make_admin_handlers(sources));
  auto [status, body] = get("/snapshots/live~role");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body["watermark"], 99);
}

TEST(AdminServerAddressTest, MalformedAddressAndBusyPortAreErrors) {
  admin_server server{admin_handlers{}};
  auto bad = server.start("no-port-here");
  ASSERT_FALSE(bad);
  EXPECT_EQ(static_cast<ec>(bad.error().code()), ec::invalid_argument);
  auto port = server.start("127.0.0.1:0");
  ASSERT_TRUE(port);
  admin_server second{admin_handlers{}};
  auto busy = second.start("127.0.0.1:" + std::to_string(*port));
  ASSERT_FALSE(busy);
  EXPECT_EQ(static_cast<ec>(busy.error().code()), ec::source_error);
}

}  // namespace
}  // namespace sluice::adapters
