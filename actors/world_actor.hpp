#pragma once
/// The world actor: applies committed events strictly in seq order to model::world, runs gateway
/// translation (Gateways -> Proxies) and hands each Proxy to its proxy actor. Nothing is
/// translated until every kind reported its initial sync (startup gating); then the first
/// snapshots go out and the xDS actor is told to open the gate.

#include <chrono>
#include <functional>
#include <map>
#include <set>

#include "actors/actor_types.hpp"
#include "model/gateway_translator.hpp"
#include "model/translation_report.hpp"

namespace sluice::actors {

/// What one translation produced, for readers outside the actors (status write-back, the
/// validation service): the world it translated, its report and the Proxies it generated.
/// Immutable once handed out.
struct translation_outcome {
  uint64_t watermark = 0;
  std::shared_ptr<const model::world> world;
  model::translation_report report;
  std::vector<model::translated_proxy> proxies;
};
using translation_outcome_ptr = std::shared_ptr<const translation_outcome>;

/// Callbacks of the world actor; called on the actor's thread, so they must be quick (hand the
/// outcome to another thread).
struct world_hooks {
  /// After a translation whose outcome differs from the last one handed out; at most once per
  /// `outcome_interval` (the last change of a burst is always delivered). Unset: no outcome is
  /// built at all.
  std::function<void(translation_outcome_ptr)> on_translated;
  std::chrono::milliseconds outcome_interval{500};
};

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
  world_hooks hooks;
  /// The last translation's report and Proxies, kept only when hooks.on_translated is set.
  world_ptr last_view;
  model::translation_report last_report;
  std::vector<model::translated_proxy> last_proxies;
  bool outcome_dirty = false;  ///< translated since the last outcome was handed out
  std::chrono::steady_clock::time_point outcome_at{};
  bool outcome_scheduled = false;
};

world_actor::behavior_type world_actor_impl(world_actor::stateful_pointer<world_actor_state> self,
                                            std::shared_ptr<const model::world> initial,
                                            xds_actor xds, world_hooks hooks);

/// Applies one committed event to a world. Returns an error for an accepted upsert whose bytes
/// do not parse (a corrupt log), which the caller must report.
[[nodiscard]] caf::expected<void> apply_event(model::world& w, const sluice::v1::Event& ev);

}  // namespace sluice::actors
