#include "adapters/kubernetes_source.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kube/core.pb.h"
#include "model/error.hpp"
#include "model/resource_decoder.hpp"
#include "solo/gloo.pb.h"
#include "test/support/fake_kube_apiserver.hpp"

namespace sluice::adapters {
namespace {

using json = nlohmann::json;
using model::resource_kind;
using model::source_event;
using test::fake_kube_apiserver;
using op = source_event::op_t;
using namespace std::chrono_literals;

const std::string vs_collection = "apis/gateway.solo.io/v1/virtualservices";

std::string vs_origin(const std::string& ns, const std::string& name) {
  return "apis/gateway.solo.io/v1/namespaces/" + ns + "/virtualservices/" + name;
}

json virtual_service(const std::string& ns, const std::string& name, const std::string& domain) {
  return json{{"apiVersion", "gateway.solo.io/v1"},
              {"kind", "VirtualService"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"spec", {{"virtualHost", {{"domains", {domain}}}}}}};
}

json tls_secret(const std::string& ns, const std::string& name) {
  return json{{"apiVersion", "v1"},
              {"kind", "Secret"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"type", "kubernetes.io/tls"},
              {"data",
               {{"tls.crt", test::base64_encode("-----BEGIN CERTIFICATE-----\nx\n")},
                {"tls.key", test::base64_encode("-----BEGIN PRIVATE KEY-----\ny\n")}}}};
}

json opaque_secret(const std::string& ns, const std::string& name) {
  return json{{"apiVersion", "v1"},
              {"kind", "Secret"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"type", "Opaque"},
              {"data", {{"password", test::base64_encode("hunter2")}}}};
}

json config_map(const std::string& ns, const std::string& name) {
  return json{{"apiVersion", "v1"},
              {"kind", "ConfigMap"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"data", {{"descriptor.pb", "abc"}}}};
}

/// Everything the source delivered, with waits on conditions (bounded) instead of sleeps.
class recorder {
 public:
  kubernetes_source::sink sink() {
    return [this](kubernetes_batch b) {
      if (in_sink_.exchange(true)) {
        overlapped_ = true;
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& ev : b.events) {
          events_.push_back(std::move(ev));
        }
        for (auto& [k, v] : b.cursors) {
          cursors_[k] = v;
          if (b.cursor_kind) {
            cursor_kinds_[k] = *b.cursor_kind;
          }
        }
      }
      in_sink_ = false;
      cv_.notify_all();
    };
  }

  template <class Pred>
  bool wait_for(Pred pred, std::chrono::milliseconds bound = 10s) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, bound, [&] { return pred(events_); });
  }

  std::vector<source_event> events(size_t from = 0) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return {events_.begin() + static_cast<long>(std::min(from, events_.size())), events_.end()};
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return events_.size();
  }
  std::map<std::string, std::string> cursors() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return cursors_;
  }
  std::map<std::string, resource_kind> cursor_kinds() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return cursor_kinds_;
  }
  bool overlapped() const { return overlapped_; }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<source_event> events_;
  std::map<std::string, std::string> cursors_;
  std::map<std::string, resource_kind> cursor_kinds_;
  std::atomic<bool> in_sink_{false};
  std::atomic<bool> overlapped_{false};
};

size_t synced_count(const std::vector<source_event>& events) {
  return static_cast<size_t>(std::count_if(events.begin(), events.end(),
                                           [](const auto& e) { return e.op == op::synced; }));
}

const source_event* find(const std::vector<source_event>& events, op o, const std::string& origin) {
  for (const auto& e : events) {
    if (e.op == o && e.origin == origin) {
      return &e;
    }
  }
  return nullptr;
}

bool has(const std::vector<source_event>& events, op o, const std::string& origin) {
  return find(events, o, origin) != nullptr;
}

/// The server, a client for it, and source options with a fast, recorded backoff.
class KubernetesSourceTest : public ::testing::Test {
 protected:
  explicit KubernetesSourceTest(test::fake_kube_options fake = {}) : server_(fake) {
    kubernetes_credentials creds;
    creds.server = server_.url();
    creds.token = "test-token";
    creds.ca_pem = server_.pki().ca_cert;
    auto c = kubernetes_client::make(creds);
    EXPECT_TRUE(c);
    client_ = *c;
  }

  kubernetes_source_options options() {
    kubernetes_source_options o;
    o.client = client_;
    o.kinds = {resource_kind::virtual_service, resource_kind::upstream, resource_kind::secret,
               resource_kind::artifact};
    o.seed = 42;
    o.sleep = [this](std::chrono::milliseconds d) {
      {
        std::lock_guard<std::mutex> lock(sleep_mutex_);
        sleeps_.push_back(d);
      }
      std::this_thread::sleep_for(1ms);  // keeps retry loops from spinning; not a wait
    };
    return o;
  }

  std::vector<std::chrono::milliseconds> sleeps() {
    std::lock_guard<std::mutex> lock(sleep_mutex_);
    return sleeps_;
  }

  fake_kube_apiserver server_;
  std::shared_ptr<kubernetes_client> client_;
  std::mutex sleep_mutex_;
  std::vector<std::chrono::milliseconds> sleeps_;
};

