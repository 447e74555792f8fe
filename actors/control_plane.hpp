#pragma once
/// Wires the whole server together, in the order that keeps startup safe: open the log, restore
/// the world from its state rows, bind the ADS server (gate closed), spawn the actors, then start
/// the sources. `sluice serve` and the end-to-end tests use this; nothing here holds logic.

#include <memory>
#include <string>

#include "actors/journal_actor.hpp"
#include "actors/world_actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/expected.hpp"
#include "xds/ads_server.hpp"

namespace sluice::actors {

struct control_plane_options {
  std::string config_dir;               ///< Gloo directory layout to watch
  std::string data_dir;                 ///< RocksDB event log
  std::string xds_listen = "0.0.0.0:9977";
  std::string metrics_listen;           ///< Prometheus /metrics; empty = off
  std::string admin_listen;             ///< admin / debug JSON (9095); empty = off
  /// ADS limits (max message size, streams, names per request, stall deadline, keepalive);
  /// `listen` is ignored in favour of xds_listen.
  xds::ads_server_options ads;
  /// Group commit, checkpoints and retention of the event log.
  journal_options journal;
  /// Observers of translation outcomes (status write-back, validation).
  world_hooks hooks;
};

class control_plane {
 public:
  [[nodiscard]] static caf::expected<std::unique_ptr<control_plane>> start(
      caf::actor_system& sys, const control_plane_options& options);
  ~control_plane();

  /// The bound xDS port.
  int xds_port() const;
  /// The bound metrics port, 0 when off or unavailable.
  int metrics_port() const;
  /// The bound admin port, 0 when off or unavailable.
  int admin_port() const;

  /// Stops sources and the server, then the actors; idempotent.
  void stop();

  struct parts;

 private:
  explicit control_plane(std::unique_ptr<parts> p);
  std::unique_ptr<parts> parts_;
};

}  // namespace sluice::actors
