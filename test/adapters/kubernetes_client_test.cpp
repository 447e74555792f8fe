#include "adapters/kubernetes_client.hpp"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/error.hpp"
#include "test/support/fake_kube_apiserver.hpp"
#include "test/support/temp_dir.hpp"

namespace sluice::adapters {
namespace {

using json = nlohmann::json;
using test::fake_kube_apiserver;
using namespace std::chrono_literals;

std::shared_ptr<kubernetes_client> client_from(const test::temp_dir& dir,
                                               const std::string& kubeconfig) {
  auto path = dir.write("kubeconfig", kubeconfig);
  auto creds = load_kubeconfig(path.string());
  EXPECT_TRUE(creds) << (creds ? "" : describe(creds.error()));
  if (!creds) {
    return nullptr;
  }
  auto client = kubernetes_client::make(*creds);
  EXPECT_TRUE(client) << (client ? "" : describe(client.error()));
  return client ? *client : nullptr;
}

json secret(const std::string& ns, const std::string& name) {
  return json{{"apiVersion", "v1"},
              {"kind", "Secret"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"type", "Opaque"},
              {"data", {{"k", "dg=="}}}};
}

TEST(KubernetesClientTest, TokenFromKubeconfigListsOverVerifiedTls) {
  fake_kube_apiserver server;
  server.apply(secret("default", "one"));
  test::temp_dir dir;
  auto client = client_from(dir, server.kubeconfig("test-token"));
  ASSERT_TRUE(client);
  auto r = client->request("GET", "/api/v1/namespaces/default/secrets");
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(r->status, 200);
  auto body = json::parse(r->body);
  ASSERT_EQ(body["items"].size(), 1u);
  EXPECT_EQ(body["items"][0]["metadata"]["name"], "one");
  EXPECT_EQ(client->credentials().default_namespace, "default");
}

TEST(KubernetesClientTest, ClientCertificateAuthenticates) {
  fake_kube_apiserver server;
  test::temp_dir dir;
  auto client = client_from(dir, server.kubeconfig(""));
  ASSERT_TRUE(client);
  auto r = client->request("GET", "/api/v1/namespaces/default/secrets");
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(r->status, 200);
}

TEST(KubernetesClientTest, UnknownTokenIsUnauthorized) {
  fake_kube_apiserver server;
  test::temp_dir dir;
  auto client = client_from(dir, server.kubeconfig("not-a-token"));
  ASSERT_TRUE(client);
  auto r = client->request("GET", "/api/v1/namespaces/default/secrets");
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(r->status, 401);
}

TEST(KubernetesClientTest, ServerCertificateFromAnotherCaIsRefused) {
  fake_kube_apiserver server;
  test::temp_dir dir;
  auto other = test::test_pki::make();
  kubernetes_credentials creds;
  creds.server = server.url();
  creds.token = "test-token";
  creds.ca_pem = other.ca_cert;
  auto client = kubernetes_client::make(creds);
  ASSERT_TRUE(client);
  auto r = (*client)->request("GET", "/api/v1/namespaces/default/secrets");
  ASSERT_FALSE(r);
  EXPECT_NE(describe(r.error()).find(server.url()), std::string::npos) << describe(r.error());
  EXPECT_NE(describe(r.error()).find("not trusted"), std::string::npos) << describe(r.error());

  // The same server is reachable when the kubeconfig says to skip verification.
  creds.insecure_skip_tls_verify = true;
  auto insecure = kubernetes_client::make(creds);
  ASSERT_TRUE(insecure);
  auto ok = (*insecure)->request("GET", "/api/v1/namespaces/default/secrets");
  ASSERT_TRUE(ok) << describe(ok.error());
  EXPECT_EQ(ok->status, 200);
}

TEST(KubernetesClientTest, KubeconfigFilesAreRelativeToItsDirectory) {
  fake_kube_apiserver server;
  test::temp_dir dir;
  dir.write("pki/ca.crt", server.pki().ca_cert);
  dir.write("pki/client.crt", server.pki().client_cert);
  dir.write("pki/client.key", server.pki().client_key);
  std::string config = "apiVersion: v1\nkind: Config\ncurrent-context: a\n"
                       "clusters:\n- name: c\n  cluster:\n    server: " + server.url() + "\n"
                       "    certificate-authority: pki/ca.crt\n"
                       "contexts:\n- name: a\n  context: {cluster: c, user: u, namespace: apps}\n"
                       "- name: b\n  context: {cluster: c, user: nobody}\n"
                       "users:\n- name: u\n  user:\n    client-certificate: pki/client.crt\n"
                       "    client-key: pki/client.key\n";
  auto path = dir.write("kubeconfig", config);
  auto creds = load_kubeconfig(path.string());
  ASSERT_TRUE(creds) << describe(creds.error());
  EXPECT_EQ(creds->default_namespace, "apps");
  auto client = kubernetes_client::make(*creds);
  ASSERT_TRUE(client);
  auto r = (*client)->request("GET", "/api/v1/namespaces/apps/configmaps");
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(r->status, 200);

  // Context b has a user that is not defined: no credentials, so the server says 401.
  auto b = load_kubeconfig(path.string(), "b");
  ASSERT_TRUE(b) << describe(b.error());
  auto anonymous = kubernetes_client::make(*b);
  ASSERT_TRUE(anonymous);
  auto denied = (*anonymous)->request("GET", "/api/v1/namespaces/apps/configmaps");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
}

TEST(KubernetesClientTest, KubeconfigProblemsAreNamed) {
  test::temp_dir dir;
  auto missing_ctx = dir.write("a", "apiVersion: v1\nkind: Config\ncurrent-context: nope\n");
  auto r = load_kubeconfig(missing_ctx.string());
  ASSERT_FALSE(r);
  EXPECT_NE(describe(r.error()).find("context \"nope\" not found"), std::string::npos)
      << describe(r.error());

  auto exec = dir.write("b",
                        "current-context: x\nclusters:\n- name: c\n  cluster: {server: "
                        "https://127.0.0.1:1}\ncontexts:\n- name: x\n  context: {cluster: c, user: "
                        "u}\nusers:\n- name: u\n  user:\n    exec: {command: aws}\n");
  r = load_kubeconfig(exec.string());
  ASSERT_FALSE(r);
  EXPECT_NE(describe(r.error()).find("exec or auth-provider"), std::string::npos);

  kubernetes_credentials ftp;
  ftp.server = "ftp://x";
  auto bad_url = kubernetes_client::make(ftp);
  ASSERT_FALSE(bad_url);
  EXPECT_NE(describe(bad_url.error()).find("https://"), std::string::npos);

  EXPECT_FALSE(load_kubeconfig((dir.path() / "absent").string()));
}

TEST(KubernetesClientTest, InClusterUsesServiceAccountTokenAndCa) {
  fake_kube_apiserver server;
  server.set_token("sa-token", true);
  test::temp_dir dir;
  dir.write("sa/token", "sa-token\n");
  dir.write("sa/ca.crt", server.pki().ca_cert);
  dir.write("sa/namespace", "gloo-system");
  auto creds = in_cluster_credentials((dir.path() / "sa").string(), "127.0.0.1",
                                      std::to_string(server.port()));
  ASSERT_TRUE(creds) << describe(creds.error());
  EXPECT_EQ(creds->default_namespace, "gloo-system");
  EXPECT_TRUE(creds->token.empty());  // read from the file at request time, not kept here
  auto client = kubernetes_client::make(*creds);
  ASSERT_TRUE(client);
  auto r = (*client)->request("GET", "/api/v1/namespaces/gloo-system/secrets");
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(r->status, 200);

  EXPECT_FALSE(in_cluster_credentials((dir.path() / "sa").string(), "", ""));
  EXPECT_FALSE(in_cluster_credentials((dir.path() / "missing").string(), "127.0.0.1", "443"));
}

TEST(KubernetesClientTest, StreamDeliversWatchLinesUntilCancelled) {
  fake_kube_apiserver server;
  server.apply(secret("default", "one"));
  test::temp_dir dir;
  auto client = client_from(dir, server.kubeconfig());
  ASSERT_TRUE(client);
  kubernetes_stream_control control;
  std::mutex mutex;
  std::vector<std::string> lines;
  int status = 0;
  std::thread watcher([&] {
    auto r = client->stream(
        "/api/v1/namespaces/default/secrets?watch=1", 60s, [&](int s) { status = s; },
        [&](const std::vector<std::string_view>& got) {
          std::lock_guard<std::mutex> lock(mutex);
          for (auto l : got) {
            lines.emplace_back(l);
          }
          return true;
        },
        control);
    EXPECT_FALSE(r);  // cancelled
  });
  auto count = [&] {
    std::lock_guard<std::mutex> lock(mutex);
    return lines.size();
  };
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return count() == 1; }));
  server.apply(secret("default", "two"));
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] { return count() == 2; }));
  control.cancel();
  watcher.join();
  EXPECT_EQ(status, 200);
  EXPECT_EQ(json::parse(lines[0])["type"], "ADDED");
  EXPECT_EQ(json::parse(lines[1])["object"]["metadata"]["name"], "two");
}

}  // namespace
}  // namespace sluice::adapters
