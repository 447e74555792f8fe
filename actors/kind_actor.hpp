#pragma once
/// One actor per input kind: decode -> validate -> canonicalize -> dedupe, then append to the
/// journal. The logic is model::ingest_tracker; the actor only moves messages.

#include "actors/actor_types.hpp"
#include "model/ingest_tracker.hpp"

namespace sluice::actors {

struct kind_actor_state {
  static inline const char* name = "sluice.kind";
  std::unique_ptr<model::ingest_tracker> tracker;
  journal_actor journal;
  size_t expected_sources = 1;
  std::set<std::string> synced_sources;
  bool reported_synced = false;
};

/// `state` and `cursors` are what the log holds (restored into the tracker before any input).
kind_actor::behavior_type kind_actor_impl(kind_actor::stateful_pointer<kind_actor_state> self,
                                          model::resource_kind kind, journal_actor journal,
                                          size_t expected_sources,
                                          std::shared_ptr<const std::vector<sluice::v1::StateRecord>> state,
                                          cursor_map_ptr cursors);

}  // namespace sluice::actors
