#pragma once
/// The journal: the only writer of the event log and the only source of order. Every committed
/// batch goes on to the world in seq order.
///
/// Two actors. The journal (the typed interface of actor_types.hpp) is a thin front that hands
/// every message, in arrival order, to its writer. The writer (detached, because RocksDB's synced
/// writes block) does group commit: appends that arrive while a synced write is in flight queue
/// up in its mailbox and go out together in the next WriteBatch, with the publish and client
/// records that queued meanwhile. An append is answered only after the batch holding it is on
/// disk.
///
/// When a write fails (disk full, I/O error) the writer keeps the queued appends, answers none of
/// them, forwards nothing to the world (so the last good xDS keeps being served), reports the
/// store unhealthy (event_log::health()), and retries with backoff until a write succeeds. It
/// also writes checkpoints every `checkpoint_every` events and applies the retention policy
/// after each one.

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <variant>

#include "actors/actor_types.hpp"
#include "store/event_log.hpp"

namespace sluice::actors {

struct journal_options {
  /// Events between checkpoints; 0 = never (then retention cannot delete anything).
  uint64_t checkpoint_every = 10'000;
  store::retention_policy retention;
  /// Checkpoints kept besides the one at the retention floor; older ones are pruned so disk use
  /// stays bounded even without retention (replay then starts from an older checkpoint).
  size_t keep_checkpoints = 8;
  /// Most events in one WriteBatch; a bigger queue is written in several batches.
  size_t max_group_events = 16'384;
  /// While the store cannot write, appends beyond this many queued events are refused with an
  /// error instead of growing memory without bound.
  size_t max_queued_events = 1'000'000;
  std::chrono::milliseconds retry_first{100};
  std::chrono::milliseconds retry_max{5'000};
};

/// What the writer did, for benchmarks, tests and the admin port. Updated by the writer only.
struct journal_counters {
  std::atomic<uint64_t> appends{0};  ///< append requests written
  std::atomic<uint64_t> events{0};   ///< events written
  std::atomic<uint64_t> groups{0};   ///< WriteBatches with at least one append
  std::atomic<uint64_t> failed_writes{0};
  std::atomic<uint64_t> queued_events{0};  ///< waiting to be written right now
  std::atomic<uint64_t> checkpoints{0};
};

/// The writer behind the journal. Same messages as the journal, plus a flush it sends itself.
using journal_writer_actor = caf::typed_actor<
    // Queue events and cursors; replies with the last seq of these events once on disk.
    caf::replies_to<atom::append, event_batch_ptr, cursor_map_ptr>::with<uint64_t>,
    // Forward to the world after every append queued before it is committed.
    caf::reacts_to<atom::synced, std::string>,
    // Queue a client ACK/NACK record.
    caf::reacts_to<atom::record, client_response_ptr>,
    // Queue the publish records of a snapshot (only types whose version changed).
    caf::reacts_to<atom::record, xds::snapshot_ptr>,
    // (to itself) write everything queued: group commit, and the retry after a failed write.
    caf::reacts_to<atom::append>>;

struct journal_writer_state {
  static inline const char* name = "sluice.journal.writer";
  journal_writer_state() = default;

  struct queued_append {
    event_batch_ptr events;
    cursor_map_ptr cursors;
    caf::typed_response_promise<uint64_t> promise;
  };
  /// A kind finished its initial sync; forwarded once everything before it is committed.
  struct queued_synced {
    std::string kind;
  };
  using queued = std::variant<queued_append, queued_synced>;

  std::shared_ptr<store::event_log> log;
  world_actor world;
  journal_options options;
  std::shared_ptr<journal_counters> counters;
  std::deque<queued> queue;
  size_t queued_events = 0;
  std::vector<sluice::v1::PublishRecord> publishes;
  std::vector<sluice::v1::ClientResponseRecord> client_responses;
  /// Last recorded version per (snapshot key, type URL): publish records only on change.
  std::map<std::pair<std::string, std::string>, std::string> published;
  bool flush_scheduled = false;
  bool retry_scheduled = false;
  std::chrono::milliseconds backoff{0};
  uint64_t last_checkpoint = 0;
};

struct journal_actor_state {
  static inline const char* name = "sluice.journal";
  // Declared so the state is not an aggregate: CAF would otherwise build it from the actor
  // pointer (C++20 parenthesised aggregate init) and try to assign `this` to `writer`.
  journal_actor_state() = default;
  journal_writer_actor writer;
};

journal_writer_actor::behavior_type journal_writer_impl(
    journal_writer_actor::stateful_pointer<journal_writer_state> self,
    std::shared_ptr<store::event_log> log, world_actor world, journal_options options,
    std::shared_ptr<journal_counters> counters);

/// The journal with default options (checkpoints every 10,000 events, no retention).
journal_actor::behavior_type journal_actor_impl(
    journal_actor::stateful_pointer<journal_actor_state> self,
    std::shared_ptr<store::event_log> log, world_actor world);

/// The journal with explicit options; `counters` may be null. (A separate name: spawn cannot
/// pick an overload.)
journal_actor::behavior_type configured_journal_impl(
    journal_actor::stateful_pointer<journal_actor_state> self,
    std::shared_ptr<store::event_log> log, world_actor world, journal_options options,
    std::shared_ptr<journal_counters> counters);

}  // namespace sluice::actors
