#include "bench/workload.hpp"

#include <google/protobuf/message.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <set>
#include <utility>

#include "kube/core.pb.h"
#include "model/resource.hpp"
#include "model/resource_kind.hpp"
#include "solo/gateway.pb.h"
#include "solo/gloo.pb.h"

namespace sluice::bench {

namespace {

namespace gw = ::gateway::solo::io;
namespace gl = ::gloo::solo::io;
namespace kc = ::kube::core::v1;
using model::resource_key;
using model::resource_kind;

constexpr const char* gateway_namespace = "gloo-system";
constexpr const char* domain_suffix = ".example.com";
// Generated kube Upstreams whose Service does not exist.
constexpr const char* unbound_prefix = "svc-unbound-";
// Not real key material: sluice inlines Secret data and never parses it.
constexpr const char* fake_cert = "-----BEGIN CERTIFICATE-----\nMIIBbench\n-----END CERTIFICATE-----\n";
constexpr const char* fake_key = "-----BEGIN PRIVATE KEY-----\nMIIBbench\n-----END PRIVATE KEY-----\n";

using message_ptr = std::shared_ptr<google::protobuf::Message>;

struct generated {
  resource_key key;
  message_ptr message;
};

template <class T>
void name_it(T& m, const std::string& ns, const std::string& name) {
  m.mutable_metadata()->set_name(name);
  m.mutable_metadata()->set_namespace_(ns);
  m.mutable_metadata()->set_generation(1);
}

void set_ref(::core::solo::io::ResourceRef& ref, const resource_key& key) {
  ref.set_name(key.name);
  ref.set_namespace_(key.ns);
}

std::string random_ip(std::mt19937_64& rng) {
  return "10." + std::to_string(128 + rng() % 64) + "." + std::to_string(rng() % 256) + "." +
         std::to_string(1 + rng() % 254);
}

// The Service a kube Upstream names: serviceNamespace, or the Upstream's own namespace (Gloo's
// kubernetes plugin; xds::kube_service_of is translation's copy of this rule).
resource_key service_key_of(const gl::KubeUpstream& k, const std::string& upstream_ns) {
  return {resource_kind::service,
          k.service_namespace().empty() ? upstream_ns : k.service_namespace(), k.service_name()};
}

// A ClusterIP Service as Kubernetes discovery reports it: one HTTP port, selecting the pods the
// Upstream of the same name selects.
kc::Service make_service(const resource_key& key, const std::string& cluster_ip, uint32_t port) {
  kc::Service svc;
  name_it(svc, key.ns, key.name);
  svc.set_type("ClusterIP");
  svc.set_cluster_ip(cluster_ip);
  auto* p = svc.add_ports();
  p->set_name("http");
  p->set_protocol("TCP");
  p->set_port(port);
  p->set_target_port(std::to_string(port));
  (*svc.mutable_selector())["app"] = key.name;
  return svc;
}

std::string service_ip(size_t i) {
  return "10.97." + std::to_string((i >> 8) & 255) + "." + std::to_string(i & 255);
}

// Builds the default scenario's resources, all in one place so the proportions stay readable.
class world_generator {
 public:
  explicit world_generator(const workload_options& o) : o_(o), rng_(o.seed) {
    namespaces_ = o.namespaces > 0 ? o.namespaces
                                   : std::clamp<size_t>(o.virtual_services / 1000, 1, 10);
  }

  std::vector<generated> generate() {
    upstreams();
    groups();
    virtual_services();
    gateways();
    // A source delivers dependencies first in this order; any order translates the same.
    std::vector<generated> out;
    for (auto* part : {&secrets_, &services_, &upstreams_, &endpoints_, &groups_, &route_tables_,
                       &virtual_services_, &gateways_}) {
      std::move(part->begin(), part->end(), std::back_inserter(out));
    }
    return out;
  }

 private:
  std::string ns_of(size_t i) const { return "team-" + std::to_string(i % namespaces_); }

  const resource_key& random_upstream() { return upstream_keys_[rng_() % upstream_keys_.size()]; }

  void endpoints_of(const std::string& ns, const std::string& upstream, const std::string& net) {
    for (size_t j = 0; j < o_.endpoints_per_upstream; ++j) {
      auto e = std::make_shared<gl::Endpoint>();
      const std::string ep_name = upstream + "-" + std::to_string(j);
      name_it(*e, ns, ep_name);
      auto* ref = e->add_upstreams();
      ref->set_name(upstream);
      ref->set_namespace_(ns);
      e->set_address(net + std::to_string(1 + j % 254));
      e->set_port(8080);
      endpoints_.push_back({{resource_kind::endpoint, ns, ep_name}, e});
    }
  }

