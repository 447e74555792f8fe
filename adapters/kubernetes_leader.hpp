#pragma once
/// Leader election with a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
/// every replica serves xDS; only the holder of the Lease writes statuses and generated resources.
///
/// Promises:
///  - Acquire: create the Lease, or take it over when it is free (no holder) or its holder has not
///    renewed for `lease_duration` as measured on OUR clock since we last saw the record change
///    (never by comparing the other replica's timestamps with our clock: clocks are skewed).
///    Updates carry the Lease's resourceVersion, so of two replicas racing only one wins (409).
///  - Renew every `retry_period` while leading.
///  - Lose at once: is_leader() is true only while the last successful renew is younger than
///    `renew_deadline` (< lease_duration), checked against the clock on every call, so a replica
///    that cannot renew stops writing before anyone else may take over, even if its thread is
///    stuck. The callback reports every change.
///  - stop() releases a held Lease (holder cleared) so another replica takes over without waiting.
///
/// step() makes one attempt synchronously (tests drive it with fake clocks); start() runs it on a
/// thread every `retry_period`.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "adapters/kubernetes_client.hpp"

namespace sluice::adapters {

struct kubernetes_leader_options {
  std::shared_ptr<kubernetes_client> client;
  std::string ns = "gloo-system";
  std::string name = "sluice-leader";
  std::string identity;  ///< this replica, unique (the pod name); default: host name + random
  std::chrono::milliseconds lease_duration{15'000};
  std::chrono::milliseconds renew_deadline{10'000};
  std::chrono::milliseconds retry_period{2'000};
  /// Our clock for expiry decisions (monotonic); steady_clock by default.
  std::function<std::chrono::steady_clock::time_point()> now;
  /// Wall time written into the Lease's acquireTime / renewTime; system_clock by default.
  std::function<std::chrono::system_clock::time_point()> wall_now;
  /// Called with true on becoming leader and false on losing it, from the electing thread.
  std::function<void(bool leader)> on_change;
};

class kubernetes_leader {
 public:
  explicit kubernetes_leader(kubernetes_leader_options options);
  ~kubernetes_leader();  ///< stop()
  kubernetes_leader(const kubernetes_leader&) = delete;
  kubernetes_leader& operator=(const kubernetes_leader&) = delete;

  /// One acquire-or-renew attempt; returns whether we hold the Lease afterwards.
  bool step();
  /// Leader now: the last renew is younger than renew_deadline.
  bool is_leader() const;
  /// The holder last seen in the Lease ("" when free or unknown).
  std::string holder() const;
  /// Our identity in the Lease.
  const std::string& identity() const;

  /// Runs step() every retry_period on a thread.
  void start();
  /// Stops the thread and releases the Lease if we hold it. Idempotent.
  void stop();
  /// Gives the Lease up now (holder cleared) if we hold it.
  void release();

  /// The Lease's API path, without leading '/'.
  std::string lease_path() const;

 private:
  bool try_acquire_or_renew();
  void set_leader(bool leader);

  kubernetes_leader_options options_;
  mutable std::mutex mutex_;
  bool leader_ = false;                                  ///< what we last reported
  std::chrono::steady_clock::time_point renewed_{};      ///< our clock, last successful renew
  std::string observed_record_;                          ///< the Lease spec as last seen (JSON)
  std::chrono::steady_clock::time_point observed_at_{};  ///< our clock, when it last changed
  std::string holder_;

  std::mutex step_mutex_;
  std::thread thread_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool running_ = false;
};

}  // namespace sluice::adapters
