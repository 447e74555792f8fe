// End-to-end tests of the wired control plane: a real directory, a real RocksDB log, the real
// actors and the real ADS server, observed through a scripted xDS client over loopback gRPC.
#include "actors/control_plane.hpp"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <mutex>
#include <thread>

#include "actors/world_actor.hpp"
#include "envoy/config/listener/v3/listener.pb.h"
#include "test/actors/control_plane_fixture.hpp"
#include "xds/world_translation.hpp"

namespace sluice::actors {
namespace {

TEST_F(ControlPlaneTest, ProxylessClientGetsApiListenerRoutesAndClusters) {
  start();
  auto& c = proxyless_client("greeter");
  // Like gRPC: LDS by target name, RDS from the listener, then CDS by the route's cluster name.
  ASSERT_TRUE(c.wait_for([](const auto& s) {
    return s.names(lds).count("greeter") && !s.names(rds).empty();
  })) << "no listener and route configuration for greeter";
  auto st = c.current();
  envoy::config::listener::v3::Listener l;
  ASSERT_TRUE(st.held[std::string(lds)]["greeter"].UnpackTo(&l));
  EXPECT_TRUE(l.has_api_listener());
  auto cluster = first_cluster(st.held[std::string(rds)].begin()->second);
  EXPECT_EQ(cluster, "a_gloo-system");
  c.subscribe(cds, {cluster});
  ASSERT_TRUE(c.wait_for([&](const auto& s) {
    return s.names(cds).count(cluster) && s.names(xds::endpoint_type).count(cluster);
  })) << "no cluster and endpoints for " << cluster;
  EXPECT_TRUE(c.consistency_errors().empty());
}

TEST_F(ControlPlaneTest, EnvoyRoleGetsGatewayListener) {
  start();
  auto& c = envoy_client();
  ASSERT_TRUE(c.wait_for([](const auto& s) {
    return s.names(lds).count("listener-::-8080") && s.names(rds).count("listener-::-8080-routes");
  }));
  auto st = c.current();
  EXPECT_TRUE(st.names(cds).count("a_gloo-system"));
  EXPECT_TRUE(st.names(cds).count("b_gloo-system"));
  EXPECT_TRUE(c.consistency_errors().empty()) << c.consistency_errors().front();
}

TEST_F(ControlPlaneTest, EditedFileMovesTheRoute) {
  start();
  auto& c = proxyless_client("greeter");
  ASSERT_TRUE(c.wait_for([](const auto& s) {
    return !s.names(rds).empty() && first_cluster(s.held.at(std::string(rds)).begin()->second)
                                        == "a_gloo-system";
  }));
  write_atomically(config_ / "virtualservices/gloo-system/greeter.yaml",
                   vs_yaml("greeter", "greeter", "b"));
  EXPECT_TRUE(c.wait_for([](const auto& s) {
    return first_cluster(s.held.at(std::string(rds)).begin()->second) == "b_gloo-system";
  })) << "the route did not move to upstream b";
}

TEST_F(ControlPlaneTest, MalformedFileIsRejectedAndEverythingElseKeepsServing) {
  start();
  auto& c = envoy_client();
  ASSERT_TRUE(c.wait_for([](const auto& s) { return s.names(rds).size() == 1; }));
  const auto rds_version = c.current().version(rds);

  // Break the VirtualService file: a syntax error, then an unknown field in another file.
  write_atomically(config_ / "virtualservices/gloo-system/greeter.yaml",
                   "metadata: {name: greeter\nvirtualHost: [\n");
  write_atomically(config_ / "virtualservices/gloo-system/typo.yaml",
                   "metadata: {name: typo, namespace: gloo-system}\nvirtualHostt: {}\n");
  ASSERT_TRUE(wait_for_event([](const auto& ev) {
    return ev.verdict() == sluice::v1::VERDICT_REJECTED && ev.origin().find("greeter.yaml") != std::string::npos;
  }));
  ASSERT_TRUE(wait_for_event([](const auto& ev) {
    return ev.verdict() == sluice::v1::VERDICT_REJECTED && ev.name() == "typo"
           && ev.errors_size() > 0 && ev.errors(0).find("virtualHostt") != std::string::npos;
  }));

  // A good change after the bad ones still goes through, and the broken VirtualService keeps
  // its last good form: the route to a is still there, now next to the new one.
  write_atomically(config_ / "virtualservices/gloo-system/other.yaml",
                   vs_yaml("other", "other.example.com", "b"));
  ASSERT_TRUE(c.wait_for([&](const auto& s) { return s.version(rds) != rds_version; }));
  envoy::config::route::v3::RouteConfiguration rc;
  auto st = c.current();
  ASSERT_TRUE(st.held[std::string(rds)]["listener-::-8080-routes"].UnpackTo(&rc));
  std::set<std::string> vhosts;
  for (const auto& vh : rc.virtual_hosts()) {
    vhosts.insert(vh.name());
  }
  EXPECT_TRUE(vhosts.count("gloo-system_greeter")) << "the broken VS lost its last good form";
  EXPECT_TRUE(vhosts.count("gloo-system_other"));
  EXPECT_FALSE(vhosts.count("gloo-system_typo"));
  EXPECT_TRUE(c.consistency_errors().empty());
}

TEST_F(ControlPlaneTest, RestartWithUnchangedInputAppendsNoEventsAndKeepsVersions) {
  start();
  std::string first_version;
  {
    auto& c = envoy_client();
    ASSERT_TRUE(c.wait_for([](const auto& s) { return s.names(rds).size() == 1; }));
    first_version = c.current().version(rds);
  }
  stop();
  auto after_first = events();
  ASSERT_FALSE(after_first.empty());

  start();
  auto& c = envoy_client();
  ASSERT_TRUE(c.wait_for([](const auto& s) { return s.names(rds).size() == 1; }));
  EXPECT_EQ(c.current().version(rds), first_version);
  stop();
  EXPECT_EQ(events().size(), after_first.size()) << "a restart with unchanged input appended";
}

TEST_F(ControlPlaneTest, FileDeletedWhileStoppedIsDeletedAtRestart) {
  start();
  {
    auto& c = envoy_client();
    ASSERT_TRUE(c.wait_for([](const auto& s) { return s.names(cds).count("b_gloo-system"); }));
  }
  stop();
  fs::remove(config_ / "upstreams/gloo-system/b.yaml");
  start();
  auto& c = envoy_client();
  ASSERT_TRUE(c.wait_for([](const auto& s) { return s.names(cds).count("a_gloo-system"); }));
  EXPECT_FALSE(c.current().names(cds).count("b_gloo-system"));
  bool deleted = false;
  for (const auto& ev : events()) {
    deleted |= ev.op() == sluice::v1::EVENT_OP_DELETE && ev.name() == "b";
  }
  EXPECT_TRUE(deleted);
}

TEST_F(ControlPlaneTest, DomainConflictIntroducedByAnEditKeepsTheLastAcceptedForm) {
  write_atomically(config_ / "virtualservices/gloo-system/other.yaml",
                   vs_yaml("other", "other.example.com", "b"));
  start();
  {
    auto& c = envoy_client();
    ASSERT_TRUE(c.wait_for([](const auto& s) { return s.names(rds).size() == 1; }));
    ASSERT_TRUE(c.wait_for([&](const auto& s) { return domains_in(s).size() == 2; }));

    // `other` now claims greeter's domain: translation refuses it (the newcomer) and the server
    // puts its last accepted form back instead of dropping its virtual host.
    write_atomically(config_ / "virtualservices/gloo-system/other.yaml",
                     vs_yaml("other", "greeter", "b"));
    ASSERT_TRUE(wait_for_event([](const auto& ev) {
      return ev.verdict() == sluice::v1::VERDICT_REVERTED && ev.name() == "other"
             && ev.errors_size() > 0;
    }));
    ASSERT_TRUE(c.wait_for([&](const auto& s) {
      auto d = domains_in(s);
      return d.count("gloo-system_other") && d["gloo-system_other"]
                 == std::vector<std::string>{"other.example.com"};
    }));
    EXPECT_EQ(served_domains(c)["gloo-system_greeter"], std::vector<std::string>{"greeter"});
    EXPECT_TRUE(c.consistency_errors().empty());
  }
  stop();

  // The rejection and the reverted form are state: they survive a restart, which appends
  // nothing (the input did not change) and serves the same.
  auto rejected = rejection_rows();
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0].name(), "other");
  EXPECT_EQ(rejected[0].rejection().stage(), "translation");
  ASSERT_GT(rejected[0].rejection().errors_size(), 0);
  EXPECT_NE(rejected[0].rejection().errors(0).find("greeter"), std::string::npos)
      << rejected[0].rejection().errors(0);
  const auto before_restart = events().size();

