#pragma once
/// Time travel over the event log: rebuilds the world at any retained seq (or commit time) from
/// the nearest checkpoint, translates it with xds::translate_world (the same two steps the world
/// and proxy actors run, so what replay computes is what the server served), compares two
/// points, and checks recorded publishes against the replay.
///
/// Plain class over a (possibly read-only) event_log: `sluice log/replay/diff`, the admin port,
/// the determinism and crash tests and the benchmarks use it. Lives in actors/ because it needs
/// store/ and xds/ together and apply_event (world_actor.hpp), which is how the server applies
/// an event; nothing here uses the actor runtime.
///
/// Causality in diffs. Every changed Envoy resource is attributed to the user resources it was
/// built from, at the first point, the second, or both:
///  - a Listener and its RouteConfiguration ("<listener>-routes"): every source the Proxy
///    listener of that name records in its metadataStatic (the Gateway, each VirtualService
///    and RouteTable behind its virtual hosts and routes) and every Upstream and UpstreamGroup
///    its routes or TCP hosts reference;
///  - proxyless listeners and route configurations (named after a domain): the
///    VirtualServices holding that domain;
///  - a RouteConfiguration also: the Upstream of every cluster its routes name (the route's
///    cluster references) and the VirtualService of every virtual host (Gloo names them
///    "<namespace>_<name>"). An Upstream reaches routes only by name, so for a Listener or a
///    RouteConfiguration it counts only when it appeared or disappeared between the points
///    (a route to a missing Upstream becomes a direct response); its edits are causes of its
///    Cluster and ClusterLoadAssignment;
///  - a Cluster or ClusterLoadAssignment "<name>_<namespace>": that Upstream; a
///    ClusterLoadAssignment also the Endpoints that name the Upstream;
///  - a Secret: the Secret of that name;
///  - Settings: every resource (they can change any translation).
/// The causes of a change are the accepted events between the two points (upserts and
/// deletes) whose kind/namespace/name is one of those inputs. Rejected events change nothing
/// and are never causes. The attribution is per resource, not per field: two edits to
/// VirtualServices that share a RouteConfiguration are both listed as causes of its change.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "adapters/admin_server.hpp"
#include "caf/expected.hpp"
#include "model/world.hpp"
#include "sluice/v1/event.pb.h"
#include "store/event_log.hpp"
#include "xds/world_translation.hpp"

namespace sluice::actors {

/// Called with (events applied so far, events to apply) during long replays.
using replay_progress = std::function<void(uint64_t done, uint64_t total)>;

/// A world rebuilt from the log; world.watermark() is the seq it reflects.
struct replayed_world {
  model::world world;
  uint64_t checkpoint_seq = 0;  ///< where this replay started
  uint64_t events_applied = 0;  ///< events read after the checkpoint
  uint64_t apply_errors = 0;    ///< events the world could not apply (logged, as the server does)
};

/// A world and its translation at one point of the log.
struct replayed_point {
  uint64_t seq = 0;
  int64_t time_unix_ns = 0;  ///< commit time of the event at `seq` (0 at seq 0)
  uint64_t checkpoint_seq = 0;
  uint64_t events_applied = 0;
  std::shared_ptr<const model::world> world;
  xds::world_translation translation;
};

/// One recorded publish compared with the replay at its watermark.
struct publish_check {
  sluice::v1::PublishRecord record;
  std::string replayed_version;  ///< "" when the role or type is absent at that point
};

struct publish_verification {
  uint64_t checked = 0;
  uint64_t skipped = 0;  ///< watermark older than the retained history
  std::vector<publish_check> mismatches;
};

/// One field that differs between two forms of an Envoy resource. Paths use the JSON field
/// names; list items with a `name` are addressed by it: `virtualHosts[name=gloo-system_a].domains`.
struct field_change {
  std::string path;
  std::string from;  ///< compact JSON, "" when the field is new
  std::string to;    ///< compact JSON, "" when the field is gone
};

enum class change_kind { added, removed, changed };

struct resource_change {
  std::string role;
  std::string type_url;
  std::string name;
  change_kind kind = change_kind::changed;
  std::string from_version;
  std::string to_version;
  std::vector<field_change> fields;
  std::vector<model::resource_key> inputs;  ///< the user resources it was built from
  std::vector<uint64_t> causes;             ///< seqs of the events that touched them
};

/// What changed for each role between two points, and why.
struct log_diff {
  uint64_t from_seq = 0;
  uint64_t to_seq = 0;
  int64_t from_time_unix_ns = 0;
  int64_t to_time_unix_ns = 0;
  std::vector<resource_change> changes;          ///< by role, type, name
  std::map<uint64_t, sluice::v1::Event> causes;  ///< every cause event, by seq
  /// Type versions per role at both points: role -> type -> (from, to).
  std::map<std::string, std::map<std::string, std::pair<std::string, std::string>>> versions;
  std::vector<sluice::v1::PublishRecord> publishes;  ///< recorded with watermark in (from, to]
};

class log_replayer {
 public:
  explicit log_replayer(const store::event_log& log) : log_(log) {}

