#include "adapters/kubernetes_status_writer.hpp"

#include <atomic>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test/support/fake_kube_apiserver.hpp"

namespace sluice::adapters {
namespace {

using json = nlohmann::json;
using model::resource_key;
using model::resource_kind;
using test::fake_kube_apiserver;
using State = ::core::solo::io::Status::State;
using namespace std::chrono_literals;

std::string vs_path(const std::string& name) {
  return "apis/gateway.solo.io/v1/namespaces/default/virtualservices/" + name;
}

json virtual_service(const std::string& name) {
  return json{{"apiVersion", "gateway.solo.io/v1"},
              {"kind", "VirtualService"},
              {"metadata", {{"name", name}, {"namespace", "default"}}},
              {"spec", {{"virtualHost", {{"domains", {name + ".example.com"}}}}}}};
}

resource_key vs_key(const std::string& name) {
  return resource_key{resource_kind::virtual_service, "default", name};
}

::core::solo::io::Status status(State state, const std::string& reason = {}) {
  ::core::solo::io::Status s;
  s.set_state(state);
  s.set_reason(reason);
  s.set_reported_by("gateway");
  return s;
}

/// A clock the test moves by hand.
struct fake_clock {
  std::atomic<int64_t> ms{0};
  std::chrono::steady_clock::time_point now() const {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(ms.load()));
  }
  std::function<std::chrono::steady_clock::time_point()> fn() {
    return [this] { return now(); };
  }
};

class KubernetesStatusWriterTest : public ::testing::Test {
 protected:
  KubernetesStatusWriterTest() {
    kubernetes_credentials creds;
    creds.server = server_.url();
    creds.token = "test-token";
    creds.ca_pem = server_.pki().ca_cert;
    client_ = *kubernetes_client::make(creds);
  }

  kubernetes_status_writer_options options() {
    kubernetes_status_writer_options o;
    o.client = client_;
    o.now = clock_.fn();
    o.qps = 1;
    o.burst = 100;
    return o;
  }

  size_t status_puts() const { return server_.count("PUT", "/status"); }

  json stored_status(const std::string& name, const std::string& controller = "gloo-system") {
    auto obj = server_.get(vs_path(name));
    if (!obj || !obj->contains("status")) {
      return nullptr;
    }
    return (*obj)["status"]["statuses"].value(controller, json());
  }

