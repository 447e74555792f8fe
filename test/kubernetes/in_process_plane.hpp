#pragma once
/// An in-process `sluice serve --source kubernetes` (actors::control_plane with the options
/// `sluice serve` builds) against a fake API server over TLS, with scripted Envoy-like xDS
/// clients: the fixture of the discovery and watched-namespace tests.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/actor_types.hpp"
#include "actors/control_plane.hpp"
#include "adapters/kubernetes_client.hpp"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "model/error.hpp"
#include "test/kubernetes/kube_serve_support.hpp"
#include "test/support/fake_kube_apiserver.hpp"
#include "test/support/scripted_xds_client.hpp"
#include "test/support/temp_dir.hpp"
#include "xds/envoy_common.hpp"

namespace sluice::test::kube {

class in_process_plane : public ::testing::Test {
 protected:
  in_process_plane() {
    fake_.apply(gateway());
    kubeconfig_ = dir_.write("kubeconfig", fake_.kubeconfig());
  }
  ~in_process_plane() override { stop(); }

  actors::control_plane_options options() {
    actors::control_plane_options o;
    o.data_dir = (dir_.path() / "data").string();
    o.xds_listen = "127.0.0.1:0";
    auto creds = adapters::load_kubeconfig(kubeconfig_.string());
    EXPECT_TRUE(creds) << describe(creds.error());
    auto client = adapters::kubernetes_client::make(*creds);
    EXPECT_TRUE(client) << describe(client.error());
    o.kube.client = *client;
    o.kube.identity = "replica-a";
    o.kube.retry_period = std::chrono::milliseconds(100);
    o.kube.usage_interval = std::chrono::milliseconds(200);
    o.hooks.outcome_interval = std::chrono::milliseconds(50);
    return o;
  }

  void start(const actors::control_plane_options& o) {
    cfg_ = std::make_unique<caf::actor_system_config>();
    cfg_->add_message_types<caf::id_block::sluice>();
    sys_ = std::make_unique<caf::actor_system>(*cfg_);
    auto cp = actors::control_plane::start(*sys_, o);
    ASSERT_TRUE(cp) << describe(cp.error());
    cp_ = std::move(*cp);
  }
  void start() { start(options()); }

  void stop() {
    clients_.clear();
    if (cp_) {
      cp_->stop();
      cp_.reset();
    }
    sys_.reset();
    cfg_.reset();
  }

  scripted_xds_client& envoy_client() {
    scripted_xds_client_options o;
    o.role = "gloo-system~gateway-proxy";
    o.follow_references = true;
    clients_.push_back(std::make_unique<scripted_xds_client>(o));
    auto& c = *clients_.back();
    EXPECT_TRUE(c.connect(cp_->xds_port()));
    c.subscribe(xds::cluster_type);
    c.subscribe(xds::listener_type);
    return c;
  }

  static bool has_cluster(const scripted_xds_client::state& s, const std::string& name,
                          const std::string& ns) {
    return s.names(xds::cluster_type).count(xds::cluster_name(name, ns)) > 0;
  }

  /// The endpoint addresses the client holds for a cluster (its EDS resource is named after it,
  /// plus a hash).
  static std::vector<std::string> addresses(const scripted_xds_client::state& s,
                                            const std::string& cluster) {
    std::vector<std::string> out;
    auto it = s.held.find(std::string(xds::endpoint_type));
    if (it == s.held.end()) {
      return out;
    }
    for (const auto& [name, any] : it->second) {
      envoy::config::endpoint::v3::ClusterLoadAssignment cla;
      if (name.rfind(cluster + "-", 0) != 0 || !any.UnpackTo(&cla)) {
        continue;
      }
      for (const auto& le : cla.endpoints()) {
        for (const auto& e : le.lb_endpoints()) {
          out.push_back(e.endpoint().address().socket_address().address());
        }
      }
    }
    return out;
  }

  /// Requests with this method whose path is exactly `path` (no subresource).
  size_t requests_to(const std::string& method, const std::string& path) const {
    size_t n = 0;
    for (const auto& r : fake_.requests()) {
      if (r.method == method && r.path == path) {
        ++n;
      }
    }
    return n;
  }

  fake_kube_apiserver fake_;
  temp_dir dir_;
  std::filesystem::path kubeconfig_;
  std::unique_ptr<caf::actor_system_config> cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<actors::control_plane> cp_;
  std::vector<std::unique_ptr<scripted_xds_client>> clients_;
};

}  // namespace sluice::test::kube
