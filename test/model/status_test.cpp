#include "model/status.hpp"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "model/gateway_attribution.hpp"
#include "model/gateway_translator.hpp"
#include "solo/enterprise.pb.h"
#include "solo/gateway.pb.h"
#include "solo/gloo.pb.h"

namespace sluice::model {
namespace {

namespace gw = ::gateway::solo::io;
namespace gl = ::gloo::solo::io;
using ::core::solo::io::Status;

const std::string ns = "gloo-system";

resource_key key_of(resource_kind kind, const std::string& name) { return {kind, ns, name}; }

}  // namespace

// Readable failures for keys (found by argument-dependent lookup).
void PrintTo(const resource_key& key, std::ostream* out) { *out << key.to_string(); }

namespace {

// Worlds from Gloo's JSON form (the field names users write in YAML).
class world_builder {
 public:
  template <class T>
  world_builder& add(resource_kind kind, const std::string& name, const std::string& json = "{}") {
    auto msg = std::make_shared<T>();
    auto status = google::protobuf::util::JsonStringToMessage(json, msg.get());
    EXPECT_TRUE(status.ok()) << name << ": " << status.ToString();
    msg->mutable_metadata()->set_name(name);
    msg->mutable_metadata()->set_namespace_(ns);
    stored_resource r;
    r.key = key_of(kind, name);
    r.content_hash = content_hash(canonical_bytes(*msg));
    r.message = std::move(msg);
    w_.put(std::move(r));
    return *this;
  }
  world_builder& gateway(const std::string& name, const std::string& json) {
    return add<gw::Gateway>(resource_kind::gateway, name, json);
  }
  world_builder& vs(const std::string& name, const std::string& json) {
    return add<gw::VirtualService>(resource_kind::virtual_service, name, json);
  }
  world_builder& rt(const std::string& name, const std::string& json = "{}") {
    return add<gw::RouteTable>(resource_kind::route_table, name, json);
  }
  world_builder& upstream(const std::string& name) {
    return add<gl::Upstream>(resource_kind::upstream, name,
                             R"({"static": {"hosts": [{"addr": "127.0.0.1", "port": 8080}]}})");
  }
  const world& get() const { return w_; }