TEST_F(KubernetesSourceTest, InitialSyncReportsEveryObjectThenSynced) {
  server_.apply(virtual_service("default", "foo", "foo.example.com"));
  server_.apply(virtual_service("apps", "bar", "bar.example.com"));
  server_.apply(virtual_service("apps", "baz", "baz.example.com"));
  server_.apply(tls_secret("default", "cert"));
  server_.apply(opaque_secret("default", "password"));
  server_.apply(config_map("default", "protos"));
  recorder rec;
  auto opts = options();
  opts.page_size = 2;  // three VirtualServices: two pages
  kubernetes_source source(opts, rec.sink());
  ASSERT_TRUE(source.start());
  ASSERT_TRUE(source.wait_synced(10s));
  auto events = rec.events();
  ASSERT_FALSE(events.empty());
  ASSERT_GE(events.size(), 2u);
  const auto& listed = events[events.size() - 2];
  EXPECT_EQ(listed.op, op::synced);
  EXPECT_EQ(listed.source, "kubernetes");
  EXPECT_EQ(listed.revision, "listed");
  // Discovery is off here, and syncs with nothing: what an earlier run's discovery logged
  // (Services, Endpoints, in-memory upstreams) is swept rather than kept stale.
  EXPECT_EQ(events.back().op, op::synced);
  EXPECT_EQ(events.back().source, "kubernetes-discovery");
  EXPECT_EQ(synced_count(events), 2u);
  EXPECT_EQ(events.size(), 7u);  // 3 VS, 1 TLS secret, 1 artifact, 2 synced; no opaque secret
  EXPECT_GE(server_.count("GET", "/virtualservices", "continue="), 1u);

  const source_event* foo = find(events, op::upsert, vs_origin("default", "foo"));
  ASSERT_NE(foo, nullptr);
  EXPECT_EQ(foo->kind, resource_kind::virtual_service);
  EXPECT_EQ(foo->ns, "default");
  EXPECT_EQ(foo->source, "kubernetes");
  auto stored = server_.get(vs_origin("default", "foo"));
  ASSERT_TRUE(stored);
  EXPECT_EQ(foo->revision, (*stored)["metadata"]["resourceVersion"]);
  // Server bookkeeping is stripped so that only content changes look like changes.
  EXPECT_EQ(foo->bytes.find("resourceVersion"), std::string::npos);
  EXPECT_EQ(foo->bytes.find("uid"), std::string::npos);

  // Every event decodes as its kind, the way the kind actors will read it.
  for (const auto& e : events) {
    if (e.op != op::upsert) {
      continue;
    }
    model::decode_context ctx{e.origin, e.kind, e.ns};
    auto decoded = model::decode_documents(e.bytes, ctx);
    ASSERT_TRUE(decoded.errors.empty()) << e.origin << ": " << decoded.errors[0].to_string();
    ASSERT_EQ(decoded.resources.size(), 1u) << e.origin;
  }
  const source_event* cert = find(events, op::upsert, "api/v1/namespaces/default/secrets/cert");
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(cert->kind, resource_kind::secret);
  auto secret = model::decode_documents(cert->bytes, {cert->origin, cert->kind, cert->ns});
  ASSERT_EQ(secret.resources.size(), 1u);
  const auto& gloo_secret
      = static_cast<const ::gloo::solo::io::Secret&>(*secret.resources[0].message);
  EXPECT_EQ(gloo_secret.tls().cert_chain(), "-----BEGIN CERTIFICATE-----\nx\n");
  EXPECT_FALSE(has(events, op::upsert, "api/v1/namespaces/default/secrets/password"));

  const source_event* art = find(events, op::upsert, "api/v1/namespaces/default/configmaps/protos");
  ASSERT_NE(art, nullptr);
  EXPECT_EQ(art->kind, resource_kind::artifact);
  auto artifact = model::decode_documents(art->bytes, {art->origin, art->kind, art->ns});
  ASSERT_EQ(artifact.resources.size(), 1u);
  EXPECT_EQ(static_cast<const ::gloo::solo::io::Artifact&>(*artifact.resources[0].message)
                .data()
                .at("descriptor.pb"),
            "abc");
  EXPECT_FALSE(rec.overlapped());
  EXPECT_EQ(rec.cursors().count("kubernetes/" + vs_collection), 1u);
  EXPECT_EQ(rec.cursor_kinds()["kubernetes/" + vs_collection], resource_kind::virtual_service);
  EXPECT_EQ(rec.cursor_kinds()["kubernetes/api/v1/configmaps"], resource_kind::artifact);
}

TEST_F(KubernetesSourceTest, ConfigMapBinaryDataBecomesTheArtifactsBytes) {
  // A wasm module is not UTF-8, so a ConfigMap keeps it in binaryData (base64 in the API); the
  // Artifact carries the bytes themselves, next to the text data.
  std::string module("\0asm\x01\0\0\0", 8);
  for (int i = 0; i < 100; ++i) {
    module += static_cast<char>((i * 53 + 0x90) & 0xff);
  }
  json cm = config_map("default", "filters");
  cm["binaryData"] = {{"filter.wasm", test::base64_encode(module)}};
  server_.apply(cm);
  recorder rec;
  kubernetes_source source(options(), rec.sink());
  ASSERT_TRUE(source.start());
  ASSERT_TRUE(source.wait_synced(10s));
  const std::string origin = "api/v1/namespaces/default/configmaps/filters";
  auto decode = [&](const source_event& e) {
    auto decoded = model::decode_documents(e.bytes, {e.origin, e.kind, e.ns});
    EXPECT_TRUE(decoded.errors.empty()) << decoded.errors.front().to_string();
    EXPECT_EQ(decoded.resources.size(), 1u);
    return decoded.resources.empty()
               ? ::gloo::solo::io::Artifact{}
               : static_cast<const ::gloo::solo::io::Artifact&>(*decoded.resources[0].message);
  };
  const auto listed_events = rec.events();
  const source_event* listed = find(listed_events, op::upsert, origin);
  ASSERT_NE(listed, nullptr);
  EXPECT_EQ(listed->kind, resource_kind::artifact);
  auto artifact = decode(*listed);
  EXPECT_EQ(artifact.data().at("descriptor.pb"), "abc");
  ASSERT_EQ(artifact.binary_data().count("filter.wasm"), 1u);
  EXPECT_EQ(artifact.binary_data().at("filter.wasm"), module);

  // An edit of binaryData alone is a change of the Artifact.
  const size_t before = rec.size();
  module.back() = static_cast<char>(module.back() ^ 0x33);
  cm["binaryData"] = {{"filter.wasm", test::base64_encode(module)}};
  server_.apply(cm);
  ASSERT_TRUE(rec.wait_for([&](const std::vector<source_event>& events) {
    return events.size() > before && events.back().origin == origin;
  }));
  auto modified = rec.events(before);
  ASSERT_EQ(modified.back().op, op::upsert);
  EXPECT_EQ(decode(modified.back()).binary_data().at("filter.wasm"), module);

  // Without binaryData (a text-only ConfigMap) the Artifact has none.
  server_.apply(config_map("default", "filters"));
  ASSERT_TRUE(rec.wait_for([&](const std::vector<source_event>& events) {
    return events.size() > before + 1 && events.back().origin == origin;
  }));
  const auto last_events = rec.events();
  EXPECT_TRUE(decode(last_events.back()).binary_data().empty());
}