  start();
  {
    auto& c = envoy_client();
    ASSERT_TRUE(c.wait_for([&](const auto& s) { return domains_in(s).size() == 2; }));
    EXPECT_EQ(served_domains(c)["gloo-system_other"],
              std::vector<std::string>{"other.example.com"});
    EXPECT_EQ(events().size(), before_restart) << "a restart with unchanged input appended";

    // A good edit is served and clears the rejection.
    write_atomically(config_ / "virtualservices/gloo-system/other.yaml",
                     vs_yaml("other", "third.example.com", "b"));
    ASSERT_TRUE(c.wait_for([&](const auto& s) {
      return domains_in(s)["gloo-system_other"]
             == std::vector<std::string>{"third.example.com"};
    }));
  }
  stop();
  EXPECT_TRUE(rejection_rows().empty());
}

TEST_F(ControlPlaneTest, NewVirtualServiceInConflictIsTakenOutAndRetriedWhenTheConflictGoes) {
  start();
  {
    auto& c = envoy_client();
    ASSERT_TRUE(c.wait_for([&](const auto& s) { return domains_in(s).size() == 1; }));
    write_atomically(config_ / "virtualservices/gloo-system/late.yaml",
                     vs_yaml("late", "greeter", "b"));
    // Nothing to go back to: a reverted delete takes it out of the world.
    ASSERT_TRUE(wait_for_event([](const auto& ev) {
      return ev.verdict() == sluice::v1::VERDICT_REVERTED && ev.name() == "late"
             && ev.op() == sluice::v1::EVENT_OP_DELETE && !ev.raw().empty();
    }));
    write_atomically(config_ / "virtualservices/gloo-system/marker.yaml",
                     vs_yaml("marker", "marker.example.com", "b"));
    ASSERT_TRUE(
        c.wait_for([&](const auto& s) { return domains_in(s).count("gloo-system_marker") > 0; }));
    EXPECT_FALSE(served_domains(c).count("gloo-system_late"));
  }
  stop();
  // Refused, not held in the state, and it stays so across a restart.
  bool held = false;
  for (const auto& r : state_rows()) {
    held |= !r.has_rejection() && r.name() == "late";
  }
  EXPECT_FALSE(held);
  ASSERT_EQ(rejection_rows().size(), 1u);
  EXPECT_EQ(rejection_rows()[0].rejection().stage(), "translation");

  start();
  auto& c = envoy_client();
  ASSERT_TRUE(
      c.wait_for([&](const auto& s) { return domains_in(s).count("gloo-system_marker") > 0; }));
  EXPECT_FALSE(served_domains(c).count("gloo-system_late"));
  // The owner of the domain goes away: the refused form is retried and now served, without
  // any new input for it.
  fs::remove(config_ / "virtualservices/gloo-system/greeter.yaml");
  ASSERT_TRUE(
      c.wait_for([&](const auto& s) { return domains_in(s).count("gloo-system_late") > 0; }));
  EXPECT_EQ(served_domains(c)["gloo-system_late"], std::vector<std::string>{"greeter"});
  ASSERT_TRUE(wait_for_event([](const auto& ev) {
    return ev.verdict() == sluice::v1::VERDICT_ACCEPTED && ev.name() == "late"
           && ev.source() == "translation";
  }));
  stop();
  EXPECT_TRUE(rejection_rows().empty());
}

}  // namespace
}  // namespace sluice::actors