 private:
  world w_;
};

const Status& status_of(const std::map<resource_key, Status>& statuses, const resource_key& key) {
  static const Status missing;
  auto i = statuses.find(key);
  EXPECT_NE(i, statuses.end()) << "no status for " << key.to_string();
  return i == statuses.end() ? missing : i->second;
}

// A Proxy "gateway-proxy" with one HTTP listener fed by Gateway `gw`, whose single virtual host
// comes from VirtualService `vs` and whose one route was delegated from RouteTable `rt`.
translated_proxy proxy_fed_by(const std::string& gateway, const std::string& vs,
                              const std::string& rt) {
  translated_proxy p;
  p.role = ns + "~gateway-proxy";
  p.proxy.mutable_metadata()->set_name("gateway-proxy");
  p.proxy.mutable_metadata()->set_namespace_(ns);
  auto* l = p.proxy.add_listeners();
  l->set_name("listener-::-8080");
  add_source(*l->mutable_metadata_static(), key_of(resource_kind::gateway, gateway));
  auto* vh = l->mutable_http_listener()->add_virtual_hosts();
  vh->set_name(ns + "." + vs);
  add_source(*vh->mutable_metadata_static(), key_of(resource_kind::virtual_service, vs));
  auto* route = vh->add_routes();
  route->add_matchers()->set_prefix("/a");
  add_source(*route->mutable_metadata_static(), key_of(resource_kind::virtual_service, vs));
  add_source(*route->mutable_metadata_static(), key_of(resource_kind::route_table, rt));
  return p;
}

TEST(StatusTest, ResourceWithoutFindingsIsAcceptedWithEmptyReason) {
  world_builder b;
  b.vs("a", R"({"virtualHost": {"domains": ["a.example.com"]}})");
  translation_report report;
  report.touch(key_of(resource_kind::virtual_service, "a"));
  auto statuses = build_statuses(b.get(), report);
  const auto& s = status_of(statuses, key_of(resource_kind::virtual_service, "a"));
  EXPECT_EQ(s.state(), Status::Accepted);
  EXPECT_EQ(s.reason(), "");
  EXPECT_EQ(s.reported_by(), "gateway");
  EXPECT_TRUE(s.subresource_statuses().empty());
}

TEST(StatusTest, WarningsAreJoinedInGlooWords) {
  world_builder b;
  b.vs("a", "{}");
  translation_report report;
  report.warning(key_of(resource_kind::virtual_service, "a"), "route table gloo-system.x missing");
  report.warning(key_of(resource_kind::virtual_service, "a"), "second thing");
  auto statuses = build_statuses(b.get(), report);
  const auto& s = status_of(statuses, key_of(resource_kind::virtual_service, "a"));
  EXPECT_EQ(s.state(), Status::Warning);
  EXPECT_EQ(s.reason(), "warning: \n  route table gloo-system.x missing\nsecond thing");
}

TEST(StatusTest, ErrorsRejectWithMultierrorTextFollowedByWarnings) {
  world_builder b;
  b.vs("one", "{}").vs("two", "{}");
  translation_report report;
  report.error(key_of(resource_kind::virtual_service, "one"), "domain conflict");
  report.warning(key_of(resource_kind::virtual_service, "one"), "also this");
  report.error(key_of(resource_kind::virtual_service, "two"), "first");
  report.error(key_of(resource_kind::virtual_service, "two"), "second");
  auto statuses = build_statuses(b.get(), report);

  const auto& one = status_of(statuses, key_of(resource_kind::virtual_service, "one"));
  EXPECT_EQ(one.state(), Status::Rejected);
  EXPECT_EQ(one.reason(), "1 error occurred:\n\t* domain conflict\n\n\nwarning: \n  also this");
  const auto& two = status_of(statuses, key_of(resource_kind::virtual_service, "two"));
  EXPECT_EQ(two.state(), Status::Rejected);
  EXPECT_EQ(two.reason(), "2 errors occurred:\n\t* first\n\t* second\n\n");
}

TEST(StatusTest, ReportedByFollowsTheApiGroup) {
  world_builder b;
  b.gateway("gw", R"({"bindPort": 8080, "httpGateway": {}})").rt("rt").upstream("up");
  b.add<gl::UpstreamGroup>(resource_kind::upstream_group, "ug");
  translation_report report;
  for (const auto& [kind, name] :
       std::vector<std::pair<resource_kind, std::string>>{{resource_kind::gateway, "gw"},
                                                          {resource_kind::route_table, "rt"},
                                                          {resource_kind::upstream, "up"},
                                                          {resource_kind::upstream_group, "ug"}}) {
    report.touch(key_of(kind, name));
  }
  auto statuses = build_statuses(b.get(), report);
  EXPECT_EQ(status_of(statuses, key_of(resource_kind::gateway, "gw")).reported_by(), "gateway");
  EXPECT_EQ(status_of(statuses, key_of(resource_kind::route_table, "rt")).reported_by(), "gateway");
  EXPECT_EQ(status_of(statuses, key_of(resource_kind::upstream, "up")).reported_by(), "gloo");
  EXPECT_EQ(status_of(statuses, key_of(resource_kind::upstream_group, "ug")).reported_by(), "gloo");

  status_options custom;
  custom.gateway_reporter = "gw-controller";
  custom.gloo_reporter = "gloo-controller";
  auto renamed = build_statuses(b.get(), report, {}, custom);
  EXPECT_EQ(status_of(renamed, key_of(resource_kind::gateway, "gw")).reported_by(),
            "gw-controller");
  EXPECT_EQ(status_of(renamed, key_of(resource_kind::upstream, "up")).reported_by(),
            "gloo-controller");
}

TEST(StatusTest, ResourcesTheReportNeverMentionsFollowGloo) {
  world_builder b;
  b.rt("unreferenced").upstream("up");
  b.add<gl::Settings>(resource_kind::settings, "default");
  b.add<gl::Secret>(resource_kind::secret, "tls");
  b.add<enterprise::gloo::solo::io::AuthConfig>(resource_kind::auth_config, "basic");
  auto statuses = build_statuses(b.get(), translation_report{});

  // Gloo marks every RouteTable Accepted each sync, referenced or not.
  const auto& rt = status_of(statuses, key_of(resource_kind::route_table, "unreferenced"));
  EXPECT_EQ(rt.state(), Status::Accepted);
  EXPECT_EQ(rt.reported_by(), "gateway");
  // An Upstream nothing translated has not been processed.
  EXPECT_EQ(status_of(statuses, key_of(resource_kind::upstream, "up")).state(), Status::Pending);
  EXPECT_EQ(status_of(statuses, key_of(resource_kind::settings, "default")).state(),
            Status::Accepted);
  EXPECT_EQ(status_of(statuses, key_of(resource_kind::auth_config, "basic")).state(),
            Status::Accepted);
  // Secrets carry no status.
  EXPECT_EQ(statuses.count(key_of(resource_kind::secret, "tls")), 0u);
}

TEST(StatusTest, ProxyHasListenerStatusesFromWhatFedIt) {
  world_builder b;
  b.gateway("gw", R"({"bindPort": 8080, "httpGateway": {}})")
      .vs("a", "{}")
      .vs("unplaced", "{}")
      .rt("rt");
  translation_report report;
  report.touch(key_of(resource_kind::gateway, "gw"));
  report.touch(key_of(resource_kind::virtual_service, "a"));
  report.warning(key_of(resource_kind::route_table, "rt"), "child route /b dropped");
  const std::vector<translated_proxy> proxies{proxy_fed_by("gw", "a", "rt")};
  auto statuses = build_statuses(b.get(), report, proxies);

  const auto& proxy = status_of(statuses, key_of(resource_kind::proxy, "gateway-proxy"));
  EXPECT_EQ(proxy.reported_by(), "gloo");
  EXPECT_EQ(proxy.state(), Status::Warning);
  EXPECT_NE(proxy.reason().find(
                "listener listener-::-8080: RouteTable gloo-system.rt: child route /b dropped"),
            std::string::npos)
      << proxy.reason();
  ASSERT_EQ(proxy.subresource_statuses().count("listener-::-8080"), 1u);
  const auto& listener = proxy.subresource_statuses().at("listener-::-8080");
  EXPECT_EQ(listener.state(), Status::Warning);
  EXPECT_EQ(listener.reason(), "warning: \n  RouteTable gloo-system.rt: child route /b dropped");

  // Everything that fed the Proxy carries its status under Gloo's key; the rest does not.
  const std::string sub = "*v1.Proxy.gateway-proxy_gloo-system";
  EXPECT_EQ(sub, proxy_subresource_key("gateway-proxy", "gloo-system"));
  for (const auto& key :
       {key_of(resource_kind::gateway, "gw"), key_of(resource_kind::virtual_service, "a"),
        key_of(resource_kind::route_table, "rt")}) {
    const auto& s = status_of(statuses, key);
    ASSERT_EQ(s.subresource_statuses().count(sub), 1u) << key.to_string();
    const auto& embedded = s.subresource_statuses().at(sub);
    EXPECT_EQ(embedded.state(), Status::Warning) << key.to_string();
    EXPECT_EQ(embedded.reported_by(), "gloo");
    EXPECT_TRUE(embedded.subresource_statuses().empty()) << "Gloo embeds state and reason only";
  }
  EXPECT_EQ(status_of(statuses, key_of(resource_kind::virtual_service, "a")).state(),
            Status::Accepted);
  EXPECT_TRUE(status_of(statuses, key_of(resource_kind::virtual_service, "unplaced"))
                  .subresource_statuses()
                  .empty());
}

TEST(StatusTest, ProxyWithCleanSourcesIsAccepted) {
  world_builder b;
  b.gateway("gw", R"({"bindPort": 8080, "httpGateway": {}})").vs("a", "{}").rt("rt");
  translation_report report;
  const std::vector<translated_proxy> proxies{proxy_fed_by("gw", "a", "rt")};
  auto statuses = build_statuses(b.get(), report, proxies);
  const auto& proxy = status_of(statuses, key_of(resource_kind::proxy, "gateway-proxy"));
  EXPECT_EQ(proxy.state(), Status::Accepted);
  EXPECT_EQ(proxy.reason(), "");
  EXPECT_EQ(proxy.subresource_statuses().at("listener-::-8080").state(), Status::Accepted);
}

TEST(StatusTest, NackRejectsTheResourcesItIsAttributedTo) {
  world_builder b;
  b.vs("a", "{}").vs("b", "{}");
  translation_report report;
  report.touch(key_of(resource_kind::virtual_service, "a"));
  report.touch(key_of(resource_kind::virtual_service, "b"));
  const std::string rds = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
  std::vector<nack_attribution> nacks{
      {key_of(resource_kind::virtual_service, "a"), "node-2", rds, "invalid regex"},
      {key_of(resource_kind::virtual_service, "a"), "node-1", rds, "invalid regex"},
  };
  auto statuses = build_statuses(b.get(), report, nacks);
  const auto& a = status_of(statuses, key_of(resource_kind::virtual_service, "a"));
  EXPECT_EQ(a.state(), Status::Rejected);
  // One finding per message, naming every client that sent it.
  EXPECT_EQ(a.reason(),
            "1 error occurred:\n\t* rejected by xDS clients node-1, node-2 (RouteConfiguration): "
            "invalid regex\n\n");
  EXPECT_EQ(status_of(statuses, key_of(resource_kind::virtual_service, "b")).state(),
            Status::Accepted);
}

TEST(StatusTest, NackOnTheProxyRejectsTheProxyAndShowsOnItsSources) {
  world_builder b;
  b.gateway("gw", R"({"bindPort": 8080, "httpGateway": {}})").vs("a", "{}").rt("rt");
  const std::vector<translated_proxy> proxies{proxy_fed_by("gw", "a", "rt")};
  std::vector<nack_attribution> nacks{{key_of(resource_kind::proxy, "gateway-proxy"), "envoy-1",
                                       "type.googleapis.com/envoy.config.listener.v3.Listener",
                                       "bad listener"}};
  auto statuses = build_statuses(b.get(), translation_report{}, proxies, nacks);
  const auto& proxy = status_of(statuses, key_of(resource_kind::proxy, "gateway-proxy"));
  EXPECT_EQ(proxy.state(), Status::Rejected);
  EXPECT_NE(proxy.reason().find("rejected by xDS client envoy-1 (Listener): bad listener"),
            std::string::npos)
      << proxy.reason();
  const auto& vs = status_of(statuses, key_of(resource_kind::virtual_service, "a"));
  EXPECT_EQ(vs.state(), Status::Accepted);
  EXPECT_EQ(vs.subresource_statuses().at("*v1.Proxy.gateway-proxy_gloo-system").state(),
            Status::Rejected);
}

// grpc-js (xds-clients.md "NACKs seen"): "resource index N" and nothing else names the resource.
TEST(StatusTest, NackedResourceNamesFollowTheIndexIntoTheRejectedResponse) {
  const std::vector<std::string> sent{"a_gloo-system", "b_gloo-system", "c_gloo-system"};
  EXPECT_EQ(nacked_resource_names("xDS response validation errors: [resource index 1: Cluster "
                                  "message validation failed: [Unsupported type STATIC]]",
                                  sent),
            std::vector<std::string>{"b_gloo-system"});
  EXPECT_EQ(nacked_resource_names("errors: [resource index 2: x; resource index 0: y; "
                                  "resource index 2: z]",
                                  sent),
            (std::vector<std::string>{"c_gloo-system", "a_gloo-system"}));
  // An index outside the response, or a bare "resource index", blames nothing.
  EXPECT_TRUE(nacked_resource_names("resource index 7: bad", sent).empty());
  EXPECT_TRUE(nacked_resource_names("resource index 99999999999999999999: bad", sent).empty());
  EXPECT_TRUE(nacked_resource_names("resource index : bad", sent).empty());
  // No index: only a response holding a single resource can be meant.
  EXPECT_TRUE(nacked_resource_names("something failed", sent).empty());
  EXPECT_EQ(nacked_resource_names("something failed", {"listener-::-8080"}),
            std::vector<std::string>{"listener-::-8080"});
  EXPECT_TRUE(nacked_resource_names("resource index 0: bad", {}).empty());
}

TEST(StatusTest, OptionResourcesAreAcceptedAndReportedByTheGateway) {
  world_builder b;
  b.add<gw::VirtualHostOption>(resource_kind::virtual_host_option, "vho")
      .add<gw::RouteOption>(resource_kind::route_option, "ro");
  auto statuses = build_statuses(b.get(), translation_report{});
  for (const auto& key : {key_of(resource_kind::virtual_host_option, "vho"),
                          key_of(resource_kind::route_option, "ro")}) {
    const auto& s = status_of(statuses, key);
    EXPECT_EQ(s.state(), Status::Accepted) << key.to_string();
    EXPECT_EQ(s.reported_by(), "gateway") << key.to_string();
  }
}

TEST(StatusTest, ReasonsAreCutAt1024BytesOnACharacterBoundary) {
  world_builder b;
  b.vs("a", "{}");
  translation_report report;
  std::string long_text;
  while (long_text.size() < 2000) {
    long_text += "\xC3\xA9";  // é, two bytes
  }
  report.warning(key_of(resource_kind::virtual_service, "a"), "x" + long_text);
  auto statuses = build_statuses(b.get(), report);
  const auto& reason = status_of(statuses, key_of(resource_kind::virtual_service, "a")).reason();
  EXPECT_LE(reason.size(), 1024u);
  EXPECT_GE(reason.size(), 1022u);
  // The last byte must not start an unfinished two-byte sequence.
  EXPECT_NE(static_cast<unsigned char>(reason.back()), 0xC3);

  status_options whole;
  whole.truncate = false;
  auto untruncated = build_statuses(b.get(), report, {}, whole);
  EXPECT_GT(status_of(untruncated, key_of(resource_kind::virtual_service, "a")).reason().size(),
            2000u);
}

TEST(StatusTest, TranslatedWorldGivesGlooStatuses) {
  world_builder b;
  b.gateway("gateway-proxy", R"({"bindAddress": "::", "bindPort": 8080, "httpGateway": {}})")
      .vs("good", R"({"virtualHost": {"domains": ["good.example.com"], "routes": [
            {"matchers": [{"prefix": "/"}],
             "delegateAction": {"ref": {"name": "child", "namespace": "gloo-system"}}}]}})")
      .vs("lost", R"({"virtualHost": {"domains": ["lost.example.com"], "routes": [
            {"matchers": [{"prefix": "/"}],
             "delegateAction": {"ref": {"name": "nowhere", "namespace": "gloo-system"}}}]}})")
      .rt("child", R"({"routes": [{"matchers": [{"prefix": "/x"}],
            "routeAction": {"single": {"upstream": {"name": "up", "namespace": "gloo-system"}}}}]})")
      .rt("orphan", R"({"routes": []})")
      .upstream("up");
  translation_report report;
  auto proxies = translate_gateways(b.get(), report);
  ASSERT_EQ(proxies.size(), 1u);
  auto statuses = build_statuses(b.get(), report, proxies);

  EXPECT_EQ(status_of(statuses, key_of(resource_kind::virtual_service, "good")).state(),
            Status::Accepted);
  EXPECT_EQ(status_of(statuses, key_of(resource_kind::route_table, "child")).state(),
            Status::Accepted);
  // A missing route table is a warning on the VirtualService (Gloo), naming the table.
  const auto& lost = status_of(statuses, key_of(resource_kind::virtual_service, "lost"));
  EXPECT_EQ(lost.state(), Status::Warning);
  EXPECT_NE(lost.reason().find("nowhere"), std::string::npos) << lost.reason();
  // An unreferenced RouteTable is Accepted and landed in no Proxy.
  const auto& orphan = status_of(statuses, key_of(resource_kind::route_table, "orphan"));
  EXPECT_EQ(orphan.state(), Status::Accepted);
  EXPECT_TRUE(orphan.subresource_statuses().empty());
  // The delegated table fed the Proxy, so it carries the Proxy's status.
  EXPECT_EQ(status_of(statuses, key_of(resource_kind::route_table, "child"))
                .subresource_statuses()
                .count("*v1.Proxy.gateway-proxy_gloo-system"),
            1u);
  EXPECT_EQ(status_of(statuses, key_of(resource_kind::proxy, "gateway-proxy")).state(),
            Status::Warning);
}