TEST_F(KubernetesSourceTest, WatchReportsAddedModifiedDeletedAndIgnoresStatusWrites) {
  server_.apply(virtual_service("default", "foo", "foo.example.com"));
  recorder rec;
  kubernetes_source source(options(), rec.sink());
  ASSERT_TRUE(source.start());
  ASSERT_TRUE(source.wait_synced(10s));
  const std::string bar = vs_origin("default", "bar");

  size_t mark = rec.size();
  std::string rv = server_.apply(virtual_service("default", "bar", "bar.example.com"));
  ASSERT_TRUE(rec.wait_for([&](const auto& ev) { return has(ev, op::upsert, bar); }));
  auto added = rec.events(mark);
  ASSERT_EQ(added.size(), 1u);
  EXPECT_EQ(added[0].revision, rv);
  EXPECT_NE(added[0].bytes.find("bar.example.com"), std::string::npos);

  mark = rec.size();
  server_.apply(virtual_service("default", "bar", "bar2.example.com"));
  ASSERT_TRUE(rec.wait_for([&](const auto& ev) { return ev.size() > mark; }));
  auto modified = rec.events(mark);
  ASSERT_EQ(modified.size(), 1u);
  EXPECT_EQ(modified[0].op, op::upsert);
  EXPECT_NE(modified[0].bytes.find("bar2.example.com"), std::string::npos);

  // A status write changes the resourceVersion but nothing sluice reads: the cursor moves, no
  // event is reported.
  auto with_status = *server_.get(bar);
  with_status["status"] = {{"statuses", {{"gloo-system", {{"state", "Accepted"}}}}}};
  std::string status_rv = server_.apply(with_status);
  ASSERT_TRUE(fake_kube_apiserver::eventually(
      [&] { return rec.cursors()["kubernetes/" + vs_collection] == status_rv; }));
  EXPECT_EQ(rec.size(), mark + 1);

  mark = rec.size();
  ASSERT_TRUE(server_.remove(bar));
  ASSERT_TRUE(rec.wait_for([&](const auto& ev) { return has(ev, op::remove, bar); }));
  auto removed = rec.events(mark);
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0].kind, resource_kind::virtual_service);

  // A Secret that stops being TLS is no longer Gloo input.
  const std::string cert = "api/v1/namespaces/default/secrets/cert";
  server_.apply(tls_secret("default", "cert"));
  ASSERT_TRUE(rec.wait_for([&](const auto& ev) { return has(ev, op::upsert, cert); }));
  server_.apply(opaque_secret("default", "cert"));
  ASSERT_TRUE(rec.wait_for([&](const auto& ev) { return has(ev, op::remove, cert); }));
  EXPECT_EQ(source.stats().lists, 4u);  // one per collection: no relist on the way
}

TEST_F(KubernetesSourceTest, BookmarkAdvancesTheCursorWithoutEvents) {
  server_.apply(virtual_service("default", "foo", "foo.example.com"));
  recorder rec;
  kubernetes_source source(options(), rec.sink());
  ASSERT_TRUE(source.start());
  ASSERT_TRUE(source.wait_synced(10s));
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return server_.open_watches() == 4; }));
  server_.apply(config_map("other", "unrelated"));  // moves the global resourceVersion
  ASSERT_TRUE(rec.wait_for([](const auto& ev) { return ev.size() == 4; }));  // + 2 synced
  size_t mark = rec.size();
  const std::string now = std::to_string(server_.resource_version());
  ASSERT_NE(rec.cursors()["kubernetes/" + vs_collection], now);
  server_.send_bookmarks();
  ASSERT_TRUE(fake_kube_apiserver::eventually(
      [&] { return rec.cursors()["kubernetes/" + vs_collection] == now; }));
  EXPECT_EQ(rec.size(), mark);
  EXPECT_GE(source.stats().bookmarks, 1u);
  // The watches ask for bookmarks.
  EXPECT_GE(server_.count("GET", "/virtualservices", "allowWatchBookmarks=true"), 1u);
}