  void kube_upstream(gl::Upstream& u, const std::string& ns, const std::string& name) {
    auto* k = u.mutable_kube();
    k->set_service_name(name);
    k->set_service_namespace(ns);
    k->set_service_port(8080);
    (*k->mutable_selector())["app"] = name;
  }

  void upstreams() {
    const size_t n = std::max<size_t>(1, o_.upstreams);
    for (size_t i = 0; i < n; ++i) {
      auto u = std::make_shared<gl::Upstream>();
      const std::string ns = ns_of(i);
      const std::string name = "svc-" + std::to_string(i);
      name_it(*u, ns, name);
      const bool is_static = o_.static_every > 0 && i % o_.static_every == o_.static_every - 1;
      if (is_static) {
        auto* s = u->mutable_static_();
        for (size_t j = 0; j < o_.endpoints_per_upstream; ++j) {
          auto* h = s->add_hosts();
          h->set_addr("10.64." + std::to_string(i % 256) + "." + std::to_string(1 + j % 254));
          h->set_port(8080);
        }
      } else {
        kube_upstream(*u, ns, name);
        endpoints_of(ns, name,
                     "10." + std::to_string((i >> 8) & 63) + "." + std::to_string(i & 255) + ".");
        if (o_.services) {
          const resource_key service{resource_kind::service, ns, name};
          services_.push_back(
              {service, std::make_shared<kc::Service>(make_service(service, service_ip(i), 8080))});
        }
      }
      resource_key key{resource_kind::upstream, ns, name};
      upstream_keys_.push_back(key);
      upstreams_.push_back({key, u});
    }
    if (!o_.services) {
      return;
    }
    // A cluster has Services no Upstream names...
    const resource_key api{resource_kind::service, "default", "kubernetes"};
    services_.push_back({api, std::make_shared<kc::Service>(make_service(api, "10.96.0.1", 443))});
    // ... and Upstreams may name a Service that is not (or no longer) there. Not in
    // upstream_keys_: no route or group names them, so only they carry an error. They draw
    // nothing from rng_, so the rest of the world is the same with or without them.
    for (size_t i = 0; i < o_.missing_services; ++i) {
      auto u = std::make_shared<gl::Upstream>();
      const std::string ns = ns_of(i);
      const std::string name = unbound_prefix + std::to_string(i);
      name_it(*u, ns, name);
      kube_upstream(*u, ns, name);
      endpoints_of(ns, name, "10.127." + std::to_string(i & 255) + ".");
      upstreams_.push_back({{resource_kind::upstream, ns, name}, u});
    }
  }

  void groups() {
    const size_t n = o_.virtual_services * o_.groups_per_100_vs / 100;
    for (size_t i = 0; i < n; ++i) {
      auto g = std::make_shared<gl::UpstreamGroup>();
      const std::string ns = ns_of(i);
      const std::string name = "group-" + std::to_string(i);
      name_it(*g, ns, name);
      const size_t members = 2 + rng_() % 2;
      for (size_t j = 0; j < members; ++j) {
        auto* wd = g->add_destinations();
        set_ref(*wd->mutable_destination()->mutable_upstream(), random_upstream());
        wd->mutable_weight()->set_value(1 + static_cast<uint32_t>(rng_() % 10));
      }
      resource_key key{resource_kind::upstream_group, ns, name};
      group_keys_.push_back(key);
      groups_.push_back({key, g});
    }
  }

  // A route to an upstream, an upstream group or a weighted pair, with an option now and then.
  void fill_action(gw::Route& r) {
    auto* a = r.mutable_route_action();
    const auto pick = rng_() % 100;
    if (pick < 15 && !group_keys_.empty()) {
      set_ref(*a->mutable_upstream_group(), group_keys_[rng_() % group_keys_.size()]);
    } else if (pick < 30) {
      for (int j = 0; j < 2; ++j) {
        auto* wd = a->mutable_multi()->add_destinations();
        set_ref(*wd->mutable_destination()->mutable_upstream(), random_upstream());
        wd->mutable_weight()->set_value(50);
      }
    } else {
      set_ref(*a->mutable_single()->mutable_upstream(), random_upstream());
    }
    const auto opt = rng_() % 10;
    if (opt == 0) {
      r.mutable_options()->mutable_timeout()->set_seconds(15);
    } else if (opt == 1) {
      r.mutable_options()->mutable_prefix_rewrite()->set_value("/");
    } else if (opt == 2) {
      auto* retries = r.mutable_options()->mutable_retries();
      retries->set_retry_on("5xx");
      retries->set_num_retries(3);
    }
  }

