#pragma once
/// One actor per input kind: decode -> validate -> canonicalize -> dedupe, then append to the
/// journal. The logic is model::ingest_tracker; the actor only moves messages.
///
/// Source cursors that arrive with a batch (a Kubernetes collection's resourceVersion) are
/// appended in the same journal write as the batch's events, and after every earlier batch of
/// this kind (the journal answers one sender in order), so a stored cursor never runs ahead of
/// the events it covers. A `synced` event whose revision is "resumed" finishes the sync without
/// the delete sweep: a resumed watch did not list everything.

#include <functional>

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
/// `expected_sources` is how many distinct sources must report `synced` before the kind counts
/// as synced.
kind_actor::behavior_type kind_actor_impl(kind_actor::stateful_pointer<kind_actor_state> self,
                                          model::resource_kind kind, journal_actor journal,
                                          size_t expected_sources,
                                          std::shared_ptr<const std::vector<sluice::v1::StateRecord>> state,
                                          cursor_map_ptr cursors);

}  // namespace sluice::actors