TEST_F(KubernetesSourceTest, DroppedWatchResumesFromTheLastResourceVersion) {
  server_.apply(virtual_service("default", "foo", "foo.example.com"));
  recorder rec;
  kubernetes_source source(options(), rec.sink());
  ASSERT_TRUE(source.start());
  ASSERT_TRUE(source.wait_synced(10s));
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return server_.open_watches() == 4; }));
  const std::string last = rec.cursors()["kubernetes/" + vs_collection];
  const size_t lists = server_.count("GET", "/virtualservices", "limit=");

  // The connection breaks and, while the source cannot reconnect, something changes.
  server_.pause_watches(true);
  server_.drop_watches();
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return server_.open_watches() == 0; }));
  server_.apply(virtual_service("default", "bar", "bar.example.com"));
  server_.pause_watches(false);

  ASSERT_TRUE(rec.wait_for(
      [&](const auto& ev) { return has(ev, op::upsert, vs_origin("default", "bar")); }));
  EXPECT_GE(server_.count("GET", "/virtualservices", "resourceVersion=" + last), 2u);
  EXPECT_EQ(server_.count("GET", "/virtualservices", "limit="), lists);  // no relist
  EXPECT_EQ(source.stats().gone, 0u);
  EXPECT_GE(source.stats().errors, 1u);
}

/// 410 after a disconnect during which objects were deleted: the deletes are found by diffing.
void gone_with_deletes_while_disconnected(KubernetesSourceTest& t, fake_kube_apiserver& server,
                                          kubernetes_source_options opts) {
  server.apply(virtual_service("default", "a", "a.example.com"));
  server.apply(virtual_service("default", "b", "b.example.com"));
  server.apply(virtual_service("default", "c", "c.example.com"));
  recorder rec;
  kubernetes_source source(opts, rec.sink());
  ASSERT_TRUE(source.start());
  ASSERT_TRUE(source.wait_synced(10s));
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return server.open_watches() == 4; }));
  const size_t mark = rec.size();

  server.pause_watches(true);
  server.drop_watches();
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return server.open_watches() == 0; }));
  ASSERT_TRUE(server.remove(vs_origin("default", "b")));
  server.apply(virtual_service("default", "c", "c2.example.com"));
  server.compact();  // the DELETED event of b is gone from the server's history
  server.pause_watches(false);

  ASSERT_TRUE(rec.wait_for([&](const auto& ev) {
    return has(ev, op::remove, vs_origin("default", "b"))
           && has(ev, op::upsert, vs_origin("default", "c"));
  }));
  // Give the relist of every collection time to finish, then check nothing else was reported.
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return server.open_watches() == 4; }));
  auto after = rec.events(mark);
  EXPECT_EQ(after.size(), 2u);
  EXPECT_FALSE(has(after, op::upsert, vs_origin("default", "a")));
  const source_event* c = find(after, op::upsert, vs_origin("default", "c"));
  ASSERT_NE(c, nullptr);
  EXPECT_NE(c->bytes.find("c2.example.com"), std::string::npos);
  EXPECT_GE(source.stats().gone, 1u);
  EXPECT_EQ(source.stats().synthetic_removes, 1u);
  EXPECT_EQ(synced_count(rec.events()), 2u);  // one per source; a relist does not sync again
  (void)t;
}

TEST_F(KubernetesSourceTest, GoneEventRelistsAndDeletesWhatVanishedWhileDisconnected) {
  gone_with_deletes_while_disconnected(*this, server_, options());
}

class KubernetesSourceGoneStatusTest : public KubernetesSourceTest {
 protected:
  KubernetesSourceGoneStatusTest() : KubernetesSourceTest(fake_options()) {}
  static test::fake_kube_options fake_options() {
    test::fake_kube_options o;
    o.gone_as_http_status = true;
    return o;
  }
};

TEST_F(KubernetesSourceGoneStatusTest, HttpGoneRelistsAndDeletesWhatVanishedWhileDisconnected) {
  gone_with_deletes_while_disconnected(*this, server_, options());
}

TEST_F(KubernetesSourceTest, GoneOnAnOpenWatchRelistsWithoutSpuriousEvents) {
  server_.apply(virtual_service("default", "a", "a.example.com"));
  recorder rec;
  kubernetes_source source(options(), rec.sink());
  ASSERT_TRUE(source.start());
  ASSERT_TRUE(source.wait_synced(10s));
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return server_.open_watches() == 4; }));
  const size_t mark = rec.size();
  const size_t lists = server_.count("GET", "/virtualservices", "limit=");
  server_.inject_gone();
  ASSERT_TRUE(fake_kube_apiserver::eventually(
      [&] { return server_.count("GET", "/virtualservices", "limit=") == lists + 1; }));
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return server_.open_watches() == 4; }));
  server_.apply(virtual_service("default", "after", "after.example.com"));
  ASSERT_TRUE(rec.wait_for(
      [&](const auto& ev) { return has(ev, op::upsert, vs_origin("default", "after")); }));
  // The relist found nothing new: the only event is the one made afterwards.
  EXPECT_EQ(rec.events(mark).size(), 1u);
  EXPECT_GE(source.stats().gone, 1u);
}

TEST_F(KubernetesSourceTest, RestartResumesFromTheStoredResourceVersion) {
  server_.apply(virtual_service("default", "a", "a.example.com"));
  server_.apply(virtual_service("default", "b", "b.example.com"));
  std::map<std::string, std::string> saved;
  std::set<std::string> origins;
  {
    recorder rec;
    kubernetes_source source(options(), rec.sink());
    ASSERT_TRUE(source.start());
    ASSERT_TRUE(source.wait_synced(10s));
    saved = rec.cursors();
    for (const auto& e : rec.events()) {
      if (e.op == op::upsert) {
        origins.insert(e.origin);
      }
    }
    EXPECT_EQ(saved, source.cursors());
  }
  // While sluice is down: one object added, one deleted.
  server_.apply(virtual_service("default", "d", "d.example.com"));
  ASSERT_TRUE(server_.remove(vs_origin("default", "a")));
  const size_t lists = server_.count("GET", "", "limit=");

  recorder rec;
  auto opts = options();
  opts.resume = saved;
  opts.known_origins = origins;
  kubernetes_source source(opts, rec.sink());
  ASSERT_TRUE(source.start());
  ASSERT_TRUE(source.wait_synced(10s));
  ASSERT_TRUE(rec.wait_for([&](const auto& ev) {
    return has(ev, op::upsert, vs_origin("default", "d"))
           && has(ev, op::remove, vs_origin("default", "a"));
  }));
  EXPECT_EQ(server_.count("GET", "", "limit="), lists);  // resumed: nothing listed
  EXPECT_GE(server_.count("GET", "/virtualservices",
                          "resourceVersion=" + saved.at("kubernetes/" + vs_collection)),
            1u);
  auto events = rec.events();
  EXPECT_FALSE(has(events, op::upsert, vs_origin("default", "b")));  // unchanged: not resent
  auto synced = std::find_if(events.begin(), events.end(),
                             [](const auto& e) { return e.op == op::synced; });
  ASSERT_NE(synced, events.end());
  EXPECT_EQ(synced->revision, "resumed");
}

