#pragma once
/// Turns translation outcomes into status write-back: the statuses of the Kubernetes objects one
/// role answers for, computed with model::build_statuses and handed to the status writer (which
/// writes only changes, rate-limited, and only while this replica holds the Lease).
///
/// Promises:
///  - Only objects that came from the Kubernetes API (origin "api/..." or "apis/...") get a
///    status: discovered Upstreams, Endpoints and generated Proxies live in memory, as in Gloo.
///  - Only the kinds of this role: `gateway` answers for gateway.solo.io kinds, `gloo` for the
///    rest (gloo.solo.io, enterprise.gloo.solo.io), as Gloo's gateway and gloo pods split it and
///    as the RBAC of deploy/ allows; `all` for every kind.
///  - Rejections come from the outcome's world (model::world::rejections(), kept as state rows,
///    so they survive restarts): an object whose newest input was rejected at ingest or refused
///    by translation is Rejected (model::build_statuses), whatever the translation said about
///    the last accepted form, and stays Rejected after a restart until a newer input is
///    accepted. An origin rejection (the object did not decode far enough to name anything)
///    rejects the object its API path names, also when no form of it was ever accepted.
///  - NACKs: with a nack attributor (the server wires xds::nack_book and xds::attribute_nacks,
///    as `sluice get` uses over recorded NACKs), the resources a current NACK blames are
///    Rejected ("rejected by xDS client ..."); nacks_changed() recomputes, so a later ACK of
///    newer content clears it.
///  - offer() and nacks_changed() are cheap (called on actor and gRPC threads): the newest
///    outcome replaces an older unprocessed one, and the statuses are computed on the
///    reporter's own thread.

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "adapters/kubernetes_status_writer.hpp"
#include "model/gateway_translator.hpp"
#include "model/resource_kind.hpp"
#include "model/status.hpp"
#include "model/translation_report.hpp"
#include "model/world.hpp"
#include "sluice/v1/event.pb.h"

namespace sluice::adapters {

/// Which kinds' statuses a role writes.
enum class status_scope : uint8_t { gloo, gateway, all };

/// True when `kind` is written by a replica of `scope`.
bool reports_kind(status_scope scope, model::resource_kind kind);

/// True for an origin that names an object of the Kubernetes API ("apis/...", "api/...").
bool is_kubernetes_origin(const std::string& origin);

/// The resource an API path names ("apis/<group>/<version>/namespaces/<ns>/<plural>/<name>"),
/// with `kind` given; nullopt when the path has no namespace and name.
std::optional<model::resource_key> key_of_origin(model::resource_kind kind,
                                                 const std::string& origin);

/// One translation's inputs to the statuses, shared with the world actor (never copied).
struct status_inputs {
  std::shared_ptr<const model::world> world;
  std::shared_ptr<const model::translation_report> report;
  std::shared_ptr<const std::vector<model::translated_proxy>> proxies;
};

class kubernetes_status_reporter {
 public:
  using status_map = kubernetes_status_writer::status_map;

  kubernetes_status_reporter(std::shared_ptr<kubernetes_status_writer> writer, status_scope scope,
                             model::status_options options = {});
  ~kubernetes_status_reporter();  ///< stop()
  kubernetes_status_reporter(const kubernetes_status_reporter&) = delete;
  kubernetes_status_reporter& operator=(const kubernetes_status_reporter&) = delete;

  /// Attributes the current NACKs to the resources of one outcome.
  using nack_attributor
      = std::function<std::vector<model::nack_attribution>(const status_inputs& inputs)>;

  /// The newest translation outcome.
  void offer(status_inputs inputs);
  /// Where NACKs come from (set before start(); unset = no NACKs).
  void set_nack_attributor(nack_attributor attributor);
  /// The current NACKs changed: recompute the statuses of the newest outcome.
  void nacks_changed();


  /// What would be written for these inputs and the current NACKs (pure; tests).
  status_map statuses(const status_inputs& inputs) const;

  void start();
  void stop();

  /// Outcomes turned into statuses so far.
  uint64_t rounds() const;

 private:
  void run();

  std::shared_ptr<kubernetes_status_writer> writer_;
  status_scope scope_;
  model::status_options options_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<status_inputs> pending_;
  std::optional<status_inputs> last_;
  nack_attributor attributor_;
  bool nacks_changed_ = false;
  bool stopping_ = false;
  bool running_ = false;
  uint64_t rounds_ = 0;
  std::thread thread_;
};

}  // namespace sluice::adapters
