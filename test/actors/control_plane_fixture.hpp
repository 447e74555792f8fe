#pragma once
/// The end-to-end fixture shared by the control plane tests: a real config directory, a real
/// RocksDB log, the real actors and ADS server, observed through scripted xDS clients over
/// loopback gRPC. Owns the temp directory, the actor system, the control plane and the clients;
/// `stop()` waits for every actor so the log can be reopened (a restart is `stop(); start();`).
/// The helpers below write config files the way editors do and read what clients hold.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "actors/actor_types.hpp"
#include "actors/control_plane.hpp"
#include "envoy/config/route/v3/route.pb.h"
#include "model/error.hpp"
#include "store/event_log.hpp"
#include "test/support/scripted_xds_client.hpp"
#include "test/support/temp_dir.hpp"
#include "xds/snapshot.hpp"

namespace sluice::actors {

namespace fs = std::filesystem;
using test::scripted_xds_client;
using test::scripted_xds_client_options;

inline constexpr auto lds = xds::listener_type;
inline constexpr auto rds = xds::route_type;
inline constexpr auto cds = xds::cluster_type;
inline constexpr auto eds = xds::endpoint_type;

inline constexpr const char* gateway_yaml = R"(metadata:
  name: gateway-proxy
  namespace: gloo-system
bindAddress: "::"
bindPort: 8080
httpGateway: {}
)";

inline std::string upstream_yaml(const std::string& name, int port) {
  return "metadata:\n  name: " + name + "\n  namespace: gloo-system\nstatic:\n  hosts:\n"
         "    - addr: 127.0.0.1\n      port: " + std::to_string(port) + "\n";
}

inline std::string vs_yaml(const std::string& name, const std::string& domain,
                           const std::string& upstream) {
  return "metadata:\n  name: " + name + "\n  namespace: gloo-system\nvirtualHost:\n  domains: ["
         + domain + "]\n  routes:\n    - matchers: [{prefix: /}]\n      routeAction:\n"
         "        single:\n          upstream: {name: " + upstream + "}\n";
}

/// Writes through a temporary file and a rename, as editors and config managers do.
inline void write_atomically(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  auto tmp = path.parent_path() / ("." + path.filename().string() + ".tmp");
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
  }
  fs::rename(tmp, path);
}

/// The route's cluster (single destination) of the first route of the first virtual host.
inline std::string first_cluster(const google::protobuf::Any& any) {
  envoy::config::route::v3::RouteConfiguration rc;
  if (!any.UnpackTo(&rc) || rc.virtual_hosts_size() == 0
      || rc.virtual_hosts(0).routes_size() == 0) {
    return "";
  }
  return rc.virtual_hosts(0).routes(0).route().cluster();
}

/// Virtual host name -> its domains, in the listener's RouteConfiguration of a client's state
/// (pass the state wait_for hands its predicate: the client is locked while it runs).
template <class State>
std::map<std::string, std::vector<std::string>> domains_in(State st) {
  std::map<std::string, std::vector<std::string>> out;
  envoy::config::route::v3::RouteConfiguration rc;
  if (!st.held[std::string(rds)]["listener-::-8080-routes"].UnpackTo(&rc)) {
    return out;
  }
  for (const auto& vh : rc.virtual_hosts()) {
    out[vh.name()] = {vh.domains().begin(), vh.domains().end()};
  }
  return out;
}

inline std::map<std::string, std::vector<std::string>> served_domains(scripted_xds_client& c) {
  return domains_in(c.current());
}

class ControlPlaneTest : public ::testing::Test {
 protected:
  ControlPlaneTest() {
    config_ = dir_.path() / "config";
    data_ = dir_.path() / "data";
    write_atomically(config_ / "gateways/gloo-system/gateway-proxy.yaml", gateway_yaml);
    write_atomically(config_ / "upstreams/gloo-system/a.yaml", upstream_yaml("a", 50061));
    write_atomically(config_ / "upstreams/gloo-system/b.yaml", upstream_yaml("b", 50062));
    write_atomically(config_ / "virtualservices/gloo-system/greeter.yaml",
                     vs_yaml("greeter", "greeter", "a"));
  }

  ~ControlPlaneTest() override { stop(); }

  void start(control_plane_options options = {}) {
    cfg_ = std::make_unique<caf::actor_system_config>();
    cfg_->add_message_types<caf::id_block::sluice>();
    sys_ = std::make_unique<caf::actor_system>(*cfg_);
    options.config_dir = config_.string();
    options.data_dir = data_.string();
    options.xds_listen = "127.0.0.1:0";
    auto cp = control_plane::start(*sys_, options);
    ASSERT_TRUE(cp) << describe(cp.error());
    cp_ = std::move(*cp);
  }

  /// Stops the server and waits for every actor, so the log can be reopened.
  void stop() {
    clients_.clear();
    if (cp_) {
      cp_->stop();
      cp_.reset();
    }
    sys_.reset();
    cfg_.reset();
  }

  scripted_xds_client& proxyless_client(std::string name) {
    scripted_xds_client_options o;
    o.user_agent_name = "gRPC C-core linux";
    o.follow_references = true;
    clients_.push_back(std::make_unique<scripted_xds_client>(o));
    auto& c = *clients_.back();
    EXPECT_TRUE(c.connect(cp_->xds_port()));
    c.subscribe(lds, {std::move(name)});
    return c;
  }

  scripted_xds_client& envoy_client() {
    scripted_xds_client_options o;
    o.role = "gloo-system~gateway-proxy";
    o.follow_references = true;
    clients_.push_back(std::make_unique<scripted_xds_client>(o));
    auto& c = *clients_.back();
    EXPECT_TRUE(c.connect(cp_->xds_port()));
    c.subscribe(cds);
    c.subscribe(lds);
    return c;
  }

  /// Events in the log, read through a read-only handle (the server may be running).
  std::vector<sluice::v1::Event> events() {
    std::vector<sluice::v1::Event> out;
    auto log = store::event_log::open({data_.string(), true, true});
    if (!log) {
      return out;
    }
    (void)(*log)->for_each_event(1, UINT64_MAX, [&](const sluice::v1::Event& ev) {
      out.push_back(ev);
      return true;
    });
    return out;
  }

  /// The state rows (accepted resources and rejections), read-only.
  std::vector<sluice::v1::StateRecord> state_rows() {
    auto log = store::event_log::open({data_.string(), true, true});
    if (!log) {
      ADD_FAILURE() << "cannot open the log: " << describe(log.error());
      return {};
    }
    auto state = (*log)->load_state();
    if (!state) {
      ADD_FAILURE() << "cannot load the state: " << describe(state.error());
      return {};
    }
    return *state;
  }

  /// The rejection rows among the state rows.
  std::vector<sluice::v1::StateRecord> rejection_rows() {
    std::vector<sluice::v1::StateRecord> out;
    for (const auto& r : state_rows()) {
      if (r.has_rejection()) {
        out.push_back(r);
      }
    }
    return out;
  }

  bool wait_for_event(const std::function<bool(const sluice::v1::Event&)>& pred) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      for (const auto& ev : events()) {
        if (pred(ev)) {
          return true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling interval, bounded
    }
    return false;
  }

  test::temp_dir dir_;
  fs::path config_;
  fs::path data_;
  std::unique_ptr<caf::actor_system_config> cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<control_plane> cp_;
  std::vector<std::unique_ptr<scripted_xds_client>> clients_;
};

}  // namespace sluice::actors