TEST_F(KubernetesSourceTest, RestartAfterCompactionRelistsAndDeletesKnownOrigins) {
  server_.apply(virtual_service("default", "a", "a.example.com"));
  server_.apply(virtual_service("default", "b", "b.example.com"));
  std::map<std::string, std::string> saved;
  std::set<std::string> origins;
  {
    recorder rec;
    kubernetes_source source(options(), rec.sink());
    ASSERT_TRUE(source.start());
    ASSERT_TRUE(source.wait_synced(10s));
    saved = rec.cursors();
    for (const auto& e : rec.events()) {
      if (e.op == op::upsert) {
        origins.insert(e.origin);
      }
    }
  }
  ASSERT_TRUE(server_.remove(vs_origin("default", "a")));
  server_.compact();  // the saved resourceVersions are too old now

  recorder rec;
  auto opts = options();
  opts.resume = saved;
  opts.known_origins = origins;
  kubernetes_source source(opts, rec.sink());
  ASSERT_TRUE(source.start());
  ASSERT_TRUE(source.wait_synced(10s));
  ASSERT_TRUE(
      rec.wait_for([&](const auto& ev) { return has(ev, op::remove, vs_origin("default", "a")); }));
  ASSERT_TRUE(
      rec.wait_for([&](const auto& ev) { return has(ev, op::upsert, vs_origin("default", "b")); }));
  EXPECT_GE(source.stats().gone, 1u);
  EXPECT_GE(source.stats().synthetic_removes, 1u);
}

TEST_F(KubernetesSourceTest, FailuresBackOffExponentiallyWithJitter) {
  server_.fail_next("GET", "/virtualservices", 500, 4);
  recorder rec;
  auto opts = options();
  opts.kinds = {resource_kind::virtual_service};
  opts.backoff_initial = 100ms;
  opts.backoff_max = 500ms;
  opts.backoff_jitter = 0.5;
  kubernetes_source source(opts, rec.sink());
  ASSERT_TRUE(source.start());
  ASSERT_TRUE(source.wait_synced(10s));
  auto delays = sleeps();
  ASSERT_EQ(delays.size(), 4u);
  const int64_t base[] = {100, 200, 400, 500};  // doubling, capped at the maximum
  for (size_t i = 0; i < delays.size(); ++i) {
    EXPECT_LE(delays[i].count(), base[i]) << i;
    EXPECT_GE(delays[i].count(), base[i] / 2) << i;
  }
  // Jitter: the delays are not exactly the nominal ones.
  bool jittered = false;
  for (size_t i = 0; i < delays.size(); ++i) {
    jittered = jittered || delays[i].count() != base[i];
  }
  EXPECT_TRUE(jittered);
  EXPECT_EQ(source.stats().errors, 4u);
}

TEST_F(KubernetesSourceTest, SyncedWaitsForEveryInitialList) {
  server_.apply(config_map("default", "late"));
  server_.fail_next("GET", "/configmaps", 503, 3);
  recorder rec;
  kubernetes_source source(options(), rec.sink());
  ASSERT_TRUE(source.start());
  ASSERT_TRUE(source.wait_synced(10s));
  auto events = rec.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].origin, "api/v1/namespaces/default/configmaps/late");
  EXPECT_EQ(events[1].op, op::synced);
  EXPECT_EQ(events[2].op, op::synced);
}

TEST_F(KubernetesSourceTest, WatchNamespacesScopeWhatIsRead) {
  server_.apply(virtual_service("apps", "in", "in.example.com"));
  server_.apply(virtual_service("gloo-system", "write-ns", "w.example.com"));
  server_.apply(virtual_service("other", "out", "out.example.com"));
  recorder rec;
  auto opts = options();
  opts.kinds = {resource_kind::virtual_service};
  opts.watch_namespaces = {"apps"};
  kubernetes_source source(opts, rec.sink());
  ASSERT_TRUE(source.start());
  ASSERT_TRUE(source.wait_synced(10s));
  auto events = rec.events();
  EXPECT_TRUE(has(events, op::upsert, vs_origin("apps", "in")));
  EXPECT_TRUE(has(events, op::upsert, vs_origin("gloo-system", "write-ns")));
  EXPECT_FALSE(has(events, op::upsert, vs_origin("other", "out")));
  EXPECT_EQ(server_.count("GET", "/namespaces/other/"), 0u);
  EXPECT_EQ(server_.count("GET", "/apis/gateway.solo.io/v1/virtualservices"), 0u);
  EXPECT_EQ(source.cursors().size(), 2u);
}

