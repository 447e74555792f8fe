// The status reporter: rejections come from the world (so they survive restarts), origin
// rejections reach the object their API path names, and NACKs (xds::nack_book attributed by
// xds::attribute_nacks, as the server wires it) reject what they blame until an ACK.
#include "adapters/kubernetes_status_reporter.hpp"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/event_world.hpp"
#include "solo/gateway.pb.h"
#include "solo/gloo.pb.h"
#include "test/support/fake_kube_apiserver.hpp"
#include "xds/ads_server.hpp"
#include "xds/nack_attribution.hpp"
#include "xds/world_translation.hpp"

namespace sluice::adapters {
namespace {

using json = nlohmann::json;
using model::resource_key;
using model::resource_kind;
using Status = ::core::solo::io::Status;

const std::string ns = "gloo-system";

std::string api_path(resource_kind kind, const std::string& name) {
  const std::string group
      = kind == resource_kind::upstream ? "gloo.solo.io/v1" : "gateway.solo.io/v1";
  return "apis/" + group + "/namespaces/" + ns + "/" + std::string(model::info(kind).plural) + "/"
         + name;
}

resource_key key_of(resource_kind kind, const std::string& name) { return {kind, ns, name}; }

// A world of Kubernetes objects from Gloo's JSON form.
class world_builder {
 public:
  template <class T>
  world_builder& add(resource_kind kind, const std::string& name, const std::string& text,
                     uint64_t seq = 1) {
    auto msg = std::make_shared<T>();
    auto status = google::protobuf::util::JsonStringToMessage(text, msg.get());
    EXPECT_TRUE(status.ok()) << name << ": " << status.ToString();
    msg->mutable_metadata()->set_name(name);
    msg->mutable_metadata()->set_namespace_(ns);
    model::stored_resource r;
    r.key = key_of(kind, name);
    r.content_hash = model::content_hash(model::canonical_bytes(*msg));
    r.message = std::move(msg);
    r.seq = seq;
    r.origin = api_path(kind, name);
    w_.put(std::move(r));
    return *this;
  }
  world_builder& gateway() {
    return add<::gateway::solo::io::Gateway>(resource_kind::gateway, "gateway-proxy",
                                             R"({"bindAddress": "::", "bindPort": 8080,
                                                 "httpGateway": {}})");
  }
  world_builder& upstream(const std::string& name) {
    return add<::gloo::solo::io::Upstream>(
        resource_kind::upstream, name,
        R"({"static": {"hosts": [{"addr": "127.0.0.1", "port": 8080}]}})");
  }
  world_builder& vs(const std::string& name, uint64_t seq = 1) {
    return add<::gateway::solo::io::VirtualService>(
        resource_kind::virtual_service, name,
        R"({"virtualHost": {"domains": [")" + name + R"(.example.com"], "routes": [{
            "matchers": [{"prefix": "/"}],
            "routeAction": {"single": {"upstream": {"name": "a", "namespace": "gloo-system"}}}
          }]}})",
        seq);
  }
  world_builder& reject(resource_kind kind, const std::string& name, const std::string& stage,
                        uint64_t seq, const std::string& error) {
    w_.set_rejection(key_of(kind, name),
                     model::rejection{seq, {error}, stage, api_path(kind, name)});
    return *this;
  }
  model::world& get() { return w_; }

 private:
  model::world w_;
};

// The outcome the world actor would hand over for `w`.
struct outcome {
  std::shared_ptr<const model::world> world;
  xds::world_translation translation;

  explicit outcome(const model::world& w)
      : world(std::make_shared<const model::world>(w)), translation(xds::translate_world(w)) {}

  status_inputs inputs() const {
    return {world, std::make_shared<const model::translation_report>(translation.report),
            std::make_shared<const std::vector<model::translated_proxy>>(translation.proxies)};
  }
};

std::shared_ptr<kubernetes_status_writer> idle_writer() {
  return std::make_shared<kubernetes_status_writer>(kubernetes_status_writer_options{});
}