  gw::Route direct_route(const std::string& path, size_t j) {
    gw::Route r;
    auto* m = r.add_matchers();
    if (j % 7 == 3) {
      m->set_exact(path);
    } else {
      m->set_prefix(path);
    }
    if (j % 5 == 4) {
      m->add_methods("GET");
    }
    fill_action(r);
    return r;
  }

  // rt-<vs>-<level>: three routes under the parent's prefix and, above the last level, a
  // delegating route to the next level.
  void route_table_chain(size_t vs_index, const std::string& ns, const std::string& prefix,
                         size_t level) {
    auto rt = std::make_shared<gw::RouteTable>();
    const std::string chain = "vs-" + std::to_string(vs_index);
    const std::string name = "rt-" + std::to_string(vs_index) + "-" + std::to_string(level);
    name_it(*rt, ns, name);
    (*rt->mutable_metadata()->mutable_labels())["chain"] = chain;
    (*rt->mutable_metadata()->mutable_labels())["level"] = std::to_string(level);
    for (size_t j = 0; j < 3; ++j) {
      *rt->add_routes() = direct_route(prefix + "/r" + std::to_string(j), j);
    }
    if (level + 1 < o_.delegation_depth) {
      auto* d = rt->add_routes();
      d->add_matchers()->set_prefix(prefix + "/d");
      auto* action = d->mutable_delegate_action();
      const bool by_selector =
          level == 0 && std::uniform_real_distribution<>(0, 1)(rng_) < o_.selector_fraction;
      const std::string next = "rt-" + std::to_string(vs_index) + "-" + std::to_string(level + 1);
      if (by_selector) {
        auto& labels = *action->mutable_selector()->mutable_labels();
        labels["chain"] = chain;
        labels["level"] = std::to_string(level + 1);
      } else {
        action->mutable_ref()->set_name(next);
        action->mutable_ref()->set_namespace_(ns);
      }
      route_table_chain(vs_index, ns, prefix + "/d", level + 1);
    }
    route_tables_.push_back({{resource_kind::route_table, ns, name}, rt});
  }

  void virtual_services() {
    const size_t n = o_.virtual_services;
    const size_t sni_every =
        o_.sni_domains == 0 ? 0 : std::max<size_t>(1, n / std::max<size_t>(1, o_.sni_domains));
    size_t sni_left = o_.sni_domains;
    for (size_t i = 0; i < n; ++i) {
      auto vs = std::make_shared<gw::VirtualService>();
      const std::string ns = ns_of(i);
      const std::string name = "vs-" + std::to_string(i);
      name_it(*vs, ns, name);
      (*vs->mutable_metadata()->mutable_labels())["team"] = ns;
      auto* vh = vs->mutable_virtual_host();
      const std::string domain = name + domain_suffix;
      vh->add_domains(domain);
      if (i % 10 == 7) {
        vh->add_domains("www." + domain);
      }
      const bool delegating =
          o_.delegation_depth > 0 &&
          std::uniform_real_distribution<>(0, 1)(rng_) < o_.delegating_fraction;
      const size_t direct = delegating && o_.routes_per_vs > 0 ? o_.routes_per_vs - 1
                                                               : o_.routes_per_vs;
      for (size_t j = 0; j < direct; ++j) {
        *vh->add_routes() = direct_route("/r" + std::to_string(j), j);
      }
      if (delegating) {
        auto* d = vh->add_routes();
        d->add_matchers()->set_prefix("/d");
        d->mutable_delegate_action()->mutable_ref()->set_name("rt-" + std::to_string(i) + "-0");
        d->mutable_delegate_action()->mutable_ref()->set_namespace_(ns);
        route_table_chain(i, ns, "/d", 0);
      }
      if (sni_every > 0 && sni_left > 0 && i % sni_every == 0) {
        --sni_left;
        const std::string secret_name = "tls-" + std::to_string(i);
        auto secret = std::make_shared<gl::Secret>();
        name_it(*secret, ns, secret_name);
        secret->mutable_tls()->set_cert_chain(fake_cert);
        secret->mutable_tls()->set_private_key(fake_key);
        secrets_.push_back({{resource_kind::secret, ns, secret_name}, secret});
        auto* ssl = vs->mutable_ssl_config();
        ssl->mutable_secret_ref()->set_name(secret_name);
        ssl->mutable_secret_ref()->set_namespace_(ns);
        for (const auto& d : vh->domains()) {
          ssl->add_sni_domains(d);
        }
      }
      virtual_services_.push_back({{resource_kind::virtual_service, ns, name}, vs});
    }
  }