TEST_F(KubernetesSourceTest, MissingCrdIsEmptyAndDoesNotBlockSync) {
  server_.set_installed("apis/enterprise.gloo.solo.io/v1/authconfigs", false);
  server_.apply(virtual_service("default", "foo", "foo.example.com"));
  recorder rec;
  auto opts = options();
  opts.kinds = {resource_kind::virtual_service, resource_kind::auth_config};
  kubernetes_source source(opts, rec.sink());
  ASSERT_TRUE(source.start());
  ASSERT_TRUE(source.wait_synced(10s));
  EXPECT_TRUE(has(rec.events(), op::upsert, vs_origin("default", "foo")));
}

TEST_F(KubernetesSourceTest, ResyncRelistFindsWhatTheWatchMissed) {
  server_.apply(virtual_service("default", "a", "a.example.com"));
  server_.apply(virtual_service("default", "b", "b.example.com"));
  std::atomic<int64_t> hours{0};
  recorder rec;
  auto opts = options();
  opts.kinds = {resource_kind::virtual_service};
  opts.resync = std::chrono::hours(10);
  opts.now
      = [&] { return std::chrono::steady_clock::time_point(std::chrono::hours(hours.load())); };
  kubernetes_source source(opts, rec.sink());
  ASSERT_TRUE(source.start());
  ASSERT_TRUE(source.wait_synced(10s));
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return server_.open_watches() == 1; }));
  const size_t mark = rec.size();

  // An event is lost on the way; the watch itself stays healthy.
  server_.apply_unnoticed(virtual_service("default", "a", "a2.example.com"));
  const size_t watches = server_.count("GET", "/virtualservices", "watch=1");
  server_.drop_watches();  // a reconnect before the resync is due: resumes, finds nothing
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] {
    return server_.count("GET", "/virtualservices", "watch=1") == watches + 1
           && server_.open_watches() == 1;
  }));
  EXPECT_EQ(rec.size(), mark);
  EXPECT_EQ(source.stats().lists, 1u);

  hours = 12;  // past the jittered 10 h
  server_.drop_watches();
  ASSERT_TRUE(rec.wait_for([&](const auto& ev) { return ev.size() > mark; }));
  auto after = rec.events(mark);
  ASSERT_EQ(after.size(), 1u);  // b was unchanged: not reported again
  EXPECT_NE(after[0].bytes.find("a2.example.com"), std::string::npos);
  EXPECT_EQ(source.stats().resync_corrections, 1u);
}

TEST_F(KubernetesSourceTest, DefaultSelectionCoversEveryGlooKindStoredInKubernetes) {
  kubernetes_source_options opts;
  opts.client = client_;
  kubernetes_source source(opts, [](kubernetes_batch) {});
  std::set<std::string> plurals;
  for (const auto& c : source.collections()) {
    plurals.insert(c.plural);
  }
  for (const char* p : {"gateways", "virtualservices", "routetables", "upstreams", "upstreamgroups",
                        "settings", "proxies", "authconfigs", "secrets", "configmaps"}) {
    EXPECT_EQ(plurals.count(p), 1u) << p;
  }
  EXPECT_EQ(plurals.count("endpoints"), 0u);
  opts.discovery = true;
  kubernetes_source with_discovery(opts, [](kubernetes_batch) {});
  plurals.clear();
  for (const auto& c : with_discovery.collections()) {
    plurals.insert(c.plural);
  }
  for (const char* p : {"services", "endpoints", "endpointslices"}) {
    EXPECT_EQ(plurals.count(p), 1u) << p;
  }
}

json service(const std::string& ns, const std::string& name) {
  return json{{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"app", name}}}}},
              {"spec",
               {{"selector", {{"app", name}}},
                {"ports", {{{"name", "http"}, {"port", 8080}, {"targetPort", 80}}}}}}};
}

json slice(const std::string& ns, const std::string& name, const std::string& svc,
           const std::vector<std::pair<std::string, bool>>& endpoints) {
  json eps = json::array();
  for (const auto& [ip, ready] : endpoints) {
    eps.push_back({{"addresses", {ip}}, {"conditions", {{"ready", ready}}}});
  }
  return json{
      {"apiVersion", "discovery.k8s.io/v1"},
      {"kind", "EndpointSlice"},
      {"metadata",
       {{"name", name}, {"namespace", ns}, {"labels", {{"kubernetes.io/service-name", svc}}}}},
      {"addressType", "IPv4"},
      {"ports", {{{"name", "http"}, {"port", 80}}}},
      {"endpoints", eps}};
}

TEST_F(KubernetesSourceTest, EndpointSliceChurnProducesEndpointChangesOnly) {
  server_.apply(service("default", "petstore"));
  server_.apply(slice("default", "petstore-1", "petstore", {{"10.0.0.1", true}}));
  recorder rec;
  auto opts = options();
  opts.kinds = {resource_kind::upstream};
  opts.discovery = true;
  kubernetes_source source(opts, rec.sink());
  ASSERT_TRUE(source.start());
  ASSERT_TRUE(source.wait_synced(10s));
  auto initial = rec.events();
  EXPECT_EQ(synced_count(initial), 2u);  // "kubernetes" and "kubernetes-discovery"
  EXPECT_TRUE(has(initial, op::upsert, "discovery/upstreams/gloo-system/default-petstore-8080"));
  auto endpoint_count = std::count_if(initial.begin(), initial.end(), [](const auto& e) {
    return e.op == op::upsert && e.kind == resource_kind::endpoint;
  });
  EXPECT_EQ(endpoint_count, 1);
  EXPECT_TRUE(rec.cursors().empty());  // discovery inputs always list: nothing to persist
  EXPECT_EQ(source.cursors().size(), 4u);

  const size_t mark = rec.size();
  server_.apply(slice("default", "petstore-1", "petstore",
                      {{"10.0.0.1", false}, {"10.0.0.2", true}, {"10.0.0.3", true}}));
  ASSERT_TRUE(rec.wait_for([&](const auto& ev) { return ev.size() >= mark + 3; }));
  auto churn = rec.events(mark);
  EXPECT_EQ(churn.size(), 3u);  // one endpoint gone, two new
  for (const auto& e : churn) {
    EXPECT_EQ(e.kind, resource_kind::endpoint) << e.origin;
    EXPECT_EQ(e.source, "kubernetes-discovery");
    if (e.op == op::upsert) {
      model::decode_context ctx{e.origin, e.kind, e.ns};
      auto decoded = model::decode_documents(e.bytes, ctx);
      ASSERT_EQ(decoded.resources.size(), 1u);
      EXPECT_TRUE(model::validate_resource(decoded.resources[0], ctx).empty());
    }
  }
  EXPECT_EQ(
      std::count_if(churn.begin(), churn.end(), [](const auto& e) { return e.op == op::remove; }),
      1);
}

