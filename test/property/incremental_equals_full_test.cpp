// Incremental equals full: after every batch of a long random event sequence, the incremental
// translator's snapshots (resources, versions) and translation report equal, byte for byte,
// xds::translate_world of the same world. Seeded (SLUICE_PROPERTY_SEED overrides); a failure
// prints the seed and the shortest event sequence the shrinker found.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include "bench/workload.hpp"
#include "kube/core.pb.h"
#include "model/gateway_attribution.hpp"
#include "solo/gateway.pb.h"
#include "solo/gloo.pb.h"
#include "xds/envoy_clusters.hpp"
#include "xds/envoy_common.hpp"
#include "xds/incremental_translator.hpp"
#include "xds/world_translation.hpp"

namespace sluice::xds {
namespace {

namespace gw = ::gateway::solo::io;
namespace gl = ::gloo::solo::io;
using model::resource_key;
using model::resource_kind;
using batch = std::vector<sluice::v1::Event>;

// --- comparing -----------------------------------------------------------------------------------

std::string describe_report(const model::translation_report& r, const resource_key& k) {
  std::string out;
  auto i = r.entries().find(k);
  if (i == r.entries().end()) {
    return "(absent)";
  }
  for (const auto& e : i->second.errors) {
    out += "\n    error: " + e;
  }
  for (const auto& w : i->second.warnings) {
    out += "\n    warning: " + w;
  }
  return out.empty() ? "(accepted)" : out;
}

// The first difference between the incremental translator and a full translation, or "".
std::string difference(incremental_translator& inc) {
  const auto full = translate_world(inc.world());
  const auto mine = inc.snapshots();
  for (const auto& [key, snap] : full.snapshots) {
    auto m = mine.find(key);
    if (m == mine.end()) {
      return "snapshot " + key + " missing";
    }
    for (const auto& [type, set] : snap->types) {
      const auto& other = m->second->of(type);
      for (const auto& [name, res] : set.items) {
        auto o = other.items.find(name);
        if (o == other.items.end()) {
          return "snapshot " + key + " " + type + " " + name + " missing";
        }
        if (o->second->bytes != res->bytes || o->second->version != res->version) {
          return "snapshot " + key + " " + type + " " + name + " differs (version " +
                 o->second->version + ", full " + res->version + ")";
        }
      }
      for (const auto& [name, res] : other.items) {
        if (set.items.count(name) == 0) {
          return "snapshot " + key + " " + type + " " + name + " should not be there";
        }
      }
      if (other.version != set.version) {
        return "snapshot " + key + " " + type + " version " + other.version + ", full " +
               set.version;
      }
    }
    for (const auto& [type, set] : m->second->types) {
      if (snap->types.count(type) == 0) {
        return "snapshot " + key + " has type " + type + " that full translation has not";
      }
    }
  }
  for (const auto& [key, snap] : mine) {
    if (full.snapshots.count(key) == 0) {
      return "snapshot " + key + " should not be served";
    }
  }
  const auto report = inc.report();
  for (const auto& [k, r] : full.report.entries()) {
    auto o = report.entries().find(k);
    if (o == report.entries().end() || o->second.errors != r.errors ||
        o->second.warnings != r.warnings) {
      return "report of " + k.to_string() + ":" + describe_report(report, k) + "\n  full:" +
             describe_report(full.report, k);
    }
  }
  for (const auto& [k, r] : report.entries()) {
    if (full.report.entries().count(k) == 0) {
      return "report has " + k.to_string() + ", full translation does not";
    }
  }
  // The quick per-VirtualService look (the world actor's revert check) finds the same errors
  // as the report, and a report kept to a few keys has exactly their findings.
  std::set<resource_key> some;
  std::vector<const model::stored_resource*> quick_ones;
  for (auto kind : {resource_kind::virtual_service, resource_kind::upstream}) {
    for (const auto& [nn, stored] : inc.world().of(kind)) {
      quick_ones.push_back(&stored);
    }
  }
  for (const auto* each : quick_ones) {
    const auto& stored = *each;
    auto quick = inc.errors_of(stored.key);
    if (!quick) {
      continue;  // translated whole (hybrid gateways): no quick look
    }
    std::vector<std::string> want;
    if (auto i = report.entries().find(stored.key); i != report.entries().end()) {
      want = i->second.errors;
    }
    std::sort(want.begin(), want.end());
    std::sort(quick->begin(), quick->end());
    if (*quick != want) {
      return "errors_of(" + stored.key.to_string() + ") differs from the report:" +
             describe_report(report, stored.key);
    }
    if (some.size() < 3) {
      some.insert(stored.key);
    }
  }
  for (auto kind : {resource_kind::route_table, resource_kind::upstream}) {
    if (!inc.world().of(kind).empty()) {
      some.insert(inc.world().of(kind).begin()->second.key);
    }
  }
  const auto part = inc.report_for(some);
  for (const auto& k : some) {
    auto a = part.entries().find(k);
    auto b = report.entries().find(k);
    if ((a == part.entries().end()) != (b == report.entries().end())
        || (a != part.entries().end()
            && (a->second.errors != b->second.errors || a->second.warnings != b->second.warnings))) {
      return "report_for differs for " + k.to_string();
    }
  }
  if (part.entries().size() > some.size()) {
    return "report_for kept keys it was not asked for";
  }
  return "";
}

// --- generating ----------------------------------------------------------------------------------

const model::stored_resource* pick(const model::world& w, resource_kind kind,
                                   std::mt19937_64& rng) {
  const auto& m = w.of(kind);
  if (m.empty()) {
    return nullptr;
  }
  auto it = m.begin();
  std::advance(it, static_cast<long>(rng() % m.size()));
  return &it->second;
}

template <class T>
std::shared_ptr<T> copy_of(const model::stored_resource& s) {
  auto out = std::make_shared<T>();
  out->CopyFrom(*s.message);
  return out;
}

resource_key key_of(const sluice::v1::Event& ev) {
  return {*model::parse_kind(ev.kind()), ev.namespace_(), ev.name()};
}

// Random events against a small generated world: the workload's churn plus everything that
// breaks and repairs translation (conflicts, missing references, cycles, label renames, secrets,
// gateways, Settings, a hybrid gateway now and then, Services deleted and created under the
// Upstreams routes use, and every Service deleted or re-created: the world flipping between
// "holds Services", where translation checks each kube Upstream's, and "holds none").
class event_source {
 public:
  event_source(const model::world& initial, uint64_t seed) : initial_(initial), rng_(seed) {}

