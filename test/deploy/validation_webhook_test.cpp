// The admission webhook over real HTTPS: AdmissionReview v1 requests as the API server sends them,
// answered by the validation engine on the example configuration.
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <nlohmann/json.hpp>

#include "adapters/validation_certificates.hpp"
#include "adapters/validation_webhook.hpp"
#include "model/error.hpp"
#include "test/deploy/deploy_test_support.hpp"
#include "test/support/temp_dir.hpp"
#include "xds/validation_engine.hpp"

namespace sluice::adapters {
namespace {

using json = nlohmann::json;

/// The wiring `sluice serve` uses: an admission change is a proposed change to the engine, and
/// the engine's problems become the reply's message and warnings.
admission_handler engine_handler(std::shared_ptr<xds::validation_engine> engine) {
  return [engine](const admission_change& c) {
    xds::proposed_change change;
    change.op = static_cast<xds::proposed_change::op_t>(c.op);
    change.object = c.object;
    change.kind = c.kind;
    change.ns = c.ns;
    change.name = c.name;
    change.dry_run = c.dry_run;
    auto v = engine->validate(change);
    admission_verdict out;
    out.allowed = v.allowed;
    out.message = v.message;
    for (const auto& w : v.warnings) {
      out.warnings.push_back(w.to_string());
    }
    return out;
  };
}

/// What kubectl sends for a VirtualService, with the fields the API server adds.
json virtual_service(const std::string& name, const std::string& domain,
                     const std::string& prefix_key = "prefix") {
  return {
      {"apiVersion", "gateway.solo.io/v1"},
      {"kind", "VirtualService"},
      {"metadata",
       {{"name", name},
        {"namespace", "gloo-system"},
        {"uid", "3c1d5c33-5c9d-4a58-8e4b-5b2f4c0e9a11"},
        {"resourceVersion", "48213"},
        {"generation", 1},
        {"creationTimestamp", "2026-01-02T03:04:05Z"},
        {"annotations",
         {{"kubectl.kubernetes.io/last-applied-configuration", "{\"apiVersion\":\"...\"}"}}},
        {"managedFields", json::array({{{"manager", "kubectl-client-side-apply"},
                                        {"operation", "Update"},
                                        {"apiVersion", "gateway.solo.io/v1"},
                                        {"fieldsType", "FieldsV1"},
                                        {"fieldsV1", {{"f:spec", json::object()}}}}})}}},
      {"spec",
       {{"virtualHost",
         {{"domains", json::array({domain})},
          {"routes",
           json::array({{{"matchers", json::array({{{prefix_key, "/"}}})},
                         {"routeAction",
                          {{"single",
                            {{"upstream",
                              {{"name", "petstore-v1"}, {"namespace", "gloo-system"}}}}}}}}})}}}}}};
}

json review(const std::string& operation, const json& kind, const std::string& ns,
            const std::string& name, const json& object, const json& old_object = nullptr,
            bool dry_run = false, const std::string& user = "kubernetes-admin",
            const std::string& api_version = "admission.k8s.io/v1") {
  std::string plural = kind.value("kind", "");
  for (auto& c : plural) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  plural += "s";
  return {{"apiVersion", api_version},
          {"kind", "AdmissionReview"},
          {"request",
           {{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"},
            {"kind", kind},
            {"resource",
             {{"group", kind.value("group", "")},
              {"version", kind.value("version", "")},
              {"resource", plural}}},
            {"requestKind", kind},
            {"name", name},
            {"namespace", ns},
            {"operation", operation},
            {"userInfo", {{"username", user}, {"groups", json::array({"system:masters"})}}},
            {"object", object},
            {"oldObject", old_object},
            {"dryRun", dry_run},
            {"options", {{"apiVersion", "meta.k8s.io/v1"}, {"kind", "CreateOptions"}}}}}};
}

const json vs_kind = {{"group", "gateway.solo.io"}, {"version", "v1"}, {"kind", "VirtualService"}};
const json upstream_kind = {{"group", "gloo.solo.io"}, {"version", "v1"}, {"kind", "Upstream"}};

X509_STORE* store_of(const std::string& pem) {
  X509_STORE* store = X509_STORE_new();
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);
    X509_free(cert);
  }
  BIO_free(bio);
  return store;
}

certificate_bundle localhost_bundle() {
  certificate_request req;
  req.dns_names = {"localhost", "gateway.gloo-system.svc"};
  req.ip_addresses = {"127.0.0.1"};
  auto b = generate_serving_certificate(req);
  EXPECT_TRUE(b) << describe(b.error());
  return *b;
}

class ValidationWebhookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto problems = test::load_world(test::source_dir() + "/examples/gateway", world_);
    ASSERT_TRUE(problems.empty()) << problems.front();
    current_ = std::make_shared<const model::world>(world_);
    bundle_ = localhost_bundle();
    dir_.write("tls.crt", bundle_.cert_pem);
    dir_.write("tls.key", bundle_.key_pem);
  }

  void start(xds::validation_engine_options engine_options = {},
             std::chrono::milliseconds reload = std::chrono::seconds(10)) {
    engine_ = std::make_shared<xds::validation_engine>([this] { return current_; },
                                                       std::move(engine_options));
    validation_webhook_options o;
    o.address = "127.0.0.1";
    o.port = 0;
    o.cert_file = (dir_.path() / "tls.crt").string();
    o.key_file = (dir_.path() / "tls.key").string();
    o.reload_interval = reload;
    webhook_ = std::make_unique<validation_webhook>(o, engine_handler(engine_));
    auto port = webhook_->start();
    ASSERT_TRUE(port) << describe(port.error());
    port_ = *port;
  }

  /// POSTs over HTTPS, verifying the server against `ca` (default: the bundle's CA) and its
  /// name "localhost".
  httplib::Result post(const std::string& body, const std::string& ca = "") {
    httplib::SSLClient client("localhost", port_);
    client.enable_server_certificate_verification(true);
    client.set_ca_cert_store(store_of(ca.empty() ? bundle_.ca_pem : ca));
    client.set_connection_timeout(5, 0);
    client.set_read_timeout(30, 0);
    return client.Post("/validation", body, "application/json");
  }

  json admit(const json& r) {
    auto res = post(r.dump());
    EXPECT_TRUE(res) << httplib::to_string(res.error());
    if (!res) {
      return {};
    }
    EXPECT_EQ(res->status, 200) << res->body;
    auto body = json::parse(res->body, nullptr, false);
    EXPECT_TRUE(body.is_object()) << res->body;
    return body;
  }

  test::temp_dir dir_{"sluice-webhook"};
  model::world world_;
  std::shared_ptr<const model::world> current_;
  certificate_bundle bundle_;
  std::shared_ptr<xds::validation_engine> engine_;
  std::unique_ptr<validation_webhook> webhook_;
  int port_ = 0;
};