TEST_F(KubernetesSourceTest, DiscoveryReportsServicesButNotTheirResourceVersionBumps) {
  server_.apply(service("default", "petstore"));
  recorder rec;
  auto opts = options();
  opts.kinds = {resource_kind::upstream};
  opts.discovery = true;
  kubernetes_source source(opts, rec.sink());
  ASSERT_TRUE(source.start());
  ASSERT_TRUE(source.wait_synced(10s));
  const std::string petstore = "discovery/services/default/petstore";
  auto decoded_service = [](const source_event& e) {
    model::decode_context ctx{e.origin, e.kind, e.ns};
    auto decoded = model::decode_documents(e.bytes, ctx);
    EXPECT_EQ(decoded.resources.size(), 1u) << e.bytes;
    ::kube::core::v1::Service out;
    if (decoded.resources.size() == 1) {
      EXPECT_TRUE(model::validate_resource(decoded.resources[0], ctx).empty()) << e.bytes;
      out.CopyFrom(*decoded.resources[0].message);
    }
    return out;
  };
  // The Service itself, in its namespace, from discovery: translation checks kube Upstreams
  // against it.
  const auto initial = rec.events();
  const auto* listed = find(initial, op::upsert, petstore);
  ASSERT_NE(listed, nullptr);
  EXPECT_EQ(listed->kind, resource_kind::service);
  EXPECT_EQ(listed->source, "kubernetes-discovery");
  EXPECT_EQ(listed->ns, "default");
  EXPECT_EQ(listed->bytes.find("resourceVersion"), std::string::npos) << listed->bytes;
  EXPECT_EQ(decoded_service(*listed).ports(0).port(), 8080u);

  // Stored again with a new resourceVersion and only an annotation changed: nothing to report.
  // (A second Service on the same watch, reported after it, shows the write was seen.)
  const size_t mark = rec.size();
  json annotated = service("default", "petstore");
  annotated["metadata"]["annotations"] = {{"touched-by", "kubectl"}};
  server_.apply(annotated);
  server_.apply(service("default", "cats"));
  ASSERT_TRUE(rec.wait_for([&](const auto& ev) {
    std::vector<source_event> after(ev.begin() + static_cast<long>(mark), ev.end());
    return has(after, op::upsert, "discovery/services/default/cats");
  }));
  EXPECT_FALSE(has(rec.events(mark), op::upsert, petstore));

  // A port change is a new form; deleting the Service removes it.
  const size_t mark2 = rec.size();
  json moved = service("default", "petstore");
  moved["spec"]["ports"][0]["port"] = 9090;
  server_.apply(moved);
  ASSERT_TRUE(rec.wait_for([&](const auto& ev) {
    std::vector<source_event> after(ev.begin() + static_cast<long>(mark2), ev.end());
    return has(after, op::upsert, petstore);
  }));
  const auto after_move = rec.events(mark2);
  EXPECT_EQ(decoded_service(*find(after_move, op::upsert, petstore)).ports(0).port(), 9090u);
  ASSERT_TRUE(server_.remove("api/v1/namespaces/default/services/petstore"));
  ASSERT_TRUE(rec.wait_for([&](const auto& ev) { return has(ev, op::remove, petstore); }));
  const auto all = rec.events();
  EXPECT_EQ(find(all, op::remove, petstore)->kind, resource_kind::service);
}