  void gateways() {
    for (bool ssl : {false, true}) {
      auto g = std::make_shared<gw::Gateway>();
      const std::string name = ssl ? "gateway-proxy-ssl" : "gateway-proxy";
      name_it(*g, gateway_namespace, name);
      g->set_ssl(ssl);
      g->set_bind_address("::");
      g->set_bind_port(ssl ? 8443 : 8080);
      g->mutable_http_gateway();
      g->add_proxy_names("gateway-proxy");
      gateways_.push_back({{resource_kind::gateway, gateway_namespace, name}, g});
    }
  }

  const workload_options& o_;
  std::mt19937_64 rng_;
  size_t namespaces_ = 1;
  std::vector<resource_key> upstream_keys_;
  std::vector<resource_key> group_keys_;
  std::vector<generated> secrets_, services_, upstreams_, endpoints_, groups_, route_tables_,
      virtual_services_, gateways_;
};

// Picks the resource a change targets; random_change scans, change_generator indexes.
using picker = std::function<const resource_key*(resource_kind)>;

template <class T>
std::shared_ptr<T> copy_of(const model::world& w, const resource_key& key) {
  const auto* stored = w.find(key);
  auto out = std::make_shared<T>();
  if (stored != nullptr) {
    out->CopyFrom(*stored->message);
  }
  return out;
}

template <class T>
void bump_generation(T& m) {
  m.mutable_metadata()->set_generation(m.metadata().generation() + 1);
}

// Routes of a VirtualService or RouteTable that forward somewhere (not delegating).
template <class Routes>
std::vector<int> forwarding_routes(const Routes& routes) {
  std::vector<int> out;
  for (int i = 0; i < routes.size(); ++i) {
    if (routes.Get(i).has_route_action()) {
      out.push_back(i);
    }
  }
  return out;
}

// Changes one forwarding route: another upstream, or a longer path (still under the parent
// prefix, so delegation stays valid).
void change_route(gw::Route& r, const resource_key* upstream, std::mt19937_64& rng,
                  uint64_t fresh) {
  if (upstream != nullptr && rng() % 2 == 0) {
    auto* a = r.mutable_route_action();
    a->clear_destination();
    set_ref(*a->mutable_single()->mutable_upstream(), *upstream);
    return;
  }
  auto* m = r.matchers_size() > 0 ? r.mutable_matchers(0) : r.add_matchers();
  switch (m->path_specifier_case()) {
    case gl::Matcher::kExact:
      m->set_exact(m->exact() + "-" + std::to_string(fresh));
      break;
    case gl::Matcher::kPrefix:
      m->set_prefix(m->prefix() + "-" + std::to_string(fresh));
      break;
    default:
      m->set_prefix("/c" + std::to_string(fresh));
      break;
  }
}

// The Upstream a changed route goes to. Updates keep the world free of problems, so they avoid
// the generated Upstreams without a Service (a few picks: the world has only a few of them).
const resource_key* route_target(const picker& pick, bool update_only) {
  const auto* u = pick(resource_kind::upstream);
  for (int attempt = 0; update_only && u != nullptr && attempt < 8; ++attempt) {
    if (u->name.rfind(unbound_prefix, 0) != 0) {
      return u;
    }
    u = pick(resource_kind::upstream);
  }
  return u != nullptr && update_only && u->name.rfind(unbound_prefix, 0) == 0 ? nullptr : u;
}

sluice::v1::Event change_endpoint(const model::world& w, const picker& pick, std::mt19937_64& rng,
                                  uint64_t fresh, bool update_only) {
  const auto r = rng() % 100;
  const auto* key = pick(resource_kind::endpoint);
  if (key != nullptr && (update_only || r < 70)) {
    auto e = copy_of<gl::Endpoint>(w, *key);
    e->set_address(random_ip(rng));
    return make_event(*key, e.get());
  }
  if (key != nullptr && r < 85) {
    return make_event(*key, nullptr);
  }
  // A new endpoint (a pod came up) for a kube upstream.
  for (int attempt = 0; attempt < 8; ++attempt) {
    const auto* u = pick(resource_kind::upstream);
    if (u == nullptr) {
      break;
    }
    const auto* stored = w.find(*u);
    if (!static_cast<const gl::Upstream&>(*stored->message).has_kube()) {
      continue;
    }
    gl::Endpoint e;
    const std::string name = u->name + "-n" + std::to_string(fresh);
    name_it(e, u->ns, name);
    set_ref(*e.add_upstreams(), *u);
    e.set_address(random_ip(rng));
    e.set_port(8080);
    return make_event({resource_kind::endpoint, u->ns, name}, &e);
  }
  if (key != nullptr) {
    auto e = copy_of<gl::Endpoint>(w, *key);
    e->set_address(random_ip(rng));
    return make_event(*key, e.get());
  }
  return {};
}

sluice::v1::Event change_virtual_service(const model::world& w, const picker& pick,
                                         std::mt19937_64& rng, uint64_t fresh, bool update_only) {
  const auto r = rng() % 100;
  const auto* key = pick(resource_kind::virtual_service);
  if (key != nullptr && (update_only || r < 90)) {
    auto vs = copy_of<gw::VirtualService>(w, *key);
    auto routes = forwarding_routes(vs->virtual_host().routes());
    if (!routes.empty()) {
      auto& route =
          *vs->mutable_virtual_host()->mutable_routes(routes[rng() % routes.size()]);
      change_route(route, route_target(pick, update_only), rng, fresh);
    }
    bump_generation(*vs);
    return make_event(*key, vs.get());
  }
  if (key != nullptr && r < 95) {
    return make_event(*key, nullptr);
  }
  const auto* u = pick(resource_kind::upstream);
  gw::VirtualService vs;
  const std::string ns = key != nullptr ? key->ns : "team-0";
  const std::string name = "vs-n" + std::to_string(fresh);
  name_it(vs, ns, name);
  (*vs.mutable_metadata()->mutable_labels())["team"] = ns;
  auto* vh = vs.mutable_virtual_host();
  vh->add_domains(name + domain_suffix);
  for (int j = 0; j < 3; ++j) {
    auto* route = vh->add_routes();
    route->add_matchers()->set_prefix("/r" + std::to_string(j));
    if (u != nullptr) {
      set_ref(*route->mutable_route_action()->mutable_single()->mutable_upstream(), *u);
    } else {
      route->mutable_direct_response_action()->set_status(200);
    }
  }
  return make_event({resource_kind::virtual_service, ns, name}, &vs);
}

// Points a kube Upstream at another Service: its own again, the same one spelt another way, an
// existing one, one that does not exist (yet: a Service change may create it), or another port
// of its Service.
void retarget_service(gl::KubeUpstream& k, const resource_key& upstream, const picker& pick,
                      std::mt19937_64& rng, uint64_t fresh) {
  switch (rng() % 6) {
    case 0:
      // Same Service: an empty serviceNamespace means the Upstream's own.
      k.set_service_namespace(k.service_namespace().empty() ? upstream.ns : "");
      return;
    case 1:
      if (const auto* s = pick(resource_kind::service)) {
        k.set_service_name(s->name);
        k.set_service_namespace(s->ns);
        return;
      }
      break;
    case 2:
      if (const auto* other = pick(resource_kind::upstream)) {
        k.set_service_namespace(other->ns);  // same name, perhaps another namespace
        return;
      }
      break;
    case 3:
      k.set_service_name("gone-" + std::to_string(fresh));
      return;
    case 4:
      k.set_service_port(k.service_port() == 8080 ? 8081 : 8080);
      return;
    default:
      break;
  }
  k.set_service_name(upstream.name);
  k.set_service_namespace(upstream.ns);
}

// `churn`: the churn, whose Upstream edits are timeouts (as before Services were in the
// world, so that its figures compare), and whose new Upstreams name an existing Service.
sluice::v1::Event change_upstream(const model::world& w, const picker& pick, std::mt19937_64& rng,
                                  uint64_t fresh, bool update_only, bool churn) {
  const auto r = rng() % 100;
  const auto* key = pick(resource_kind::upstream);
  if (key != nullptr && (update_only || r < 94)) {
    auto u = copy_of<gl::Upstream>(w, *key);
    if (!update_only && !churn && r >= 80 && u->has_kube()) {
      retarget_service(*u->mutable_kube(), *key, pick, rng, fresh);
    } else {
      auto* timeout = u->mutable_connection_config()->mutable_connect_timeout();
      timeout->set_seconds(1 + (timeout->seconds() + 1 + static_cast<int64_t>(rng() % 9)) % 10);
    }
    bump_generation(*u);
    return make_event(*key, u.get());
  }
  if (key != nullptr && r < 97) {
    return make_event(*key, nullptr);
  }
  // A new kube Upstream, as discovery makes one for a Service that exists; outside the churn,
  // half of them name their own Service, which is not there (yet).
  gl::Upstream u;
  const std::string ns = key != nullptr ? key->ns : "team-0";
  const std::string name = "svc-n" + std::to_string(fresh);
  name_it(u, ns, name);
  const auto* service = churn || rng() % 2 == 0 ? pick(resource_kind::service) : nullptr;
  u.mutable_kube()->set_service_name(service != nullptr ? service->name : name);
  u.mutable_kube()->set_service_namespace(service != nullptr ? service->ns : ns);
  u.mutable_kube()->set_service_port(8080);
  return make_event({resource_kind::upstream, ns, name}, &u);
}

sluice::v1::Event change_route_table(const model::world& w, const picker& pick,
                                     std::mt19937_64& rng, uint64_t fresh, bool update_only) {
  const auto* key = pick(resource_kind::route_table);
  if (key == nullptr) {
    return change_virtual_service(w, pick, rng, fresh, update_only);
  }
  const auto r = rng() % 100;
  auto rt = copy_of<gw::RouteTable>(w, *key);
  if (update_only || r < 85) {
    auto routes = forwarding_routes(rt->routes());
    if (!routes.empty()) {
      change_route(*rt->mutable_routes(routes[rng() % routes.size()]),
                   route_target(pick, update_only), rng, fresh);
    }
    bump_generation(*rt);
    return make_event(*key, rt.get());
  }
  if (r < 93) {
    // A label rename: may take the table out of (or back into) a selector's reach.
    auto& labels = *rt->mutable_metadata()->mutable_labels();
    labels["level"] = std::to_string(rng() % 3);
    bump_generation(*rt);
    return make_event(*key, rt.get());
  }
  if (r < 96) {
    return make_event(*key, nullptr);
  }
  // A sibling with the same labels: joins whatever selector reaches the original.
  const std::string name = "rt-n" + std::to_string(fresh);
  rt->mutable_metadata()->set_name(name);
  rt->mutable_metadata()->set_generation(1);
  auto routes = forwarding_routes(rt->routes());
  gw::RouteTable sibling;
  *sibling.mutable_metadata() = rt->metadata();
  for (int i : routes) {
    auto route = rt->routes(i);
    change_route(route, nullptr, rng, fresh);
    *sibling.add_routes() = std::move(route);
  }
  return make_event({resource_kind::route_table, key->ns, name}, &sibling);
}

// A Service edit (cluster IP, ports, selector: nothing translation reads besides its existence),
// delete, or create: the missing Service of a kube Upstream when one is found, else one that no
// Upstream names.
sluice::v1::Event change_service(const model::world& w, const picker& pick, std::mt19937_64& rng,
                                 uint64_t fresh, bool update_only) {
  const auto r = rng() % 100;
  const auto* key = pick(resource_kind::service);
  if (key != nullptr && (update_only || r < 50)) {
    auto svc = copy_of<kc::Service>(w, *key);
    switch (rng() % 3) {
      case 0:
        svc->set_cluster_ip(random_ip(rng));
        break;
      case 1: {
        auto* p = svc->ports_size() > 0 ? svc->mutable_ports(0) : svc->add_ports();
        p->set_port(p->port() == 8080 ? 8081 : 8080);
        p->set_target_port(p->target_port() == "http" ? std::to_string(p->port()) : "http");
        break;
      }
      default:
        (*svc->mutable_selector())["version"] = "v" + std::to_string(fresh % 3);
        break;
    }
    bump_generation(*svc);
    return make_event(*key, svc.get());
  }
  if (key != nullptr && r < 75) {
    return make_event(*key, nullptr);
  }
  for (int attempt = 0; attempt < 8; ++attempt) {
    const auto* u = pick(resource_kind::upstream);
    if (u == nullptr) {
      break;
    }
    const auto& upstream = static_cast<const gl::Upstream&>(*w.find(*u)->message);
    if (!upstream.has_kube() || upstream.kube().service_name().empty()) {
      continue;
    }
    const auto service = service_key_of(upstream.kube(), u->ns);
    if (w.find(service) == nullptr) {
      const auto svc = make_service(service, random_ip(rng), upstream.kube().service_port());
      return make_event(service, &svc);
    }
  }
  const resource_key other{resource_kind::service, key != nullptr ? key->ns : "team-0",
                           "other-" + std::to_string(fresh)};
  const auto svc = make_service(other, random_ip(rng), 8080);
  return make_event(other, &svc);
}

sluice::v1::Event make_change(const model::world& w, change_kind kind, const picker& pick,
                              std::mt19937_64& rng, uint64_t fresh, bool update_only, bool churn) {
  switch (kind) {
    case change_kind::endpoint:
      return change_endpoint(w, pick, rng, fresh, update_only);
    case change_kind::virtual_service:
      return change_virtual_service(w, pick, rng, fresh, update_only);
    case change_kind::upstream:
      return change_upstream(w, pick, rng, fresh, update_only, churn);
    case change_kind::route_table:
      return change_route_table(w, pick, rng, fresh, update_only);
    case change_kind::service:
      return change_service(w, pick, rng, fresh, update_only);
  }
  return {};
}

}  // namespace

workload_options workload_options::scaled(size_t vs) {
  workload_options o;
  o.virtual_services = vs;
  o.upstreams = std::max<size_t>(1, vs / 2);
  o.sni_domains = vs / 20;
  return o;
}

sluice::v1::Event make_event(const resource_key& key, const google::protobuf::Message* message) {
  sluice::v1::Event ev;
  ev.set_source("bench");
  ev.set_kind(std::string(model::name_of(key.kind)));
  ev.set_namespace_(key.ns);
  ev.set_name(key.name);
  ev.set_verdict(sluice::v1::VERDICT_ACCEPTED);
  ev.set_origin(std::string(model::info(key.kind).plural) + "/" + key.ns + "/" + key.name +
                ".yaml");
  if (message == nullptr) {
    ev.set_op(sluice::v1::EVENT_OP_DELETE);
    return ev;
  }
  ev.set_op(sluice::v1::EVENT_OP_UPSERT);
  *ev.mutable_resource() = model::canonical_bytes(*message);
  ev.set_content_hash(model::content_hash(ev.resource()));
  return ev;
}

void apply_to(model::world& w, const sluice::v1::Event& ev, uint64_t seq) {
  w.set_watermark(seq);
  auto kind = model::parse_kind(ev.kind());
  if (!kind || ev.verdict() != sluice::v1::VERDICT_ACCEPTED) {
    return;
  }
  resource_key key{*kind, ev.namespace_(), ev.name()};
  if (ev.op() == sluice::v1::EVENT_OP_DELETE) {
    w.erase(key);
    return;
  }
  if (ev.op() != sluice::v1::EVENT_OP_UPSERT) {
    return;
  }
  auto msg = model::new_message(*kind);
  if (!msg->ParseFromString(ev.resource())) {
    return;
  }
  model::stored_resource r;
  r.key = std::move(key);
  r.message = std::shared_ptr<const google::protobuf::Message>(std::move(msg));
  r.content_hash = ev.content_hash();
  r.seq = seq;
  r.origin = ev.origin();
  w.put(std::move(r));
}

std::vector<sluice::v1::Event> initial_events(const workload_options& options) {
  std::vector<sluice::v1::Event> out;
  auto resources = world_generator(options).generate();
  out.reserve(resources.size());
  for (const auto& g : resources) {
    out.push_back(make_event(g.key, g.message.get()));
  }
  return out;
}

model::world build_world(const workload_options& options) {
  model::world w;
  uint64_t seq = 0;
  for (auto& g : world_generator(options).generate()) {
    model::stored_resource r;
    r.key = g.key;
    r.content_hash = model::content_hash(model::canonical_bytes(*g.message));
    r.seq = ++seq;
    r.origin = std::string(model::info(g.key.kind).plural) + "/" + g.key.ns + "/" + g.key.name +
               ".yaml";
    r.message = std::move(g.message);
    w.put(std::move(r));
  }
  w.set_watermark(seq);
  return w;
}

sluice::v1::Event random_change(const model::world& w, change_kind kind, std::mt19937_64& rng) {
  picker pick = [&](resource_kind k) -> const resource_key* {
    const auto& m = w.of(k);
    if (m.empty()) {
      return nullptr;
    }
    auto it = m.begin();
    std::advance(it, static_cast<long>(rng() % m.size()));
    return &it->second.key;
  };
  return make_change(w, kind, pick, rng, rng() % 1'000'000'000, false, false);
}

std::vector<sluice::v1::Event> service_flip(const model::world& w, std::mt19937_64& rng) {
  std::vector<sluice::v1::Event> out;
  if (!w.of(resource_kind::service).empty()) {
    for (const auto& [nn, stored] : w.of(resource_kind::service)) {
      out.push_back(make_event(stored.key, nullptr));
    }
    return out;
  }
  std::set<resource_key> made;
  for (const auto& [nn, stored] : w.of(resource_kind::upstream)) {
    const auto& u = static_cast<const gl::Upstream&>(*stored.message);
    if (!u.has_kube() || u.kube().service_name().empty() || rng() % 8 == 0) {
      continue;
    }
    const auto key = service_key_of(u.kube(), stored.key.ns);
    if (made.insert(key).second) {
      const auto svc = make_service(key, service_ip(made.size()), u.kube().service_port());
      out.push_back(make_event(key, &svc));
    }
  }
  return out;
}

void change_generator::key_list::add(const resource_key& k) {
  if (index.count(k) > 0) {
    return;
  }
  index.emplace(k, keys.size());
  keys.push_back(k);
}

void change_generator::key_list::remove(const resource_key& k) {
  auto i = index.find(k);
  if (i == index.end()) {
    return;
  }
  const size_t at = i->second;
  index.erase(i);
  if (at + 1 != keys.size()) {
    keys[at] = std::move(keys.back());
    index[keys[at]] = at;
  }
  keys.pop_back();
}

change_generator::change_generator(model::world w, uint64_t seed)
    : world_(std::move(w)), rng_(seed), seq_(world_.watermark()) {
  for (const auto& k : model::all_kinds()) {
    auto& list = keys_[static_cast<uint8_t>(k.kind)];
    for (const auto& [nn, stored] : world_.of(k.kind)) {
      list.add(stored.key);
    }
  }
}

const resource_key* change_generator::pick(resource_kind kind) {
  auto& list = keys_[static_cast<uint8_t>(kind)];
  if (list.keys.empty()) {
    return nullptr;
  }
  return &list.keys[rng_() % list.keys.size()];
}

sluice::v1::Event change_generator::emit(sluice::v1::Event ev) {
  auto kind = model::parse_kind(ev.kind());
  if (!kind) {
    return ev;
  }
  apply_to(world_, ev, ++seq_);
  resource_key key{*kind, ev.namespace_(), ev.name()};
  auto& list = keys_[static_cast<uint8_t>(*kind)];
  if (ev.op() == sluice::v1::EVENT_OP_DELETE) {
    list.remove(key);
  } else {
    list.add(key);
  }
  return ev;
}

sluice::v1::Event change_generator::change(change_kind kind, bool update_only, bool churn) {
  picker p = [this](resource_kind k) { return pick(k); };
  return emit(make_change(world_, kind, p, rng_, ++fresh_, update_only, churn));
}

sluice::v1::Event change_generator::next(change_kind kind) { return change(kind, false); }

sluice::v1::Event change_generator::next_update(change_kind kind) { return change(kind, true); }

std::vector<sluice::v1::Event> change_generator::next_service_flip() {
  auto events = service_flip(world_, rng_);
  for (auto& ev : events) {
    ev = emit(std::move(ev));
  }
  return events;
}

sluice::v1::Event change_generator::next_churn() {
  const auto r = rng_() % 100;
  const auto kind = r < 80   ? change_kind::endpoint
                    : r < 95 ? change_kind::virtual_service
                    : r < 98 ? change_kind::upstream
                             : change_kind::route_table;
  return change(kind, false, true);
}

}  // namespace sluice::bench