TEST(StatusTest, SourcesInWalksListenersVirtualHostsAndRoutes) {
  auto p = proxy_fed_by("gw", "a", "rt");
  auto sources = sources_in(p.proxy);
  // Sorted by kind (Gateway, VirtualService, RouteTable), each once although the VirtualService
  // is named on both its virtual host and its route.
  ASSERT_EQ(sources.size(), 3u);
  EXPECT_EQ(sources[0], key_of(resource_kind::gateway, "gw"));
  EXPECT_EQ(sources[1], key_of(resource_kind::virtual_service, "a"));
  EXPECT_EQ(sources[2], key_of(resource_kind::route_table, "rt"));
}

TEST(StatusTest, TranslationRejectionIsRejectedThoughTheServedFormIsClean) {
  world_builder b;
  b.vs("thief", "{}").vs("other", "{}");
  world w = b.get();
  w.set_rejection(
      key_of(resource_kind::virtual_service, "thief"),
      rejection{11, {"domain conflict: a.example.com"}, rejection_stage_translation, "vs.yaml"});
  translation_report report;  // the put-back form translates cleanly
  report.warning(key_of(resource_kind::virtual_service, "thief"), "route shadowed");
  auto statuses = build_statuses(w, report);
  const auto& thief = status_of(statuses, key_of(resource_kind::virtual_service, "thief"));
  EXPECT_EQ(thief.state(), Status::Rejected);
  EXPECT_EQ(thief.reason(),
            "1 error occurred:\n\t* domain conflict: a.example.com\n\n"
            "translation refused the change at seq 11; the last accepted form keeps serving\n"
            "\nwarning: \n  route shadowed");
  EXPECT_EQ(status_of(statuses, key_of(resource_kind::virtual_service, "other")).state(),
            Status::Accepted);
  EXPECT_EQ(reason_summary(thief.reason()),
            "domain conflict: a.example.com; translation refused the change at seq 11; the last "
            "accepted form keeps serving; route shadowed");
}

