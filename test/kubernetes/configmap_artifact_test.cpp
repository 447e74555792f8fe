// A ConfigMap's binaryData reaches the wasm cache: `sluice serve --source kubernetes` (the real
// binary) against test/support/fake_kube_apiserver turns the ConfigMap into an Artifact whose
// values, text and binary, the cache on --wasm-cache-addr serves by SHA-256, byte for byte, and
// follows the ConfigMap's edits.
#include <gtest/gtest.h>
#include <httplib.h>

#include "adapters/wasm_cache_server.hpp"
#include "test/kubernetes/kube_serve_support.hpp"
#include "test/support/fake_kube_apiserver.hpp"
#include "test/support/temp_dir.hpp"

namespace sluice::test {
namespace {

using json = nlohmann::json;

/// Not UTF-8 (the wasm header, NULs, bytes >= 0x80): it can only live in binaryData. The length
/// is not a multiple of 3, so the encoding ends in padding.
std::string wasm_module(char seed) {
  std::string bytes("\0asm\x01\0\0\0", 8);
  for (int i = 0; i < 301; ++i) {
    bytes += static_cast<char>((i * 37 + seed) & 0xff);
  }
  return bytes;
}

json configmap(const std::string& module, const std::string& readme) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", "filters"}, {"namespace", "gloo-system"}}},
          {"data", {{"README", readme}}},
          {"binaryData", {{"filter.wasm", base64_encode(module)}}}};
}

class ConfigMapArtifactTest : public ::testing::Test {
 protected:
  ConfigMapArtifactTest() {
    fake_.apply(kube::gateway());
    kubeconfig_ = dir_.write("kubeconfig", fake_.kubeconfig()).string();
  }

  std::unique_ptr<kube::serve_process> serve() {
    std::vector<std::string> args{"serve",
                                  "--source",
                                  "kubernetes",
                                  "--kubeconfig",
                                  kubeconfig_,
                                  "--data-dir",
                                  (dir_.path() / "data").string(),
                                  "--xds-addr",
                                  "127.0.0.1:0",
                                  "--metrics-addr",
                                  "",
                                  "--admin-addr",
                                  "",
                                  "--identity",
                                  "replica-a",
                                  "--validation-addr",
                                  "off",
                                  "--webhook-addr",
                                  "off",
                                  "--wasm-cache-addr",
                                  "127.0.0.1:0"};
    auto p = std::make_unique<kube::serve_process>(std::string(SLUICE_BINARY_DIR) + "/sluice", args,
                                                   dir_.path() / "serve.log");
    EXPECT_TRUE(p->started());
    return p;
  }

  /// The HTTP status of GET /<sha256 of bytes> and the body, from the cache on `port`.
  static std::pair<int, std::string> fetch(int port, const std::string& bytes) {
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(5, 0);
    client.set_read_timeout(10, 0);
    auto res = client.Get("/" + adapters::sha256_hex(bytes));
    return res ? std::pair{res->status, res->body} : std::pair{-1, std::string()};
  }

  fake_kube_apiserver fake_;
  temp_dir dir_;
  std::string kubeconfig_;
};

TEST_F(ConfigMapArtifactTest, BinaryDataIsServedByItsSha256AndFollowsEdits) {
  const std::string first = wasm_module(0x11);
  fake_.apply(configmap(first, "text next to the module"));
  auto p = serve();
  const int port = p->port_from_log("wasm-cache listening");
  ASSERT_GT(port, 0) << p->log();

  std::pair<int, std::string> got;
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] {
    got = fetch(port, first);
    return got.first == 200;
  })) << "status "
      << got.first << "\n"
      << p->log();
  EXPECT_EQ(got.second.size(), first.size());
  EXPECT_EQ(got.second, first) << "the module's bytes, not their base64";
  EXPECT_EQ(fetch(port, base64_encode(first)).first, 404) << "the base64 text is not a value";
  // The ConfigMap's text data is in the same Artifact.
  EXPECT_EQ(fetch(port, "text next to the module"),
            (std::pair<int, std::string>{200, "text next to the module"}));

  // An edit of the ConfigMap: the new module is served, the old one is gone.
  const std::string second = wasm_module(0x5a);
  ASSERT_NE(adapters::sha256_hex(first), adapters::sha256_hex(second));
  fake_.apply(configmap(second, "text next to the module"));
  ASSERT_TRUE(fake_kube_apiserver::eventually([&] {
    got = fetch(port, second);
    return got.first == 200;
  })) << "status "
      << got.first << "\n"
      << p->log();
  EXPECT_EQ(got.second, second);
  EXPECT_EQ(fetch(port, first).first, 404);
}

}  // namespace
}  // namespace sluice::test
