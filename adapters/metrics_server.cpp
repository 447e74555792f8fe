#include "adapters/metrics_server.hpp"

#include <httplib.h>

#include "model/error.hpp"
#include "model/metrics.hpp"

namespace sluice::adapters {

bool split_host_port(const std::string& listen, std::string& host, int& port) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 >= listen.size()) {
    return false;
  }
  host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  try {
    size_t used = 0;
    port = std::stoi(listen.substr(colon + 1), &used);
    return used == listen.size() - colon - 1 && port >= 0 && port <= 65535;
  } catch (...) {
    return false;
  }
}

metrics_server::metrics_server() : server_(std::make_unique<httplib::Server>()) {
  server_->Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(model::metrics_registry::global().render(), "text/plain; version=0.0.4");
  });
}

metrics_server::~metrics_server() { stop(); }

caf::expected<int> metrics_server::start(const std::string& listen) {
  std::string host;
  int port = 0;
  if (!split_host_port(listen, host, port)) {
    return make_error(ec::invalid_argument,
                      "metrics address '" + listen + "' is not host:port");
  }
  int bound = port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port)
                                                                  ? port
                                                                  : -1);
  if (bound < 0) {
    return make_error(ec::invalid_argument, "cannot bind the metrics port on " + listen);
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return bound;
}

void metrics_server::stop() {
  if (server_) {
    server_->stop();
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

}  // namespace sluice::adapters