  fake_kube_apiserver server_;
  std::shared_ptr<kubernetes_client> client_;
  fake_clock clock_;
};

TEST_F(KubernetesStatusWriterTest, WritesOnlyWhenAStatusChanged) {
  server_.apply(virtual_service("a"));
  server_.apply(virtual_service("b"));
  kubernetes_status_writer writer(options());
  writer.update({{vs_key("a"), status(State::Status_State_Accepted)},
                 {vs_key("b"), status(State::Status_State_Accepted)}});
  EXPECT_EQ(writer.pump(), 2u);
  EXPECT_EQ(status_puts(), 2u);
  EXPECT_EQ(stored_status("a")["state"], "Accepted");
  EXPECT_EQ(stored_status("a")["reportedBy"], "gateway");

  // The same statuses again: nothing queued, nothing written.
  writer.update({{vs_key("a"), status(State::Status_State_Accepted)},
                 {vs_key("b"), status(State::Status_State_Accepted)}});
  EXPECT_EQ(writer.pending(), 0u);
  EXPECT_EQ(writer.pump(), 0u);
  EXPECT_EQ(status_puts(), 2u);

  // One changes: one write, and the spec is untouched.
  writer.update({{vs_key("a"), status(State::Status_State_Rejected, "bad route")},
                 {vs_key("b"), status(State::Status_State_Accepted)}});
  EXPECT_EQ(writer.pending(), 1u);
  EXPECT_EQ(writer.pump(), 1u);
  EXPECT_EQ(status_puts(), 3u);
  EXPECT_EQ(stored_status("a")["state"], "Rejected");
  EXPECT_EQ(stored_status("a")["reason"], "bad route");
  EXPECT_EQ((*server_.get(vs_path("a")))["spec"], virtual_service("a")["spec"]);
}

// A status that flips back (a NACK cleared by an ACK, a rejection fixed) while the write of the
// flip is in flight must still be written, not compared with the status from before the flip.
TEST_F(KubernetesStatusWriterTest, StatusChangedBackWhileItsWriteIsInFlightIsWritten) {
  server_.apply(virtual_service("a"));
  kubernetes_status_writer writer(options());
  const kubernetes_status_writer::status_map accepted{
      {vs_key("a"), status(State::Status_State_Accepted)}};
  writer.update(accepted);
  ASSERT_EQ(writer.pump(), 1u);
  std::atomic<bool> flipped{false};
  server_.on_request([&](const std::string& method, const std::string& path) {
    if (method == "PUT" && path.find("/status") != std::string::npos && !flipped.exchange(true)) {
      writer.update(accepted);  // back to Accepted while Rejected is being written
    }
  });
  writer.update({{vs_key("a"), status(State::Status_State_Rejected, "nacked")}});
  EXPECT_EQ(writer.pump(), 1u);
  ASSERT_TRUE(flipped.load());
  EXPECT_EQ(stored_status("a")["state"], "Rejected");
  EXPECT_EQ(writer.pending(), 1u) << "the flip back is still to be written";
  EXPECT_EQ(writer.pump(), 1u);
  EXPECT_EQ(stored_status("a")["state"], "Accepted");
  EXPECT_EQ(writer.pending(), 0u);
}

TEST_F(KubernetesStatusWriterTest, StatusAlreadyOnTheServerIsNotRewritten) {
  auto vs = virtual_service("a");
  vs["status"] = {{"statuses",
                   {{"gloo-system", {{"state", "Accepted"}, {"reportedBy", "gateway"}}},
                    {"other-install", {{"state", "Rejected"}}}}}};
  server_.apply(vs);
  kubernetes_status_writer writer(options());
  writer.update({{vs_key("a"), status(State::Status_State_Accepted)}});
  EXPECT_EQ(writer.pump(), 0u);
  EXPECT_EQ(status_puts(), 0u);
  EXPECT_EQ(writer.stats().unchanged, 1u);
  EXPECT_EQ(writer.pending(), 0u);

  // A real change keeps the other controller's entry.
  writer.update({{vs_key("a"), status(State::Status_State_Warning, "careful")}});
  EXPECT_EQ(writer.pump(), 1u);
  EXPECT_EQ(stored_status("a")["state"], "Warning");
  EXPECT_EQ(stored_status("a", "other-install")["state"], "Rejected");
}

TEST_F(KubernetesStatusWriterTest, TokenBucketLimitsTheWriteRate) {
  for (const char* n : {"a", "b", "c", "d", "e"}) {
    server_.apply(virtual_service(n));
  }
  auto opts = options();
  opts.qps = 1;
  opts.burst = 2;
  kubernetes_status_writer writer(opts);
  kubernetes_status_writer::status_map all;
  for (const char* n : {"a", "b", "c", "d", "e"}) {
    all[vs_key(n)] = status(State::Status_State_Accepted);
  }
  writer.update(all);
  EXPECT_EQ(writer.pump(), 2u);  // the burst
  EXPECT_EQ(writer.pump(), 0u);  // no time has passed: no token
  EXPECT_EQ(status_puts(), 2u);
  EXPECT_GE(writer.stats().rate_limited, 2u);
  clock_.ms += 1000;
  EXPECT_EQ(writer.pump(), 1u);  // one second buys one write
  clock_.ms += 500;
  EXPECT_EQ(writer.pump(), 0u);
  clock_.ms += 60'000;  // a long pause refills only up to the burst
  EXPECT_EQ(writer.pump(), 2u);
  EXPECT_EQ(status_puts(), 5u);
  EXPECT_EQ(writer.pending(), 0u);
}

TEST_F(KubernetesStatusWriterTest, LatestStatusWinsWithinABatch) {
  server_.apply(virtual_service("a"));
  kubernetes_status_writer writer(options());
  writer.update({{vs_key("a"), status(State::Status_State_Pending)}});
  writer.update({{vs_key("a"), status(State::Status_State_Rejected, "x")}});
  writer.update({{vs_key("a"), status(State::Status_State_Accepted)}});
  EXPECT_EQ(writer.pending(), 1u);
  EXPECT_EQ(writer.pump(), 1u);
  EXPECT_EQ(status_puts(), 1u);
  EXPECT_EQ(stored_status("a")["state"], "Accepted");
}

TEST_F(KubernetesStatusWriterTest, ConflictIsRetriedOnAFreshRead) {
  server_.apply(virtual_service("a"));
  // Someone else changes the object between our read and our write, once.
  std::atomic<bool> done{false};
  server_.on_request([&](const std::string& method, const std::string& path) {
    if (method == "PUT" && path.find("/status") != std::string::npos && !done.exchange(true)) {
      auto obj = *server_.get(vs_path("a"));
      obj["metadata"]["labels"] = {{"team", "blue"}};
      server_.apply(obj);
    }
  });
  kubernetes_status_writer writer(options());
  writer.update({{vs_key("a"), status(State::Status_State_Accepted)}});
  EXPECT_EQ(writer.pump(), 1u);
  EXPECT_EQ(writer.stats().conflicts, 1u);
  EXPECT_EQ(status_puts(), 2u);
  EXPECT_EQ(server_.count("GET", vs_path("a")), 2u);  // read again after the 409
  EXPECT_EQ(stored_status("a")["state"], "Accepted");
  EXPECT_EQ((*server_.get(vs_path("a")))["metadata"]["labels"]["team"], "blue");  // kept
}

TEST_F(KubernetesStatusWriterTest, MissingObjectIsDroppedNotRetried) {
  kubernetes_status_writer writer(options());
  writer.update({{vs_key("ghost"), status(State::Status_State_Accepted)}});
  EXPECT_EQ(writer.pump(), 0u);
  EXPECT_EQ(writer.pending(), 0u);
  EXPECT_EQ(writer.stats().not_found, 1u);
  EXPECT_EQ(status_puts(), 0u);
}

TEST_F(KubernetesStatusWriterTest, NothingIsWrittenWhileNotAllowed) {
  server_.apply(virtual_service("a"));
  std::atomic<bool> leader{false};
  auto opts = options();
  opts.may_write = [&] { return leader.load(); };
  kubernetes_status_writer writer(opts);
  writer.update({{vs_key("a"), status(State::Status_State_Accepted)}});
  EXPECT_EQ(writer.pump(), 0u);
  EXPECT_EQ(status_puts(), 0u);
  EXPECT_EQ(writer.pending(), 1u);  // kept for when we lead
  leader = true;
  EXPECT_EQ(writer.pump(), 1u);
  EXPECT_EQ(stored_status("a")["state"], "Accepted");
}

TEST_F(KubernetesStatusWriterTest, ResetRechecksEverythingAgainstTheServer) {
  server_.apply(virtual_service("a"));
  kubernetes_status_writer writer(options());
  writer.update({{vs_key("a"), status(State::Status_State_Accepted)}});
  EXPECT_EQ(writer.pump(), 1u);
  // Another leader wrote something else meanwhile.
  auto obj = *server_.get(vs_path("a"));
  obj["status"]["statuses"]["gloo-system"] = {{"state", "Rejected"}};
  server_.apply(obj);
  writer.reset();
  EXPECT_EQ(writer.pending(), 1u);
  EXPECT_EQ(writer.pump(), 1u);
  EXPECT_EQ(stored_status("a")["state"], "Accepted");
}

TEST_F(KubernetesStatusWriterTest, BackgroundThreadWritesQueuedStatuses) {
  server_.apply(virtual_service("a"));
  auto opts = options();
  opts.now = nullptr;  // real clock for the thread's waits
  kubernetes_status_writer writer(opts);
  writer.start();
  writer.update({{vs_key("a"), status(State::Status_State_Accepted)}});
  EXPECT_TRUE(fake_kube_apiserver::eventually([&] { return stored_status("a").is_object(); }));
  writer.stop();
  EXPECT_EQ(status_puts(), 1u);
}

TEST(KubernetesStatusPathTest, PathsOfKindsWithAStatus) {
  EXPECT_EQ(kubernetes_status_writer::status_path({resource_kind::upstream, "gloo-system", "u"}),
            "apis/gloo.solo.io/v1/namespaces/gloo-system/upstreams/u/status");
  EXPECT_EQ(kubernetes_status_writer::status_path({resource_kind::secret, "ns", "s"}), "");
}

}  // namespace
}  // namespace sluice::adapters
