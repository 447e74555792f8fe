#pragma once
/// The durable event log on RocksDB: the single source of order and of truth.
///
/// Column families:
///  - `events`: key = 8-byte big-endian seq, value = sluice.v1.Event;
///  - `state`:  key = "<kind>/<namespace>/<name>", value = sluice.v1.StateRecord, the latest
///              *accepted* form of each resource (rejected events never touch it, so the last
///              good form survives restarts);
///  - `meta`:   "schema_version", source cursors ("cursor/<name>"), publish and client-response
///              records, checkpoints ("checkpoint/<seq>" headers and "checkpoint_row/<seq>/<key>"
///              rows) and the retention floor.
/// One write is one WriteBatch (events + state rows + cursors + records) written with
/// sync=true: acknowledged means on disk. Commit times never go backwards (a clock stepping back
/// is clamped), so a time maps to a seq by binary search.
///
/// Checkpoints and retention. A checkpoint is a copy of every state row as of a seq C, so the
/// world at any seq X >= C is the checkpoint plus the events (C, X]. Retention (by count and by
/// age) only ever deletes events up to a checkpoint: the log always holds one checkpoint at its
/// floor F (or F = 0, the empty world) and every event after it, so every seq from F to the head
/// stays replayable. Publish records older than the floor go with the events.
///
/// Damage policy (reliability.md §2, A3):
///  - A torn tail (the last WAL record incomplete, as a crash during a write leaves it) is
///    dropped at open: that write had not returned, so nothing acknowledged is lost.
///  - Any other damage found at open (a bad checksum before the end of the WAL, a broken
///    MANIFEST) refuses the open with ec::storage_error naming the last intact seq; nothing is
///    silently skipped. `truncate_damaged_log` is the operator's explicit choice to keep that
///    prefix and drop the rest (the sources re-deliver what is missing).
///  - Damage found while reading (an event that does not parse, a seq missing between two
///    stored ones, a block checksum error) stops the read with an error naming the seq; readers
///    (`sluice log`, replay) refuse to go past it. Serving is unaffected: it starts from the
///    state rows.
///
/// Failure policy: a failed write (disk full, I/O error) returns an error, assigns no seq and
/// marks the store unhealthy (health()). recover() asks RocksDB to resume; the next write that
/// succeeds marks it healthy again. The journal retries with backoff; nothing is acknowledged
/// meanwhile.
///
/// Thread affinity: one writer (the journal actor). Readers on other threads may call the const
/// functions concurrently with the writer (RocksDB reads are thread-safe).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "caf/expected.hpp"
#include "sluice/v1/event.pb.h"

namespace rocksdb {
class FileSystem;
}

namespace sluice::store {

struct event_log_options {
  std::string path;        ///< directory of the RocksDB database; created if missing
  bool sync = true;        ///< fsync each append (only benchmarks of the floor turn it off)
  bool read_only = false;  ///< open for inspection (`sluice log`, `get`) while a server runs
  /// Keep the intact prefix of a log whose WAL is damaged before its end, dropping the rest,
  /// instead of refusing to open. An operator's decision, never a default.
  bool truncate_damaged_log = false;
  /// The file system RocksDB writes through; null = the default. Tests inject disk-full and
  /// I/O errors with a wrapper.
  std::shared_ptr<rocksdb::FileSystem> file_system = nullptr;
};

/// How much history a long-running server keeps. Both limits apply; 0 disables a limit.
struct retention_policy {
  uint64_t max_events = 0;              ///< keep about this many newest events
  std::chrono::nanoseconds max_age{0};  ///< drop events committed longer ago than this

  bool enabled() const { return max_events > 0 || max_age.count() > 0; }
};

/// A stored checkpoint: the state rows as of `seq`.
struct checkpoint_info {
  uint64_t seq = 0;
  int64_t time_unix_ns = 0;  ///< commit time of the event at `seq` (0 for the empty world)
  uint64_t rows = 0;
  uint64_t hash = 0;  ///< over (state key, row bytes) of every row, in key order
};

/// What apply_retention removed.
struct retention_result {
  uint64_t floor = 0;  ///< events up to here are gone (the oldest checkpoint kept)
  uint64_t events_deleted = 0;
  uint64_t checkpoints_deleted = 0;
  uint64_t records_deleted = 0;  ///< publish and client-response records
};

/// Whether the store accepts writes. An unhealthy store has refused a write (disk full, I/O
/// error) and has not written successfully since.
struct store_health {
  bool healthy = true;
  std::string error;           ///< the last write error, "" when healthy
  int64_t since_unix_ns = 0;   ///< when it became unhealthy
  uint64_t failed_writes = 0;  ///< since open
};

/// One append: events to store (seq and time assigned by the log) and cursors to set with them.
struct append_item {
  std::vector<sluice::v1::Event> events;
  std::map<std::string, std::string> cursors;
};

/// Everything one synced WriteBatch carries (group commit): several appends, in order, plus
/// publish and client-response records.
struct write_group {
  std::vector<append_item> appends;
  std::vector<sluice::v1::PublishRecord> publishes;
  std::vector<sluice::v1::ClientResponseRecord> client_responses;

  bool empty() const { return appends.empty() && publishes.empty() && client_responses.empty(); }
  size_t event_count() const;
};

class event_log {
 public:
  /// Opens or creates the store. Errors: ec::storage_error (RocksDB status in the message;
  /// damage before the end of the WAL names the last intact seq), ec::incompatible_store
  /// (schema version newer than this binary, or not a sluice store).
  [[nodiscard]] static caf::expected<std::unique_ptr<event_log>> open(
      const event_log_options& options);

  ~event_log();
  event_log(const event_log&) = delete;
  event_log& operator=(const event_log&) = delete;

