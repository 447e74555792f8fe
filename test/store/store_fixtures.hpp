#pragma once
/// Shared by the store, replay, admin and CLI tests: Gloo YAML for a small gateway world, and a
/// writer that turns YAML files into log events exactly as the kind actors do (through
/// model::ingest_tracker), so replay sees what a server would have written.

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "model/error.hpp"
#include "model/ingest_tracker.hpp"
#include "store/event_log.hpp"

namespace sluice::test {

inline constexpr const char* gateway_role = "gloo-system~gateway-proxy";

inline std::string gateway_yaml(int port = 8080) {
  return "metadata:\n  name: gateway-proxy\n  namespace: gloo-system\nbindAddress: \"::\"\n"
         "bindPort: "
         + std::to_string(port) + "\nhttpGateway: {}\n";
}

inline std::string upstream_yaml(const std::string& name, int port) {
  return "metadata:\n  name: " + name + "\n  namespace: gloo-system\nstatic:\n  hosts:\n"
         "    - addr: 127.0.0.1\n      port: " + std::to_string(port) + "\n";
}

inline std::string vs_yaml(const std::string& name, const std::string& domain,
                           const std::string& upstream) {
  return "metadata:\n  name: " + name + "\n  namespace: gloo-system\nvirtualHost:\n  domains: [" +
         domain + "]\n  routes:\n    - matchers: [{prefix: /}]\n      routeAction:\n"
         "        single:\n          upstream: {name: " + upstream + "}\n";
}

/// Feeds files through one ingest_tracker per kind into a log, appending each result in one
/// write with its cursors: the kind actor and the journal, without actors.
class tracked_writer {
 public:
  explicit tracked_writer(store::event_log& log) : log_(log) {}

  /// The file `origin` of `kind` now holds `yaml`; returns the log's last seq afterwards.
  uint64_t put(model::resource_kind kind, const std::string& origin, const std::string& yaml,
               const std::string& ns = "gloo-system") {
    model::source_event ev;
    ev.source = "directory";
    ev.kind = kind;
    ev.ns = ns;
    ev.origin = origin;
    ev.bytes = yaml;
    return write(tracker(kind).ingest(ev));
  }

  /// The file `origin` of `kind` is gone.
  uint64_t remove(model::resource_kind kind, const std::string& origin,
                  const std::string& ns = "gloo-system") {
    model::source_event ev;
    ev.source = "directory";
    ev.op = model::source_event::op_t::remove;
    ev.kind = kind;
    ev.ns = ns;
    ev.origin = origin;
    return write(tracker(kind).ingest(ev));
  }

  /// A gateway, upstreams a and b, and VirtualService "greeter" routing to a.
  uint64_t seed() {
    put(model::resource_kind::gateway, "gateways/gloo-system/gateway-proxy.yaml", gateway_yaml());
    put(model::resource_kind::upstream, "upstreams/gloo-system/a.yaml", upstream_yaml("a", 50061));
    put(model::resource_kind::upstream, "upstreams/gloo-system/b.yaml", upstream_yaml("b", 50062));
    return put(model::resource_kind::virtual_service, "virtualservices/gloo-system/greeter.yaml",
               vs_yaml("greeter", "greeter", "a"));
  }

 private:
  model::ingest_tracker& tracker(model::resource_kind kind) {
    auto it = trackers_.find(kind);
    if (it == trackers_.end()) {
      it = trackers_.emplace(kind, std::make_unique<model::ingest_tracker>(kind)).first;
    }
    return *it->second;
  }

  uint64_t write(model::ingest_tracker::output out) {
    if (!out.empty()) {
      auto stored = log_.append(std::move(out.events), out.cursors);
      EXPECT_TRUE(stored) << describe(stored.error());
    }
    return log_.last_seq();
  }

  store::event_log& log_;
  std::map<model::resource_kind, std::unique_ptr<model::ingest_tracker>> trackers_;
};

}  // namespace sluice::test
