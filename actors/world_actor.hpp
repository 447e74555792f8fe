#pragma once
/// The world actor: applies committed events strictly in seq order to model::world, runs gateway
/// translation (Gateways -> Proxies) and hands each Proxy to its proxy actor. Nothing is
/// translated until every kind reported its initial sync (startup gating); then the first
/// snapshots go out and the xDS actor is told to open the gate.

#include <map>
#include <set>

#include "actors/actor_types.hpp"
#include "model/translation_report.hpp"

namespace sluice::actors {

struct world_actor_state {
  static inline const char* name = "sluice.world";
  model::world world;
  xds_actor xds;
  std::set<std::string> pending_kinds;  ///< kinds that have not synced yet
  bool ready = false;
  bool announced = false;
  bool translate_scheduled = false;
  uint64_t round = 0;                   ///< translation rounds started
  std::map<std::string, proxy_actor> proxies;  ///< by role
  proxy_actor proxyless;
  std::map<model::resource_key, model::resource_report> last_problems;
};

world_actor::behavior_type world_actor_impl(world_actor::stateful_pointer<world_actor_state> self,
                                            std::shared_ptr<const model::world> initial,
                                            xds_actor xds);

/// Applies one committed event to a world. Returns an error for an accepted upsert whose bytes
/// do not parse (a corrupt log), which the caller must report.
[[nodiscard]] caf::expected<void> apply_event(model::world& w, const sluice::v1::Event& ev);

}  // namespace sluice::actors
