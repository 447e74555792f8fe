// The gRPC validation service (sluice.v1.ValidationService) with a real gRPC client.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "model/error.hpp"
#include "sluice/v1/validation.grpc.pb.h"
#include "test/deploy/deploy_test_support.hpp"
#include "xds/validation_service.hpp"

namespace sluice::xds {
namespace {

namespace v1 = ::sluice::v1;

class ValidationServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto problems = test::load_world(test::source_dir() + "/examples/gateway", world_);
    ASSERT_TRUE(problems.empty()) << problems.front();
    auto current = std::make_shared<const model::world>(world_);
    auto engine = std::make_shared<validation_engine>([current] { return current; });
    service_
        = std::make_unique<validation_service>(engine, validation_service_options{"127.0.0.1:0"});
    auto port = service_->start();
    ASSERT_TRUE(port) << describe(port.error());
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(*port),
                                       grpc::InsecureChannelCredentials());
    stub_ = v1::ValidationService::NewStub(channel);
  }

  grpc::Status call(const v1::ValidateRequest& request, v1::ValidateResponse& response) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return stub_->Validate(&ctx, request, &response);
  }

  model::world world_;
  std::unique_ptr<validation_service> service_;
  std::unique_ptr<v1::ValidationService::Stub> stub_;
};

TEST_F(ValidationServiceTest, RejectsAConflictNamingTheResource) {
  v1::ValidateRequest request;
  request.set_operation(v1::ValidateRequest::OPERATION_UPSERT);
  request.set_resource(R"(
apiVersion: gateway.solo.io/v1
kind: VirtualService
metadata: {name: copy, namespace: gloo-system}
spec:
  virtualHost:
    domains: [petstore.example.com]
    routes: [{matchers: [{prefix: /}], directResponseAction: {status: 200}}]
)");
  v1::ValidateResponse response;
  auto status = call(request, response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(response.accepted());
  EXPECT_FALSE(response.valid());
  ASSERT_GT(response.errors_size(), 0);
  EXPECT_EQ(response.errors(0).kind(), "VirtualService");
  EXPECT_EQ(response.errors(0).namespace_(), "gloo-system");
  EXPECT_EQ(response.errors(0).name(), "copy");
  EXPECT_NE(response.message().find("petstore.example.com"), std::string::npos)
      << response.message();
}

TEST_F(ValidationServiceTest, FlatFormProblemsCarryTheirLine) {
  v1::ValidateRequest request;
  request.set_operation(v1::ValidateRequest::OPERATION_UPSERT);
  request.set_kind("Upstream");
  request.set_namespace_("gloo-system");
  request.set_resource("metadata:\n  name: broken\nstatic:\n  hostz: []\n");
  v1::ValidateResponse response;
  ASSERT_TRUE(call(request, response).ok());
  EXPECT_FALSE(response.accepted());
  ASSERT_EQ(response.errors_size(), 1);
  EXPECT_NE(response.errors(0).message().find("line 4"), std::string::npos)
      << response.errors(0).message();
  EXPECT_NE(response.errors(0).message().find("hostz"), std::string::npos);
}

TEST_F(ValidationServiceTest, DeletesReportWarningsAndAffectedProxies) {
  v1::ValidateRequest request;
  request.set_operation(v1::ValidateRequest::OPERATION_DELETE);
  request.set_kind("us");
  request.set_namespace_("gloo-system");
  request.set_name("greeter-b");
  v1::ValidateResponse response;
  ASSERT_TRUE(call(request, response).ok());
  EXPECT_TRUE(response.accepted());
  EXPECT_TRUE(response.valid());
  ASSERT_GT(response.warnings_size(), 0);
  EXPECT_EQ(response.warnings(0).kind(), "VirtualService");
  std::vector<std::string> affected(response.affected_proxies().begin(),
                                    response.affected_proxies().end());
  EXPECT_NE(std::find(affected.begin(), affected.end(), "gloo-system~gateway-proxy"),
            affected.end());
}

TEST_F(ValidationServiceTest, AskingIsNotAdmitting) {
  // The same question twice gets the same answer: nothing is remembered between calls.
  v1::ValidateRequest first;
  first.set_operation(v1::ValidateRequest::OPERATION_UPSERT);
  first.set_resource(R"({"apiVersion":"gateway.solo.io/v1","kind":"VirtualService",
    "metadata":{"name":"a","namespace":"gloo-system"},
    "spec":{"virtualHost":{"domains":["q.example.com"],
      "routes":[{"matchers":[{"prefix":"/"}],"directResponseAction":{"status":200}}]}}})");
  v1::ValidateResponse r1;
  ASSERT_TRUE(call(first, r1).ok());
  ASSERT_TRUE(r1.accepted());
  auto second = first;
  std::string text = second.resource();
  text.replace(text.find("\"a\""), 3, "\"b\"");
  second.set_resource(text);
  v1::ValidateResponse r2;
  ASSERT_TRUE(call(second, r2).ok());
  EXPECT_TRUE(r2.accepted()) << r2.message();
}