  /// Reports progress every `every` events while applying.
  void set_progress(replay_progress progress, uint64_t every = 10'000);

  /// The last seq committed at or before `time_unix_ns`. Error when that is older than the
  /// retained history.
  [[nodiscard]] caf::expected<uint64_t> seq_at_time(int64_t time_unix_ns) const;

  /// The world at `seq`: the nearest checkpoint at or before it, then the events after it.
  [[nodiscard]] caf::expected<replayed_world> world_at(uint64_t seq) const;

  /// Applies the events (watermark, seq] to `w`. `seen`, when set, gets every event applied.
  [[nodiscard]] caf::expected<void> advance(
      replayed_world& w, uint64_t seq,
      const std::function<void(const sluice::v1::Event&)>& seen = {}) const;

  /// The world at `seq` and its translation.
  [[nodiscard]] caf::expected<replayed_point> replay(uint64_t seq) const;

  /// Replays to the watermark of every retained publish record and compares the version of
  /// its role and type, byte for byte.
  [[nodiscard]] caf::expected<publish_verification> verify_publishes() const;

  /// Envoy resources added, removed and changed from `from` to `to` (`role` empty: every role),
  /// with field-level differences and causes (see the file comment).
  [[nodiscard]] caf::expected<log_diff> diff(uint64_t from, uint64_t to,
                                             const std::string& role = {}) const;

 private:
  caf::expected<int64_t> time_of(uint64_t seq) const;

  const store::event_log& log_;
  replay_progress progress_;
  uint64_t progress_every_ = 10'000;
};

/// Which events `sluice log` and the admin port's /events select. Empty strings match anything.
struct event_filter {
  uint64_t from = 0;
  uint64_t to = UINT64_MAX;
  int64_t since_unix_ns = INT64_MIN;
  int64_t until_unix_ns = INT64_MAX;
  std::string kind;
  std::string ns;
  std::string name;
  std::string source;
  size_t limit = 0;     ///< 0: no limit
  bool newest = false;  ///< with a limit: the newest `limit` matches (tail) instead of the oldest

  bool matches(const sluice::v1::Event& ev) const;
};

/// The selected events, oldest first.
[[nodiscard]] caf::expected<std::vector<sluice::v1::Event>> select_events(
    const store::event_log& log, const event_filter& filter);

// JSON views: what `sluice log/replay/diff -o json` print and the admin port serves.

/// An event; the resource (decoded to Gloo's JSON) and raw input only when `full`.
nlohmann::json event_json(const sluice::v1::Event& ev, bool full);
/// A Gloo resource of `kind` from its canonical bytes, in Gloo's JSON form.
nlohmann::json gloo_json(std::string_view kind, const std::string& bytes);
/// An Envoy resource from its type URL and bytes, in Envoy's JSON form.
nlohmann::json envoy_json(std::string_view type_url, const std::string& bytes);
/// A snapshot: key, watermark, and per type its version and resources (with bodies when
/// `with_resources`).
nlohmann::json snapshot_json(const xds::snapshot& snap, bool with_resources);
nlohmann::json publish_json(const sluice::v1::PublishRecord& record);
nlohmann::json checkpoint_json(const store::checkpoint_info& info);
/// A replayed point: seq, time, and per role (or only `role`) the Proxy and the snapshot.
nlohmann::json replay_json(const replayed_point& point, const std::string& role = {});
nlohmann::json diff_json(const log_diff& diff);
/// The JSON differences between two values (see field_change).
std::vector<field_change> json_differences(const nlohmann::json& from, const nlohmann::json& to);
/// Renders JSON as block YAML.
std::string to_yaml(const nlohmann::json& value);
/// JSON text; invalid UTF-8 (raw input of rejected events) is replaced, never thrown on.
std::string dump_json(const nlohmann::json& value, int indent = -1);

/// "2024-05-01T14:02:03.123456789Z" (UTC).
std::string format_time(int64_t unix_ns);
/// RFC 3339 ("2024-05-01T14:02:03Z", fraction and offset optional) or "@<unix seconds>".
[[nodiscard]] caf::expected<int64_t> parse_time(std::string_view text);

std::string_view change_kind_name(change_kind kind);

/// A point of the log from text: a seq ("1234"), "head" (the last seq), or a time (parse_time:
/// the last seq committed at or before it).
[[nodiscard]] caf::expected<uint64_t> resolve_point(const store::event_log& log,
                                                    std::string_view text);

/// What the admin port answers from (adapters/admin_server.hpp).
struct admin_sources {
  std::shared_ptr<const store::event_log> log;
  /// The snapshots being served, by key. Unset: /snapshots translates the current state rows,
  /// which is what the server serves once its world has caught up with the log.
  std::function<std::map<std::string, xds::snapshot_ptr>()> served;
  /// GET /statuses. Unset: statuses computed from the log's head (model::build_statuses of the
  /// world, its translation and Proxies), with the recorded NACKs listed but not blamed on
  /// resources (that attribution lives in `sluice get`).
  adapters::admin_handler statuses;
};

/// Handlers for /events (query: from, to, since, until, kind, namespace, name, source, limit
/// [default 100], tail, full), /snapshots[/<role>] (query: resources=0 for versions only),
/// /publishes (role, type, limit), /healthz (200 healthy, 503 when the store cannot write),
/// /statuses, /checkpoints, /replay (at or time, role) and /diff (from, to, role; seqs or
/// times).
adapters::admin_handlers make_admin_handlers(admin_sources sources);

}  // namespace sluice::actors