  sluice::v1::Event next(const model::world& w) {
    // A Service flip under way: its events in order, others in between now and then (a flip's
    // last event may land anywhere in a batch, or the flip may take several batches).
    if (!flip_.empty() && rng_() % 5 != 0) {
      auto ev = std::move(flip_.front());
      flip_.pop_front();
      return ev;
    }
    const auto r = rng_() % 100;
    if (r < 45) {
      return churn(w);
    }
    switch (r % 20) {
      case 0:
        return domain_conflict(w);
      case 1:
        return missing_upstream(w);
      case 2:
        return missing_route_table(w);
      case 3:
        return cycle(w);
      case 4:
        return broken_group(w);
      case 5:
        return relabel_vs(w);
      case 6:
        return secret_change(w);
      case 7:
        return gateway_change(w);
      case 8:
        return settings_change(w);
      case 9:
        return repair(w);
      case 10:
        return repair(w);
      case 11:
        return same_again(w);
      case 12:
        return tcp_or_hybrid(w);
      case 13:
        return upstream_tls(w);
      case 14:
        return no_domains(w);
      case 15:
        return sni_overlap(w);
      case 16:
        return service_change(w);
      case 17:
        return service_under_a_route(w);
      case 18:
        return service_port_endpoint(w);
      default:
        return churn(w);
    }
  }

 private:
  uint64_t fresh() { return ++fresh_; }

  sluice::v1::Event churn(const model::world& w) {
    static const bench::change_kind kinds[] = {
        bench::change_kind::endpoint, bench::change_kind::virtual_service,
        bench::change_kind::upstream, bench::change_kind::route_table, bench::change_kind::service};
    return bench::random_change(w, kinds[rng_() % 5], rng_);
  }

  // The workload's Service change, or (one in eight, when none is under way) a flip.
  sluice::v1::Event service_change(const model::world& w) {
    if (flip_.empty() && rng_() % 8 == 0) {
      auto events = bench::service_flip(w, rng_);
      flip_.assign(std::make_move_iterator(events.begin()), std::make_move_iterator(events.end()));
      if (!flip_.empty()) {
        auto ev = std::move(flip_.front());
        flip_.pop_front();
        return ev;
      }
    }
    return bench::random_change(w, bench::change_kind::service, rng_);
  }

  // Deletes, or creates, the Service of a kube Upstream that a VirtualService routes to: its
  // cluster goes or comes back, and the routes to it follow.
  sluice::v1::Event service_under_a_route(const model::world& w) {
    const auto* a = pick(w, resource_kind::virtual_service, rng_);
    if (a == nullptr) {
      return churn(w);
    }
    const auto& vs = static_cast<const gw::VirtualService&>(*a->message);
    for (const auto& route : vs.virtual_host().routes()) {
      if (!route.route_action().has_single() || !route.route_action().single().has_upstream()) {
        continue;
      }
      const auto& ref = route.route_action().single().upstream();
      const resource_key uk{resource_kind::upstream,
                            ref.namespace_().empty() ? a->key.ns : ref.namespace_(), ref.name()};
      const auto* u = w.find(uk);
      if (u == nullptr || !static_cast<const gl::Upstream&>(*u->message).has_kube()) {
        continue;
      }
      const auto& upstream = static_cast<const gl::Upstream&>(*u->message);
      const auto& kube = upstream.kube();
      const auto sk = *kube_service_of(upstream, uk);
      if (sk.name.empty()) {
        continue;
      }
      if (w.find(sk) != nullptr) {
        return bench::make_event(sk, nullptr);
      }
      ::kube::core::v1::Service svc;
      svc.mutable_metadata()->set_name(sk.name);
      svc.mutable_metadata()->set_namespace_(sk.ns);
      svc.set_cluster_ip("10.98.0." + std::to_string(1 + rng_() % 254));
      auto* port = svc.add_ports();
      port->set_port(kube.service_port());
      port->set_target_port(std::to_string(kube.service_port()));
      return bench::make_event(sk, &svc);
    }
    return churn(w);
  }

  // An Endpoint of a Service port's in-memory kube-svc: upstream, as Kubernetes discovery writes
  // them for kube route destinations: a kube Upstream naming that Service and port takes it too
  // (xds::kube_service_upstream_of). Now and then the kube-svc: Upstream itself.
  sluice::v1::Event service_port_endpoint(const model::world& w) {
    const auto* a = pick(w, resource_kind::upstream, rng_);
    if (a == nullptr) {
      return churn(w);
    }
    const auto alias
        = kube_service_upstream_of(static_cast<const gl::Upstream&>(*a->message), a->key);
    if (!alias) {
      return churn(w);
    }
    const auto r = rng_() % 6;
    if (r == 0) {
      const auto& kube = static_cast<const gl::Upstream&>(*a->message).kube();
      gl::Upstream in_memory;
      in_memory.mutable_metadata()->set_name(alias->name);
      in_memory.mutable_metadata()->set_namespace_(alias->ns);
      in_memory.mutable_kube()->set_service_name(kube.service_name());
      in_memory.mutable_kube()->set_service_namespace(alias->ns);
      in_memory.mutable_kube()->set_service_port(kube.service_port());
      return bench::make_event(*alias, &in_memory);
    }
    const resource_key ek{resource_kind::endpoint, alias->ns,
                          "port-ep-" + std::to_string(rng_() % 4)};
    if (r == 1) {
      return bench::make_event(ek, nullptr);
    }
    gl::Endpoint e;
    e.mutable_metadata()->set_name(ek.name);
    e.mutable_metadata()->set_namespace_(ek.ns);
    auto* ref = e.add_upstreams();
    ref->set_name(alias->name);
    ref->set_namespace_(alias->ns);
    if (r == 2) {
      set_upstream_ref(*e.add_upstreams(), a->key);  // names both: taken once
    }
    e.set_address("10.99." + std::to_string(rng_() % 4) + "." + std::to_string(1 + rng_() % 254));
    e.set_port(8080);
    return bench::make_event(ek, &e);
  }

  static void set_upstream_ref(::core::solo::io::ResourceRef& ref, const resource_key& key) {
    ref.set_name(key.name);
    ref.set_namespace_(key.ns);
  }

  sluice::v1::Event domain_conflict(const model::world& w) {
    const auto* a = pick(w, resource_kind::virtual_service, rng_);
    const auto* b = pick(w, resource_kind::virtual_service, rng_);
    if (a == nullptr || b == nullptr) {
      return churn(w);
    }
    auto vs = copy_of<gw::VirtualService>(*a);
    const auto& other = static_cast<const gw::VirtualService&>(*b->message);
    if (!other.virtual_host().domains().empty()) {
      vs->mutable_virtual_host()->add_domains(
          other.virtual_host().domains(static_cast<int>(rng_() % other.virtual_host().domains_size())));
    }
    return bench::make_event(a->key, vs.get());
  }

  sluice::v1::Event missing_upstream(const model::world& w) {
    const auto* a = pick(w, resource_kind::virtual_service, rng_);
    if (a == nullptr) {
      return churn(w);
    }
    auto vs = copy_of<gw::VirtualService>(*a);
    auto* r = vs->mutable_virtual_host()->add_routes();
    r->add_matchers()->set_prefix("/missing-" + std::to_string(fresh()));
    auto* u = r->mutable_route_action()->mutable_single()->mutable_upstream();
    // Sometimes an Upstream that a later event creates (the churn's "svc-n<k>" names).
    u->set_name(rng_() % 2 ? "svc-n" + std::to_string(rng_() % 40) : "nowhere");
    u->set_namespace_(a->key.ns);
    return bench::make_event(a->key, vs.get());
  }

