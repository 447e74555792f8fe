// Error isolation end to end (issue #3): a malformed or conflicting resource never changes what
// any other resource serves, the broken resource keeps serving its last accepted form, the log
// says why (a REJECTED event at ingest, a REVERTED one when translation refused the edit), a
// restart serves the same and appends nothing, and a fix clears the rejection. One test per
// error class, each through the real directory source, RocksDB log, actors and ADS server.
#include <gtest/gtest.h>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "model/event_world.hpp"
#include "model/resource_kind.hpp"
#include "model/status.hpp"
#include "test/actors/control_plane_fixture.hpp"
#include "xds/world_translation.hpp"

namespace sluice::actors {
namespace {

/// What an Envoy client holds, one entry per resource, as serialized bytes. Virtual hosts are
/// broken out of their route configurations ("vhost <route config>/<virtual host>"), so that a
/// comparison names the virtual host that changed rather than the whole route configuration.
using served_map = std::map<std::string, std::string>;

std::string bytes_of(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  m.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

served_map served(const scripted_xds_client::state& st) {
  served_map out;
  auto each = [&](std::string_view type, const std::string& label,
                  const std::function<void(const std::string&, const google::protobuf::Any&)>& fn) {
    auto it = st.held.find(std::string(type));
    if (it == st.held.end()) {
      return;
    }
    for (const auto& [name, any] : it->second) {
      if (fn) {
        fn(name, any);
      } else {
        out[label + " " + name] = any.value();
      }
    }
  };
  each(lds, "listener", nullptr);
  each(cds, "cluster", nullptr);
  each(eds, "endpoints", nullptr);
  each(rds, "route", [&](const std::string& name, const google::protobuf::Any& any) {
    envoy::config::route::v3::RouteConfiguration rc;
    if (!any.UnpackTo(&rc)) {
      out["route " + name] = "<does not unpack>";
      return;
    }
    for (const auto& vh : rc.virtual_hosts()) {
      out["vhost " + name + "/" + vh.name()] = bytes_of(vh);
    }
    rc.clear_virtual_hosts();
    out["route " + name] = bytes_of(rc);
  });
  return out;
}

bool is_marker(const std::string& key) {
  return key.find("gloo-system_marker-") != std::string::npos;
}

/// The entries not belonging to a marker VirtualService (the tests' proof of progress) nor
/// containing any of `owned` (the broken resource's own entries, where a fix must show).
served_map others(const served_map& m, const std::vector<std::string>& owned = {}) {
  served_map out;
  for (const auto& [k, v] : m) {
    bool skip = is_marker(k);
    for (const auto& o : owned) {
      skip = skip || k.find(o) != std::string::npos;
    }
    if (!skip) {
      out.emplace(k, v);
    }
  }
  return out;
}

/// The keys whose bytes differ, or that only one side has; empty when equal.
std::vector<std::string> differences(const served_map& before, const served_map& after) {
  std::vector<std::string> out;
  for (const auto& [k, v] : before) {
    auto it = after.find(k);
    if (it == after.end()) {
      out.push_back("gone: " + k);
    } else if (it->second != v) {
      out.push_back("changed: " + k);
    }
  }
  for (const auto& [k, v] : after) {
    if (before.count(k) == 0) {
      out.push_back("new: " + k);
    }
  }
  return out;
}

std::string joined_errors(const sluice::v1::Event& ev) {
  std::string out;
  for (const auto& e : ev.errors()) {
    out += e + "\n";
  }
  return out;
}

const char* tls_gateway_yaml = R"(metadata: {name: gateway-proxy-ssl, namespace: gloo-system}
bindAddress: "::"
bindPort: 8443
ssl: true
httpGateway: {}
)";

std::string secret_yaml(const std::string& name) {
  return "metadata: {name: " + name + ", namespace: gloo-system}\ntls:\n  certChain: |\n"
         "    -----BEGIN CERTIFICATE-----\n    MIIB" + name + "\n    -----END CERTIFICATE-----\n"
         "  privateKey: |\n    -----BEGIN PRIVATE KEY-----\n    MIIE" + name
         + "\n    -----END PRIVATE KEY-----\n";
}

/// A TLS VirtualService; its domain is `<name>.example.org`, so only the SNI names can collide.
std::string tls_vs_yaml(const std::string& name, const std::string& secret,
                        const std::string& sni) {
  return "metadata: {name: " + name + ", namespace: gloo-system}\nsslConfig:\n"
         "  secretRef: {name: " + secret + ", namespace: gloo-system}\n  sniDomains: [" + sni
         + "]\nvirtualHost:\n  domains: [" + name + ".example.org]\n  routes:\n"
         "  - matchers: [{prefix: /}]\n    routeAction: {single: {upstream: {name: a}}}\n";
}

std::string route_table_yaml(const std::string& name, const std::string& prefix,
                             const std::string& action) {
  return "metadata: {name: " + name + ", namespace: gloo-system}\nroutes:\n"
         "- matchers: [{prefix: " + prefix + "}]\n  " + action + "\n";
}

std::string delegate_to(const std::string& table) {
  return "delegateAction: {ref: {name: " + table + ", namespace: gloo-system}}";
}

std::string upstream_group_yaml(const std::string& first, int first_weight,
                                const std::string& second, int second_weight) {
  return "metadata: {name: group, namespace: gloo-system}\ndestinations:\n"
         "- {destination: {upstream: {name: "
         + first + "}}, weight: " + std::to_string(first_weight)
         + "}\n- {destination: {upstream: {name: " + second
         + "}}, weight: " + std::to_string(second_weight) + "}\n";
}

/// Whether the grouped route (write_grouped_route) splits over both Upstreams, 3 to 1: the
/// fixed form of the UpstreamGroup cases.
bool serves_group_weights_3_1(const served_map& m) {
  auto it = m.find("vhost listener-::-8080-routes/gloo-system_grouped");
  envoy::config::route::v3::VirtualHost vh;
  return it != m.end() && vh.ParseFromString(it->second) && vh.routes_size() == 1
         && vh.routes(0).route().weighted_clusters().clusters_size() == 2
         && vh.routes(0).route().weighted_clusters().clusters(0).weight().value() == 3;
}

/// A Kubernetes Service in gloo-system, as a manifest would hold it. With any Service in the
/// world, a kube Upstream whose Service is missing gets no cluster (Gloo's kubernetes plugin).
std::string service_yaml(const std::string& name) {
  return "apiVersion: v1\nkind: Service\nmetadata: {name: " + name
         + ", namespace: gloo-system, labels: {app: " + name
         + "}}\nspec:\n  type: ClusterIP\n  clusterIP: 10.96.0.10\n  ports:\n"
           "  - {name: http, port: 80, protocol: TCP, targetPort: \"8080\"}\n"
           "  selector: {app: "
         + name + "}\n  sessionAffinity: None\nstatus:\n  loadBalancer: {}\n";
}

/// A kube Upstream in gloo-system for port 80 of Service `service`; `extra` is appended.
std::string kube_upstream_yaml(const std::string& name, const std::string& service,
                               const std::string& extra = "") {
  return "metadata: {name: " + name + ", namespace: gloo-system}\nkube:\n  serviceName: " + service
         + "\n  serviceNamespace: gloo-system\n  servicePort: 80\n" + extra;
}

/// An Endpoint of Upstream `upstream` in gloo-system, as discovery would write it.
std::string endpoint_yaml(const std::string& upstream, int port) {
  return "metadata: {name: ep-" + upstream
         + ", namespace: gloo-system}\nupstreams: [{name: " + upstream
         + ", namespace: gloo-system}]\naddress: 127.0.0.1\nport: " + std::to_string(port) + "\n";
}

/// One error class: how to break a resource, what the log must say, how to fix it.
struct error_case {
  std::string file;    ///< relative to the config directory
  std::string broken;  ///< the broken content written over the file
  sluice::v1::Verdict verdict = sluice::v1::VERDICT_REJECTED;
  std::string kind;
  std::string name;  ///< empty: the whole file is rejected (nothing in it could be named)
  std::vector<std::string> error_mentions;  ///< the event's errors name resource and field
  std::string fixed;                        ///< a corrected form, different from the last one
  std::string served_key;                   ///< an entry of the resource, served before and after
  std::vector<std::string> owned;  ///< served entries of the resource (where the fix shows)
  std::function<bool(const served_map&)> fix_served;
  /// Non-empty: the resource's status (model/status, from the newest translation outcome) must
  /// become Rejected with a reason naming each of these while the refused form is held.
  std::vector<std::string> status_mentions;
};

class ErrorIsolationTest : public ControlPlaneTest {
 protected:
  ErrorIsolationTest() {
    write_atomically(config_ / "virtualservices/gloo-system/other.yaml",
                     vs_yaml("other", "other.example.com", "b"));
  }