TEST(StatusTest, IngestRejectionNamesTheAcceptedFormThatKeepsServing) {
  world_builder b;
  b.upstream("a");
  world w = b.get();
  auto accepted = *w.find(key_of(resource_kind::upstream, "a"));
  accepted.seq = 5;
  w.put(accepted);
  w.set_rejection(key_of(resource_kind::upstream, "a"),
                  rejection{9,
                            {"static.hosts[0].port: not a number", "unknown field foo"},
                            rejection_stage_ingest,
                            "a.yaml"});
  translation_report report;
  report.touch(key_of(resource_kind::upstream, "a"));
  auto statuses = build_statuses(w, report);
  const auto& a = status_of(statuses, key_of(resource_kind::upstream, "a"));
  EXPECT_EQ(a.state(), Status::Rejected);
  EXPECT_EQ(a.reported_by(), "gloo");
  EXPECT_EQ(a.reason(),
            "2 errors occurred:\n\t* static.hosts[0].port: not a number\n\t* unknown field foo"
            "\n\nthe last accepted form (seq 5) keeps serving\n");
}

TEST(StatusTest, RejectedResourceNeverAcceptedStillGetsAStatus) {
  world w;
  w.set_rejection(key_of(resource_kind::virtual_service, "fresh"),
                  rejection{3, {"bad regex"}, rejection_stage_ingest, "fresh.yaml"});
  // Secrets carry no status, rejected or not.
  w.set_rejection(key_of(resource_kind::secret, "tls"),
                  rejection{4, {"bad pem"}, rejection_stage_ingest, "tls.yaml"});
  auto statuses = build_statuses(w, translation_report{});
  const auto& fresh = status_of(statuses, key_of(resource_kind::virtual_service, "fresh"));
  EXPECT_EQ(fresh.state(), Status::Rejected);
  EXPECT_EQ(fresh.reported_by(), "gateway");
  EXPECT_EQ(fresh.reason(),
            "1 error occurred:\n\t* bad regex\n\n"
            "no form of it was ever accepted, so nothing of it is served\n");
  EXPECT_EQ(statuses.count(key_of(resource_kind::secret, "tls")), 0u);
  EXPECT_EQ(statuses.size(), 1u);
}