TEST(ValidationServiceOptionKindsTest, JudgesRouteOptionsByTheRoutesThatUseThem) {
  model::world w;
  auto problems = test::load_world(test::source_dir() + "/examples/gateway", w);
  ASSERT_TRUE(problems.empty()) << problems.front();
  problems = test::add_yaml(w, R"(
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
    routes:
    - matchers: [{prefix: /}]
      optionsConfigRefs: {delegateOptions: [{name: std-timeouts, namespace: opts}]}
      routeAction: {single: {upstream: {name: petstore-v1, namespace: gloo-system}}}
)");
  ASSERT_TRUE(problems.empty()) << problems.front();
  // Without the example Settings' invalidConfigPolicy a broken route is an error, not a
  // replaced route with a warning.
  ASSERT_TRUE(
      w.erase(model::resource_key{model::resource_kind::settings, "gloo-system", "default"}));
  auto current = std::make_shared<const model::world>(std::move(w));
  validation_engine_options strict;
  strict.policy_override = validation_policy{false, false};
  auto engine = std::make_shared<validation_engine>([current] { return current; }, strict);
  validation_service service(engine, validation_service_options{"127.0.0.1:0"});
  auto port = service.start();
  ASSERT_TRUE(port) << describe(port.error());
  auto stub = v1::ValidationService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(*port), grpc::InsecureChannelCredentials()));
  auto call = [&](const v1::ValidateRequest& request, v1::ValidateResponse& response) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return stub->Validate(&ctx, request, &response);
  };

  // A broken version in Gloo's flat form (the kind in the request, the namespace defaulted):
  // decodes, but Envoy cannot take the retry policy, so the route's virtual host fails.
  v1::ValidateRequest broken;
  broken.set_operation(v1::ValidateRequest::OPERATION_UPSERT);
  broken.set_kind("RouteOption");
  broken.set_namespace_("opts");
  broken.set_resource(
      "metadata: {name: std-timeouts}\noptions:\n  retries: {retryOn: 5xx, retryBackOff: "
      "{baseInterval: 0s}}\n");
  v1::ValidateResponse refused;
  ASSERT_TRUE(call(broken, refused).ok());
  EXPECT_FALSE(refused.accepted());
  ASSERT_GT(refused.errors_size(), 0) << refused.message();
  EXPECT_EQ(refused.errors(0).kind(), "VirtualService");
  EXPECT_EQ(refused.errors(0).namespace_(), "apps");
  EXPECT_EQ(refused.errors(0).name(), "slow");
  EXPECT_NE(refused.message().find("RouteOption opts.std-timeouts would introduce"),
            std::string::npos)
      << refused.message();

  // Deleting it: the missing ref is a warning, refused under allowWarnings false.
  v1::ValidateRequest remove;
  remove.set_operation(v1::ValidateRequest::OPERATION_DELETE);
  remove.set_kind("routeoptions");
  remove.set_namespace_("opts");
  remove.set_name("std-timeouts");
  v1::ValidateResponse warned;
  ASSERT_TRUE(call(remove, warned).ok());
  EXPECT_FALSE(warned.accepted());
  EXPECT_EQ(warned.errors_size(), 0);
  ASSERT_GT(warned.warnings_size(), 0);
  EXPECT_EQ(warned.warnings(0).kind(), "VirtualService");
  EXPECT_NE(warned.warnings(0).message().find("routeOption opts.std-timeouts"), std::string::npos)
      << warned.warnings(0).message();
  std::vector<std::string> affected(warned.affected_proxies().begin(),
                                    warned.affected_proxies().end());
  EXPECT_NE(std::find(affected.begin(), affected.end(), "gloo-system~gateway-proxy"),
            affected.end());
}

TEST_F(ValidationServiceTest, IncompleteRequestsAreInvalidArguments) {
  v1::ValidateResponse response;
  v1::ValidateRequest none;
  EXPECT_EQ(call(none, response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::ValidateRequest no_name;
  no_name.set_operation(v1::ValidateRequest::OPERATION_DELETE);
  no_name.set_kind("Upstream");
  no_name.set_namespace_("gloo-system");
  auto status = call(no_name, response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("kind, namespace and name"), std::string::npos);
}

}  // namespace
}  // namespace sluice::xds
