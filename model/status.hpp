#pragma once
/// Gloo's status model (reference gloo.md §2): every resource with a status gets Pending,
/// Accepted, Warning or Rejected, a reason a person can act on, `reportedBy`, and sub-resource
/// statuses. Statuses are a pure function of the world, its translation report and the NACKs
/// clients sent, so they can be recomputed anywhere (server, `sluice get`, replay) and never
/// need storing.

#include <map>
#include <string>
#include <vector>

#include "model/resource.hpp"
#include "model/translation_report.hpp"
#include "model/world.hpp"
#include "solo/core.pb.h"

namespace sluice::model {

/// A client's rejection of a resource it was served, attributed to the user resources that
/// produced it (from the Proxy's source metadata).
struct nack_attribution {
  resource_key key;          ///< the user resource blamed
  std::string node_id;
  std::string type_url;
  std::string message;       ///< the client's error_detail message
};

struct status_options {
  /// `reportedBy` for resources of the gateway API (Gateway, VirtualService, RouteTable) and
  /// for the rest; Gloo uses "gateway" and "gloo".
  std::string gateway_reporter = "gateway";
  std::string gloo_reporter = "gloo";
};

/// Status of every resource in `w` that carries a status (Secrets, Artifacts, Endpoints do not).
[[nodiscard]] std::map<resource_key, ::core::solo::io::Status> build_statuses(
    const world& w, const translation_report& report,
    const std::vector<nack_attribution>& nacks = {}, const status_options& options = {});

/// "Accepted", "Warning", "Rejected", "Pending".
std::string state_name(::core::solo::io::Status::State state);

}  // namespace sluice::model
