#pragma once
/// Which user resources a client's NACK is about, shared by `sluice get` (NACKs recorded in the
/// log) and the server's status write-back (NACKs as they arrive), so both blame the same
/// resources for the same NACK.
///
/// A NACK is current while it is the latest answer of that client (node) for that role and type:
/// a later ACK means the client holds newer content. It is attributed to the producers of what
/// it names (a virtual host or route first, else a whole Envoy resource), found through the
/// Proxy's `metadataStatic.sources` (Gloo's back-pointers, reference gloo.md §2.1) and Gloo's
/// names; failing that, to the producers of the resources it points at by index into the
/// rejected response. The role's Proxy always carries its clients' NACKs.

#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "model/gateway_translator.hpp"
#include "model/status.hpp"
#include "model/world.hpp"
#include "sluice/v1/event.pb.h"
#include "xds/snapshot.hpp"

namespace sluice::xds {

struct client_response;

/// The NACKs of `responses` (recorded oldest first) that still describe what a client holds: the
/// latest answer of that node for that role and type, with nothing newer of that type published
/// to the role since (a publish after it is new content the NACK did not see; a connected client
/// answers it with a newer record).
[[nodiscard]] std::vector<sluice::v1::ClientResponseRecord> current_nacks(
    const std::vector<sluice::v1::ClientResponseRecord>& responses,
    const std::vector<sluice::v1::PublishRecord>& publishes);

/// The user resources each NACK blames, for model::build_statuses. `snapshots` are by role (the
/// snapshot key); a NACK of a role that has no snapshot blames nothing (the role is gone).
[[nodiscard]] std::vector<model::nack_attribution> attribute_nacks(
    const model::world& w, const std::vector<model::translated_proxy>& proxies,
    const std::map<std::string, snapshot_ptr>& snapshots,
    const std::vector<sluice::v1::ClientResponseRecord>& nacks);

/// The current NACKs of connected clients, as they answer (thread-safe: the ADS server reports
/// answers on its own threads). Keeps the latest answer per (role, node, type) when it is a NACK;
/// an ACK forgets it, and so does the client's leaving.
class nack_book {
 public:
  /// Takes one answer; true when the current NACKs changed.
  bool record(const client_response& response);
  /// Drops the NACKs of a node for a key whose last stream closed (ads_server::on_client_gone):
  /// a departed client holds nothing sluice serves. True when the current NACKs changed.
  bool forget(const std::string& key, const std::string& node_id);
  /// The current NACKs, ordered by role, node and type.
  [[nodiscard]] std::vector<sluice::v1::ClientResponseRecord> current() const;

 private:
  using answer_key = std::tuple<std::string, std::string, std::string>;  ///< role, node, type
  mutable std::mutex mutex_;
  std::map<answer_key, sluice::v1::ClientResponseRecord> nacks_;
};

}  // namespace sluice::xds