  sluice::v1::Event missing_route_table(const model::world& w) {
    const auto* a = pick(w, resource_kind::virtual_service, rng_);
    if (a == nullptr) {
      return churn(w);
    }
    auto vs = copy_of<gw::VirtualService>(*a);
    auto* r = vs->mutable_virtual_host()->add_routes();
    r->add_matchers()->set_prefix("/later");
    if (rng_() % 2) {
      auto* ref = r->mutable_delegate_action()->mutable_ref();
      ref->set_name("rt-later-" + std::to_string(rng_() % 3));
      ref->set_namespace_(a->key.ns);
    } else {
      (*r->mutable_delegate_action()->mutable_selector()->mutable_labels())["later"] =
          std::to_string(rng_() % 3);
    }
    if (rng_() % 2) {
      // ... and the table itself, now or later.
      gw::RouteTable rt;
      const std::string name = "rt-later-" + std::to_string(rng_() % 3);
      rt.mutable_metadata()->set_name(name);
      rt.mutable_metadata()->set_namespace_(a->key.ns);
      (*rt.mutable_metadata()->mutable_labels())["later"] = std::to_string(rng_() % 3);
      auto* route = rt.add_routes();
      route->add_matchers()->set_prefix("/later/x" + std::to_string(fresh()));
      route->mutable_direct_response_action()->set_status(200);
      return bench::make_event({resource_kind::route_table, a->key.ns, name}, &rt);
    }
    return bench::make_event(a->key, vs.get());
  }

  sluice::v1::Event cycle(const model::world& w) {
    const auto* a = pick(w, resource_kind::route_table, rng_);
    if (a == nullptr) {
      return churn(w);
    }
    auto rt = copy_of<gw::RouteTable>(*a);
    // Delegate back to a table of the same chain (or itself): a cycle, or just a fork.
    const auto& labels = rt->metadata().labels();
    auto chain = labels.find("chain");
    auto* r = rt->add_routes();
    const auto& first = rt->routes(0);
    std::string prefix = first.matchers_size() > 0 ? first.matchers(0).prefix() : "/";
    if (prefix.empty()) {
      prefix = "/d";
    }
    r->add_matchers()->set_prefix(prefix + "/loop");
    auto* ref = r->mutable_delegate_action()->mutable_ref();
    ref->set_namespace_(a->key.ns);
    if (chain != labels.end() && rng_() % 2) {
      ref->set_name("rt-" + chain->second.substr(3) + "-0");
    } else {
      ref->set_name(a->key.name);
    }
    return bench::make_event(a->key, rt.get());
  }

  sluice::v1::Event broken_group(const model::world& w) {
    const auto* a = pick(w, resource_kind::upstream_group, rng_);
    if (a == nullptr) {
      return churn(w);
    }
    auto g = copy_of<gl::UpstreamGroup>(*a);
    auto* wd = g->add_destinations();
    if (rng_() % 3 == 0) {
      wd->mutable_weight()->set_value(1);  // no destination at all
    } else {
      wd->mutable_destination()->mutable_upstream()->set_name("ghost-" + std::to_string(rng_() % 3));
      wd->mutable_weight()->set_value(5);
    }
    return bench::make_event(a->key, g.get());
  }

  sluice::v1::Event relabel_vs(const model::world& w) {
    const auto* a = pick(w, resource_kind::virtual_service, rng_);
    if (a == nullptr) {
      return churn(w);
    }
    auto vs = copy_of<gw::VirtualService>(*a);
    (*vs->mutable_metadata()->mutable_labels())["team"] = rng_() % 2 ? "team-0" : "other";
    return bench::make_event(a->key, vs.get());
  }

  sluice::v1::Event secret_change(const model::world& w) {
    const auto* s = pick(w, resource_kind::secret, rng_);
    if (s == nullptr) {
      return churn(w);
    }
    const auto r = rng_() % 3;
    if (r == 0) {
      return bench::make_event(s->key, nullptr);
    }
    auto secret = copy_of<gl::Secret>(*s);
    if (r == 1) {
      secret->mutable_tls()->set_cert_chain("rotated-" + std::to_string(fresh()));
    } else {
      secret->mutable_tls()->clear_private_key();  // unusable for a server
    }
    return bench::make_event(s->key, secret.get());
  }

  sluice::v1::Event gateway_change(const model::world& w) {
    const auto* g = pick(w, resource_kind::gateway, rng_);
    if (g == nullptr) {
      return repair(w);
    }
    auto gwm = copy_of<gw::Gateway>(*g);
    switch (rng_() % 6) {
      case 0:
        if (gwm->has_http_gateway()) {
          (*gwm->mutable_http_gateway()->mutable_virtual_service_selector())["team"] = "team-0";
        }
        break;
      case 1:
        gwm->mutable_http_gateway()->clear_virtual_service_selector();
        gwm->mutable_http_gateway()->add_virtual_service_namespaces(rng_() % 2 ? "*" : "team-1");
        break;
      case 2: {
        // A second gateway on the same port of the same proxy: the newcomer is left out.
        gwm->mutable_metadata()->set_name("extra-" + std::to_string(rng_() % 2));
        gwm->mutable_metadata()->set_generation(1);
        return bench::make_event({resource_kind::gateway, g->key.ns, gwm->metadata().name()},
                                 gwm.get());
      }
      case 3:
        gwm->clear_proxy_names();
        gwm->add_proxy_names(rng_() % 2 ? "gateway-proxy" : "second-proxy");
        break;
      case 4: {
        auto* refs = gwm->mutable_http_gateway();
        refs->clear_virtual_service_selector();
        refs->clear_virtual_service_namespaces();
        for (int i = 0; i < 3; ++i) {
          const auto* vs = pick(w, resource_kind::virtual_service, rng_);
          auto* ref = refs->add_virtual_services();
          ref->set_name(vs != nullptr && i < 2 ? vs->key.name : "vs-ghost");
          ref->set_namespace_(vs != nullptr ? vs->key.ns : "team-0");
        }
        break;
      }
      default:
        return bench::make_event(g->key, nullptr);
    }
    return bench::make_event(g->key, gwm.get());
  }

  sluice::v1::Event settings_change(const model::world& w) {
    const resource_key key{resource_kind::settings, "gloo-system", "default"};
    if (w.find(key) != nullptr && rng_() % 2) {
      return bench::make_event(key, nullptr);
    }
    gl::Settings s;
    s.mutable_metadata()->set_name("default");
    s.mutable_metadata()->set_namespace_("gloo-system");
    std::string json;
    switch (rng_() % 3) {
      case 0:
        json = R"({"gateway": {"readGatewaysFromAllNamespaces": true}})";
        break;
      case 1:
        json = R"({"gloo": {"invalidConfigPolicy": {"replaceInvalidRoutes": true}}})";
        break;
      default:
        json = R"({"gateway": {"validation": {"warnMissingTlsSecret": false}}})";
        break;
    }
    gl::Settings parsed;
    if (google::protobuf::util::JsonStringToMessage(json, &parsed).ok()) {
      parsed.mutable_metadata()->CopyFrom(s.metadata());
      return bench::make_event(key, &parsed);
    }
    return bench::make_event(key, &s);
  }