TEST(StatusTest, OriginRejectionRejectsEveryResourceFromThatOrigin) {
  world w;
  auto put = [&](resource_kind kind, const std::string& name, const std::string& origin) {
    world_builder b;
    if (kind == resource_kind::upstream) {
      b.upstream(name);
    } else {
      b.vs(name, "{}");
    }
    auto r = *b.get().find(key_of(kind, name));
    r.origin = origin;
    w.put(r);
  };
  put(resource_kind::virtual_service, "one", "team.yaml");
  put(resource_kind::virtual_service, "two", "team.yaml");
  put(resource_kind::virtual_service, "three", "other.yaml");
  put(resource_kind::upstream, "a", "team.yaml");  // another kind: not covered
  w.set_origin_rejection(resource_kind::virtual_service, "team.yaml",
                         rejection{6,
                                   {"team.yaml: line 3: mapping values are not allowed"},
                                   rejection_stage_ingest,
                                   "team.yaml"});
  auto statuses = build_statuses(w, translation_report{});
  for (const char* name : {"one", "two"}) {
    const auto& s = status_of(statuses, key_of(resource_kind::virtual_service, name));
    EXPECT_EQ(s.state(), Status::Rejected) << name;
    EXPECT_NE(s.reason().find("mapping values are not allowed"), std::string::npos) << s.reason();
  }
  EXPECT_EQ(status_of(statuses, key_of(resource_kind::virtual_service, "three")).state(),
            Status::Accepted);
  EXPECT_EQ(status_of(statuses, key_of(resource_kind::upstream, "a")).state(), Status::Pending);
}

TEST(StatusTest, ReasonSummaryIsOneLine) {
  EXPECT_EQ(reason_summary("2 errors occurred:\n\t* first\n\t* second\n\n\nwarning: \n  w1\nw2"),
            "first; second; w1; w2");
  EXPECT_EQ(reason_summary("warning: \n  only"), "only");
  EXPECT_EQ(reason_summary(""), "");
  EXPECT_EQ(state_name(Status::Warning), "Warning");
  EXPECT_EQ(state_name(Status::Pending), "Pending");
}

}  // namespace
}  // namespace sluice::model
