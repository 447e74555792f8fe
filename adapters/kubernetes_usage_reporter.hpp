#pragma once
/// Keeps the `gloo-usage` ConfigMap current (the ConfigMap deploy/ installs empty): usage data
/// about the proxies this control plane serves. Gloo's reference does not specify the content, so
/// sluice's choice is (every value a string, as ConfigMaps require):
///
///   reportedBy   the Lease holder's identity that wrote it
///   proxies      JSON: [{"role": "<ns>~<name>", "listeners": n, "virtualHosts": n,
///                "routes": n}] for every Proxy the gateways produce, sorted by role
///   xdsStreams   connected xDS streams of the writing replica
///
/// Promises: only the Lease holder writes (`may_write` is asked before each write); a write
/// happens only when the data differs from what the ConfigMap holds (read fresh; a 409 is
/// retried on the next pass); the ConfigMap is never created (RBAC grants get/update on that one
/// name only: a missing ConfigMap is logged and skipped). Passes run on a thread, at most every
/// `interval`, and right away when the proxies change.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "adapters/kubernetes_client.hpp"
#include "model/gateway_translator.hpp"

namespace sluice::adapters {

struct kubernetes_usage_reporter_options {
  std::shared_ptr<kubernetes_client> client;
  std::string ns = "gloo-system";
  std::string name = "gloo-usage";
  std::string identity;
  std::function<bool()> may_write;           ///< unset = always
  std::function<size_t()> stream_count;      ///< unset = 0
  std::chrono::milliseconds interval{30'000};  ///< between passes for stream-count changes
};

/// The `proxies` value for these Proxies.
std::string usage_of_proxies(const std::vector<model::translated_proxy>& proxies);

class kubernetes_usage_reporter {
 public:
  explicit kubernetes_usage_reporter(kubernetes_usage_reporter_options options);
  ~kubernetes_usage_reporter();
  kubernetes_usage_reporter(const kubernetes_usage_reporter&) = delete;
  kubernetes_usage_reporter& operator=(const kubernetes_usage_reporter&) = delete;

  /// The Proxies of the newest translation.
  void offer(std::shared_ptr<const std::vector<model::translated_proxy>> proxies);
  /// One pass now: returns true when the ConfigMap holds the current data afterwards.
  bool pump();
  /// Wakes the thread (e.g. after becoming leader).
  void nudge();

  void start();
  void stop();

  uint64_t writes() const;

 private:
  std::map<std::string, std::string> desired() const;

  kubernetes_usage_reporter_options options_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::string proxies_json_;  ///< empty until the first translation
  bool complained_ = false;   ///< the last read failed and was logged (pump's thread only)
  bool dirty_ = true;
  bool stopping_ = false;
  bool running_ = false;
  uint64_t writes_ = 0;
  std::thread thread_;
};

}  // namespace sluice::adapters
