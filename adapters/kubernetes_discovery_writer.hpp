#pragma once
/// Writes the discovered Upstreams (kubernetes_discovery) as Upstream custom resources
/// (gloo.solo.io/v1 `upstreams`) into the write namespace, as Gloo's discovery pod (UDS) does
/// (reference gloo.md §1.4, §3.5): created when missing, updated when what discovery owns in them
/// changed, deleted when no Service port wants them any more.
///
/// Promises:
///  - Ownership by label. Only an Upstream labelled `discovered_by: kubernetesplugin` is ever
///    updated or deleted; a user's Upstream of the same name is left alone (and counted), and
///    taken over by nobody.
///  - No churn. What discovery owns in an Upstream is compared, not the whole object: the
///    `discovered_by` label, `spec.kube.{serviceName, serviceNamespace, servicePort, selector}`
///    and `spec.discoveryMetadata`. Anything else a user added (more labels, annotations,
///    sslConfig, useHttp2, ...) is kept on update, as Gloo's UpdateUpstream keeps user fields.
///    An unchanged Upstream is never rewritten, so a restart writes nothing.
///  - The server's view comes from the Upstream watch (observe()), not from extra reads: the
///    writer acts like a controller on its informer cache. Nothing is written before synced():
///    until every initial list is in, a missing Service would look like a deletion.
///  - Writes carry preconditions: an update carries the resourceVersion it was computed from and
///    a delete carries it in `DeleteOptions.preconditions`, so a concurrent change answers 409
///    and is retried on a fresh read (up to `max_conflict_retries` in a row). A create that finds
///    the object (409 AlreadyExists) reads it and compares.
///  - `may_write` (the Lease) is asked right before every write: losing the lease stops writes
///    at once; the work stays pending. Writes are rate-limited by a token bucket (`qps`,
///    `burst`); a failing name backs off exponentially with jitter, others go on.
///
/// pump() does one pass synchronously (tests drive it with a fake clock); start() runs passes on
/// a thread whenever there is work it may do.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "adapters/kubernetes_client.hpp"
#include "adapters/token_bucket.hpp"

namespace sluice::adapters {

struct kubernetes_discovery_writer_options {
  std::shared_ptr<kubernetes_client> client;
  std::string write_namespace = "gloo-system";
  double qps = 5.0;        ///< token refill per second (one token per POST, PUT or DELETE)
  double burst = 10.0;     ///< bucket size (and the initial tokens)
  size_t max_batch = 100;  ///< names per pass
  int max_conflict_retries = 5;
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{30'000};
  /// Asked right before every write; unset = always allowed.
  std::function<bool()> may_write;
  /// The clock of the token bucket and the backoff; steady_clock by default.
  std::function<std::chrono::steady_clock::time_point()> now;
  uint64_t seed = 0;  ///< jitter randomness; 0 = from std::random_device
};

class kubernetes_discovery_writer {
 public:
  static constexpr std::string_view label_key = "discovered_by";
  static constexpr std::string_view label_value = "kubernetesplugin";

  explicit kubernetes_discovery_writer(kubernetes_discovery_writer_options options);
  ~kubernetes_discovery_writer();  ///< stops the thread
  kubernetes_discovery_writer(const kubernetes_discovery_writer&) = delete;
  kubernetes_discovery_writer& operator=(const kubernetes_discovery_writer&) = delete;

  /// The desired Upstream of a name (as kubernetes_discovery generates it); null = none wanted.
  void desire(const std::string& name, const nlohmann::json& upstream);
  /// What the Upstream watch holds under a name in the write namespace, as the server sent it
  /// (with its resourceVersion); null = deleted.
  void observe(const std::string& name, const nlohmann::json& object);
  /// Desired and observed are complete (the source's initial lists are in): writes may begin.
  void synced();
  bool is_synced() const;

  /// Reconciles pending names while tokens last, at most `max_batch`; returns how many writes
  /// succeeded. Names that need no write are settled without asking the server.
  size_t pump();

  /// Runs pump() on a thread; nudge() wakes it (e.g. after becoming the leader).
  void start();
  void stop();
  void nudge();

  /// Names whose reconciliation is not done (whether or not this replica may write).
  size_t pending() const;

  struct counters {
    uint64_t creates = 0;
    uint64_t updates = 0;
    uint64_t deletes = 0;
    uint64_t conflicts = 0;     ///< 409s (each followed by a fresh read)
    uint64_t foreign = 0;       ///< names left alone: the Upstream there is not discovery's
    uint64_t errors = 0;        ///< failed requests (the name backs off)
    uint64_t deferred = 0;      ///< passes that had writes to do but may_write() said no
    uint64_t rate_limited = 0;  ///< passes that stopped for want of a token
  };
  counters stats() const;

  /// Whether an Upstream object carries the discovery label.
  static bool discovered(const nlohmann::json& object);
  /// Whether `observed` already holds what discovery owns of `desired`.
  static bool owned_fields_equal(const nlohmann::json& observed, const nlohmann::json& desired);
  /// `observed` with what discovery owns taken from `desired` (the body of an update).
  static nlohmann::json merged(const nlohmann::json& observed, const nlohmann::json& desired);

 private:
  enum class action : uint8_t { none, create, update, remove, foreign };
  enum class result : uint8_t { done, no_token, not_allowed, failed };
  struct retry_state {
    int failures = 0;
    std::chrono::steady_clock::time_point not_before{};
  };

  action decide_locked(const std::string& name) const;
  result reconcile(const std::string& name);
  bool take_token();
  std::chrono::milliseconds time_to_token();
  bool allowed() const;
  void failed_locked(const std::string& name);
  /// GETs the Upstream and records it as observed; false on a transport or server error.
  bool refresh(const std::string& name);
  std::string path(const std::string& name) const;
  std::chrono::milliseconds next_wait_locked();

  kubernetes_discovery_writer_options options_;
  mutable std::mutex mutex_;
  std::map<std::string, nlohmann::json> desired_;
  std::map<std::string, nlohmann::json> observed_;
  std::set<std::string> dirty_;
  std::map<std::string, retry_state> retry_;
  std::set<std::string> reported_foreign_;  ///< logged once each
  bool synced_ = false;
  std::optional<token_bucket> bucket_;  ///< set in the constructor, once `now` is known
  std::mt19937_64 rng_;
  counters stats_;

  std::mutex pump_mutex_;  ///< one pass at a time
  std::thread thread_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool running_ = false;
  bool nudged_ = false;
};

}  // namespace sluice::adapters
