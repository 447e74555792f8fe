#pragma once
/// The world actor: applies committed events strictly in seq order and keeps every snapshot
/// current through the incremental translator (xds/incremental_translator.hpp), which translates
/// only what the events changed and stays byte-equal to a full translation. Events that arrive
/// together are applied together: a burst of batches costs one flush. Nothing is translated
/// until every kind reported its initial sync (startup gating); then every snapshot goes out and
/// the xDS actor is told to open the gate. After that only snapshots whose content changed are
/// published.
///
/// Translation rejections keep the last accepted form (issue #3): after a flush, every resource
/// changed since the last look whose new form has errors that its previous form would not have
/// in today's world (a domain conflict its edit introduced, a delegation cycle) is refused: the
/// actor appends a VERDICT_REVERTED event that puts the previous form back (an upsert) or, for a
/// newcomer, takes it out (a delete, so it does not compete by arrival with what it conflicts
/// with), and holds publishing until the event is back from the journal and translated. So no
/// client sees a virtual host vanish, the log says what happened, replay reproduces it and a
/// restart keeps it (state rows hold the form and the rejection). Errors a change did not
/// introduce are tolerated; at start the log's forms are the baseline. Refused forms are retried
/// after other resources change (at most once a second; outside the log: put, translate, look,
/// put back) and logged as accepted upserts when they translate cleanly: what refused them (a
/// missing Secret, a conflicting domain) may have gone away.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "actors/actor_types.hpp"
#include "model/event_world.hpp"
#include "model/gateway_translator.hpp"
#include "model/translation_report.hpp"
#include "xds/incremental_translator.hpp"

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
  /// Also the interval at which translation problems are logged (the report is assembled from
  /// every cached piece, so it is not built on every flush).
  std::chrono::milliseconds outcome_interval{500};
};

struct world_actor_state {
  static inline const char* name = "sluice.world";
  world_actor_state() = default;
  std::unique_ptr<xds::incremental_translator> translator;
  xds_actor xds;
  std::set<std::string> pending_kinds;  ///< kinds that have not synced yet
  bool ready = false;
  bool translate_scheduled = false;
  world_hooks hooks;
  std::map<model::resource_key, model::resource_report> last_problems;
  bool outcome_dirty = false;  ///< flushed since the report was last looked at
  bool outcome_scheduled = false;
  std::chrono::steady_clock::time_point outcome_at{};
  // Reverts (see the header comment).
  journal_actor journal;
  bool clean_forms_known = false;  ///< the first flush records every clean form
  /// Per judged resource, the form to go back to: the last one accepted (at start, what the log
  /// holds; later, a change that introduced no errors).
  std::map<model::resource_key, model::stored_resource> last_good;
  std::set<model::resource_key> suspects;  ///< changed since the last look at their findings
  uint64_t revert_awaited = 0;   ///< seq of the last revert appended (0: none in flight)
  bool revert_in_flight = false; ///< appended, no answer yet (one append at a time)
  std::set<std::string> held;    ///< snapshot keys changed while a revert was in flight
  /// Forms translation refused, by resource: retried after other resources change (a Secret or
  /// an Upstream they need may have arrived), logged as accepted once they translate cleanly.
  std::map<model::resource_key, model::stored_resource> refused;
  bool others_changed = false;   ///< since the last retry
  std::chrono::steady_clock::time_point next_retry{};
  bool retry_scheduled = false;
};

world_actor::behavior_type world_actor_impl(world_actor::stateful_pointer<world_actor_state> self,
                                            std::shared_ptr<const model::world> initial,
                                            xds_actor xds, world_hooks hooks);

/// How an event changes a world lives in model/event_world.hpp; actors code calls it unqualified.
using model::apply_event;

/// Logs each resource's errors and warnings that differ from `last` (at warn), and the
/// resources whose problems went away (at info); updates `last`.
void log_report_changes(std::string_view who, const model::translation_report& report,
                        std::map<model::resource_key, model::resource_report>& last);

}  // namespace sluice::actors
