#pragma once
/// The xDS actor: feeds published snapshots to the ADS server, opens its startup gate once the
/// world is ready, and turns client ACKs / NACKs into log lines and journal records.

#include "actors/actor_types.hpp"

namespace sluice::actors {

struct xds_actor_state {
  static inline const char* name = "sluice.xds";
  std::shared_ptr<xds::ads_server> server;
  journal_actor journal;
  bool open = false;
};

xds_actor::behavior_type xds_actor_impl(xds_actor::stateful_pointer<xds_actor_state> self,
                                        std::shared_ptr<xds::ads_server> server);

}  // namespace sluice::actors
