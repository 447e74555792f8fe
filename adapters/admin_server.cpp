#include "adapters/admin_server.hpp"

#include <httplib.h>

#include <chrono>
#include <exception>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/error.hpp"
#include "model/logging.hpp"

namespace sluice::adapters {

namespace {

/// Splits "host:port", "[v6]:port" or ":::port" (a bare IPv6 host ends at the last colon).
bool parse_listen(const std::string& listen, std::string& host, int& port) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 >= listen.size()) {
    return false;
  }
  host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) {
    host = "0.0.0.0";
  }
  int value = 0;
  for (char c : listen.substr(colon + 1)) {
    if (c < '0' || c > '9') {
      return false;
    }
    value = value * 10 + (c - '0');
    if (value > 65535) {
      return false;
    }
  }
  port = value;
  return true;
}

std::string error_body(const std::string& message) {
  return nlohmann::json{{"error", message}}.dump(-1, ' ', false,
                                                 nlohmann::json::error_handler_t::replace);
}

/// The prefix a path belongs to: exact, or followed by '/'.
bool under(const std::string& path, const std::string& prefix, std::string& rest) {
  if (path == prefix) {
    rest.clear();
    return true;
  }
  if (path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0
      && path[prefix.size()] == '/') {
    rest = path.substr(prefix.size() + 1);
    return true;
  }
  return false;
}

}  // namespace

admin_response admin_error(int status, const std::string& message) {
  return admin_response{status, error_body(message)};
}

admin_server::admin_server(admin_handlers handlers) : handlers_(std::move(handlers)) {}

admin_server::~admin_server() { stop(); }

caf::expected<int> admin_server::start(const std::string& listen) {
  if (server_) {
    return make_error(ec::invalid_argument, "the admin server is already started");
  }
  std::string host;
  int port = 0;
  if (!parse_listen(listen, host, port)) {
    return make_error(ec::invalid_argument,
                      "admin listen address '" + listen + "' is not host:port (e.g. 0.0.0.0:9095)");
  }
  std::vector<std::pair<std::string, admin_handler>> routes{
      {"/events", handlers_.events},       {"/snapshots", handlers_.snapshots},
      {"/publishes", handlers_.publishes}, {"/healthz", handlers_.healthz},
      {"/statuses", handlers_.statuses},
  };
  for (const auto& [prefix, handler] : handlers_.extra) {
    routes.emplace_back(prefix, handler);
  }
  server_ = std::make_unique<httplib::Server>();
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which would let a second server
  // (another sluice on the same data dir's host) bind the same port silently.
  server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const char*>(&yes), sizeof(yes));
  });
  server_->set_pre_routing_handler([routes](const httplib::Request& req, httplib::Response& res) {
    auto reply = [&](const admin_response& r) {
      res.status = r.status;
      res.set_content(r.body, "application/json");
    };
    if (req.method != "GET" && req.method != "HEAD") {
      reply(admin_error(405, "the admin port is read-only: use GET"));
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.path == "/") {
      nlohmann::json index = nlohmann::json::array();
      for (const auto& [prefix, handler] : routes) {
        if (handler) {
          index.push_back(prefix);
        }
      }
      reply(admin_response{200, nlohmann::json{{"routes", index}}.dump()});
      return httplib::Server::HandlerResponse::Handled;
    }
    for (const auto& [prefix, handler] : routes) {
      admin_request request;
      if (!under(req.path, prefix, request.rest)) {
        continue;
      }
      if (!handler) {
        reply(admin_error(404, req.path + " is not available on this server"));
        return httplib::Server::HandlerResponse::Handled;
      }
      request.path = req.path;
      for (const auto& [k, v] : req.params) {
        request.query[k] = v;
      }
      try {
        reply(handler(request));
      } catch (const std::exception& e) {
        // Library exceptions (JSON, protobuf) stop here: one bad request, not the server.
        log::adapters()->warn("admin handler failed path={} error={}", req.path, e.what());
        reply(admin_error(500, std::string("internal error: ") + e.what()));
      }
      return httplib::Server::HandlerResponse::Handled;
    }
    reply(admin_error(404, "no route " + req.path + "; GET / lists the routes"));
    return httplib::Server::HandlerResponse::Handled;
  });
  int bound = port == 0 ? server_->bind_to_any_port(host) : port;
  if (port != 0 && !server_->bind_to_port(host, port)) {
    bound = -1;
  }
  if (bound <= 0) {
    server_.reset();
    return make_error(ec::source_error,
                      "cannot bind the admin port on " + listen + " (in use, or no such address)");
  }
  thread_ = std::thread([server = server_.get()] { server->listen_after_bind(); });
  // listen_after_bind only accepts once it runs; wait for it, bounded, so the port answers as
  // soon as start() returns.
  for (int i = 0; i < 500 && !server_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  log::adapters()->info("admin server listening address={} port={}", listen, bound);
  return bound;
}

void admin_server::stop() {
  if (!server_) {
    return;
  }
  server_->stop();
  if (thread_.joinable()) {
    thread_.join();
  }
  server_.reset();
  log::adapters()->info("admin server stopped");
}

}  // namespace sluice::adapters
