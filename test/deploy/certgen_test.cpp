// The webhook's certificates and `sluice certgen`: the CA signs the serving certificate, the SANs
// are the Service's names, and certgen stores them in the Secret and the webhook's caBundle
// through the Kubernetes API (an in-test API server speaking HTTPS with a bearer token).
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "adapters/validation_certificates.hpp"
#include "model/error.hpp"
#include "test/deploy/deploy_test_support.hpp"
#include "test/support/temp_dir.hpp"

namespace sluice::adapters {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

/// Verifies `cert_pem` with OpenSSL's chain verification as a TLS client would: signed by a CA in
/// `ca_pem`, valid now, usable for a TLS server, and naming `host`. Returns "" or why not.
std::string verify_for_host(const std::string& ca_pem, const std::string& cert_pem,
                            const std::string& host) {
  X509_STORE* store = X509_STORE_new();
  BIO* cab = BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()));
  while (X509* ca = PEM_read_bio_X509(cab, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, ca);
    X509_free(ca);
  }
  BIO_free(cab);
  BIO* cb = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
  BIO_free(cb);
  std::string why;
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  if (cert == nullptr) {
    why = "no certificate";
  } else {
    X509_STORE_CTX_init(ctx, store, cert, nullptr);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx), host.c_str(), host.size());
    if (X509_verify_cert(ctx) != 1) {
      why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
    }
  }
  X509_STORE_CTX_free(ctx);
  X509_free(cert);
  X509_STORE_free(store);
  return why;
}

const std::vector<std::string> gateway_names
    = {"gateway", "gateway.gloo-system", "gateway.gloo-system.svc",
       "gateway.gloo-system.svc.cluster.local"};

TEST(ValidationCertificateTest, TheCaSignsACertificateForEachServiceName) {
  EXPECT_EQ(service_dns_names("gateway", "gloo-system", "cluster.local"), gateway_names);
  certificate_request req;
  req.dns_names = gateway_names;
  auto bundle = generate_serving_certificate(req);
  ASSERT_TRUE(bundle) << describe(bundle.error());
  for (const auto& name : gateway_names) {
    EXPECT_EQ(verify_for_host(bundle->ca_pem, bundle->cert_pem, name), "") << name;
  }
  EXPECT_NE(verify_for_host(bundle->ca_pem, bundle->cert_pem, "gloo.gloo-system.svc"), "");
  auto other = generate_serving_certificate(req);
  ASSERT_TRUE(other);
  EXPECT_NE(verify_for_host(other->ca_pem, bundle->cert_pem, "gateway.gloo-system.svc"), "")
      << "a different CA must not vouch for it";
  auto facts = inspect_bundle(*bundle);
  ASSERT_TRUE(facts);
  EXPECT_TRUE(facts->signed_by_ca);
  EXPECT_TRUE(facts->key_matches);
  EXPECT_TRUE(facts->ca_is_ca);
  EXPECT_EQ(facts->dns_names, gateway_names);
  EXPECT_NE(bundle->key_pem.find("BEGIN PRIVATE KEY"), std::string::npos);
}

TEST(ValidationCertificateTest, RenewalReasonsSayWhatIsWrong) {
  certificate_request req;
  req.dns_names = gateway_names;
  req.validity = std::chrono::hours(24 * 10);
  auto bundle = generate_serving_certificate(req);
  ASSERT_TRUE(bundle);
  const auto now = std::chrono::system_clock::now();
  EXPECT_FALSE(renewal_reason(*bundle, gateway_names, now, std::chrono::hours(24)));
  auto expiring = renewal_reason(*bundle, gateway_names, now, std::chrono::hours(24 * 30));
  ASSERT_TRUE(expiring);
  EXPECT_NE(expiring->find("expires at"), std::string::npos) << *expiring;
  auto names = renewal_reason(*bundle, {"gloo.gloo-system.svc"}, now, std::chrono::hours(1));
  ASSERT_TRUE(names);
  EXPECT_NE(names->find("does not name gloo.gloo-system.svc"), std::string::npos) << *names;
  auto other = generate_serving_certificate(req);
  ASSERT_TRUE(other);
  certificate_bundle mixed = *bundle;
  mixed.key_pem = other->key_pem;
  auto key = renewal_reason(mixed, gateway_names, now, std::chrono::hours(1));
  ASSERT_TRUE(key);
  EXPECT_NE(key->find("not the key"), std::string::npos) << *key;
  mixed = *bundle;
  mixed.ca_pem = other->ca_pem;
  auto ca = renewal_reason(mixed, gateway_names, now, std::chrono::hours(1));
  ASSERT_TRUE(ca);
  EXPECT_NE(ca->find("not signed"), std::string::npos) << *ca;
}