  // Puts a resource back the way the initial world had it (or deletes one the world did not have).
  sluice::v1::Event repair(const model::world& w) {
    static const resource_kind kinds[]
        = {resource_kind::virtual_service, resource_kind::route_table, resource_kind::upstream,
           resource_kind::upstream_group,  resource_kind::secret,      resource_kind::gateway,
           resource_kind::service};
    const auto kind = kinds[rng_() % 7];
    const auto* orig = pick(initial_, kind, rng_);
    if (orig != nullptr && rng_() % 4 != 0) {
      return bench::make_event(orig->key, orig->message.get());
    }
    const auto* now = pick(w, kind, rng_);
    if (now != nullptr && initial_.find(now->key) == nullptr) {
      return bench::make_event(now->key, nullptr);
    }
    return orig != nullptr ? bench::make_event(orig->key, orig->message.get()) : churn(w);
  }

  // The same content again: a new arrival seq (conflicts are decided in arrival order).
  sluice::v1::Event same_again(const model::world& w) {
    const auto* a = pick(w, rng_() % 2 ? resource_kind::virtual_service : resource_kind::gateway,
                         rng_);
    if (a == nullptr) {
      return churn(w);
    }
    return bench::make_event(a->key, a->message.get());
  }

  sluice::v1::Event tcp_or_hybrid(const model::world& w) {
    const auto r = rng_() % 4;
    if (r == 0) {
      gw::Gateway g;
      g.mutable_metadata()->set_name("tcp");
      g.mutable_metadata()->set_namespace_("gloo-system");
      g.set_bind_port(9000);
      auto* host = g.mutable_tcp_gateway()->add_tcp_hosts();
      host->set_name("db");
      const auto* u = pick(w, resource_kind::upstream, rng_);
      auto* up = host->mutable_destination()->mutable_single()->mutable_upstream();
      up->set_name(u != nullptr ? u->key.name : "nowhere");
      up->set_namespace_(u != nullptr ? u->key.ns : "team-0");
      return bench::make_event({resource_kind::gateway, "gloo-system", "tcp"}, &g);
    }
    if (r == 1 && (rng_() % 4) == 0) {
      gw::Gateway g;
      g.mutable_metadata()->set_name("hybrid");
      g.mutable_metadata()->set_namespace_("gloo-system");
      g.set_bind_port(9100);
      std::string json =
          R"({"matchedGateways": [{"matcher": {}, "httpGateway": {"virtualServiceNamespaces": ["*"]}}]})";
      (void)google::protobuf::util::JsonStringToMessage(json, g.mutable_hybrid_gateway());
      return bench::make_event({resource_kind::gateway, "gloo-system", "hybrid"}, &g);
    }
    const resource_key k{resource_kind::gateway, "gloo-system", r == 2 ? "tcp" : "hybrid"};
    return bench::make_event(k, nullptr);
  }

  sluice::v1::Event upstream_tls(const model::world& w) {
    const auto* a = pick(w, resource_kind::upstream, rng_);
    if (a == nullptr) {
      return churn(w);
    }
    auto u = copy_of<gl::Upstream>(*a);
    const auto* s = pick(w, resource_kind::secret, rng_);
    auto* ref = u->mutable_ssl_config()->mutable_secret_ref();
    ref->set_name(s != nullptr && rng_() % 2 ? s->key.name : "no-such-secret");
    ref->set_namespace_(s != nullptr ? s->key.ns : a->key.ns);
    return bench::make_event(a->key, u.get());
  }

  sluice::v1::Event no_domains(const model::world& w) {
    const auto* a = pick(w, resource_kind::virtual_service, rng_);
    if (a == nullptr) {
      return churn(w);
    }
    auto vs = copy_of<gw::VirtualService>(*a);
    vs->mutable_virtual_host()->clear_domains();
    if (rng_() % 2) {
      vs->mutable_virtual_host()->add_domains("*.wild.example.com");
    }
    return bench::make_event(a->key, vs.get());
  }

  sluice::v1::Event sni_overlap(const model::world& w) {
    const auto* a = pick(w, resource_kind::virtual_service, rng_);
    const auto* b = pick(w, resource_kind::virtual_service, rng_);
    if (a == nullptr || b == nullptr) {
      return churn(w);
    }
    auto vs = copy_of<gw::VirtualService>(*a);
    const auto& other = static_cast<const gw::VirtualService&>(*b->message);
    if (other.has_ssl_config()) {
      *vs->mutable_ssl_config() = other.ssl_config();
      if (rng_() % 2) {
        vs->mutable_ssl_config()->clear_sni_domains();
      }
    } else if (vs->has_ssl_config()) {
      vs->mutable_ssl_config()->add_sni_domains("shared.example.com");
    }
    return bench::make_event(a->key, vs.get());
  }