namespace sluice::actors {
namespace {

/// GET on the admin port; status 0 when the request failed.
std::pair<int, std::string> admin_get(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  auto res = client.Get(path);
  if (!res) {
    return {0, ""};
  }
  return {res->status, res->body};
}

TEST_F(ControlPlaneTest, AdminPortAnswersFromTheRunningServerAndRedactsSecrets) {
  write_atomically(config_ / "secrets/gloo-system/cert.yaml",
                   "metadata: {name: cert, namespace: gloo-system}\ntls:\n"
                   "  certChain: \"-----BEGIN CERTIFICATE-----\\nMIIBcert\\n-----END CERTIFICATE-----\\n\"\n"
                   "  privateKey: \"-----BEGIN PRIVATE KEY-----\\nTOPSECRETKEY\\n-----END PRIVATE KEY-----\\n\"\n");
  control_plane_options options;
  options.admin_listen = "127.0.0.1:0";
  start(options);
  ASSERT_GT(cp_->admin_port(), 0);
  auto& envoy = envoy_client();
  ASSERT_TRUE(envoy.wait_for([](const auto& c) { return c.names(lds).count("listener-::-8080") > 0; }));

  auto [health, health_body] = admin_get(cp_->admin_port(), "/healthz");
  EXPECT_EQ(health, 200) << health_body;

  // What the xDS actor published, not a re-translation: the listener the client holds, at the
  // version it holds.
  auto [code, body] = admin_get(cp_->admin_port(), "/snapshots/gloo-system~gateway-proxy");
  ASSERT_EQ(code, 200) << body;
  auto snap = nlohmann::json::parse(body, nullptr, false);
  ASSERT_FALSE(snap.is_discarded()) << body;
  EXPECT_NE(body.find("listener-::-8080"), std::string::npos) << body;
  EXPECT_NE(body.find(envoy.current().version(lds)), std::string::npos) << body;

  // The Secret's event, with its full resource and raw input: the key never appears.
  ASSERT_TRUE(wait_for_event([](const auto& ev) { return ev.kind() == "Secret"; }));
  auto [ecode, events] = admin_get(cp_->admin_port(), "/events?kind=Secret&full=1");
  ASSERT_EQ(ecode, 200) << events;
  EXPECT_NE(events.find("cert"), std::string::npos) << events;
  EXPECT_EQ(events.find("TOPSECRETKEY"), std::string::npos) << events;
  EXPECT_NE(events.find("[redacted "), std::string::npos) << events;
}

TEST_F(ControlPlaneTest, AdminPortThatCannotBindDoesNotStopServing) {
  httplib::Server squatter;
  const int taken = squatter.bind_to_any_port("127.0.0.1");
  ASSERT_GT(taken, 0);
  control_plane_options options;
  options.admin_listen = "127.0.0.1:" + std::to_string(taken);
  start(options);
  EXPECT_EQ(cp_->admin_port(), 0);
  auto& envoy = envoy_client();
  EXPECT_TRUE(envoy.wait_for([](const auto& c) { return c.names(lds).count("listener-::-8080") > 0; }));
}

}  // namespace
}  // namespace sluice::actors

