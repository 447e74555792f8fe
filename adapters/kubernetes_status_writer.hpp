#pragma once
/// Writes resource statuses back to Kubernetes through the status subresource, the way Gloo's
/// reporter does (reference gloo.md §2.1): `status.statuses.<controller namespace>` = the Status,
/// other controllers' entries left alone.
///
/// Promises:
///  - Only changes are written. update() takes the complete current status map and queues only
///    the statuses that differ from what this writer last wrote; before writing, the object is
///    read fresh and nothing is written when it already carries that status (after a restart or
///    a leader change).
///  - Rate-limited by a token bucket (`qps`, `burst`; one token per PUT) and batched: a burst of
///    changes is coalesced per resource (the latest status wins) and written in passes of at most
///    `max_batch`.
///  - A 409 Conflict (the object changed between our read and our write) is retried on a fresh
///    read, up to `max_conflict_retries` times; a 404 drops the status (the object is gone or
///    not from Kubernetes).
///  - `may_write` (the leader check) is asked right before every PUT: a replica that lost the
///    lease stops writing at once; what it had queued stays queued.
///
/// pump() does one pass synchronously (tests drive it with a fake clock); start() runs passes on
/// a thread whenever there is work and a token.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "adapters/kubernetes_client.hpp"
#include "adapters/token_bucket.hpp"
#include "model/resource.hpp"
#include "solo/core.pb.h"

namespace sluice::adapters {

struct kubernetes_status_writer_options {
  std::shared_ptr<kubernetes_client> client;
  std::string controller_namespace = "gloo-system";  ///< the key under status.statuses
  double qps = 5.0;                                  ///< token refill per second
  double burst = 10.0;                               ///< bucket size (and the initial tokens)
  size_t max_batch = 100;                            ///< statuses per pass
  int max_conflict_retries = 5;
  /// Asked right before every write; unset = always allowed.
  std::function<bool()> may_write;
  /// The clock of the token bucket; steady_clock by default.
  std::function<std::chrono::steady_clock::time_point()> now;
};

class kubernetes_status_writer {
 public:
  using status_map = std::map<model::resource_key, ::core::solo::io::Status>;

  explicit kubernetes_status_writer(kubernetes_status_writer_options options);
  ~kubernetes_status_writer();  ///< stops the thread
  kubernetes_status_writer(const kubernetes_status_writer&) = delete;
  kubernetes_status_writer& operator=(const kubernetes_status_writer&) = delete;

  /// The complete current statuses. Changed ones are queued (replacing any queued older status of
  /// the same resource); resources absent from the map are forgotten. Kinds without a status
  /// (Secret, Artifact, Endpoint) are ignored.
  void update(const status_map& statuses);

  /// Writes queued statuses while tokens last, at most `max_batch`; returns how many PUTs
  /// succeeded.
  size_t pump();

  /// Forgets what was written, so the next update() re-checks everything against the server
  /// (call it on gaining the lease: another leader may have written meanwhile).
  void reset();

  /// Runs pump() on a thread whenever there is work and a token; nudge() wakes it (e.g. after
  /// leadership changed).
  void start();
  void stop();
  void nudge();

  size_t pending() const;

  struct counters {
    uint64_t writes = 0;        ///< successful PUTs
    uint64_t unchanged = 0;     ///< fresh read already had the status: nothing written
    uint64_t conflicts = 0;     ///< 409s (each retried on a fresh read)
    uint64_t not_found = 0;     ///< dropped: the object does not exist
    uint64_t errors = 0;        ///< other failures (the status stays queued)
    uint64_t deferred = 0;      ///< passes that found work but may_write() said no
    uint64_t rate_limited = 0;  ///< passes that stopped for want of a token
  };
  counters stats() const;

  /// The API path of a resource's status subresource, without leading '/'; empty for kinds
  /// without a status.
  static std::string status_path(const model::resource_key& key);

 private:
  enum class write_result : uint8_t { written, unchanged, dropped, failed, no_token, not_allowed };
  write_result write_one(const model::resource_key& key, const std::string& desired_json);
  bool take_token();
  std::chrono::milliseconds time_to_token();
  bool allowed() const;

  kubernetes_status_writer_options options_;
  mutable std::mutex mutex_;
  std::map<model::resource_key, std::string> written_;  ///< status JSON last written (or found)
  std::map<model::resource_key, std::string> queue_;    ///< status JSON to write
  std::map<model::resource_key, std::string> in_flight_;  ///< status JSON being written now
  status_map latest_;  ///< the last update(), kinds with a status only (for reset())
  std::optional<token_bucket> bucket_;  ///< set in the constructor, once `now` is known
  counters stats_;

  std::mutex pump_mutex_;  ///< one pass at a time
  std::thread thread_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool running_ = false;
  bool nudged_ = false;
};

}  // namespace sluice::adapters