const Status& status_in(const kubernetes_status_reporter::status_map& statuses,
                        const resource_key& key) {
  static const Status missing;
  auto i = statuses.find(key);
  EXPECT_NE(i, statuses.end()) << "no status for " << key.to_string();
  return i == statuses.end() ? missing : i->second;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(KubernetesStatusReporterTest, IngestRejectionInTheWorldIsRejectedByAFreshReporter) {
  world_builder b;
  b.gateway().upstream("a").vs("greeter", 3);
  b.reject(resource_kind::virtual_service, "greeter", model::rejection_stage_ingest, 9,
           "invalid regex: missing )");
  const outcome o(b.get());
  // A reporter that saw no events (the process restarted): the world says it all.
  kubernetes_status_reporter reporter(idle_writer(), status_scope::all);
  auto statuses = reporter.statuses(o.inputs());
  const auto& greeter = status_in(statuses, key_of(resource_kind::virtual_service, "greeter"));
  EXPECT_EQ(greeter.state(), Status::Rejected);
  EXPECT_EQ(greeter.reason(),
            "1 error occurred:\n\t* invalid regex: missing )\n\n"
            "the last accepted form (seq 3) keeps serving\n");
  EXPECT_EQ(greeter.reported_by(), "gateway");
  EXPECT_EQ(status_in(statuses, key_of(resource_kind::upstream, "a")).state(), Status::Accepted);
}

TEST(KubernetesStatusReporterTest, RejectedObjectNeverAcceptedGetsARejectedStatus) {
  world_builder b;
  b.gateway().upstream("a").vs("greeter");
  b.reject(resource_kind::virtual_service, "fresh", model::rejection_stage_ingest, 4, "bad field");
  // Rejected input from a directory source is not a Kubernetes object: nothing to write.
  b.get().set_rejection(key_of(resource_kind::virtual_service, "from-file"),
                        model::rejection{5, {"bad"}, "ingest", "/etc/gloo/vs.yaml"});
  const outcome o(b.get());
  kubernetes_status_reporter reporter(idle_writer(), status_scope::all);
  auto statuses = reporter.statuses(o.inputs());
  const auto& fresh = status_in(statuses, key_of(resource_kind::virtual_service, "fresh"));
  EXPECT_EQ(fresh.state(), Status::Rejected);
  EXPECT_TRUE(has(fresh.reason(), "* bad field")) << fresh.reason();
  EXPECT_TRUE(has(fresh.reason(), "no form of it was ever accepted")) << fresh.reason();
  EXPECT_EQ(statuses.count(key_of(resource_kind::virtual_service, "from-file")), 0u);
}

TEST(KubernetesStatusReporterTest, OriginRejectionRejectsTheObjectItsPathNames) {
  world_builder b;
  b.gateway().upstream("a").vs("greeter");
  // Neither decoded far enough to name anything: one has an accepted form from that path, the
  // other none.
  b.get().set_origin_rejection(resource_kind::virtual_service,
                               api_path(resource_kind::virtual_service, "greeter"),
                               model::rejection{7, {"spec is not an object"}, "ingest", ""});
  b.get().set_origin_rejection(resource_kind::virtual_service,
                               api_path(resource_kind::virtual_service, "ghost"),
                               model::rejection{8, {"spec is not an object"}, "ingest", ""});
  const outcome o(b.get());
  kubernetes_status_reporter reporter(idle_writer(), status_scope::all);
  auto statuses = reporter.statuses(o.inputs());
  const auto& greeter = status_in(statuses, key_of(resource_kind::virtual_service, "greeter"));
  EXPECT_EQ(greeter.state(), Status::Rejected);
  EXPECT_TRUE(has(greeter.reason(), "the last accepted form (seq 1) keeps serving"))
      << greeter.reason();
  const auto& ghost = status_in(statuses, key_of(resource_kind::virtual_service, "ghost"));
  EXPECT_EQ(ghost.state(), Status::Rejected);
  EXPECT_TRUE(has(ghost.reason(), "spec is not an object")) << ghost.reason();
  // The gloo role does not write VirtualService statuses, rejected or not.
  kubernetes_status_reporter gloo(idle_writer(), status_scope::gloo);
  auto gloo_statuses = gloo.statuses(o.inputs());
  EXPECT_EQ(gloo_statuses.count(key_of(resource_kind::virtual_service, "ghost")), 0u);
  EXPECT_EQ(gloo_statuses.count(key_of(resource_kind::virtual_service, "greeter")), 0u);
  EXPECT_EQ(gloo_statuses.count(key_of(resource_kind::upstream, "a")), 1u);
}

TEST(KubernetesStatusReporterTest, TranslationRejectionNamesTheSeqItWasRefusedAt) {
  world_builder b;
  b.gateway().upstream("a").vs("thief", 12);  // the put-back clean form
  b.reject(resource_kind::virtual_service, "thief", model::rejection_stage_translation, 11,
           "domain conflict");
  const outcome o(b.get());
  kubernetes_status_reporter reporter(idle_writer(), status_scope::gateway);
  auto statuses = reporter.statuses(o.inputs());
  const auto& thief = status_in(statuses, key_of(resource_kind::virtual_service, "thief"));
  EXPECT_EQ(thief.state(), Status::Rejected);
  EXPECT_TRUE(has(thief.reason(),
                  "translation refused the change at seq 11; the last accepted "
                  "form keeps serving"))
      << thief.reason();
}

// The server's wiring: client answers go into an xds::nack_book; the reporter attributes the
// current NACKs over the served snapshots.
class KubernetesStatusReporterNackTest : public ::testing::Test {
 protected:
  KubernetesStatusReporterNackTest() : outcome_(world()) {
    kubernetes_credentials creds;
    creds.server = server_.url();
    creds.token = "test-token";
    creds.ca_pem = server_.pki().ca_cert;
    for (const auto& name : {"greeter", "other"}) {
      server_.apply({{"apiVersion", "gateway.solo.io/v1"},
                     {"kind", "VirtualService"},
                     {"metadata", {{"name", name}, {"namespace", ns}}},
                     {"spec", json::object()}});
    }
    kubernetes_status_writer_options o;
    o.client = *kubernetes_client::make(creds);
    o.burst = 1000;
    o.qps = 1000;
    writer_ = std::make_shared<kubernetes_status_writer>(o);
    reporter_ = std::make_unique<kubernetes_status_reporter>(writer_, status_scope::gateway);
    auto snapshots = outcome_.translation.snapshots;
    reporter_->set_nack_attributor([this, snapshots](const status_inputs& in) {
      return xds::attribute_nacks(*in.world, *in.proxies, snapshots, book_.current());
    });
  }
  ~KubernetesStatusReporterNackTest() override {
    reporter_->stop();
    writer_->stop();
  }

  static model::world world() {
    world_builder b;
    b.gateway().upstream("a").vs("greeter").vs("other");
    return b.get();
  }

  void answer(bool nack, const std::string& message) {
    xds::client_response r;
    r.node_id = "envoy-1";
    r.key = ns + "~gateway-proxy";
    r.type_url = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
    r.nack = nack;
    r.error_message = message;
    if (book_.record(r)) {
      reporter_->nacks_changed();
    }
  }

  std::string state_of(const std::string& name) {
    auto obj = server_.get("apis/gateway.solo.io/v1/namespaces/" + ns + "/virtualservices/" + name);
    if (!obj || !obj->contains("status")) {
      return "";
    }
    return (*obj)["status"]["statuses"].value(ns, json::object()).value("state", "");
  }

  test::fake_kube_apiserver server_;
  outcome outcome_;
  xds::nack_book book_;
  std::shared_ptr<kubernetes_status_writer> writer_;
  std::unique_ptr<kubernetes_status_reporter> reporter_;
};

TEST_F(KubernetesStatusReporterNackTest, CurrentNackRejectsWhatItBlamesUntilAnAck) {
  // Pure: the NACK names greeter's virtual host, so only greeter is blamed.
  answer(true, "virtual host gloo-system_greeter: route: invalid regex");
  auto statuses = reporter_->statuses(outcome_.inputs());
  const auto& greeter = status_in(statuses, key_of(resource_kind::virtual_service, "greeter"));
  EXPECT_EQ(greeter.state(), Status::Rejected);
  EXPECT_TRUE(has(greeter.reason(),
                  "rejected by xDS client envoy-1 (RouteConfiguration): "
                  "virtual host gloo-system_greeter: route: invalid regex"))
      << greeter.reason();
  EXPECT_EQ(status_in(statuses, key_of(resource_kind::virtual_service, "other")).state(),
            Status::Accepted);
  answer(false, "");
  EXPECT_EQ(status_in(reporter_->statuses(outcome_.inputs()),
                      key_of(resource_kind::virtual_service, "greeter"))
                .state(),
            Status::Accepted);

  // Running: a NACK arriving after the outcome rewrites the status, the ACK clears it.
  writer_->start();
  reporter_->start();
  reporter_->offer(outcome_.inputs());
  ASSERT_TRUE(
      test::fake_kube_apiserver::eventually([&] { return state_of("greeter") == "Accepted"; }));
  answer(true, "virtual host gloo-system_greeter: route: invalid regex");
  ASSERT_TRUE(
      test::fake_kube_apiserver::eventually([&] { return state_of("greeter") == "Rejected"; }));
  EXPECT_EQ(state_of("other"), "Accepted");
  answer(false, "");
  ASSERT_TRUE(
      test::fake_kube_apiserver::eventually([&] { return state_of("greeter") == "Accepted"; }));
}

}  // namespace
}  // namespace sluice::adapters