namespace sluice::actors {
namespace {

TEST_F(ControlPlaneTest, TranslationOutcomesReachTheHookThrottledAndCurrent) {
  std::mutex mutex;
  std::vector<translation_outcome_ptr> outcomes;
  control_plane_options options;
  options.hooks.outcome_interval = std::chrono::milliseconds(50);
  options.hooks.on_translated = [&](translation_outcome_ptr o) {
    std::lock_guard guard{mutex};
    outcomes.push_back(std::move(o));
  };
  start(options);
  auto latest = [&]() -> translation_outcome_ptr {
    std::lock_guard guard{mutex};
    return outcomes.empty() ? nullptr : outcomes.back();
  };
  auto wait_outcome = [&](const std::function<bool(const translation_outcome&)>& pred) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto o = latest(); o && pred(*o)) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling interval, bounded
    }
    return false;
  };
  const model::resource_key greeter{model::resource_kind::virtual_service, "gloo-system",
                                    "greeter"};
  ASSERT_TRUE(wait_outcome([&](const translation_outcome& o) {
    return o.world->find(greeter) != nullptr && o.proxies.size() == 1 &&
           o.proxies[0].role == "gloo-system~gateway-proxy";
  }));
  // A newcomer claiming the same domain is blamed in a later outcome's report, which comes
  // with the world it was computed from.
  write_atomically(config_ / "virtualservices/gloo-system/copycat.yaml",
                   vs_yaml("copycat", "greeter", "b"));
  const model::resource_key copycat{model::resource_kind::virtual_service, "gloo-system",
                                    "copycat"};
  EXPECT_TRUE(wait_outcome([&](const translation_outcome& o) {
    auto it = o.report.entries().find(copycat);
    return it != o.report.entries().end() && !it->second.errors.empty() &&
           o.world->find(copycat) != nullptr && o.world->watermark() == o.watermark;
  }));
}

}  // namespace
}  // namespace sluice::actors