  const model::world& initial_;
  std::mt19937_64 rng_;
  uint64_t fresh_ = 0;
  std::deque<sluice::v1::Event> flip_;  ///< the rest of a Service flip
};

// --- running -------------------------------------------------------------------------------------

bench::workload_options small_world(uint64_t seed, size_t vs) {
  auto o = bench::workload_options::scaled(vs);
  o.seed = seed;
  o.namespaces = 2;
  o.upstreams = std::max<size_t>(4, vs / 3);
  o.endpoints_per_upstream = 2;
  o.sni_domains = std::max<size_t>(2, vs / 8);
  o.selector_fraction = 0.5;
  o.static_every = 4;
  return o;
}

struct failure {
  size_t batch = 0;
  std::string what;
};

// Replays `batches` on a fresh translator over `initial`, comparing after each batch.
std::optional<failure> replay(const model::world& initial, const std::vector<batch>& batches) {
  incremental_translator inc;
  inc.reset(initial);
  inc.flush();
  if (auto d = difference(inc); !d.empty()) {
    return failure{0, d};
  }
  uint64_t seq = initial.watermark();
  for (size_t i = 0; i < batches.size(); ++i) {
    for (auto ev : batches[i]) {
      ev.set_seq(++seq);
      if (!inc.apply(ev)) {
        return failure{i + 1, "event does not apply"};
      }
    }
    inc.flush();
    if (auto d = difference(inc); !d.empty()) {
      return failure{i + 1, d};
    }
  }
  return std::nullopt;
}

// Shortest failing sequence we can find in the time given: cut after the failing batch, then
// drop chunks of batches and single events while it still fails (delta debugging).
std::vector<batch> shrink(const model::world& initial, std::vector<batch> batches,
                          size_t failing_batch, std::chrono::seconds budget) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  batches.resize(failing_batch);
  auto fails = [&](const std::vector<batch>& b) {
    return std::chrono::steady_clock::now() < deadline && replay(initial, b).has_value();
  };
  for (size_t chunk = std::max<size_t>(1, batches.size() / 2); chunk >= 1; chunk /= 2) {
    for (size_t start = 0; start < batches.size();) {
      std::vector<batch> trial;
      trial.insert(trial.end(), batches.begin(), batches.begin() + static_cast<long>(start));
      trial.insert(trial.end(),
                   batches.begin() + static_cast<long>(std::min(batches.size(), start + chunk)),
                   batches.end());
      if (!trial.empty() && fails(trial)) {
        batches = std::move(trial);
      } else {
        start += chunk;
      }
    }
    if (chunk == 1) {
      break;
    }
  }
  for (size_t i = 0; i < batches.size(); ++i) {
    for (size_t j = 0; batches[i].size() > 1 && j < batches[i].size();) {
      auto trial = batches;
      trial[i].erase(trial[i].begin() + static_cast<long>(j));
      if (fails(trial)) {
        batches = std::move(trial);
      } else {
        ++j;
      }
    }
  }
  return batches;
}

std::string render(const std::vector<batch>& batches) {
  std::ostringstream out;
  google::protobuf::util::JsonPrintOptions json;
  for (size_t i = 0; i < batches.size(); ++i) {
    out << "  batch " << (i + 1) << ":\n";
    for (const auto& ev : batches[i]) {
      out << "    " << sluice::v1::EventOp_Name(ev.op()) << " " << ev.kind() << " "
          << ev.namespace_() << "." << ev.name();
      if (ev.op() == sluice::v1::EVENT_OP_UPSERT) {
        auto m = model::new_message(key_of(ev).kind);
        std::string text;
        if (m->ParseFromString(ev.resource()) &&
            google::protobuf::util::MessageToJsonString(*m, &text, json).ok()) {
          out << " " << text;
        }
      }
      out << "\n";
    }
  }
  return out.str();
}

uint64_t seed_from_env(uint64_t fallback) {
  if (const char* s = std::getenv("SLUICE_PROPERTY_SEED")) {
    return std::strtoull(s, nullptr, 10);
  }
  return fallback;
}

// What a run went through, so that a test can say it covered what it claims to.
struct coverage {
  size_t service_events = 0;
  size_t service_port_endpoints = 0;  ///< Endpoint events of kube-svc: upstreams
  size_t services_gone = 0;  ///< batches after which the world held no Service, having held some
  size_t services_back = 0;  ///< ... and the other way round
  /// Batches that changed which kube Upstreams lack their Service (while the world holds some).
  size_t unbound_changes = 0;
};

// Runs `events` random events in random batches (1-8 events) and checks after each.
void run_property(uint64_t seed, size_t world_vs, size_t events, coverage* seen = nullptr) {
  const auto initial = bench::build_world(small_world(seed, world_vs));
  incremental_translator inc;
  inc.reset(initial);
  inc.flush();
  ASSERT_EQ(difference(inc), "") << "seed " << seed << ": the initial world differs";
  event_source source(initial, seed * 7919 + 1);
  std::mt19937_64 rng(seed);
  std::vector<batch> batches;
  uint64_t seq = initial.watermark();
  size_t done = 0;
  coverage local;
  auto& cov = seen != nullptr ? *seen : local;
  std::set<resource_key> unbound;
  while (done < events) {
    const bool had_services = !inc.world().of(resource_kind::service).empty();
    batch b;
    const size_t n = 1 + rng() % 8;
    for (size_t i = 0; i < n && done < events; ++i, ++done) {
      auto ev = source.next(inc.world());
      if (ev.kind().empty()) {
        continue;
      }
      ev.set_seq(++seq);
      ASSERT_TRUE(inc.apply(ev)) << "seed " << seed;
      cov.service_events += ev.kind() == "Service" ? 1 : 0;
      cov.service_port_endpoints += ev.kind() == "Endpoint" && ev.name().rfind("port-ep-", 0) == 0;
      b.push_back(std::move(ev));
    }
    batches.push_back(b);
    inc.flush();
    const bool has_services = !inc.world().of(resource_kind::service).empty();
    cov.services_gone += had_services && !has_services ? 1 : 0;
    cov.services_back += !had_services && has_services ? 1 : 0;
    std::set<resource_key> unbound_now;
    for (const auto& [nn, u] : inc.world().of(resource_kind::upstream)) {
      const auto& up = static_cast<const gl::Upstream&>(*u.message);
      if (has_services && up.has_kube()
          && inc.world().find(*kube_service_of(up, u.key)) == nullptr) {
        unbound_now.insert(u.key);
      }
    }
    cov.unbound_changes += unbound_now != unbound ? 1 : 0;
    unbound = std::move(unbound_now);
    if (auto d = difference(inc); !d.empty()) {
      auto shortest = shrink(initial, batches, batches.size(), std::chrono::seconds(120));
      const auto again = replay(initial, shortest);
      FAIL() << "incremental differs from full translation\n  seed: " << seed
             << " (SLUICE_PROPERTY_SEED=" << seed << " reproduces)\n  after event " << done
             << ", batch " << batches.size() << ": " << d << "\n  shortest sequence found ("
             << shortest.size() << " batches"
             << (again ? ", fails with: " + again->what : std::string(", did not fail again"))
             << "):\n"
             << render(shortest);
    }
  }
}

TEST(IncrementalEqualsFullTest, TenThousandRandomEventsKeepIncrementalEqualToFull) {
  coverage seen;
  run_property(seed_from_env(1), 24, 10'000, &seen);
  // The sequence went through what it is meant to check: Service churn, kube Upstreams without
  // their Service, and the world losing every Service and getting them back, several times.
  EXPECT_GT(seen.service_events, 500u);
  EXPECT_GT(seen.service_port_endpoints, 50u);
  EXPECT_GT(seen.unbound_changes, 200u);
  EXPECT_GE(seen.services_gone, 5u);
  EXPECT_GE(seen.services_back, 5u);
}

TEST(IncrementalEqualsFullTest, SoakManySeedsOnLargerWorlds) {
  const uint64_t first = seed_from_env(100);
  for (uint64_t seed = first; seed < first + 5; ++seed) {
    run_property(seed, 80, 20'000);
    if (HasFatalFailure()) {
      return;
    }
  }
}

// --- targeted properties -------------------------------------------------------------------------

class IncrementalTranslatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    initial_ = bench::build_world(small_world(3, 40));
    inc_.reset(initial_);
    inc_.flush();
    seq_ = initial_.watermark();
  }

  translation_delta apply(const std::vector<sluice::v1::Event>& events) {
    for (auto ev : events) {
      ev.set_seq(++seq_);
      EXPECT_TRUE(inc_.apply(ev));
    }
    return inc_.flush();
  }

  const model::stored_resource& any(resource_kind kind) {
    return inc_.world().of(kind).begin()->second;
  }

  model::world initial_;
  incremental_translator inc_;
  uint64_t seq_ = 0;
};

// --- Services ------------------------------------------------------------------------------------

// What the tests below look at: a kube Upstream that a VirtualService routes to, and its Service.
struct routed_upstream {
  resource_key virtual_service;
  resource_key upstream;
  resource_key service;
};

std::optional<routed_upstream> find_routed_kube_upstream(const model::world& w) {
  for (const auto& [nn, stored] : w.of(resource_kind::virtual_service)) {
    const auto& vs = static_cast<const gw::VirtualService&>(*stored.message);
    for (const auto& route : vs.virtual_host().routes()) {
      if (!route.route_action().has_single() || !route.route_action().single().has_upstream()) {
        continue;
      }
      const auto& ref = route.route_action().single().upstream();
      const resource_key uk{resource_kind::upstream, ref.namespace_(), ref.name()};
      const auto* u = w.find(uk);
      if (u == nullptr || !static_cast<const gl::Upstream&>(*u->message).has_kube()) {
        continue;
      }
      const resource_key sk{resource_kind::service, uk.ns, uk.name};
      if (w.find(sk) != nullptr) {
        return routed_upstream{stored.key, uk, sk};
      }
    }
  }
  return std::nullopt;
}

bool serves_cluster_of(incremental_translator& inc, const resource_key& upstream) {
  auto snap = inc.snapshot("gloo-system~gateway-proxy");
  return snap != nullptr
         && snap->of(cluster_type).items.count(cluster_name(upstream.name, upstream.ns)) > 0;
}

// The errors the report has on `key` (none when it has no entry).
std::vector<std::string> errors_in_report(incremental_translator& inc, const resource_key& key) {
  const auto report = inc.report();
  auto i = report.entries().find(key);
  return i == report.entries().end() ? std::vector<std::string>{} : i->second.errors;
}

bool names_missing_service(const std::vector<std::string>& errors, const std::string& service) {
  return std::any_of(errors.begin(), errors.end(), [&](const std::string& e) {
    return e.find("references the service '" + service + "' which does not exist")
           != std::string::npos;
  });
}

size_t kube_upstreams(const model::world& w) {
  size_t n = 0;
  for (const auto& [nn, u] : w.of(resource_kind::upstream)) {
    n += static_cast<const gl::Upstream&>(*u.message).has_kube() ? 1 : 0;
  }
  return n;
}

TEST_F(IncrementalTranslatorTest, ServiceDeletedAndRecreatedUnderARoutedUpstream) {
  const auto target = find_routed_kube_upstream(inc_.world());
  ASSERT_TRUE(target.has_value());
  const auto service = inc_.world().find(target->service)->message;
  const auto vs_report = inc_.report().entries().at(target->virtual_service);
  ASSERT_TRUE(serves_cluster_of(inc_, target->upstream));

  auto before = inc_.stats().upstreams;
  apply({bench::make_event(target->service, nullptr)});
  EXPECT_EQ(difference(inc_), "");
  // Only the Upstream that reads the Service is translated again; it loses its cluster, and the
  // route to it says so.
  EXPECT_EQ(inc_.stats().upstreams - before, 1u);
  EXPECT_TRUE(
      names_missing_service(errors_in_report(inc_, target->upstream), target->service.name));
  EXPECT_FALSE(serves_cluster_of(inc_, target->upstream));
  EXPECT_NE(inc_.report().entries().at(target->virtual_service).warnings, vs_report.warnings);

  before = inc_.stats().upstreams;
  apply({bench::make_event(target->service, service.get())});
  EXPECT_EQ(difference(inc_), "");
  EXPECT_EQ(inc_.stats().upstreams - before, 1u);
  EXPECT_TRUE(errors_in_report(inc_, target->upstream).empty());
  EXPECT_TRUE(serves_cluster_of(inc_, target->upstream));
  EXPECT_EQ(inc_.report().entries().at(target->virtual_service).warnings, vs_report.warnings);
}

// default.kubernetes is named by no Upstream: deleting it last is what empties the world of
// Services, and only the "any Service at all" rule can tell the kube Upstreams to look again.
TEST_F(IncrementalTranslatorTest, LastServiceGoingTurnsTheCheckOffAndTheFirstBackOn) {
  const resource_key api{resource_kind::service, "default", "kubernetes"};
  const auto* api_stored = inc_.world().find(api);
  ASSERT_NE(api_stored, nullptr);
  const auto api_message = api_stored->message;
  std::vector<sluice::v1::Event> deletes;
  std::vector<sluice::v1::Event> creates;
  for (const auto& [nn, s] : inc_.world().of(resource_kind::service)) {
    if (s.key != api) {
      deletes.push_back(bench::make_event(s.key, nullptr));
      creates.push_back(bench::make_event(s.key, s.message.get()));
    }
  }
  ASSERT_GT(deletes.size(), 2u);
  const auto kube = kube_upstreams(inc_.world());
  const resource_key unbound{resource_kind::upstream, "team-0", "svc-unbound-0"};
  ASSERT_FALSE(serves_cluster_of(inc_, unbound));

  // Every Service but one: the check stays on, the Upstreams that read them are rejected.
  auto before = inc_.stats().upstreams;
  apply(deletes);
  ASSERT_EQ(difference(inc_), "");
  EXPECT_EQ(inc_.stats().upstreams - before, deletes.size());
  for (const auto& [nn, u] : inc_.world().of(resource_kind::upstream)) {
    if (static_cast<const gl::Upstream&>(*u.message).has_kube()) {
      EXPECT_TRUE(names_missing_service(errors_in_report(inc_, u.key), u.key.name))
          << u.key.to_string();
    }
  }

  // The last one: no Service at all, nothing is checked, every kube Upstream has its cluster.
  before = inc_.stats().upstreams;
  apply({bench::make_event(api, nullptr)});
  ASSERT_EQ(difference(inc_), "");
  EXPECT_EQ(inc_.stats().upstreams - before, kube);
  for (const auto& [nn, u] : inc_.world().of(resource_kind::upstream)) {
    EXPECT_TRUE(errors_in_report(inc_, u.key).empty()) << u.key.to_string();
    EXPECT_TRUE(serves_cluster_of(inc_, u.key)) << u.key.to_string();
  }

  // One Service, named by nobody, comes back: every kube Upstream is checked again.
  before = inc_.stats().upstreams;
  apply({bench::make_event(api, api_message.get())});
  ASSERT_EQ(difference(inc_), "");
  EXPECT_EQ(inc_.stats().upstreams - before, kube);
  EXPECT_FALSE(serves_cluster_of(inc_, unbound));

  apply(creates);
  EXPECT_EQ(difference(inc_), "");
  EXPECT_TRUE(names_missing_service(errors_in_report(inc_, unbound), unbound.name));
  EXPECT_FALSE(serves_cluster_of(inc_, unbound));
}

TEST_F(IncrementalTranslatorTest, ServicesGoneAndBackInOneBatchChangeNothingServed) {
  std::vector<sluice::v1::Event> events;
  for (const auto& [nn, s] : inc_.world().of(resource_kind::service)) {
    events.push_back(bench::make_event(s.key, nullptr));
  }
  for (const auto& [nn, s] : inc_.world().of(resource_kind::service)) {
    events.push_back(bench::make_event(s.key, s.message.get()));
  }
  const auto delta = apply(events);
  EXPECT_EQ(difference(inc_), "");
  EXPECT_TRUE(delta.changed.empty());
  EXPECT_TRUE(delta.removed.empty());
}

TEST_F(IncrementalTranslatorTest, FlipSpreadOverBatchesKeepsIncrementalEqualToFull) {
  std::mt19937_64 rng(4);
  for (int round = 0; round < 4; ++round) {
    const auto flip = bench::service_flip(inc_.world(), rng);
    ASSERT_FALSE(flip.empty());
    for (size_t at = 0; at < flip.size();) {
      const size_t n = std::min<size_t>(flip.size() - at, 1 + rng() % 3);
      apply(std::vector<sluice::v1::Event>(flip.begin() + static_cast<long>(at),
                                           flip.begin() + static_cast<long>(at + n)));
      ASSERT_EQ(difference(inc_), "") << "round " << round << ", after event " << at + n;
      at += n;
    }
    EXPECT_EQ(inc_.world().of(resource_kind::service).empty(), round % 2 == 0);
  }
}

// A kube Upstream pointed at a Service that arrives later: rejected until it does; naming the
// same Service another way (serviceNamespace left empty) keeps it.
TEST_F(IncrementalTranslatorTest, UpstreamRetargetedToAMissingServiceWaitsForIt) {
  const auto target = find_routed_kube_upstream(inc_.world());
  ASSERT_TRUE(target.has_value());
  auto u = std::make_shared<gl::Upstream>();
  u->CopyFrom(*inc_.world().find(target->upstream)->message);
  u->mutable_kube()->set_service_name("arrives-later");
  auto before = inc_.stats().upstreams;
  apply({bench::make_event(target->upstream, u.get())});
  ASSERT_EQ(difference(inc_), "");
  EXPECT_EQ(inc_.stats().upstreams - before, 1u);
  EXPECT_TRUE(names_missing_service(errors_in_report(inc_, target->upstream), "arrives-later"));
  EXPECT_FALSE(serves_cluster_of(inc_, target->upstream));

  ::kube::core::v1::Service svc;
  svc.mutable_metadata()->set_name("arrives-later");
  svc.mutable_metadata()->set_namespace_(target->upstream.ns);
  svc.add_ports()->set_port(8080);
  before = inc_.stats().upstreams;
  apply({bench::make_event({resource_kind::service, target->upstream.ns, "arrives-later"}, &svc)});
  ASSERT_EQ(difference(inc_), "");
  EXPECT_EQ(inc_.stats().upstreams - before, 1u);
  EXPECT_TRUE(errors_in_report(inc_, target->upstream).empty());
  EXPECT_TRUE(serves_cluster_of(inc_, target->upstream));

  // The same Service by its default namespace: still found. (The cluster is sent again all the
  // same: its EDS name carries a hash of the Upstream, as Gloo's does.)
  u->mutable_kube()->clear_service_namespace();
  apply({bench::make_event(target->upstream, u.get())});
  EXPECT_EQ(difference(inc_), "");
  EXPECT_TRUE(errors_in_report(inc_, target->upstream).empty());
  EXPECT_TRUE(serves_cluster_of(inc_, target->upstream));
}

TEST_F(IncrementalTranslatorTest, ServiceEditTranslatesOnlyTheUpstreamsNamingIt) {
  const auto target = find_routed_kube_upstream(inc_.world());
  ASSERT_TRUE(target.has_value());
  auto svc = std::make_shared<::kube::core::v1::Service>();
  svc->CopyFrom(*inc_.world().find(target->service)->message);
  svc->set_cluster_ip("10.99.1.2");
  svc->mutable_ports(0)->set_target_port("http");
  const auto before = inc_.stats();
  const auto delta = apply({bench::make_event(target->service, svc.get())});
  EXPECT_EQ(difference(inc_), "");
  // Translation reads whether the Service exists, nothing else: nothing served changes.
  EXPECT_EQ(inc_.stats().upstreams - before.upstreams, 1u);
  EXPECT_EQ(inc_.stats().virtual_services, before.virtual_services);
  EXPECT_TRUE(delta.changed.empty());
}

TEST_F(IncrementalTranslatorTest, BurstOfChangesToOneResourceCostsOneTranslation) {
  const auto& stored = any(resource_kind::virtual_service);
  const auto key = stored.key;
  std::vector<sluice::v1::Event> burst;
  for (int i = 0; i < 50; ++i) {
    auto vs = std::make_shared<gw::VirtualService>();
    vs->CopyFrom(*stored.message);
    vs->mutable_virtual_host()->mutable_routes(0)->mutable_matchers(0)->set_prefix(
        "/burst-" + std::to_string(i));
    burst.push_back(bench::make_event(key, vs.get()));
  }
  const auto before = inc_.stats().virtual_services;
  apply(burst);
  EXPECT_EQ(inc_.stats().virtual_services - before, 1u);
  EXPECT_EQ(difference(inc_), "");
}

TEST_F(IncrementalTranslatorTest, EndpointChangeTouchesEndpointsOnly) {
  const auto& stored = any(resource_kind::endpoint);
  auto e = std::make_shared<gl::Endpoint>();
  e->CopyFrom(*stored.message);
  e->set_address("10.99.0.1");
  const auto vhosts = inc_.stats().envoy_virtual_hosts;
  const auto rcs = inc_.stats().route_configurations;
  const auto delta = apply({bench::make_event(stored.key, e.get())});
  EXPECT_EQ(inc_.stats().envoy_virtual_hosts, vhosts);
  EXPECT_EQ(inc_.stats().route_configurations, rcs);
  ASSERT_FALSE(delta.changed.empty());
  for (const auto& [key, change] : delta.changed) {
    ASSERT_EQ(change.types.size(), 1u) << key;
    EXPECT_EQ(change.types.begin()->first, endpoint_type) << key;
    EXPECT_EQ(change.types.begin()->second.upserted.size(), 1u) << key;
  }
  EXPECT_EQ(difference(inc_), "");
}

TEST_F(IncrementalTranslatorTest, VirtualServiceEditTranslatesItsVirtualHostsOnly) {
  const auto& stored = any(resource_kind::virtual_service);
  auto vs = std::make_shared<gw::VirtualService>();
  vs->CopyFrom(*stored.message);
  vs->mutable_virtual_host()->mutable_routes(0)->mutable_matchers(0)->set_prefix("/edited");
  const auto before = inc_.stats();
  const auto delta = apply({bench::make_event(stored.key, vs.get())});
  EXPECT_EQ(inc_.stats().virtual_services - before.virtual_services, 1u);
  // One listener's virtual host plus the proxyless one.
  EXPECT_EQ(inc_.stats().envoy_virtual_hosts - before.envoy_virtual_hosts, 2u);
  EXPECT_EQ(inc_.stats().upstreams, before.upstreams);
  for (const auto& [key, change] : delta.changed) {
    EXPECT_EQ(change.types.count(std::string(cluster_type)), 0u) << key;
    EXPECT_EQ(change.types.count(std::string(endpoint_type)), 0u) << key;
  }
  EXPECT_EQ(difference(inc_), "");
}

TEST_F(IncrementalTranslatorTest, RouteToMissingUpstreamIsRepairedWhenItAppears) {
  const auto& stored = any(resource_kind::virtual_service);
  auto vs = std::make_shared<gw::VirtualService>();
  vs->CopyFrom(*stored.message);
  auto* r = vs->mutable_virtual_host()->add_routes();
  r->add_matchers()->set_prefix("/soon");
  auto* ref = r->mutable_route_action()->mutable_single()->mutable_upstream();
  ref->set_name("arrives-later");
  ref->set_namespace_(stored.key.ns);
  apply({bench::make_event(stored.key, vs.get())});
  ASSERT_EQ(difference(inc_), "");
  EXPECT_FALSE(inc_.report().entries().at(stored.key).warnings.empty());

  gl::Upstream u;
  u.mutable_metadata()->set_name("arrives-later");
  u.mutable_metadata()->set_namespace_(stored.key.ns);
  u.mutable_kube()->set_service_name("arrives-later");
  u.mutable_kube()->set_service_port(80);
  // With its Service: the world holds Services, so a kube Upstream without one has no cluster.
  ::kube::core::v1::Service svc;
  svc.mutable_metadata()->set_name("arrives-later");
  svc.mutable_metadata()->set_namespace_(stored.key.ns);
  svc.add_ports()->set_port(80);
  apply({bench::make_event({resource_kind::service, stored.key.ns, "arrives-later"}, &svc),
         bench::make_event({resource_kind::upstream, stored.key.ns, "arrives-later"}, &u)});
  EXPECT_EQ(difference(inc_), "");
  EXPECT_TRUE(inc_.report().entries().at(stored.key).warnings.empty());
}

// A route's delegateOptions reference is a read of the RouteOption: the option appearing
// later, and each edit of it, must reach the VirtualService's virtual host.
TEST_F(IncrementalTranslatorTest, RouteOptionRefFollowsTheOptionResource) {
  const auto& stored = any(resource_kind::virtual_service);
  auto vs = std::make_shared<gw::VirtualService>();
  vs->CopyFrom(*stored.message);
  auto* r = vs->mutable_virtual_host()->add_routes();
  r->add_matchers()->set_prefix("/opts");
  r->mutable_direct_response_action()->set_status(200);
  auto* ref = r->mutable_options_config_refs()->add_delegate_options();
  ref->set_name("shared-rewrite");
  ref->set_namespace_(stored.key.ns);
  apply({bench::make_event(stored.key, vs.get())});
  ASSERT_EQ(difference(inc_), "");

  const resource_key option_key{resource_kind::route_option, stored.key.ns, "shared-rewrite"};
  gw::RouteOption option;
  option.mutable_metadata()->set_name("shared-rewrite");
  option.mutable_metadata()->set_namespace_(stored.key.ns);
  option.mutable_options()->mutable_prefix_rewrite()->set_value("/v1/");
  apply({bench::make_event(option_key, &option)});
  EXPECT_EQ(difference(inc_), "");
  option.mutable_options()->mutable_prefix_rewrite()->set_value("/v2/");
  apply({bench::make_event(option_key, &option)});
  EXPECT_EQ(difference(inc_), "");
  apply({bench::make_event(option_key, nullptr)});
  EXPECT_EQ(difference(inc_), "");
}

TEST_F(IncrementalTranslatorTest, NewRouteTableWithMatchingLabelsReachesTheSelector) {
  const auto& stored = any(resource_kind::virtual_service);
  auto vs = std::make_shared<gw::VirtualService>();
  vs->CopyFrom(*stored.message);
  auto* r = vs->mutable_virtual_host()->add_routes();
  r->add_matchers()->set_prefix("/team");
  (*r->mutable_delegate_action()->mutable_selector()->mutable_labels())["owner"] = "team-x";
  apply({bench::make_event(stored.key, vs.get())});
  ASSERT_EQ(difference(inc_), "");

  gw::RouteTable rt;
  rt.mutable_metadata()->set_name("team-x-routes");
  rt.mutable_metadata()->set_namespace_(stored.key.ns);
  (*rt.mutable_metadata()->mutable_labels())["owner"] = "team-x";
  auto* route = rt.add_routes();
  route->add_matchers()->set_prefix("/team/a");
  route->mutable_direct_response_action()->set_status(204);
  const auto before = inc_.stats().virtual_services;
  apply({bench::make_event({resource_kind::route_table, stored.key.ns, "team-x-routes"}, &rt)});
  EXPECT_EQ(inc_.stats().virtual_services - before, 1u);
  EXPECT_EQ(difference(inc_), "");
}

TEST_F(IncrementalTranslatorTest, VersionsAreTheSameForTheSameWorld) {
  std::mt19937_64 rng(9);
  apply({bench::random_change(inc_.world(), bench::change_kind::virtual_service, rng)});
  incremental_translator other;
  other.reset(inc_.world());
  other.flush();
  const auto a = inc_.snapshots();
  const auto b = other.snapshots();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [key, snap] : a) {
    for (const auto& [type, set] : snap->types) {
      EXPECT_EQ(b.at(key)->of(type).version, set.version) << key << " " << type;
    }
  }
}