  /// UpstreamGroup `group` over a and b (1:1) and VirtualService `grouped` routing to it.
  void write_grouped_route() {
    write_atomically(config_ / "upstreamgroups/gloo-system/group.yaml",
                     upstream_group_yaml("a", 1, "b", 1));
    write_atomically(
        config_ / "virtualservices/gloo-system/grouped.yaml",
        "metadata: {name: grouped, namespace: gloo-system}\nvirtualHost:\n"
        "  domains: [grouped.example.com]\n  routes:\n"
        "  - matchers: [{prefix: /}]\n    routeAction: {upstreamGroup: {name: group}}\n");
  }

  /// Writes a new VirtualService and waits until the client serves it. The server handles
  /// input in order, so once it is served, everything written before it was ingested,
  /// translated (reverts included) and published: the tests' proof of progress.
  served_map settle(scripted_xds_client& c) {
    const auto name = "marker-" + std::to_string(markers_++);
    write_atomically(config_ / ("virtualservices/gloo-system/" + name + ".yaml"),
                     vs_yaml(name, name + ".example.com", "a"));
    const auto key = "vhost listener-::-8080-routes/gloo-system_" + name;
    EXPECT_TRUE(c.wait_for([&](const auto& s) {
      auto m = served(s);
      return m.count(key) > 0 && s.count(cds) > 0 && s.count(lds) > 0;
    })) << "the marker "
        << name << " was never served";
    return served(c.current());
  }

  std::optional<sluice::v1::Event> find_event(
      const std::function<bool(const sluice::v1::Event&)>& pred) {
    std::optional<sluice::v1::Event> found;
    EXPECT_TRUE(wait_for_event([&](const auto& ev) {
      if (pred(ev)) {
        found = ev;
        return true;
      }
      return false;
    }));
    return found;
  }

  /// Starts the server so that it hands out translation outcomes (cp_->latest_outcome()).
  void start_with_outcomes() {
    control_plane_options options;
    options.hooks.on_translated = [](translation_outcome_ptr) {};
    start(options);
  }

  /// The status of `key` as model/status builds it from the newest translation outcome, once it
  /// is in `state` with a reason naming every one of `mentions` (waits up to 10 s; nullopt if it
  /// never is). The last status seen is in `last_status_`, for the failure message.
  std::optional<::core::solo::io::Status> wait_for_status(const model::resource_key& key,
                                                          ::core::solo::io::Status::State state,
                                                          const std::vector<std::string>& mentions
                                                          = {}) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    last_status_ = "no outcome";
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto outcome = cp_ ? cp_->latest_outcome() : nullptr) {
        const auto statuses
            = model::build_statuses(*outcome->world, outcome->report, outcome->proxies);
        if (auto it = statuses.find(key); it == statuses.end()) {
          last_status_ = "no status";
        } else {
          last_status_ = model::state_name(it->second.state()) + ": " + it->second.reason();
          bool all = it->second.state() == state;
          for (const auto& m : mentions) {
            all = all && it->second.reason().find(m) != std::string::npos;
          }
          if (all) {
            return it->second;
          }
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling interval, bounded
    }
    return std::nullopt;
  }