namespace sluice::actors {
namespace {

// The server translates incrementally; after a run of edits (creates, updates, a delete, a
// broken reference and its repair) what a client holds must be what a full translation of the
// log's current state gives, type version for type version.
TEST_F(ControlPlaneTest, ServedSnapshotsEqualAFullTranslationOfTheLog) {
  start();
  auto& envoy = envoy_client();
  ASSERT_TRUE(envoy.wait_for([](const auto& c) { return c.names(lds).count("listener-::-8080"); }));
  for (int i = 0; i < 6; ++i) {
    write_atomically(config_ / ("upstreams/gloo-system/u" + std::to_string(i) + ".yaml"),
                     upstream_yaml("u" + std::to_string(i), 51000 + i));
    write_atomically(config_ / ("virtualservices/gloo-system/vs" + std::to_string(i) + ".yaml"),
                     vs_yaml("vs" + std::to_string(i), "host" + std::to_string(i),
                             i % 2 ? "u" + std::to_string(i) : "missing"));
  }
  write_atomically(config_ / "virtualservices/gloo-system/greeter.yaml",
                   vs_yaml("greeter", "greeter", "b"));
  fs::remove(config_ / "upstreams/gloo-system/u3.yaml");
  write_atomically(config_ / "upstreams/gloo-system/missing.yaml", upstream_yaml("missing", 52000));

  auto full_versions = [&] {
    model::world w;
    for (const auto& ev : events()) {
      EXPECT_TRUE(apply_event(w, ev));
    }
    auto t = xds::translate_world(w);
    std::map<std::string, std::string> out;
    auto it = t.snapshots.find("gloo-system~gateway-proxy");
    if (it != t.snapshots.end()) {
      out[std::string(lds)] = it->second->of(lds).version;
      out[std::string(cds)] = it->second->of(cds).version;
    }
    return out;
  };
  // The log settles once every file above is ingested (the missing upstream's creation is the
  // last); then the client must converge on the full translation's versions.
  ASSERT_TRUE(wait_for_event([](const auto& ev) {
    return ev.kind() == "Upstream" && ev.name() == "missing";
  }));
  std::map<std::string, std::string> want;
  std::map<std::string, std::string> held;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    want = full_versions();
    auto c = envoy.current();
    held = {{std::string(lds), c.version(lds)}, {std::string(cds), c.version(cds)}};
    if (!want.empty() && want == held) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling interval, bounded
  }
  EXPECT_EQ(held, want);
  EXPECT_EQ(envoy.current().names(cds).count("u3_gloo-system"), 0u);
  EXPECT_EQ(envoy.current().names(cds).count("u5_gloo-system"), 1u);
  EXPECT_TRUE(envoy.consistency_errors().empty());
}

}  // namespace
}  // namespace sluice::actors

namespace sluice::actors {
namespace {

TEST_F(ControlPlaneTest, EnvoyWithoutARoleGetsGloosFallbackListener) {
  start();
  scripted_xds_client_options o;
  o.role.reset();  // an Envoy bootstrap that forgot node.metadata.role
  o.follow_references = true;
  clients_.push_back(std::make_unique<scripted_xds_client>(o));
  auto& c = *clients_.back();
  ASSERT_TRUE(c.connect(cp_->xds_port()));
  c.subscribe(cds);
  c.subscribe(lds);
  EXPECT_TRUE(c.wait_for([](const auto& s) {
    return s.names(lds).count("listener-for-invalid-envoy") > 0 &&
           s.names(rds).count("routes-for-invalid-envoy") > 0;
  }));
  EXPECT_EQ(c.current().names(lds).count("listener-::-8080"), 0u);
}

}  // namespace
}  // namespace sluice::actors