  /// Appends events atomically, assigning consecutive seqs from last_seq()+1 and the commit
  /// time. For each accepted upsert the state row is replaced; for each delete it is removed;
  /// rejected events only go to `events`. `cursors` are written to meta in the same batch.
  /// Returns the events as stored (seq and time set).
  [[nodiscard]] caf::expected<std::vector<sluice::v1::Event>> append(
      std::vector<sluice::v1::Event> events,
      const std::map<std::string, std::string>& cursors = {});

  /// Writes a whole group in one synced WriteBatch. On success the events inside `group` carry
  /// their seq and time and the result is the last seq of each append (the previous head for an
  /// append without events). On failure nothing was acknowledged, the group may be written
  /// again as it is, and the store is unhealthy until a write succeeds.
  [[nodiscard]] caf::expected<std::vector<uint64_t>> write(write_group& group);

  /// Highest seq written (0 for an empty log).
  uint64_t last_seq() const;

  /// Lowest seq still stored: retention_floor() + 1.
  uint64_t first_seq() const;

  /// Events up to this seq were removed by retention (0: none).
  uint64_t retention_floor() const;

  /// Calls `fn` for each event with from <= seq <= to, in order, until it returns false. Starts
  /// at first_seq() when `from` is older. A seq missing inside the range, or an event that does
  /// not parse, is an error naming the seq (never a silent hole).
  [[nodiscard]] caf::expected<void> for_each_event(
      uint64_t from, uint64_t to, const std::function<bool(const sluice::v1::Event&)>& fn) const;

  /// One event, or nullopt when that seq is not stored.
  [[nodiscard]] caf::expected<std::optional<sluice::v1::Event>> event(uint64_t seq) const;

  /// The last seq committed at or before `time_unix_ns`; 0 when the first stored event is
  /// younger (or the log is empty).
  [[nodiscard]] caf::expected<uint64_t> seq_at_time(int64_t time_unix_ns) const;

  /// Every state row, ordered by key.
  [[nodiscard]] caf::expected<std::vector<sluice::v1::StateRecord>> load_state() const;

  /// One cursor, or nullopt.
  [[nodiscard]] caf::expected<std::optional<std::string>> cursor(std::string_view name) const;

  /// Every cursor whose name starts with `prefix`, keyed by full name.
  [[nodiscard]] caf::expected<std::map<std::string, std::string>> cursors(
      std::string_view prefix) const;

  /// Records a published snapshot version (role, type, version, watermark).
  [[nodiscard]] caf::expected<void> record_publish(const sluice::v1::PublishRecord& record);

  /// Records an ACK or NACK from a client.
  [[nodiscard]] caf::expected<void> record_client_response(
      const sluice::v1::ClientResponseRecord& record);

  /// Publish records, oldest first.
  [[nodiscard]] caf::expected<std::vector<sluice::v1::PublishRecord>> publish_records() const;

  /// Client response records, oldest first.
  [[nodiscard]] caf::expected<std::vector<sluice::v1::ClientResponseRecord>> client_responses()
      const;

  /// Copies every state row as of last_seq() into a checkpoint (one synced batch). Idempotent
  /// per seq. Errors leave the store unhealthy like a failed append.
  [[nodiscard]] caf::expected<checkpoint_info> write_checkpoint();

  /// Stored checkpoints, oldest first (the empty world at 0 is implicit and not listed).
  [[nodiscard]] caf::expected<std::vector<checkpoint_info>> checkpoints() const;

  /// The checkpoint replay to `seq` starts from: the newest stored one at or before `seq`, or
  /// the empty world (seq 0) when the floor is 0. Errors when `seq` is older than the retained
  /// history (ec::not_found, naming the oldest replayable seq) or beyond the head.
  [[nodiscard]] caf::expected<checkpoint_info> checkpoint_for(uint64_t seq) const;

  /// The rows of a checkpoint, ordered by key, after checking them against the stored hash.
  /// Seq 0 is the empty world.
  [[nodiscard]] caf::expected<std::vector<sluice::v1::StateRecord>> load_checkpoint(
      uint64_t seq) const;

  /// Deletes what `policy` no longer keeps, never past the newest checkpoint it may delete up
  /// to (see the class comment). `now_unix_ns` is the clock the age limit is measured against.
  [[nodiscard]] caf::expected<retention_result> apply_retention(const retention_policy& policy,
                                                                int64_t now_unix_ns);

  /// Deletes all but the newest `keep` checkpoints, never the one at the retention floor (replay
  /// of the oldest retained points starts there). Replay stays correct, it only starts from an
  /// older checkpoint. Returns how many were deleted.
  [[nodiscard]] caf::expected<uint64_t> prune_checkpoints(size_t keep);

  /// Current write health.
  store_health health() const;

  /// After a failed write: asks RocksDB to resume (it stops writing after a disk-full or I/O
  /// error) and, when RocksDB refuses (a failed WAL write is fatal for a DB instance), closes
  /// and reopens the DB, which replays the WAL. OK when healthy already. The store is healthy
  /// again after the next good write. While a reopen keeps failing every call returns an
  /// error; a write that reported failure may turn out to be in the WAL after the reopen (its
  /// sync failed, not its data), so a retried append can store those events twice (ingest is
  /// idempotent, the world is unchanged).
  [[nodiscard]] caf::expected<void> recover();

  const std::string& path() const;

  class impl;

 private:
  explicit event_log(std::unique_ptr<impl> impl);
  /// Runs `fn` while the DB cannot be reopened under it (see recover()).
  template <class Fn>
  auto guarded(Fn&& fn) const -> decltype(fn());
  std::unique_ptr<impl> impl_;
};

/// "<kind>/<namespace>/<name>", the state key.
std::string state_key(std::string_view kind, std::string_view ns, std::string_view name);

}  // namespace sluice::store