  /// The whole story of one error class; see the file comment.
  void check_isolated(const error_case& c) {
    if (c.status_mentions.empty()) {
      start();
    } else {
      start_with_outcomes();
    }
    served_map before;
    served_map after;
    {
      auto& envoy = envoy_client();
      before = others(settle(envoy));
      ASSERT_EQ(before.count(c.served_key), 1u) << c.served_key << " is not served";

      // (a) + (b): the edit is refused and every entry (the broken resource's included) is
      // served byte for byte as before.
      write_atomically(config_ / c.file, c.broken);
      auto ev = find_event([&](const sluice::v1::Event& e) {
        return e.verdict() == c.verdict && e.kind() == c.kind && e.errors_size() > 0
               && (c.name.empty() ? e.name().empty() && e.origin().find(c.file) != std::string::npos
                                  : e.name() == c.name);
      });
      ASSERT_TRUE(ev) << "no " << sluice::v1::Verdict_Name(c.verdict) << " event for " << c.kind
                      << " " << c.name << " (" << c.file << ")";
      after = settle(envoy);
      EXPECT_EQ(differences(before, others(after)), std::vector<std::string>{});
      EXPECT_TRUE(envoy.consistency_errors().empty());

      // (c): the log says why, naming the resource and the field.
      for (const auto& m : c.error_mentions) {
        EXPECT_NE(joined_errors(*ev).find(m), std::string::npos)
            << "the errors do not mention \"" << m << "\":\n"
            << joined_errors(*ev);
      }
      // Only the edited resource is put back: nothing else was refused.
      for (const auto& e : events()) {
        if (e.verdict() == sluice::v1::VERDICT_REVERTED) {
          EXPECT_EQ(e.kind() + "/" + e.name(), c.kind + "/" + c.name) << joined_errors(e);
        }
      }
      // The status says why, although the last accepted form is what serves.
      if (!c.status_mentions.empty()) {
        const model::resource_key key{*model::parse_kind(c.kind), ev->namespace_(), c.name};
        EXPECT_TRUE(wait_for_status(key, ::core::solo::io::Status::Rejected, c.status_mentions))
            << c.kind << " " << c.name << " status: " << last_status_;
      }
    }
    stop();

    // (d): the rejection is state; a restart serves the same and appends nothing.
    auto rejections = rejection_rows();
    ASSERT_EQ(rejections.size(), 1u);
    EXPECT_EQ(rejections[0].kind(), c.kind);
    EXPECT_EQ(rejections[0].name(), c.name);
    EXPECT_EQ(rejections[0].rejection().stage(),
              c.verdict == sluice::v1::VERDICT_REVERTED ? "translation" : "ingest");
    const auto logged = events().size();
    if (c.status_mentions.empty()) {
      start();
    } else {
      start_with_outcomes();
    }
    {
      auto& envoy = envoy_client();
      std::vector<std::string> diff;
      EXPECT_TRUE(envoy.wait_for([&](const auto& s) {
        diff = differences(after, served(s));
        return diff.empty();
      })) << "after a restart: "
          << ::testing::PrintToString(diff);
      EXPECT_EQ(events().size(), logged) << "a restart with unchanged input appended";
      if (!c.status_mentions.empty()) {
        const model::resource_key key{*model::parse_kind(c.kind), rejections[0].namespace_(),
                                      c.name};
        EXPECT_TRUE(wait_for_status(key, ::core::solo::io::Status::Rejected, c.status_mentions))
            << "after a restart: " << c.kind << " " << c.name << " status: " << last_status_;
      }

      // (e): a fix is served, clears the rejection and changes nothing else.
      write_atomically(config_ / c.file, c.fixed);
      EXPECT_TRUE(envoy.wait_for([&](const auto& s) { return c.fix_served(served(s)); }))
          << "the fixed form was never served";
      auto fixed = settle(envoy);
      EXPECT_EQ(differences(others(after, c.owned), others(fixed, c.owned)),
                std::vector<std::string>{});
      EXPECT_TRUE(envoy.consistency_errors().empty());
    }
    EXPECT_TRUE(rejection_rows().empty());
  }

