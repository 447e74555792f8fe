#pragma once
/// A token bucket: `qps` tokens per second up to `burst`, full at the start. The rate limit of
/// the writers that talk to the Kubernetes API (status write-back, discovered Upstreams): one
/// token per request. Plain value, not thread-safe (its owner holds its own lock); time is
/// passed in so tests can drive a fake clock.

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace sluice::adapters {

class token_bucket {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  token_bucket(double qps, double burst, time_point now)
      : qps_(qps), burst_(burst), tokens_(burst), refilled_(now) {}

  /// Takes one token if there is one at `now`.
  bool take(time_point now) {
    const double elapsed = std::chrono::duration<double>(now - refilled_).count();
    if (elapsed > 0) {
      tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
      refilled_ = now;
    }
    if (tokens_ < 1.0) {
      return false;
    }
    tokens_ -= 1.0;
    return true;
  }

  /// How long from `now` until a token is there (0: one is there now, or no rate is set).
  std::chrono::milliseconds time_to_token(time_point now) const {
    const double elapsed = std::chrono::duration<double>(now - refilled_).count();
    const double have = std::min(burst_, tokens_ + std::max(0.0, elapsed) * qps_);
    if (have >= 1.0 || qps_ <= 0) {
      return std::chrono::milliseconds(0);
    }
    return std::chrono::milliseconds(static_cast<int64_t>((1.0 - have) / qps_ * 1000.0) + 1);
  }

 private:
  double qps_;
  double burst_;
  double tokens_;
  time_point refilled_;
};

}  // namespace sluice::adapters