TEST_F(KubernetesSourceTest, SettingsWatchNamespacesApplyWhileRunning) {
  auto settings = [](const std::vector<std::string>& namespaces) {
    return json{{"apiVersion", "gloo.solo.io/v1"},
                {"kind", "Settings"},
                {"metadata", {{"name", "default"}, {"namespace", "gloo-system"}}},
                {"spec", {{"watchNamespaces", namespaces}}}};
  };
  server_.apply(settings({"team-a"}));
  server_.apply(virtual_service("team-a", "a", "a.example.com"));
  server_.apply(virtual_service("team-b", "b", "b.example.com"));
  server_.apply(virtual_service("gloo-system", "w", "w.example.com"));
  recorder rec;
  auto opts = options();
  opts.kinds = {resource_kind::virtual_service};  // Settings are watched to follow them
  opts.watch_namespaces = {"team-a"};
  opts.follow_settings = true;
  kubernetes_source source(opts, rec.sink());
  ASSERT_TRUE(source.start());
  ASSERT_TRUE(source.wait_synced(10s));
  EXPECT_TRUE(has(rec.events(), op::upsert, vs_origin("team-a", "a")));
  EXPECT_FALSE(has(rec.events(), op::upsert, vs_origin("team-b", "b")));
  EXPECT_EQ(source.stats().namespace_changes, 0u) << "the same list as at start: no change";

  const size_t mark = rec.size();
  server_.apply(settings({"team-b"}));
  ASSERT_TRUE(rec.wait_for([&](const auto& ev) {
    std::vector<source_event> after(ev.begin() + static_cast<long>(mark), ev.end());
    return has(after, op::remove, vs_origin("team-a", "a"))
           && has(after, op::upsert, vs_origin("team-b", "b"));
  }));
  auto after = rec.events(mark);
  EXPECT_FALSE(has(after, op::remove, vs_origin("gloo-system", "w")))
      << "the write namespace stays watched";
  EXPECT_EQ(source.watched_namespaces(), (std::vector<std::string>{"gloo-system", "team-b"}));
  EXPECT_EQ(source.stats().namespace_changes, 1u);
  // The dropped collection's cursor is cleared, so a later run lists it instead of resuming.
  auto cursors = rec.cursors();
  const std::string dropped
      = "kubernetes/apis/gateway.solo.io/v1/namespaces/team-a/virtualservices";
  ASSERT_TRUE(cursors.count(dropped) > 0);
  EXPECT_EQ(cursors[dropped], "");
  EXPECT_EQ(source.cursors().count(dropped), 0u);

  // A change in team-a is no longer seen; one in team-b is.
  const size_t mark2 = rec.size();
  server_.apply(virtual_service("team-a", "a2", "a2.example.com"));
  server_.apply(virtual_service("team-b", "b2", "b2.example.com"));
  ASSERT_TRUE(rec.wait_for([&](const auto& ev) {
    std::vector<source_event> later(ev.begin() + static_cast<long>(mark2), ev.end());
    return has(later, op::upsert, vs_origin("team-b", "b2"));
  }));
  EXPECT_FALSE(has(rec.events(mark2), op::upsert, vs_origin("team-a", "a2")));

  // Every namespace: what is still in scope is handed over, not removed and added again.
  const size_t mark3 = rec.size();
  server_.apply(settings({}));
  ASSERT_TRUE(rec.wait_for([&](const auto& ev) {
    std::vector<source_event> later(ev.begin() + static_cast<long>(mark3), ev.end());
    return has(later, op::upsert, vs_origin("team-a", "a2"));
  }));
  ASSERT_TRUE(fake_kube_apiserver::eventually(
      [&] { return source.watched_namespaces() == std::vector<std::string>{""}; }));
  for (const auto& e : rec.events(mark3)) {
    EXPECT_NE(e.op, op::remove) << e.origin;
    EXPECT_NE(e.origin, vs_origin("team-b", "b")) << "unchanged objects are not re-delivered";
  }
  EXPECT_FALSE(rec.overlapped());
}

TEST_F(KubernetesSourceTest, DiscoveredUpstreamsGoToTheWriterNotToTheSink) {
  server_.apply(service("default", "petstore"));
  kubernetes_discovery_writer_options wo;
  wo.client = client_;
  auto writer = std::make_shared<kubernetes_discovery_writer>(wo);
  recorder rec;
  auto opts = options();
  opts.kinds = {resource_kind::upstream};
  opts.discovery = true;
  opts.discovery_options.upstreams = false;
  opts.discovery_writer = writer;
  kubernetes_source source(opts, rec.sink());
  ASSERT_TRUE(source.start());
  ASSERT_TRUE(source.wait_synced(10s));
  EXPECT_TRUE(writer->is_synced());
  for (const auto& e : rec.events()) {
    EXPECT_NE(e.origin, "discovery/upstreams/gloo-system/default-petstore-8080")
        << "no in-memory copy of a discovered upstream";
  }
  writer->start();
  const std::string crd
      = "apis/gloo.solo.io/v1/namespaces/gloo-system/upstreams/default-petstore-8080";
  // Written, then read back through the Upstream watch as any Upstream CRD.
  ASSERT_TRUE(rec.wait_for([&](const auto& ev) { return has(ev, op::upsert, crd); }));
  // The Service's port changes: the old Upstream is deleted, a new one created and read back.
  json svc = service("default", "petstore");
  svc["spec"]["ports"][0]["port"] = 9090;
  server_.apply(svc);
  ASSERT_TRUE(rec.wait_for([&](const auto& ev) {
    return has(ev, op::remove, crd)
           && has(ev, op::upsert,
                  "apis/gloo.solo.io/v1/namespaces/gloo-system/upstreams/default-petstore-9090");
  }));
  writer->stop();
  EXPECT_EQ(writer->stats().creates, 2u);
  EXPECT_EQ(writer->stats().deletes, 1u);
}

TEST_F(KubernetesSourceTest, InMemoryDiscoveredUpstreamsOfAnEarlierRunAreRemovedFirst) {
  recorder rec;
  auto opts = options();
  opts.kinds = {resource_kind::upstream};
  opts.discovery = true;
  opts.discovery_options.upstreams = false;
  opts.known_discovery_origins = {"discovery/upstreams/gloo-system/default-pets-8080",
                                  "discovery/upstreams/default/kube-svc:default-pets-8080",
                                  "discovery/endpoints/gloo-system/ep-10-0-0-1-80-abc"};
  kubernetes_source source(opts, rec.sink());
  ASSERT_TRUE(source.start());
  ASSERT_TRUE(source.wait_synced(10s));
  auto events = rec.events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].op, op::remove);
  EXPECT_EQ(events[0].origin, "discovery/upstreams/gloo-system/default-pets-8080");
  EXPECT_EQ(events[0].source, "kubernetes-discovery");
  EXPECT_EQ(events[0].ns, "gloo-system");
  EXPECT_FALSE(has(events, op::remove, "discovery/upstreams/default/kube-svc:default-pets-8080"))
      << "kube-svc: upstreams are still generated in memory";
}

}  // namespace
}  // namespace sluice::adapters