  int markers_ = 0;
  std::string last_status_;
};

/// Has the 8080 route configuration a virtual host `vhost` with a domain `domain`?
bool serves_domain(const served_map& m, const std::string& vhost, const std::string& domain) {
  auto it = m.find("vhost listener-::-8080-routes/" + vhost);
  if (it == m.end()) {
    return false;
  }
  envoy::config::route::v3::VirtualHost vh;
  if (!vh.ParseFromString(it->second)) {
    return false;
  }
  for (const auto& d : vh.domains()) {
    if (d == domain) {
      return true;
    }
  }
  return false;
}

/// Does cluster `cluster` (inline load assignment, or its EDS load assignment) have an endpoint
/// on `port`?
bool serves_port(const served_map& m, const std::string& cluster, uint32_t port) {
  std::vector<envoy::config::endpoint::v3::ClusterLoadAssignment> assignments;
  if (auto it = m.find("cluster " + cluster); it != m.end()) {
    envoy::config::cluster::v3::Cluster c;
    if (c.ParseFromString(it->second)) {
      assignments.push_back(c.load_assignment());
    }
  }
  for (auto it = m.lower_bound("endpoints " + cluster);
       it != m.end() && it->first.rfind("endpoints " + cluster, 0) == 0; ++it) {
    envoy::config::endpoint::v3::ClusterLoadAssignment cla;
    if (cla.ParseFromString(it->second)) {
      assignments.push_back(cla);
    }
  }
  for (const auto& cla : assignments) {
    for (const auto& locality : cla.endpoints()) {
      for (const auto& lb : locality.lb_endpoints()) {
        if (lb.endpoint().address().socket_address().port_value() == port) {
          return true;
        }
      }
    }
  }
  return false;
}

TEST_F(ErrorIsolationTest, MalformedYamlRejectsTheFileAndKeepsItsLastAcceptedForm) {
  error_case c;
  c.file = "virtualservices/gloo-system/other.yaml";
  c.broken = "metadata: {name: other\nvirtualHost: [\n";
  c.verdict = sluice::v1::VERDICT_REJECTED;
  c.kind = "VirtualService";
  c.error_mentions = {"other.yaml"};
  c.fixed = vs_yaml("other", "fixed.example.com", "b");
  c.served_key = "vhost listener-::-8080-routes/gloo-system_other";
  c.owned = {"gloo-system_other"};
  c.fix_served = [](const served_map& m) {
    return serves_domain(m, "gloo-system_other", "fixed.example.com");
  };
  check_isolated(c);
}

TEST_F(ErrorIsolationTest, UnknownFieldRejectsTheResourceAndKeepsItsLastAcceptedForm) {
  error_case c;
  c.file = "virtualservices/gloo-system/other.yaml";
  c.broken
      = "metadata: {name: other, namespace: gloo-system}\nvirtualHostt:\n"
        "  domains: [other.example.com]\n";
  c.verdict = sluice::v1::VERDICT_REJECTED;
  c.kind = "VirtualService";
  c.name = "other";
  c.error_mentions = {"other", "virtualHostt"};
  c.fixed = vs_yaml("other", "fixed.example.com", "b");
  c.served_key = "vhost listener-::-8080-routes/gloo-system_other";
  c.owned = {"gloo-system_other"};
  c.fix_served = [](const served_map& m) {
    return serves_domain(m, "gloo-system_other", "fixed.example.com");
  };
  check_isolated(c);
}

TEST_F(ErrorIsolationTest, InvalidRegexRejectsTheResourceAndKeepsItsLastAcceptedForm) {
  error_case c;
  c.file = "virtualservices/gloo-system/other.yaml";
  c.broken
      = "metadata: {name: other, namespace: gloo-system}\nvirtualHost:\n"
        "  domains: [other.example.com]\n  routes:\n"
        "  - matchers: [{regex: \"/items/[0-9+\"}]\n"
        "    routeAction: {single: {upstream: {name: b}}}\n";
  c.verdict = sluice::v1::VERDICT_REJECTED;
  c.kind = "VirtualService";
  c.name = "other";
  c.error_mentions = {"other", "regex", "/items/[0-9+"};
  c.fixed = vs_yaml("other", "fixed.example.com", "b");
  c.served_key = "vhost listener-::-8080-routes/gloo-system_other";
  c.owned = {"gloo-system_other"};
  c.fix_served = [](const served_map& m) {
    return serves_domain(m, "gloo-system_other", "fixed.example.com");
  };
  check_isolated(c);
}

TEST_F(ErrorIsolationTest, DomainConflictIntroducedByAnEditBlamesTheEditorOnly) {
  error_case c;
  c.file = "virtualservices/gloo-system/other.yaml";
  c.broken = vs_yaml("other", "greeter", "b");  // greeter's domain
  c.verdict = sluice::v1::VERDICT_REVERTED;
  c.kind = "VirtualService";
  c.name = "other";
  c.error_mentions = {"domain conflict", "[greeter]", "gloo-system.greeter"};
  c.fixed = vs_yaml("other", "fixed.example.com", "b");
  c.served_key = "vhost listener-::-8080-routes/gloo-system_other";
  c.owned = {"gloo-system_other"};
  c.fix_served = [](const served_map& m) {
    return serves_domain(m, "gloo-system_other", "fixed.example.com");
  };
  check_isolated(c);
}

TEST_F(ErrorIsolationTest, DuplicateSniIntroducedByAnEditBlamesTheEditorOnly) {
  write_atomically(config_ / "gateways/gloo-system/gateway-proxy-ssl.yaml", tls_gateway_yaml);
  write_atomically(config_ / "secrets/gloo-system/cert-one.yaml", secret_yaml("cert-one"));
  write_atomically(config_ / "secrets/gloo-system/cert-two.yaml", secret_yaml("cert-two"));
  write_atomically(config_ / "virtualservices/gloo-system/tls-one.yaml",
                   tls_vs_yaml("tls-one", "cert-one", "one.example.com"));
  write_atomically(config_ / "virtualservices/gloo-system/tls-two.yaml",
                   tls_vs_yaml("tls-two", "cert-two", "two.example.com"));
  error_case c;
  c.file = "virtualservices/gloo-system/tls-two.yaml";
  // Another certificate for tls-one's SNI name: the same FilterChainMatch twice.
  c.broken = tls_vs_yaml("tls-two", "cert-two", "one.example.com");
  c.verdict = sluice::v1::VERDICT_REVERTED;
  c.kind = "VirtualService";
  c.name = "tls-two";
  c.error_mentions = {"sslConfig conflict", "one.example.com", "gloo-system.tls-one"};
  c.fixed = tls_vs_yaml("tls-two", "cert-two", "fixed.example.com");
  // The fix changes tls-two's filter chain, so the 8443 listener changes as a whole.
  c.served_key = "vhost listener-::-8443-routes/gloo-system_tls-two";
  c.owned = {"listener listener-::-8443"};
  c.fix_served = [](const served_map& m) {
    auto it = m.find("listener listener-::-8443");  // the SNI name is in a filter chain match
    return it != m.end() && it->second.find("fixed.example.com") != std::string::npos;
  };
  check_isolated(c);
}

TEST_F(ErrorIsolationTest, DelegationCycleIntroducedByARouteTableEditRevertsThatTable) {
  write_atomically(config_ / "virtualservices/gloo-system/delegator.yaml",
                   "metadata: {name: delegator, namespace: gloo-system}\nvirtualHost:\n"
                   "  domains: [delegator.example.com]\n  routes:\n"
                   "  - matchers: [{prefix: /a}]\n    "
                       + delegate_to("rt-a") + "\n");
  write_atomically(config_ / "routetables/gloo-system/rt-a.yaml",
                   route_table_yaml("rt-a", "/a/b", delegate_to("rt-b")));
  write_atomically(
      config_ / "routetables/gloo-system/rt-b.yaml",
      route_table_yaml("rt-b", "/a/b/c", "routeAction: {single: {upstream: {name: b}}}"));
  error_case c;
  c.file = "routetables/gloo-system/rt-b.yaml";
  c.broken = route_table_yaml("rt-b", "/a/b/c", delegate_to("rt-a"));  // closes the cycle
  c.verdict = sluice::v1::VERDICT_REVERTED;
  c.kind = "RouteTable";
  c.name = "rt-b";
  c.error_mentions
      = {"delegation cycle", "[gloo-system.rt-a] -> [gloo-system.rt-b] -> [gloo-system.rt-a]"};
  c.fixed = route_table_yaml("rt-b", "/a/b/fixed", "routeAction: {single: {upstream: {name: a}}}");
  c.served_key = "vhost listener-::-8080-routes/gloo-system_delegator";
  c.owned = {"gloo-system_delegator"};
  c.fix_served = [](const served_map& m) {
    auto it = m.find("vhost listener-::-8080-routes/gloo-system_delegator");
    return it != m.end() && it->second.find("/a/b/fixed") != std::string::npos;
  };
  check_isolated(c);

  // Every resource on the cycle was reported: the world as of the refused edit (the log up to
  // its accepted event) translates with the cycle error on both tables and the VirtualService.
  model::world w;
  bool refused_seen = false;
  for (const auto& ev : events()) {
    if (refused_seen) {
      break;
    }
    ASSERT_TRUE(apply_event(w, ev));
    refused_seen = ev.verdict() == sluice::v1::VERDICT_ACCEPTED && ev.name() == "rt-b"
                   && ev.resource().find("rt-a") != std::string::npos;
  }
  ASSERT_TRUE(refused_seen);
  const auto report = xds::translate_world(w).report;
  for (const auto& [kind, name] : std::vector<std::pair<model::resource_kind, std::string>>{
           {model::resource_kind::route_table, "rt-a"},
           {model::resource_kind::route_table, "rt-b"},
           {model::resource_kind::virtual_service, "delegator"}}) {
    const model::resource_key key{kind, "gloo-system", name};
    ASSERT_TRUE(report.has_errors(key)) << name;
    EXPECT_NE(report.entries().at(key).errors.front().find("delegation cycle"), std::string::npos)
        << name << ": " << report.entries().at(key).errors.front();
  }
}

TEST_F(ErrorIsolationTest, GatewayBindPortConflictIntroducedByAnEditBlamesTheEditorOnly) {
  const auto gateway = [](int port) {
    return "metadata: {name: gateway-extra, namespace: gloo-system}\nbindAddress: \"::\"\n"
           "bindPort: "
           + std::to_string(port) + "\nhttpGateway: {}\n";
  };
  write_atomically(config_ / "gateways/gloo-system/gateway-extra.yaml", gateway(8081));
  error_case c;
  c.file = "gateways/gloo-system/gateway-extra.yaml";
  c.broken = gateway(8080);
  c.verdict = sluice::v1::VERDICT_REVERTED;
  c.kind = "Gateway";
  c.name = "gateway-extra";
  c.error_mentions = {"bind port 8080", "gloo-system.gateway-proxy"};
  c.fixed = gateway(8082);
  c.served_key = "listener listener-::-8081";
  c.owned = {"listener-::-8081", "listener-::-8082"};
  c.fix_served = [](const served_map& m) {
    return m.count("listener listener-::-8082") > 0 && m.count("listener listener-::-8081") == 0;
  };
  check_isolated(c);
}

TEST_F(ErrorIsolationTest, UpstreamEditRefusedByTranslationKeepsItsLastCluster) {
  error_case c;
  c.file = "upstreams/gloo-system/b.yaml";
  c.broken = upstream_yaml("b", 50062)
             + "sslConfig:\n  secretRef: {name: missing-cert, namespace: gloo-system}\n";
  c.verdict = sluice::v1::VERDICT_REVERTED;
  c.kind = "Upstream";
  c.name = "b";
  c.error_mentions = {"sslConfig", "missing-cert"};
  c.fixed = upstream_yaml("b", 50063);
  c.served_key = "cluster b_gloo-system";
  c.owned = {"b_gloo-system"};
  c.fix_served = [](const served_map& m) { return serves_port(m, "b_gloo-system", 50063); };
  check_isolated(c);
}

TEST_F(ErrorIsolationTest, UpstreamGroupEditedToNameAMissingUpstreamIsReverted) {
  write_grouped_route();
  error_case c;
  c.file = "upstreamgroups/gloo-system/group.yaml";
  c.broken = upstream_group_yaml("a", 1, "nowhere", 1);
  c.verdict = sluice::v1::VERDICT_REVERTED;
  c.kind = "UpstreamGroup";
  c.name = "group";
  c.error_mentions = {"destinations[1]", "gloo-system.nowhere"};
  c.fixed = upstream_group_yaml("a", 3, "b", 1);
  c.served_key = "vhost listener-::-8080-routes/gloo-system_grouped";
  c.owned = {"gloo-system_grouped"};
  c.fix_served = serves_group_weights_3_1;
  check_isolated(c);
}

// An error a change did not introduce is tolerated: the UpstreamGroup loses its Upstream b by a
// delete of b (not by its own edit), survives a restart (the log's forms are the baseline, not
// judged again), and an edit that keeps naming the missing b is accepted, not reverted.
TEST_F(ErrorIsolationTest, ErrorsAChangeDidNotIntroduceAreToleratedAcrossRestartsAndEdits) {
  write_grouped_route();
  start();
  {
    auto& envoy = envoy_client();
    settle(envoy);
    fs::remove(config_ / "upstreams/gloo-system/b.yaml");
    ASSERT_TRUE(wait_for_event(
        [](const auto& ev) { return ev.op() == sluice::v1::EVENT_OP_DELETE && ev.name() == "b"; }));
    settle(envoy);
  }
  stop();
  start();
  {
    auto& envoy = envoy_client();
    settle(envoy);
    const auto seen = events();
    const uint64_t last = seen.empty() ? 0 : seen.back().seq();
    write_atomically(config_ / "upstreamgroups/gloo-system/group.yaml",
                     upstream_group_yaml("a", 2, "b", 1));
    ASSERT_TRUE(wait_for_event([last](const auto& ev) {
      return ev.verdict() == sluice::v1::VERDICT_ACCEPTED && ev.name() == "group"
             && ev.seq() > last;
    }));
    settle(envoy);
  }
  stop();
  for (const auto& e : events()) {
    EXPECT_NE(e.verdict(), sluice::v1::VERDICT_REVERTED)
        << e.kind() << " " << e.name() << ": " << joined_errors(e);
  }
  bool held = false;
  for (const auto& r : state_rows()) {
    held |= !r.has_rejection() && r.name() == "group";
  }
  EXPECT_TRUE(held) << "the UpstreamGroup was taken out";
}

TEST_F(ErrorIsolationTest, UpstreamGroupEditedToZeroWeightsIsRejectedAtIngest) {
  write_grouped_route();
  error_case c;
  c.file = "upstreamgroups/gloo-system/group.yaml";
  c.broken = upstream_group_yaml("a", 0, "b", 0);
  c.verdict = sluice::v1::VERDICT_REJECTED;
  c.kind = "UpstreamGroup";
  c.name = "group";
  c.error_mentions = {"group", "weight"};
  c.fixed = upstream_group_yaml("a", 3, "b", 1);
  c.served_key = "vhost listener-::-8080-routes/gloo-system_grouped";
  c.owned = {"gloo-system_grouped"};
  c.fix_served = serves_group_weights_3_1;
  check_isolated(c);
}

/// The cluster of the single route of `vhost` in the 8080 route configuration, "" if none.
std::string cluster_of(const served_map& m, const std::string& vhost) {
  auto it = m.find("vhost listener-::-8080-routes/" + vhost);
  envoy::config::route::v3::VirtualHost vh;
  if (it == m.end() || !vh.ParseFromString(it->second) || vh.routes_size() == 0) {
    return "";
  }
  return vh.routes(0).route().cluster();
}

/// Writes two Services (so that the world holds Services after either is deleted), a kube
/// Upstream `web` for Service `web` with one Endpoint, and a VirtualService routing to it.
void write_kube_web(const fs::path& config) {
  write_atomically(config / "services/gloo-system/web.yaml", service_yaml("web"));
  write_atomically(config / "services/gloo-system/web-canary.yaml", service_yaml("web-canary"));
  write_atomically(config / "upstreams/gloo-system/web.yaml", kube_upstream_yaml("web", "web"));
  write_atomically(config / "endpoints/gloo-system/ep-web.yaml", endpoint_yaml("web", 50070));
  write_atomically(config / "virtualservices/gloo-system/web.yaml",
                   vs_yaml("web", "web.example.com", "web"));
}

/// The connect timeout of `cluster` in seconds, -1 when it is not served.
int64_t connect_timeout_of(const served_map& m, const std::string& cluster) {
  auto it = m.find("cluster " + cluster);
  envoy::config::cluster::v3::Cluster c;
  if (it == m.end() || !c.ParseFromString(it->second)) {
    return -1;
  }
  return c.connect_timeout().seconds();
}

// Gloo's kubernetes plugin rejects a kube Upstream whose Service does not exist and drops its
// cluster, even when an edit introduced the error. sluice refuses the edit instead: the cluster
// built from the last accepted form keeps serving, the status says Rejected and why.
TEST_F(ErrorIsolationTest, KubeUpstreamEditedToNameAMissingServiceIsReverted) {
  write_kube_web(config_);
  error_case c;
  c.file = "upstreams/gloo-system/web.yaml";
  c.broken = kube_upstream_yaml("web", "nope");
  c.verdict = sluice::v1::VERDICT_REVERTED;
  c.kind = "Upstream";
  c.name = "web";
  c.error_mentions = {"Upstream gloo-system.web", "the service 'nope'",
                      "does not exist in namespace 'gloo-system'"};
  c.status_mentions = c.error_mentions;
  c.status_mentions.push_back("translation refused the change at seq");
  c.status_mentions.push_back("the last accepted form keeps serving");
  // Another Service that exists, and a visible change of the cluster.
  c.fixed = kube_upstream_yaml("web", "web-canary", "connectionConfig: {connectTimeout: 3s}\n");
  c.served_key = "cluster web_gloo-system";
  c.owned = {"web_gloo-system"};
  c.fix_served = [](const served_map& m) { return connect_timeout_of(m, "web_gloo-system") == 3; };
  check_isolated(c);
}

// Deleting a Service is not its Upstream's doing: nothing is reverted, the Upstream stays in the
// world, Rejected, and its cluster and load assignment leave CDS / EDS (as in Gloo); its route
// answers 503. Everything else is served byte for byte as before, also across a restart, and
// the Service's return brings back exactly what was served.
TEST_F(ErrorIsolationTest, DeletingTheServiceOfAKubeUpstreamRemovesItsClusterUntilItReturns) {
  write_kube_web(config_);
  const model::resource_key upstream{model::resource_kind::upstream, "gloo-system", "web"};
  const model::resource_key vs{model::resource_kind::virtual_service, "gloo-system", "web"};
  const std::vector<std::string> owned = {"web_gloo-system", "gloo-system_web"};
  const std::vector<std::string> why = {"Upstream gloo-system.web", "the service 'web'",
                                        "does not exist in namespace 'gloo-system'"};
  start_with_outcomes();
  served_map before;
  served_map after;
  {
    auto& envoy = envoy_client();
    before = others(settle(envoy));
    ASSERT_EQ(before.count("cluster web_gloo-system"), 1u);
    ASSERT_EQ(cluster_of(before, "gloo-system_web"), "web_gloo-system");
    ASSERT_TRUE(serves_port(before, "web_gloo-system", 50070));
    EXPECT_TRUE(wait_for_status(upstream, ::core::solo::io::Status::Accepted)) << last_status_;

    fs::remove(config_ / "services/gloo-system/web.yaml");
    ASSERT_TRUE(wait_for_event([](const auto& ev) {
      return ev.op() == sluice::v1::EVENT_OP_DELETE && ev.kind() == "Service" && ev.name() == "web";
    }));
    EXPECT_TRUE(envoy.wait_for([](const auto& s) {
      return served(s).count("cluster web_gloo-system") == 0;
    })) << "the cluster of the Upstream whose Service is gone is still served";
    after = settle(envoy);
    EXPECT_FALSE(serves_port(after, "web_gloo-system", 50070)) << "its endpoints are still served";
    EXPECT_EQ(cluster_of(after, "gloo-system_web"), "") << "the route still names the cluster";
    EXPECT_EQ(differences(others(before, owned), others(after, owned)), std::vector<std::string>{});
    EXPECT_TRUE(envoy.consistency_errors().empty());

    auto status = wait_for_status(upstream, ::core::solo::io::Status::Rejected, why);
    EXPECT_TRUE(status) << "Upstream web status: " << last_status_;
    EXPECT_TRUE(wait_for_status(vs, ::core::solo::io::Status::Warning, {"gloo-system.web"}))
        << "VirtualService web status: " << last_status_;
  }
  stop();
  for (const auto& e : events()) {
    EXPECT_NE(e.verdict(), sluice::v1::VERDICT_REVERTED)
        << e.kind() << " " << e.name() << ": " << joined_errors(e);
  }
  EXPECT_TRUE(rejection_rows().empty()) << "the Upstream was refused, but it did not change";
  bool held = false;
  for (const auto& r : state_rows()) {
    held |= !r.has_rejection() && r.kind() == "Upstream" && r.name() == "web";
  }
  EXPECT_TRUE(held) << "the Upstream was taken out of the world";

  // A restart serves the same (no cluster for web) and appends nothing.
  const auto logged = events().size();
  start_with_outcomes();
  {
    auto& envoy = envoy_client();
    std::vector<std::string> diff;
    EXPECT_TRUE(envoy.wait_for([&](const auto& s) {
      diff = differences(after, served(s));
      return diff.empty();
    })) << "after a restart: "
        << ::testing::PrintToString(diff);
    EXPECT_EQ(events().size(), logged) << "a restart with unchanged input appended";
    EXPECT_TRUE(wait_for_status(upstream, ::core::solo::io::Status::Rejected, why))
        << "after a restart: " << last_status_;

    // The Service returns: exactly what was served before it left is served again.
    write_atomically(config_ / "services/gloo-system/web.yaml", service_yaml("web"));
    EXPECT_TRUE(envoy.wait_for([](const auto& s) {
      return cluster_of(served(s), "gloo-system_web") == "web_gloo-system";
    })) << "the cluster never came back";
    auto restored = settle(envoy);
    EXPECT_EQ(differences(before, others(restored)), std::vector<std::string>{});
    EXPECT_TRUE(serves_port(restored, "web_gloo-system", 50070));
    EXPECT_TRUE(envoy.consistency_errors().empty());
    EXPECT_TRUE(wait_for_status(upstream, ::core::solo::io::Status::Accepted)) << last_status_;
  }
}

// While its Service is missing, an edit of the Upstream that keeps naming it introduces no
// error and is accepted (the cluster stays out); an edit naming another missing Service does
// introduce one and is refused. When the Service returns, the last accepted form is served.
TEST_F(ErrorIsolationTest, KubeUpstreamEditsWhileItsServiceIsMissingAreJudgedByWhatTheyIntroduce) {
  write_kube_web(config_);
  start();
  auto& envoy = envoy_client();
  settle(envoy);
  fs::remove(config_ / "services/gloo-system/web.yaml");
  EXPECT_TRUE(envoy.wait_for([](const auto& s) {
    return served(s).count("cluster web_gloo-system") == 0;
  })) << "the cluster of the Upstream whose Service is gone is still served";
  const auto missing = others(settle(envoy));

  uint64_t last = events().back().seq();
  write_atomically(config_ / "upstreams/gloo-system/web.yaml",
                   kube_upstream_yaml("web", "web", "connectionConfig: {connectTimeout: 3s}\n"));
  ASSERT_TRUE(wait_for_event([last](const auto& ev) {
    return ev.verdict() == sluice::v1::VERDICT_ACCEPTED && ev.kind() == "Upstream"
           && ev.name() == "web" && ev.seq() > last;
  }));
  auto edited = settle(envoy);
  EXPECT_EQ(differences(missing, others(edited)), std::vector<std::string>{});

  last = events().back().seq();
  write_atomically(config_ / "upstreams/gloo-system/web.yaml", kube_upstream_yaml("web", "nope"));
  auto refused = find_event([last](const sluice::v1::Event& e) {
    return e.verdict() == sluice::v1::VERDICT_REVERTED && e.kind() == "Upstream"
           && e.name() == "web" && e.seq() > last;
  });
  ASSERT_TRUE(refused) << "the edit naming another missing Service was not refused";
  EXPECT_EQ(refused->op(), sluice::v1::EVENT_OP_UPSERT);
  EXPECT_NE(joined_errors(*refused).find("the service 'nope'"), std::string::npos)
      << joined_errors(*refused);
  EXPECT_EQ(differences(missing, others(settle(envoy))), std::vector<std::string>{});

  write_atomically(config_ / "services/gloo-system/web.yaml", service_yaml("web"));
  EXPECT_TRUE(envoy.wait_for([](const auto& s) {
    return connect_timeout_of(served(s), "web_gloo-system") == 3;
  })) << "the last accepted form (3s, Service web) was not served when the Service returned";
  auto back = settle(envoy);
  EXPECT_TRUE(serves_port(back, "web_gloo-system", 50070));
  EXPECT_EQ(cluster_of(back, "gloo-system_web"), "web_gloo-system");
  EXPECT_TRUE(envoy.consistency_errors().empty());
  stop();
  const auto rejections = rejection_rows();
  ASSERT_EQ(rejections.size(), 1u) << "the refused form naming nope is still refused";
  EXPECT_EQ(rejections[0].name(), "web");
  EXPECT_EQ(rejections[0].rejection().stage(), "translation");
}

// A new kube Upstream naming a Service that does not exist was never accepted: it is withdrawn
// (a reverted delete), not served, and retried as other input changes; when the Service appears
// it is accepted (an upsert logged by translation) and its cluster is served.
TEST_F(ErrorIsolationTest, NewKubeUpstreamNamingAMissingServiceIsServedOnceTheServiceAppears) {
  write_atomically(config_ / "services/gloo-system/web-canary.yaml", service_yaml("web-canary"));
  const model::resource_key upstream{model::resource_kind::upstream, "gloo-system", "web"};
  start_with_outcomes();
  auto& envoy = envoy_client();
  const auto before = others(settle(envoy));

  write_atomically(config_ / "endpoints/gloo-system/ep-web.yaml", endpoint_yaml("web", 50070));
  write_atomically(config_ / "upstreams/gloo-system/web.yaml", kube_upstream_yaml("web", "web"));
  auto withdrawn = find_event([](const sluice::v1::Event& e) {
    return e.verdict() == sluice::v1::VERDICT_REVERTED && e.kind() == "Upstream"
           && e.name() == "web";
  });
  ASSERT_TRUE(withdrawn) << "the new Upstream was not withdrawn";
  EXPECT_EQ(withdrawn->op(), sluice::v1::EVENT_OP_DELETE);
  EXPECT_NE(joined_errors(*withdrawn).find("the service 'web' which does not exist"),
            std::string::npos)
      << joined_errors(*withdrawn);
  auto without = settle(envoy);
  EXPECT_EQ(without.count("cluster web_gloo-system"), 0u);
  EXPECT_EQ(differences(before, others(without)), std::vector<std::string>{});
  EXPECT_TRUE(wait_for_status(
      upstream, ::core::solo::io::Status::Rejected,
      {"the service 'web' which does not exist", "no form of it was ever accepted"}))
      << "Upstream web status: " << last_status_;

  write_atomically(config_ / "services/gloo-system/web.yaml", service_yaml("web"));
  auto readmitted = find_event([](const sluice::v1::Event& e) {
    return e.verdict() == sluice::v1::VERDICT_ACCEPTED && e.source() == "translation"
           && e.kind() == "Upstream" && e.name() == "web";
  });
  ASSERT_TRUE(readmitted) << "the Upstream was not accepted once its Service appeared";
  EXPECT_EQ(readmitted->op(), sluice::v1::EVENT_OP_UPSERT);
  EXPECT_TRUE(envoy.wait_for([](const auto& s) {
    return serves_port(served(s), "web_gloo-system", 50070);
  })) << "the cluster was never served";
  auto with = settle(envoy);
  EXPECT_EQ(differences(before, others(with, {"web_gloo-system"})), std::vector<std::string>{});
  EXPECT_TRUE(envoy.consistency_errors().empty());
  EXPECT_TRUE(wait_for_status(upstream, ::core::solo::io::Status::Accepted)) << last_status_;
  stop();
  EXPECT_TRUE(rejection_rows().empty());
}

// A VirtualService that claimed a served domain when it was created was never accepted by
// translation: it is in the world, refused, not served. An unrelated edit of the domain's
// owner must not hand the domain over to it.
// (A regression guard: when arrival was the seq of a resource's last event and the refused
// newcomer stayed in the world, the owner's edit made the owner the newcomer, it was reverted and
// still lost, and the never-accepted VirtualService took the domain. Refused newcomers are now
// taken out of the world.)
TEST_F(ErrorIsolationTest, OwnerEditKeepsItsDomainAgainstANewcomerThatWasNeverServed) {
  start();
  auto& envoy = envoy_client();
  settle(envoy);
  write_atomically(config_ / "virtualservices/gloo-system/late.yaml",
                   vs_yaml("late", "greeter", "b"));
  auto with_late = settle(envoy);
  ASSERT_EQ(with_late.count("vhost listener-::-8080-routes/gloo-system_late"), 0u);
  ASSERT_EQ(cluster_of(with_late, "gloo-system_greeter"), "a_gloo-system");

  // The owner moves its route to upstream b; its domains stay the same.
  write_atomically(config_ / "virtualservices/gloo-system/greeter.yaml",
                   vs_yaml("greeter", "greeter", "b"));
  EXPECT_TRUE(envoy.wait_for([](const auto& s) {
    return cluster_of(served(s), "gloo-system_greeter") == "b_gloo-system";
  })) << "the owner's edit was not served";
  auto after = settle(envoy);
  EXPECT_EQ(cluster_of(after, "gloo-system_greeter"), "b_gloo-system");
  EXPECT_EQ(after.count("vhost listener-::-8080-routes/gloo-system_late"), 0u)
      << "the never-accepted newcomer took the owner's domain";
  for (const auto& e : events()) {
    EXPECT_FALSE(e.verdict() == sluice::v1::VERDICT_REVERTED && e.name() == "greeter")
        << "the owner was blamed for the newcomer's conflict: " << joined_errors(e);
  }
}

// The same for a Gateway: a new Gateway on a port already served was never accepted; an unrelated
// edit of the port's owner must not hand the listener over to it.
TEST_F(ErrorIsolationTest, OwnerGatewayEditKeepsItsPortAgainstANewcomerThatWasNeverServed) {
  start();
  auto& envoy = envoy_client();
  settle(envoy);
  write_atomically(config_ / "gateways/gloo-system/late-gw.yaml",
                   "metadata: {name: late-gw, namespace: gloo-system}\nbindAddress: \"::\"\n"
                   "bindPort: 8080\nhttpGateway: {}\n");
  settle(envoy);
  // The owner turns on the PROXY protocol; its port stays the same.
  write_atomically(config_ / "gateways/gloo-system/gateway-proxy.yaml",
                   std::string(gateway_yaml) + "useProxyProto: true\n");
  EXPECT_TRUE(envoy.wait_for([](const auto& s) {
    auto m = served(s);
    auto it = m.find("listener listener-::-8080");
    return it != m.end()
           && it->second.find("envoy.filters.listener.proxy_protocol") != std::string::npos;
  })) << "the owner's edit was not served";
  for (const auto& e : events()) {
    EXPECT_FALSE(e.verdict() == sluice::v1::VERDICT_REVERTED && e.name() == "gateway-proxy")
        << "the owner was blamed for the newcomer's conflict: " << joined_errors(e);
  }
}

}  // namespace
}  // namespace sluice::actors