TEST(ValidationCertificateTest, RefusesNamesThatAreNotHostNames) {
  certificate_request req;
  req.dns_names = {"gateway,IP:1.2.3.4"};
  auto bundle = generate_serving_certificate(req);
  ASSERT_FALSE(bundle);
  EXPECT_NE(describe(bundle.error()).find("not a valid DNS name"), std::string::npos);
}

TEST(ValidationCertificateTest, Base64RoundTrips) {
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    EXPECT_EQ(base64_decode(base64_encode(s)), s);
  }
  EXPECT_EQ(base64_encode("abc"), "YWJj");
  EXPECT_FALSE(base64_decode("a*bc"));
}

/// A Kubernetes API server for Secrets and ValidatingWebhookConfigurations only: get, create,
/// update with the resourceVersion precondition; bearer token "test-token".
class fake_api {
 public:
  explicit fake_api(const test::temp_dir& dir) {
    certificate_request req;
    req.dns_names = {"localhost"};
    req.ip_addresses = {"127.0.0.1"};
    auto pki = generate_serving_certificate(req);
    EXPECT_TRUE(pki);
    ca_pem_ = pki->ca_pem;
    auto cert = dir.write("api/tls.crt", pki->cert_pem);
    auto key = dir.write("api/tls.key", pki->key_pem);
    server_ = std::make_unique<httplib::SSLServer>(cert.c_str(), key.c_str());
    auto guarded = [this](auto handler) {
      return [this, handler](const httplib::Request& req, httplib::Response& res) {
        std::lock_guard lock(mu_);
        log_.push_back(req.method + " " + req.path);
        if (req.get_header_value("Authorization") != "Bearer test-token") {
          reply(res, 401, "Unauthorized");
          return;
        }
        handler(req, res);
      };
    };
    const std::string object
        = "(/api/v1/namespaces/[^/]+/secrets/[^/]+"
          "|/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/[^/]+)";
    server_->Get(object, guarded([this](const httplib::Request& req, httplib::Response& res) {
                   auto i = objects_.find(req.path);
                   if (i == objects_.end()) {
                     reply(res, 404, "not found");
                   } else {
                     res.set_content(i->second.dump(), "application/json");
                   }
                 }));
    server_->Put(object, guarded([this](const httplib::Request& req, httplib::Response& res) {
                   auto i = objects_.find(req.path);
                   auto body = json::parse(req.body);
                   if (i == objects_.end()) {
                     reply(res, 404, "not found");
                   } else if (body["metadata"].value("resourceVersion", "")
                              != i->second["metadata"].value("resourceVersion", "")) {
                     reply(res, 409, "the object has been modified");
                   } else {
                     body["metadata"]["resourceVersion"] = std::to_string(++version_);
                     i->second = body;
                     res.set_content(body.dump(), "application/json");
                   }
                 }));
    server_->Post(R"(/api/v1/namespaces/[^/]+/secrets)",
                  guarded([this](const httplib::Request& req, httplib::Response& res) {
                    auto body = json::parse(req.body);
                    const std::string path
                        = req.path + "/" + body["metadata"]["name"].get<std::string>();
                    if (objects_.count(path) != 0) {
                      reply(res, 409, "already exists");
                      return;
                    }
                    body["metadata"]["resourceVersion"] = std::to_string(++version_);
                    objects_[path] = body;
                    res.status = 201;
                    res.set_content(body.dump(), "application/json");
                  }));
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    for (int i = 0; i < 5000 && !server_->is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  ~fake_api() {
    server_->stop();
    thread_.join();
  }

  void put(const std::string& path, json object) {
    std::lock_guard lock(mu_);
    object["metadata"]["resourceVersion"] = std::to_string(++version_);
    objects_[path] = std::move(object);
  }
  json get(const std::string& path) {
    std::lock_guard lock(mu_);
    auto i = objects_.find(path);
    return i == objects_.end() ? json() : i->second;
  }
  std::vector<std::string> log() {
    std::lock_guard lock(mu_);
    return log_;
  }
  size_t writes(const std::string& part) {
    size_t n = 0;
    for (const auto& l : log()) {
      if ((l.rfind("PUT ", 0) == 0 || l.rfind("POST ", 0) == 0)
          && l.find(part) != std::string::npos) {
        ++n;
      }
    }
    return n;
  }

  std::string kubeconfig() const {
    return "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: "
           "https://127.0.0.1:" + std::to_string(port_) + "\n    certificate-authority-data: "
           + base64_encode(ca_pem_) + "\nusers:\n- name: tester\n  user: {token: test-token}\n"
           "contexts:\n- name: fake\n  context: {cluster: fake, user: tester}\n"
           "current-context: fake\n";
  }

 private:
  static void reply(httplib::Response& res, int code, const std::string& message) {
    res.status = code;
    res.set_content(json{{"kind", "Status"}, {"code", code}, {"message", message}}.dump(),
                    "application/json");
  }

  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  int port_ = 0;
  std::string ca_pem_;
  std::mutex mu_;
  std::map<std::string, json> objects_;
  std::vector<std::string> log_;
  uint64_t version_ = 100;
};

const std::string secret_path = "/api/v1/namespaces/gloo-system/secrets/gateway-validation-certs";
const std::string webhook_path
    = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/"
      "gloo-gateway-validation-webhook-gloo-system";

json webhook_configuration() {
  json hook = {{"name", "gloo.gloo-system.svc"},
               {"clientConfig",
                {{"service",
                  {{"name", "gateway"}, {"namespace", "gloo-system"}, {"path", "/validation"}}}}}};
  json second = hook;
  second["name"] = "kube.gloo-system.svc";
  return {{"apiVersion", "admissionregistration.k8s.io/v1"},
          {"kind", "ValidatingWebhookConfiguration"},
          {"metadata", {{"name", "gloo-gateway-validation-webhook-gloo-system"}}},
          {"webhooks", json::array({hook, second})}};
}

std::string decoded(const json& j) { return base64_decode(j.get<std::string>()).value_or(""); }

class CertgenCommandTest : public ::testing::Test {
 protected:
  test::process_result certgen(const std::string& extra) {
    return test::run_command(test::sluice_command() + " certgen --kubeconfig "
                             + test::shell_quote((dir_.path() / "kubeconfig").string())
                             + " --namespace gloo-system "
                               "--validating-webhook-configuration-name "
                               "gloo-gateway-validation-webhook-gloo-system " + extra);
  }
  test::temp_dir dir_{"sluice-certgen"};
};

TEST_F(CertgenCommandTest, OutputDirWritesAVerifiableBundleAndKeepsIt) {
  const auto out = dir_.path() / "certs";
  const auto cmd = test::sluice_command() + " certgen --svc-name gateway --namespace gloo-system "
                   "--output-dir " + test::shell_quote(out.string());
  auto first = test::run_command(cmd);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const auto ca = test::read_file(out / "ca.crt");
  const auto crt = test::read_file(out / "tls.crt");
  const auto key = test::read_file(out / "tls.key");
  for (const auto& name : gateway_names) {
    EXPECT_EQ(verify_for_host(ca, crt, name), "") << name;
  }
  auto facts = inspect_bundle({ca, crt, key});
  ASSERT_TRUE(facts);
  EXPECT_TRUE(facts->key_matches);
  EXPECT_EQ(fs::status(out / "tls.key").permissions() & fs::perms::others_read, fs::perms::none);

  auto again = test::run_command(cmd);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("kept"), std::string::npos) << again.output;
  EXPECT_EQ(test::read_file(out / "tls.crt"), crt);

  auto forced = test::run_command(cmd + " --force-rotation");
  ASSERT_EQ(forced.exit_code, 0) << forced.output;
  EXPECT_NE(test::read_file(out / "tls.crt"), crt);
  EXPECT_EQ(verify_for_host(test::read_file(out / "ca.crt"), test::read_file(out / "tls.crt"),
                            "gateway.gloo-system.svc"),
            "");
}

TEST_F(CertgenCommandTest, StoresTheSecretAndSetsTheCaBundle) {
  fake_api api(dir_);
  dir_.write("kubeconfig", api.kubeconfig());
  api.put(webhook_path, webhook_configuration());

  auto run = certgen("");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  json secret = api.get(secret_path);
  ASSERT_TRUE(secret.is_object()) << run.output;
  EXPECT_EQ(secret["type"], "kubernetes.io/tls");
  const std::string ca = decoded(secret["data"]["ca.crt"]);
  const std::string crt = decoded(secret["data"]["tls.crt"]);
  for (const auto& name : gateway_names) {
    EXPECT_EQ(verify_for_host(ca, crt, name), "") << name;
  }
  json config = api.get(webhook_path);
  for (const auto& hook : config["webhooks"]) {
    EXPECT_EQ(decoded(hook["clientConfig"]["caBundle"]), ca) << hook["name"];
  }

  // Run again (an upgrade re-runs the Job): nothing is rewritten.
  const size_t secret_writes = api.writes("/secrets");
  const size_t webhook_writes = api.writes("validatingwebhookconfigurations");
  auto again = certgen("");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("kept"), std::string::npos) << again.output;
  EXPECT_EQ(api.writes("/secrets"), secret_writes);
  EXPECT_EQ(api.writes("validatingwebhookconfigurations"), webhook_writes);
  EXPECT_EQ(decoded(api.get(secret_path)["data"]["tls.crt"]), crt);
}

