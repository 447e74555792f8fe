#pragma once
/// The journal: the only writer of the event log and the only source of order. Runs detached,
/// because RocksDB's synced writes block. Every committed batch goes on to the world in seq order.

#include <map>

#include "actors/actor_types.hpp"
#include "store/event_log.hpp"

namespace sluice::actors {

struct journal_actor_state {
  static inline const char* name = "sluice.journal";
  std::shared_ptr<store::event_log> log;
  world_actor world;
  /// Last recorded version per (snapshot key, type URL): publish records only on change.
  std::map<std::pair<std::string, std::string>, std::string> published;
};

journal_actor::behavior_type journal_actor_impl(
    journal_actor::stateful_pointer<journal_actor_state> self,
    std::shared_ptr<store::event_log> log, world_actor world);

}  // namespace sluice::actors
