#include "adapters/kubernetes_discovery_writer.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "adapters/kubernetes_discovery.hpp"
#include "test/support/fake_kube_apiserver.hpp"

namespace sluice::adapters {
namespace {

using json = nlohmann::json;
using test::fake_kube_apiserver;
using namespace std::chrono_literals;

const std::string collection = "/apis/gloo.solo.io/v1/namespaces/gloo-system/upstreams";

std::string path_of(const std::string& name) { return collection.substr(1) + "/" + name; }

json service(const std::string& name, int port, json labels = json::object()) {
  return json{{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", labels}}},
              {"spec",
               {{"selector", {{"app", name}}},
                {"ports", json::array({{{"name", "http"}, {"port", port}}})}}}};
}

/// The discovered Upstream of a Service as kubernetes_discovery generates it.
json desired_of(const json& svc) {
  kubernetes_discovery d({"gloo-system", false, false});
  (void)d.upsert_service(svc);
  auto all = d.discovered_upstreams();
  EXPECT_EQ(all.size(), 1u);
  return all.begin()->second;
}

json static_upstream(const std::string& name) {
  return json{
      {"apiVersion", "gloo.solo.io/v1"},
      {"kind", "Upstream"},
      {"metadata", {{"name", name}, {"namespace", "gloo-system"}}},
      {"spec", {{"static", {{"hosts", json::array({{{"addr", "10.1.1.1"}, {"port", 80}}})}}}}}};
}

class KubernetesDiscoveryWriterTest : public ::testing::Test {
 protected:
  KubernetesDiscoveryWriterTest() {
    kubernetes_credentials creds;
    creds.server = server_.url();
    creds.token = "test-token";
    creds.ca_pem = server_.pki().ca_cert;
    auto c = kubernetes_client::make(creds);
    EXPECT_TRUE(c);
    client_ = *c;
  }

  std::unique_ptr<kubernetes_discovery_writer> writer(double qps = 100, double burst = 100) {
    kubernetes_discovery_writer_options o;
    o.client = client_;
    o.qps = qps;
    o.burst = burst;
    o.seed = 7;
    o.may_write = [this] { return leader_.load(); };
    o.now = [this] { return now_; };
    return std::make_unique<kubernetes_discovery_writer>(std::move(o));
  }

  /// What the watch would hand the writer: the object as the server holds it.
  void observe(kubernetes_discovery_writer& w, const std::string& name) {
    auto obj = server_.get(path_of(name));
    w.observe(name, obj ? *obj : json());
  }

  size_t writes() const {
    return server_.count("POST", "/upstreams") + server_.count("PUT", "/upstreams")
           + server_.count("DELETE", "/upstreams");
  }

  fake_kube_apiserver server_;
  std::shared_ptr<kubernetes_client> client_;
  std::atomic<bool> leader_{true};
  std::chrono::steady_clock::time_point now_{};
};

TEST_F(KubernetesDiscoveryWriterTest, CreatesMissingUpstreamsOnlyOnceSynced) {
  auto w = writer();
  json want = desired_of(service("pets", 8080));
  w->desire("default-pets-8080", want);
  EXPECT_EQ(w->pump(), 0u);
  EXPECT_EQ(writes(), 0u) << "nothing may be written before the initial lists are in";

  w->synced();
  EXPECT_EQ(w->pump(), 1u);
  auto stored = server_.get(path_of("default-pets-8080"));
  ASSERT_TRUE(stored);
  EXPECT_EQ((*stored)["metadata"]["labels"]["discovered_by"], "kubernetesplugin");
  EXPECT_EQ((*stored)["spec"]["kube"]["serviceName"], "pets");
  EXPECT_EQ((*stored)["spec"]["kube"]["servicePort"], 8080);
  EXPECT_EQ(w->stats().creates, 1u);
  EXPECT_EQ(w->pending(), 0u);
  EXPECT_EQ(w->pump(), 0u);
  EXPECT_EQ(writes(), 1u);
}

TEST_F(KubernetesDiscoveryWriterTest, UnchangedUpstreamIsNotRewrittenWhateverElseItCarries) {
  json want = desired_of(service("pets", 8080));
  json stored = want;
  stored["metadata"]["labels"]["team"] = "blue";  // a user's label
  stored["spec"]["useHttp2"] = true;              // a user's setting
  stored["status"] = {{"statuses", {{"gloo-system", {{"state", "Accepted"}}}}}};
  server_.apply(stored);
  auto w = writer();
  observe(*w, "default-pets-8080");
  w->desire("default-pets-8080", want);
  w->synced();
  EXPECT_EQ(w->pump(), 0u);
  EXPECT_EQ(writes(), 0u);
  EXPECT_EQ(server_.count("GET", "/upstreams/"), 0u) << "settled from the watch, no reads";
  EXPECT_EQ(w->pending(), 0u);
}

TEST_F(KubernetesDiscoveryWriterTest, ServiceChangeUpdatesOwnedFieldsAndKeepsUserFields) {
  json before = desired_of(service("pets", 8080));
  json stored = before;
  stored["metadata"]["labels"]["team"] = "blue";
  stored["spec"]["useHttp2"] = true;
  server_.apply(stored);
  auto w = writer();
  observe(*w, "default-pets-8080");
  json after = desired_of(service("pets", 8080, {{"tier", "gold"}}));
  w->desire("default-pets-8080", after);
  w->synced();
  EXPECT_EQ(w->pump(), 1u);
  auto now = server_.get(path_of("default-pets-8080"));
  ASSERT_TRUE(now);
  EXPECT_EQ((*now)["spec"]["discoveryMetadata"]["labels"]["tier"], "gold");
  EXPECT_EQ((*now)["spec"]["useHttp2"], true);
  EXPECT_EQ((*now)["metadata"]["labels"]["team"], "blue");
  EXPECT_EQ((*now)["metadata"]["labels"]["discovered_by"], "kubernetesplugin");
  EXPECT_EQ(w->stats().updates, 1u);
  EXPECT_EQ(server_.count("PUT", "/upstreams/default-pets-8080"), 1u);
}

TEST_F(KubernetesDiscoveryWriterTest, UserUpstreamOfTheSameNameIsNeverUpdatedOrDeleted) {
  server_.apply(static_upstream("default-pets-8080"));
  auto w = writer();
  observe(*w, "default-pets-8080");
  w->desire("default-pets-8080", desired_of(service("pets", 8080)));
  w->synced();
  EXPECT_EQ(w->pump(), 0u);
  EXPECT_EQ(w->stats().foreign, 1u);
  w->desire("default-pets-8080", json());  // the Service goes away
  EXPECT_EQ(w->pump(), 0u);
  EXPECT_EQ(writes(), 0u);
  auto kept = server_.get(path_of("default-pets-8080"));
  ASSERT_TRUE(kept);
  EXPECT_TRUE((*kept)["spec"].contains("static"));
}

TEST_F(KubernetesDiscoveryWriterTest, UpstreamNoServiceWantsIsDeleted) {
  server_.apply(desired_of(service("pets", 8080)));
  auto w = writer();
  observe(*w, "default-pets-8080");
  w->synced();  // no Service wants it (deleted while sluice was down)
  EXPECT_EQ(w->pump(), 1u);
  EXPECT_FALSE(server_.get(path_of("default-pets-8080")));
  EXPECT_EQ(w->stats().deletes, 1u);
}

TEST_F(KubernetesDiscoveryWriterTest, CreateThatFindsTheUpstreamReadsAndCompares) {
  json want = desired_of(service("pets", 8080));
  server_.apply(want);  // written by an earlier leader; our watch has not shown it yet
  auto w = writer();
  w->desire("default-pets-8080", want);
  w->synced();
  EXPECT_EQ(w->pump(), 0u);
  EXPECT_EQ(server_.count("POST", "/upstreams"), 1u);
  EXPECT_EQ(server_.count("PUT", "/upstreams"), 0u) << "identical: nothing to update";
  EXPECT_EQ(w->stats().conflicts, 1u);
  EXPECT_EQ(w->pending(), 0u);
}

TEST_F(KubernetesDiscoveryWriterTest, StaleResourceVersionIsRetriedOnAFreshRead) {
  server_.apply(desired_of(service("pets", 8080)));
  auto w = writer();
  observe(*w, "default-pets-8080");
  // The object changes after the watch showed it (a status write): our copy is stale.
  auto obj = *server_.get(path_of("default-pets-8080"));
  obj["status"] = {{"statuses", {{"gloo-system", {{"state", "Accepted"}}}}}};
  server_.apply(obj);
  w->desire("default-pets-8080", desired_of(service("pets", 8080, {{"tier", "gold"}})));
  w->synced();
  EXPECT_EQ(w->pump(), 1u);
  EXPECT_EQ(w->stats().conflicts, 1u);
  EXPECT_EQ(server_.count("PUT", "/upstreams/default-pets-8080"), 2u);
  auto now = server_.get(path_of("default-pets-8080"));
  EXPECT_EQ((*now)["spec"]["discoveryMetadata"]["labels"]["tier"], "gold");
  EXPECT_EQ((*now)["status"]["statuses"]["gloo-system"]["state"], "Accepted");
}

TEST_F(KubernetesDiscoveryWriterTest, DeleteIsConditionalSoAReplacedUpstreamSurvives) {
  server_.apply(desired_of(service("pets", 8080)));
  auto w = writer();
  observe(*w, "default-pets-8080");
  server_.apply(static_upstream("default-pets-8080"));  // a user replaced it meanwhile
  w->synced();
  EXPECT_EQ(w->pump(), 0u);
  EXPECT_EQ(server_.count("DELETE", "/upstreams/default-pets-8080"), 1u);
  EXPECT_EQ(w->stats().conflicts, 1u);
  auto kept = server_.get(path_of("default-pets-8080"));
  ASSERT_TRUE(kept) << "the precondition must have refused the delete";
  EXPECT_TRUE((*kept)["spec"].contains("static"));
}

TEST_F(KubernetesDiscoveryWriterTest, NothingIsWrittenWithoutTheLease) {
  leader_ = false;
  auto w = writer();
  w->desire("default-pets-8080", desired_of(service("pets", 8080)));
  w->synced();
  EXPECT_EQ(w->pump(), 0u);
  EXPECT_EQ(server_.requests().size(), 0u);
  EXPECT_GE(w->stats().deferred, 1u);
  EXPECT_EQ(w->pending(), 1u) << "the work waits for the lease";
  leader_ = true;
  EXPECT_EQ(w->pump(), 1u);
  EXPECT_TRUE(server_.get(path_of("default-pets-8080")));
}

TEST_F(KubernetesDiscoveryWriterTest, WritesAreRateLimitedAndFailuresBackOff) {
  auto w = writer(/*qps=*/1, /*burst=*/2);
  for (int port : {81, 82, 83}) {
    json svc = service("s" + std::to_string(port), port);
    w->desire("default-s" + std::to_string(port) + "-" + std::to_string(port), desired_of(svc));
  }
  w->synced();
  EXPECT_EQ(w->pump(), 2u);
  EXPECT_EQ(w->stats().rate_limited, 1u);
  EXPECT_EQ(w->pump(), 0u) << "no token yet";
  now_ += 1s;
  EXPECT_EQ(w->pump(), 1u);
  EXPECT_EQ(server_.list("apis/gloo.solo.io/v1/upstreams").size(), 3u);

  now_ += 10s;
  server_.fail_next("POST", "/upstreams", 500);
  w->desire("default-s84-84", desired_of(service("s84", 84)));
  EXPECT_EQ(w->pump(), 0u);
  EXPECT_EQ(w->stats().errors, 1u);
  EXPECT_EQ(w->pump(), 0u);
  EXPECT_EQ(server_.count("POST", "/upstreams"), 4u) << "backing off: no retry at once";
  now_ += 31s;  // past backoff_max
  EXPECT_EQ(w->pump(), 1u);
  EXPECT_TRUE(server_.get(path_of("default-s84-84")));
}

TEST_F(KubernetesDiscoveryWriterTest, BackgroundThreadWritesOnceNudged) {
  leader_ = false;
  kubernetes_discovery_writer_options o;
  o.client = client_;
  o.may_write = [this] { return leader_.load(); };
  kubernetes_discovery_writer w(o);
  w.start();
  w.desire("default-pets-8080", desired_of(service("pets", 8080)));
  w.synced();
  EXPECT_TRUE(fake_kube_apiserver::eventually([&] { return w.stats().deferred > 0; }));
  EXPECT_EQ(writes(), 0u);
  leader_ = true;
  w.nudge();
  EXPECT_TRUE(fake_kube_apiserver::eventually(
      [&] { return server_.get(path_of("default-pets-8080")).has_value(); }));
  w.stop();
}

TEST(KubernetesDiscoveryChangesTest, DesiredUpstreamsFollowServicePortsRegardlessOfCrds) {
  kubernetes_discovery d({"gloo-system", false, true});
  auto out = d.upsert_service(service("pets", 8080));
  for (const auto& ev : out) {
    EXPECT_EQ(ev.origin.find("discovery/upstreams/gloo-system/"), std::string::npos)
        << "no in-memory discovered upstream when `upstreams` is off: " << ev.origin;
  }
  auto changes = d.take_discovered_changes();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes.begin()->first, "default-pets-8080");
  EXPECT_TRUE(d.take_discovered_changes().empty());

  // The CRD written back does not hide it from the desired set.
  (void)d.upsert_upstream(changes.begin()->second);
  EXPECT_TRUE(d.take_discovered_changes().empty());
  EXPECT_EQ(d.discovered_upstreams().size(), 1u);

  json moved = service("pets", 9090);
  (void)d.upsert_service(moved);
  changes = d.take_discovered_changes();
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_TRUE(changes["default-pets-8080"].is_null());
  EXPECT_EQ(changes["default-pets-9090"]["spec"]["kube"]["servicePort"], 9090);

  (void)d.remove_service("default", "pets");
  changes = d.take_discovered_changes();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_TRUE(changes["default-pets-9090"].is_null());
}

}  // namespace
}  // namespace sluice::adapters
