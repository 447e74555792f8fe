#pragma once
/// Process-wide counters and gauges, rendered in Prometheus' text exposition format on the metrics
/// port (9966). Every `warn` about handled degradation has a counter here.
///
/// Thread-safe: metrics are registered once and updated with relaxed atomics from any thread.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace sluice::model {

class metric_value {
 public:
  void add(int64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  void set(int64_t n) { value_.store(n, std::memory_order_relaxed); }
  int64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

class metrics_registry {
 public:
  enum class type { counter, gauge };

  /// The metric `name` with `labels` (e.g. `type="cds"`), created on first use. The returned
  /// reference stays valid for the registry's life.
  metric_value& counter(std::string_view name, std::string_view help, std::string labels = "");
  metric_value& gauge(std::string_view name, std::string_view help, std::string labels = "");

  /// Prometheus text format, families sorted by name.
  std::string render() const;

  /// The process-wide registry.
  static metrics_registry& global();

 private:
  struct family {
    type kind;
    std::string help;
    std::map<std::string, std::unique_ptr<metric_value>> series;  ///< by label string
  };
  metric_value& get(type kind, std::string_view name, std::string_view help, std::string labels);

  mutable std::mutex mu_;
  std::map<std::string, family, std::less<>> families_;
};

}  // namespace sluice::model