TEST_F(IncrementalTranslatorTest, ListenersGoWithTheLastVirtualServiceAndComeBackInOneBatch) {
  std::vector<sluice::v1::Event> deletes;
  std::vector<sluice::v1::Event> creates;
  for (const auto& [nn, vs] : inc_.world().of(resource_kind::virtual_service)) {
    deletes.push_back(bench::make_event(vs.key, nullptr));
    if (creates.size() < 2) {
      creates.push_back(bench::make_event(vs.key, vs.message.get()));
    }
  }
  const auto gone = apply(deletes);
  ASSERT_EQ(difference(inc_), "");
  // No VirtualService at all: Gloo's HTTP gateways have no listener, so the proxy has none.
  EXPECT_EQ(gone.removed, std::vector<std::string>{"gloo-system~gateway-proxy"});
  apply(creates);
  EXPECT_EQ(difference(inc_), "");
  auto back = inc_.snapshot("gloo-system~gateway-proxy");
  ASSERT_NE(back, nullptr);
  EXPECT_FALSE(back->of(listener_type).items.empty());
}

TEST_F(IncrementalTranslatorTest, GoneProxyIsReportedRemoved) {
  std::vector<sluice::v1::Event> deletes;
  for (const auto& [nn, g] : inc_.world().of(resource_kind::gateway)) {
    deletes.push_back(bench::make_event(g.key, nullptr));
  }
  const auto delta = apply(deletes);
  ASSERT_EQ(delta.removed.size(), 1u);
  EXPECT_EQ(delta.removed.front(), "gloo-system~gateway-proxy");
  EXPECT_EQ(inc_.snapshot("gloo-system~gateway-proxy"), nullptr);
  EXPECT_EQ(difference(inc_), "");
}

}  // namespace
}  // namespace sluice::xds
