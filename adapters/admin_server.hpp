#pragma once
/// The admin / debug HTTP port (9095): read-only JSON views of a running server. The server
/// knows HTTP only; what each route answers comes from handlers the owner wires in (the event
/// log, the served snapshots, statuses), so adapters/ stays free of store/ and xds/.
///
/// Routes (GET only): /events, /snapshots, /snapshots/<role>, /publishes, /healthz, /statuses,
/// plus any extra prefixes given; / lists them. A route without a handler answers 404, anything
/// but GET 405, a handler that fails 500, always with a JSON body {"error": "..."}. Runs its own
/// thread pool (cpp-httplib); handlers are called on those threads, concurrently.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "caf/expected.hpp"

namespace httplib {
class Server;
}

namespace sluice::adapters {

struct admin_request {
  std::string path;                          ///< "/snapshots/gloo-system~gateway-proxy"
  std::string rest;                          ///< after the route: "gloo-system~gateway-proxy"
  std::map<std::string, std::string> query;  ///< ?from=10&kind=Upstream
};

struct admin_response {
  int status = 200;
  std::string body;  ///< JSON text
};

using admin_handler = std::function<admin_response(const admin_request&)>;

struct admin_handlers {
  admin_handler events;     ///< GET /events
  admin_handler snapshots;  ///< GET /snapshots (rest "") and /snapshots/<role> (rest = role)
  admin_handler publishes;  ///< GET /publishes
  admin_handler healthz;    ///< GET /healthz
  admin_handler statuses;   ///< GET /statuses
  /// More GET routes by path ("/checkpoints", "/replay", "/diff"); "/x" also serves "/x/...".
  std::map<std::string, admin_handler> extra;
};

/// {"error": message} with that status.
admin_response admin_error(int status, const std::string& message);

class admin_server {
 public:
  explicit admin_server(admin_handlers handlers);
  ~admin_server();  ///< stops
  admin_server(const admin_server&) = delete;
  admin_server& operator=(const admin_server&) = delete;

  /// Binds "host:port" (port 0 picks one; IPv6 hosts in brackets) and starts serving; returns
  /// the bound port. Errors: ec::invalid_argument (malformed address), ec::source_error (bind).
  [[nodiscard]] caf::expected<int> start(const std::string& listen);

  /// Stops serving and joins the thread; idempotent.
  void stop();

 private:
  void route(const std::string& prefix, admin_handler handler);

  admin_handlers handlers_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace sluice::adapters
