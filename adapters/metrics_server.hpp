#pragma once
/// The metrics port (9966, the `gloo` Service's `http-monitoring` contract): GET /metrics in
/// Prometheus text format from model::metrics_registry::global(). Runs its own thread.

#include <memory>
#include <string>
#include <thread>

#include "caf/expected.hpp"

namespace httplib {
class Server;
}

namespace sluice::adapters {

class metrics_server {
 public:
  metrics_server();
  ~metrics_server();
  metrics_server(const metrics_server&) = delete;
  metrics_server& operator=(const metrics_server&) = delete;

  /// Binds `host:port` (port 0 picks one) and starts serving; returns the bound port.
  [[nodiscard]] caf::expected<int> start(const std::string& listen);
  void stop();

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

/// Splits "host:port" (IPv6 hosts in brackets or bare "::"); false when malformed.
bool split_host_port(const std::string& listen, std::string& host, int& port);

}  // namespace sluice::adapters
