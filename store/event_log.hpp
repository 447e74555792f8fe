#pragma once
/// The durable event log on RocksDB: the single source of order and of truth.
///
/// Column families:
///  - `events`: key = 8-byte big-endian seq, value = sluice.v1.Event;
///  - `state`:  key = "<kind>/<namespace>/<name>", value = sluice.v1.StateRecord, the latest
///              *accepted* form of each resource (rejected events never touch it, so the last
///              good form survives restarts);
///  - `meta`:   "schema_version", source cursors ("cursor/<name>"), publish and client-response
///              records.
/// One append is one WriteBatch (events + state rows + cursors) written with sync=true:
/// acknowledged means on disk.
///
/// Thread affinity: one writer (the journal actor). Readers on other threads may call the const
/// functions concurrently with the writer (RocksDB reads are thread-safe).

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

namespace sluice::store {

struct event_log_options {
  std::string path;           ///< directory of the RocksDB database; created if missing
  bool sync = true;           ///< fsync each append (only benchmarks of the floor turn it off)
  bool read_only = false;     ///< open for inspection (`sluice log`, `get`) while a server runs
};

class event_log {
 public:
  /// Opens or creates the store. Errors: ec::storage_error (RocksDB status in the message),
  /// ec::incompatible_store (schema version newer than this binary, or not a sluice store).
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

  /// Highest seq written (0 for an empty log).
  uint64_t last_seq() const;

  /// Calls `fn` for each event with from <= seq <= to, in order, until it returns false.
  [[nodiscard]] caf::expected<void> for_each_event(
      uint64_t from, uint64_t to,
      const std::function<bool(const sluice::v1::Event&)>& fn) const;

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
  [[nodiscard]] caf::expected<std::vector<sluice::v1::ClientResponseRecord>>
  client_responses() const;

  class impl;

 private:
  explicit event_log(std::unique_ptr<impl> impl);
  std::unique_ptr<impl> impl_;
};

/// "<kind>/<namespace>/<name>", the state key.
std::string state_key(std::string_view kind, std::string_view ns, std::string_view name);

}  // namespace sluice::store