TEST_F(CertgenCommandTest, RotationTrustsTheNewCaBeforeServingIt) {
  fake_api api(dir_);
  dir_.write("kubeconfig", api.kubeconfig());
  api.put(webhook_path, webhook_configuration());
  // A certificate that expires within the renewal window.
  certificate_request req;
  req.dns_names = gateway_names;
  req.validity = std::chrono::hours(24 * 5);
  auto old = generate_serving_certificate(req);
  ASSERT_TRUE(old);
  api.put(secret_path,
          {{"apiVersion", "v1"},
           {"kind", "Secret"},
           {"type", "kubernetes.io/tls"},
           {"metadata", {{"name", "gateway-validation-certs"}, {"namespace", "gloo-system"}}},
           {"data",
            {{"tls.crt", base64_encode(old->cert_pem)},
             {"tls.key", base64_encode(old->key_pem)},
             {"ca.crt", base64_encode(old->ca_pem)}}}});

  auto run = certgen("--renew-before-days 30");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("expires at"), std::string::npos) << run.output;
  json secret = api.get(secret_path);
  const std::string ca = decoded(secret["data"]["ca.crt"]);
  const std::string crt = decoded(secret["data"]["tls.crt"]);
  ASSERT_NE(crt, old->cert_pem);
  // Both CAs are trusted, so both the old and the new certificate verify with the bundle.
  for (const auto& hook : api.get(webhook_path)["webhooks"]) {
    const std::string bundle = decoded(hook["clientConfig"]["caBundle"]);
    EXPECT_EQ(verify_for_host(bundle, crt, "gateway.gloo-system.svc"), "");
    EXPECT_EQ(verify_for_host(bundle, old->cert_pem, "gateway.gloo-system.svc"), "");
  }
  // Trust first: the webhook configuration was written before the Secret.
  const auto log = api.log();
  auto webhook_put = std::find(log.begin(), log.end(), "PUT " + webhook_path);
  auto secret_put = std::find(log.begin(), log.end(), "PUT " + secret_path);
  ASSERT_NE(webhook_put, log.end());
  ASSERT_NE(secret_put, log.end());
  EXPECT_LT(webhook_put - log.begin(), secret_put - log.begin());
}

TEST_F(CertgenCommandTest, AMissingWebhookConfigurationIsAClearError) {
  fake_api api(dir_);
  dir_.write("kubeconfig", api.kubeconfig());
  auto run = certgen("");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("gloo-gateway-validation-webhook-gloo-system does not exist"),
            std::string::npos)
      << run.output;
  EXPECT_EQ(api.writes("/secrets"), 0u);
}

TEST_F(CertgenCommandTest, AWrongTokenIsReported) {
  fake_api api(dir_);
  std::string config = api.kubeconfig();
  config.replace(config.find("token: test-token"), 17, "token: wrong");
  dir_.write("kubeconfig", config);
  auto run = certgen("");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("401"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace sluice::adapters
