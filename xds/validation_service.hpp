#pragma once
/// The gRPC validation service (`sluice.v1.ValidationService`, proto/sluice/v1/validation.proto)
/// on its own port, 9988 by default (Gloo's `gloo.validationBindAddr`): other clients (CI
/// pipelines, GitOps tools, glooctl-like CLIs) ask whether a change would break any proxy before
/// storing it. Every answer comes from the validation_engine the admission webhook uses, and every
/// request is a dry run: the service never remembers a change as admitted.
///
/// Thread-safe; gRPC's synchronous server threads call the engine, which serializes.

#include <memory>
#include <string>

#include "caf/expected.hpp"
#include "xds/validation_engine.hpp"

namespace sluice::xds {

struct validation_service_options {
  std::string listen = "0.0.0.0:9988";  ///< host:port; port 0 picks a free port
  int max_receive_bytes = 8 * 1024 * 1024;
};

class validation_service {
 public:
  validation_service(std::shared_ptr<validation_engine> engine,
                     validation_service_options options = {});
  ~validation_service();
  validation_service(const validation_service&) = delete;
  validation_service& operator=(const validation_service&) = delete;

  /// Binds and starts serving; returns the bound port.
  [[nodiscard]] caf::expected<int> start();

  /// Stops accepting calls and waits for running ones; idempotent.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sluice::xds
