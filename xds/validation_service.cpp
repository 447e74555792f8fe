#include "xds/validation_service.hpp"

// The generated service exists once proto/CMakeLists.txt compiles sluice/v1/validation.proto with
// the gRPC plugin and defines SLUICE_HAVE_VALIDATION_PROTO for its users; until then this file
// builds to nothing, so the rest of the tree still builds. (A macro, not __has_include: a build
// flag that changes makes every build directory and ccache compile the file again.)
#ifdef SLUICE_HAVE_VALIDATION_PROTO

#include <grpcpp/grpcpp.h>

#include <mutex>

#include "model/error.hpp"
#include "model/logging.hpp"
#include "sluice/v1/validation.grpc.pb.h"

namespace sluice::xds {

namespace {

namespace v1 = ::sluice::v1;

void fill(const validation_problem& p, v1::ValidationProblem& out) {
  if (p.resource) {
    out.set_kind(std::string(model::name_of(p.resource->kind)));
    out.set_namespace_(p.resource->ns);
    out.set_name(p.resource->name);
  }
  out.set_message(p.message);
}

class service_impl final : public v1::ValidationService::Service {
 public:
  explicit service_impl(std::shared_ptr<validation_engine> engine) : engine_(std::move(engine)) {}

  grpc::Status Validate(grpc::ServerContext*, const v1::ValidateRequest* request,
                        v1::ValidateResponse* response) override {
    proposed_change change;
    change.dry_run = true;       // a question, not an admission: nothing is remembered
    change.report_lines = true;  // a person or a tool wrote the text; lines help
    change.kind = request->kind();
    change.ns = request->namespace_();
    change.name = request->name();
    switch (request->operation()) {
      case v1::ValidateRequest::OPERATION_UPSERT:
        if (request->resource().empty()) {
          return {grpc::StatusCode::INVALID_ARGUMENT,
                  "OPERATION_UPSERT needs the resource (YAML or JSON) in `resource`"};
        }
        change.op = proposed_change::op_t::upsert;
        change.object = request->resource();
        break;
      case v1::ValidateRequest::OPERATION_DELETE:
        if (request->kind().empty() || request->name().empty() || request->namespace_().empty()) {
          return {grpc::StatusCode::INVALID_ARGUMENT,
                  "OPERATION_DELETE needs kind, namespace and name"};
        }
        change.op = proposed_change::op_t::remove;
        break;
      case v1::ValidateRequest::OPERATION_DELETE_NAMESPACE:
        if (request->namespace_().empty()) {
          return {grpc::StatusCode::INVALID_ARGUMENT,
                  "OPERATION_DELETE_NAMESPACE needs the namespace"};
        }
        change.op = proposed_change::op_t::remove_namespace;
        break;
      default:
        return {grpc::StatusCode::INVALID_ARGUMENT,
                "operation must be OPERATION_UPSERT, OPERATION_DELETE or "
                "OPERATION_DELETE_NAMESPACE"};
    }
    const auto verdict = engine_->validate(change);
    response->set_accepted(verdict.allowed);
    response->set_valid(verdict.valid);
    response->set_message(verdict.message);
    for (const auto& p : verdict.errors) {
      fill(p, *response->add_errors());
    }
    for (const auto& p : verdict.warnings) {
      fill(p, *response->add_warnings());
    }
    for (const auto& k : verdict.affected_proxies) {
      response->add_affected_proxies(k);
    }
    return grpc::Status::OK;
  }

 private:
  std::shared_ptr<validation_engine> engine_;
};

}  // namespace

struct validation_service::impl {
  validation_service_options options;
  service_impl service;
  std::mutex mu;
  std::unique_ptr<grpc::Server> server;

  impl(std::shared_ptr<validation_engine> engine, validation_service_options o)
      : options(std::move(o)), service(std::move(engine)) {}
};

validation_service::validation_service(std::shared_ptr<validation_engine> engine,
                                       validation_service_options options)
    : impl_(std::make_unique<impl>(std::move(engine), std::move(options))) {}

validation_service::~validation_service() { stop(); }

caf::expected<int> validation_service::start() {
  std::lock_guard lock(impl_->mu);
  if (impl_->server) {
    return make_error(ec::invalid_argument, "validation service already started");
  }
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(impl_->options.listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&impl_->service);
  builder.SetMaxReceiveMessageSize(impl_->options.max_receive_bytes);
  // As for xDS: a second sluice on the same port must fail, not share it silently.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  auto server = builder.BuildAndStart();
  if (!server || port == 0) {
    return make_error(ec::invalid_argument,
                      "cannot serve validation on " + impl_->options.listen
                          + ": the address is invalid or the port is in use (set another "
                            "address, or port 0 to pick a free one)");
  }
  impl_->server = std::move(server);
  log::xds()->info("validation service listening address={} port={}", impl_->options.listen, port);
  return port;
}

void validation_service::stop() {
  std::unique_ptr<grpc::Server> server;
  {
    std::lock_guard lock(impl_->mu);
    server = std::move(impl_->server);
  }
  if (server) {
    server->Shutdown();
    server->Wait();
  }
}

}  // namespace sluice::xds

#endif  // SLUICE_HAVE_VALIDATION_PROTO