TEST_F(ValidationWebhookTest, AllowsAGoodVirtualService) {
  start();
  auto answer = admit(review("CREATE", vs_kind, "gloo-system", "shop",
                             virtual_service("shop", "shop.example.com")));
  EXPECT_EQ(answer["apiVersion"], "admission.k8s.io/v1");
  EXPECT_EQ(answer["kind"], "AdmissionReview");
  EXPECT_EQ(answer["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
  EXPECT_EQ(answer["response"]["allowed"], true) << answer.dump();
  EXPECT_FALSE(answer["response"].contains("status")) << answer.dump();
}

TEST_F(ValidationWebhookTest, DeniesADomainConflictWithTheReason) {
  start();
  auto answer = admit(review("CREATE", vs_kind, "gloo-system", "petstore-copy",
                             virtual_service("petstore-copy", "petstore.example.com")));
  EXPECT_EQ(answer["response"]["allowed"], false) << answer.dump();
  EXPECT_EQ(answer["response"]["status"]["code"], 403);
  const std::string message = answer["response"]["status"]["message"];
  EXPECT_NE(message.find("VirtualService gloo-system.petstore-copy"), std::string::npos) << message;
  EXPECT_NE(message.find("petstore.example.com"), std::string::npos) << message;
}

TEST_F(ValidationWebhookTest, DeniesAnUnknownFieldNamingIt) {
  start();
  auto answer = admit(review("UPDATE", vs_kind, "gloo-system", "shop",
                             virtual_service("shop", "shop.example.com", "prefx"),
                             virtual_service("shop", "shop.example.com")));
  EXPECT_EQ(answer["response"]["allowed"], false) << answer.dump();
  const std::string message = answer["response"]["status"]["message"];
  EXPECT_NE(message.find("prefx"), std::string::npos) << message;
  EXPECT_NE(message.find("virtualHost.routes[0].matchers[0]"), std::string::npos) << message;
}

TEST_F(ValidationWebhookTest, ReturnsWarningsWhenItAllows) {
  start();
  json upstream = {
      {"apiVersion", "gloo.solo.io/v1"},
      {"kind", "Upstream"},
      {"metadata", {{"name", "greeter-b"}, {"namespace", "gloo-system"}}},
      {"spec", {{"static", {{"hosts", json::array({{{"addr", "127.0.0.1"}, {"port", 8082}}})}}}}}};
  auto answer
      = admit(review("DELETE", upstream_kind, "gloo-system", "greeter-b", nullptr, upstream));
  EXPECT_EQ(answer["response"]["allowed"], true) << answer.dump();
  ASSERT_TRUE(answer["response"].contains("warnings")) << answer.dump();
  EXPECT_NE(answer["response"]["warnings"].dump().find("greeter-b"), std::string::npos)
      << answer.dump();
}

TEST_F(ValidationWebhookTest, DryRunAdmissionsAreNotRemembered) {
  start();
  auto dry = admit(review("CREATE", vs_kind, "gloo-system", "a",
                          virtual_service("a", "z.example.com"), nullptr, /*dry_run=*/true));
  ASSERT_EQ(dry["response"]["allowed"], true);
  auto real
      = admit(review("CREATE", vs_kind, "gloo-system", "b", virtual_service("b", "z.example.com")));
  ASSERT_EQ(real["response"]["allowed"], true) << real.dump();
  // b was admitted for real: the next claim on the domain conflicts with it, although the world
  // has not caught up.
  auto third
      = admit(review("CREATE", vs_kind, "gloo-system", "c", virtual_service("c", "z.example.com")));
  EXPECT_EQ(third["response"]["allowed"], false) << third.dump();
}

TEST_F(ValidationWebhookTest, DeletionsThatFollowANamespaceDeletionPass) {
  xds::validation_engine_options strict;
  strict.policy_override = xds::validation_policy{false, false};
  start(strict);
  auto by_user
      = admit(review("DELETE", upstream_kind, "gloo-system", "greeter-b", nullptr, nullptr));
  EXPECT_EQ(by_user["response"]["allowed"], false) << by_user.dump();
  auto by_controller
      = admit(review("DELETE", upstream_kind, "gloo-system", "greeter-b", nullptr, nullptr, false,
                     "system:serviceaccount:kube-system:namespace-controller"));
  EXPECT_EQ(by_controller["response"]["allowed"], true) << by_controller.dump();
}

TEST_F(ValidationWebhookTest, ANamespaceDeletionIsValidated) {
  ASSERT_TRUE(test::add_yaml(world_, R"(
apiVersion: gloo.solo.io/v1
kind: Upstream
metadata: {name: orders, namespace: backend}
spec: {static: {hosts: [{addr: 10.0.0.9, port: 8080}]}}
---
apiVersion: gateway.solo.io/v1
kind: VirtualService
metadata: {name: orders, namespace: gloo-system}
spec:
  virtualHost:
    domains: [orders.example.com]
    routes:
    - matchers: [{prefix: /}]
      routeAction: {single: {upstream: {name: orders, namespace: backend}}}
)")
                  .empty());
  current_ = std::make_shared<const model::world>(world_);
  xds::validation_engine_options strict;
  strict.policy_override = xds::validation_policy{false, false};
  start(strict);
  json ns_kind = {{"group", ""}, {"version", "v1"}, {"kind", "Namespace"}};
  auto answer = admit(review("DELETE", ns_kind, "", "backend", nullptr, nullptr));
  EXPECT_EQ(answer["response"]["allowed"], false) << answer.dump();
  const std::string message = answer["response"]["status"]["message"];
  EXPECT_NE(message.find("deleting namespace backend"), std::string::npos) << message;
  EXPECT_NE(message.find("VirtualService gloo-system.orders"), std::string::npos) << message;
  auto unrelated = admit(review("DELETE", ns_kind, "", "empty", nullptr, nullptr));
  EXPECT_EQ(unrelated["response"]["allowed"], true) << unrelated.dump();
}

TEST_F(ValidationWebhookTest, JudgesVirtualHostOptionsAndRouteOptions) {
  // A VirtualService whose virtual host and route take their options from option resources.
  ASSERT_TRUE(test::add_yaml(world_, R"(
apiVersion: gateway.solo.io/v1
kind: VirtualHostOption
metadata: {name: std-vhost, namespace: opts}
spec: {options: {retries: {retryOn: connect-failure}}}
---
apiVersion: gateway.solo.io/v1
kind: RouteOption
metadata: {name: std-timeouts, namespace: opts}
spec: {options: {timeout: 30s}}
---
apiVersion: gateway.solo.io/v1
kind: VirtualService
metadata: {name: slow, namespace: apps}
spec:
  virtualHost:
    domains: [slow.example.com]
    optionsConfigRefs: {delegateOptions: [{name: std-vhost, namespace: opts}]}
    routes:
    - matchers: [{prefix: /}]
      optionsConfigRefs: {delegateOptions: [{name: std-timeouts, namespace: opts}]}
      routeAction: {single: {upstream: {name: petstore-v1, namespace: gloo-system}}}
)")
                  .empty());
  current_ = std::make_shared<const model::world>(world_);
  start();
  const json vho_kind
      = {{"group", "gateway.solo.io"}, {"version", "v1"}, {"kind", "VirtualHostOption"}};
  const json ro_kind = {{"group", "gateway.solo.io"}, {"version", "v1"}, {"kind", "RouteOption"}};
  auto vho = [](const json& options) {
    return json{
        {"apiVersion", "gateway.solo.io/v1"},
        {"kind", "VirtualHostOption"},
        {"metadata", {{"name", "std-vhost"}, {"namespace", "opts"}, {"resourceVersion", "7"}}},
        {"spec", {{"options", options}}}};
  };

  // An update that makes the referencing virtual host fail: refused, naming the VirtualService.
  const json bad_backoff
      = {{"retries", {{"retryOn", "5xx"}, {"retryBackOff", {{"baseInterval", "0s"}}}}}};
  auto bad = admit(review("UPDATE", vho_kind, "opts", "std-vhost", vho(bad_backoff),
                          vho({{"retries", {{"retryOn", "connect-failure"}}}})));
  EXPECT_EQ(bad["response"]["allowed"], false) << bad.dump();
  const std::string message = bad["response"]["status"].value("message", "");
  EXPECT_NE(message.find("VirtualHostOption opts.std-vhost would introduce"), std::string::npos)
      << message;
  EXPECT_NE(message.find("VirtualService apps.slow"), std::string::npos) << message;
  EXPECT_NE(message.find("baseInterval"), std::string::npos) << message;

  // A good update passes.
  auto good = admit(review("UPDATE", vho_kind, "opts", "std-vhost",
                           vho({{"retries", {{"retryOn", "gateway-error"}}}})));
  EXPECT_EQ(good["response"]["allowed"], true) << good.dump();

  // Deleting the RouteOption the route uses: allowed, with the missing-ref warning kubectl prints.
  auto del = admit(review("DELETE", ro_kind, "opts", "std-timeouts", nullptr, nullptr));
  EXPECT_EQ(del["response"]["allowed"], true) << del.dump();
  ASSERT_TRUE(del["response"].contains("warnings")) << del.dump();
  EXPECT_NE(del["response"]["warnings"].dump().find("routeOption opts.std-timeouts"),
            std::string::npos)
      << del.dump();
}

TEST_F(ValidationWebhookTest, AnswersV1beta1InKind) {
  start();
  auto answer = admit(review("CREATE", vs_kind, "gloo-system", "shop",
                             virtual_service("shop", "shop.example.com"), nullptr, false,
                             "kubernetes-admin", "admission.k8s.io/v1beta1"));
  EXPECT_EQ(answer["apiVersion"], "admission.k8s.io/v1beta1");
  EXPECT_EQ(answer["response"]["allowed"], true);
}

TEST_F(ValidationWebhookTest, MalformedReviewsGetBadRequest) {
  start();
  auto not_json = post("this is not json");
  ASSERT_TRUE(not_json);
  EXPECT_EQ(not_json->status, 400);
  auto wrong_kind = post(R"({"apiVersion":"v1","kind":"Pod","request":{}})");
  ASSERT_TRUE(wrong_kind);
  EXPECT_EQ(wrong_kind->status, 400);
  EXPECT_NE(wrong_kind->body.find("AdmissionReview"), std::string::npos) << wrong_kind->body;
}

TEST_F(ValidationWebhookTest, ANewCertificateIsServedWithoutARestart) {
  start({}, std::chrono::milliseconds(0));
  ASSERT_EQ(admit(review("CREATE", vs_kind, "gloo-system", "shop",
                         virtual_service("shop", "shop.example.com")))["response"]["allowed"],
            true);
  // certgen rotates: new CA, new certificate, written where the Secret is mounted.
  auto rotated = localhost_bundle();
  dir_.write("tls.key", rotated.key_pem);
  dir_.write("tls.crt", rotated.cert_pem);
  auto with_new_ca = post(
      review("CREATE", vs_kind, "gloo-system", "shop", virtual_service("shop", "shop.example.com"))
          .dump(),
      rotated.ca_pem);
  ASSERT_TRUE(with_new_ca) << httplib::to_string(with_new_ca.error());
  EXPECT_EQ(with_new_ca->status, 200);
  auto with_old_ca = post("{}", bundle_.ca_pem);
  EXPECT_FALSE(with_old_ca);  // the old CA does not vouch for the new certificate
}

TEST_F(ValidationWebhookTest, RefusesToStartWithoutAUsableCertificate) {
  dir_.write("tls.key", localhost_bundle().key_pem);  // not the certificate's key
  validation_webhook_options o;
  o.address = "127.0.0.1";
  o.port = 0;
  o.cert_file = (dir_.path() / "tls.crt").string();
  o.key_file = (dir_.path() / "tls.key").string();
  validation_webhook webhook(o, [](const admission_change&) { return admission_verdict{}; });
  auto port = webhook.start();
  ASSERT_FALSE(port);
  EXPECT_NE(describe(port.error()).find("is not the key of"), std::string::npos)
      << describe(port.error());
}

TEST(AdmissionReviewTest, ChangesFollowTheOperation) {
  admission_request r;
  r.kind = "VirtualService";
  r.group = "gateway.solo.io";
  r.ns = "apps";
  r.name = "shop";
  std::string why;
  r.operation = "CREATE";
  r.object = "{}";
  auto create = change_of(r, why);
  ASSERT_TRUE(create);
  EXPECT_EQ(create->op, admission_change::op_t::upsert);
  r.operation = "DELETE";
  auto del = change_of(r, why);
  ASSERT_TRUE(del);
  EXPECT_EQ(del->op, admission_change::op_t::remove);
  EXPECT_EQ(del->name, "shop");
  r.operation = "CONNECT";
  EXPECT_FALSE(change_of(r, why));
  r.group = "";
  r.kind = "Namespace";
  r.name = "apps";
  r.operation = "UPDATE";
  EXPECT_FALSE(change_of(r, why));
  r.operation = "DELETE";
  auto ns = change_of(r, why);
  ASSERT_TRUE(ns);
  EXPECT_EQ(ns->op, admission_change::op_t::remove_namespace);
  EXPECT_EQ(ns->ns, "apps");
}

TEST(AdmissionReviewTest, WarningsAreOneLineAndBounded) {
  admission_request r;
  r.uid = "u";
  admission_verdict v;
  v.allowed = true;
  for (int i = 0; i < 30; ++i) {
    v.warnings.push_back("line one\nline two " + std::to_string(i));
  }
  auto body = json::parse(render_admission_response(r, v, 5));
  const auto& warnings = body["response"]["warnings"];
  ASSERT_EQ(warnings.size(), 6u);
  EXPECT_EQ(warnings[0], "line one line two 0");
  EXPECT_EQ(warnings[5], "25 more warnings not shown");
}

}  // namespace
}  // namespace sluice::adapters
