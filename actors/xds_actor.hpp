#pragma once
/// The xDS actor: feeds published snapshots to the ADS server, opens its startup gate once the
/// world is ready, and turns client ACKs / NACKs into log lines and journal records.

#include <map>
#include <mutex>
#include <string>

#include "actors/actor_types.hpp"

namespace sluice::actors {

/// The snapshots last handed to the ADS server, by key, readable from other threads (the admin
/// port answers /snapshots from it).
class served_snapshots {
 public:
  void put(const xds::snapshot_ptr& snap) {
    std::lock_guard guard{mutex_};
    by_key_[snap->key] = snap;
  }
  std::map<std::string, xds::snapshot_ptr> all() const {
    std::lock_guard guard{mutex_};
    return by_key_;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, xds::snapshot_ptr> by_key_;
};

struct xds_actor_state {
  static inline const char* name = "sluice.xds";
  std::shared_ptr<xds::ads_server> server;
  std::shared_ptr<served_snapshots> served;  ///< may be null
  journal_actor journal;
  bool open = false;
};

xds_actor::behavior_type xds_actor_impl(xds_actor::stateful_pointer<xds_actor_state> self,
                                        std::shared_ptr<xds::ads_server> server,
                                        std::shared_ptr<served_snapshots> served);

}  // namespace sluice::actors
