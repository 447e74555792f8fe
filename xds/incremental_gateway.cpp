// Gateway translation, incrementally: which VirtualServices each Gateway selects and places,
// which listeners each proxy gets. Mirrors model/gateway_translator.cpp (selection, placement in
// arrival order, TLS checks, ports), whose messages are repeated here verbatim; the property test
// holds the two equal.
#include <algorithm>

#include "model/error.hpp"
#include "model/gateway_attribution.hpp"
#include "model/selector.hpp"
#include "xds/envoy_common.hpp"
#include "xds/incremental_state.hpp"

namespace sluice::xds {

namespace {

constexpr const char* default_proxy_name = "gateway-proxy";
constexpr const char* isolate_vhost_annotation = "gateway.solo.io/isolate_vhost";

const gw::Gateway& gateway_of(const gateway_entry& g) {
  return static_cast<const gw::Gateway&>(*g.message);
}

std::string where_of(const gateway_entry& g) { return "gateway " + model::ref_key(g.key); }

void insert_sorted(std::vector<resource_key>& v, const resource_key& k) {
  auto i = std::lower_bound(v.begin(), v.end(), k);
  if (i == v.end() || *i != k) {
    v.insert(i, k);
  }
}

bool erase_sorted(std::vector<resource_key>& v, const resource_key& k) {
  auto i = std::lower_bound(v.begin(), v.end(), k);
  if (i == v.end() || *i != k) {
    return false;
  }
  v.erase(i);
  return true;
}

}  // namespace

std::vector<std::string> incremental_translator::state::proxy_names(const gateway_entry& g) const {
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const auto& n : gateway_of(g).proxy_names()) {
    if (seen.insert(n).second) {
      names.push_back(n);
    }
  }
  if (names.empty()) {
    names.emplace_back(default_proxy_name);
  }
  return names;
}

void incremental_translator::state::gateway_header(gateway_entry& g) {
  const auto& gwm = gateway_of(g);
  const auto& key = g.key;
  g.report = {};
  g.refs.clear();
  g.read = key.ns == gopt.write_namespace || gopt.read_gateways_from_all_namespaces;
  g.has_listener = false;
  auto& l = g.header;
  l.Clear();
  const std::string address = gwm.bind_address().empty() ? "::" : gwm.bind_address();
  l.set_name("listener-" + address + "-" + std::to_string(gwm.bind_port()));
  l.set_bind_address(address);
  l.set_bind_port(gwm.bind_port());
  if (gwm.has_use_proxy_proto()) {
    *l.mutable_use_proxy_proto() = gwm.use_proxy_proto();
  }
  if (gwm.has_options()) {
    *l.mutable_options() = gwm.options();
  }
  if (gwm.has_route_options()) {
    *l.mutable_route_options() = gwm.route_options();
  }
  model::add_source(*l.mutable_metadata_static(), key, gwm.metadata().generation());
  if (!g.read) {
    g.header_hash = hash_of(l);
    return;
  }
  switch (gwm.GatewayType_case()) {
    case gw::Gateway::kHttpGateway: {
      if (world.of(resource_kind::virtual_service).empty() && !gopt.translate_empty_gateways) {
        break;
      }
      g.has_listener = true;
      bool isolate = gopt.isolate_virtual_hosts_by_ssl_config;
      if (auto a = gwm.metadata().annotations().find(isolate_vhost_annotation);
          a != gwm.metadata().annotations().end()) {
        isolate = a->second == "true";
      }
      if (isolate) {
        model::report_warning(g.report, key,
                              "virtual host isolation by sslConfig (AggregateListener) is not "
                              "supported: the virtual services of this gateway share one route "
                              "configuration");
      }
      const auto& http = gwm.http_gateway();
      const bool by_expressions = !http.virtual_service_expressions().expressions().empty();
      const bool by_selector = !by_expressions && !http.virtual_service_selector().empty();
      const bool by_refs = !by_expressions && !by_selector && !http.virtual_services().empty();
      if (by_expressions) {
        if (auto err = model::validate_expressions(http.virtual_service_expressions().expressions())) {
          model::report_error(g.report, key,
                              "invalid virtualServiceExpressions: " + describe(err) +
                                  "; no virtual service is selected by this gateway until it is "
                                  "fixed");
        }
      }
      if (by_refs) {
        for (const auto& ref : http.virtual_services()) {
          resource_key k{resource_kind::virtual_service,
                         ref.namespace_().empty() ? key.ns : ref.namespace_(), ref.name()};
          const auto* vs = world.find(k);
          if (vs == nullptr) {
            model::report_error(g.report, key,
                                "invalid virtual service ref " + model::ref_key(k) +
                                    ": virtual service not found (the other refs are served)");
          } else if (static_cast<const gw::VirtualService&>(*vs->message).has_ssl_config() !=
                     gwm.ssl()) {
            model::report_warning(
                g.report, key,
                "virtual service " + model::ref_key(k) +
                    (gwm.ssl() ? " has no sslConfig and this gateway is ssl"
                               : " has an sslConfig and this gateway is not ssl") +
                    ": it is not served here");
          }
          g.refs.insert(std::move(k));
        }
      }
      auto* hl = l.mutable_http_listener();
      if (http.has_options()) {
        *hl->mutable_options() = http.options();
      }
      break;
    }
    case gw::Gateway::kTcpGateway:
      g.has_listener = true;
      *l.mutable_tcp_listener() = model::tcp_listener_for(key, gwm.tcp_gateway(), gopt);
      break;
    case gw::Gateway::kHybridGateway:
      // Handled by translate_world (see flush); never here.
      break;
    case gw::Gateway::GATEWAYTYPE_NOT_SET:
      model::report_error(g.report, key,
                          "invalid gateway: gateway must set one of httpGateway, tcpGateway or "
                          "hybridGateway; it has no listener");
      break;
  }
  g.header_hash = hash_of(l);
}

bool incremental_translator::state::selects(const gateway_entry& g,
                                            const model::stored_resource& stored) const {
  const auto& gwm = gateway_of(g);
  const auto& http = gwm.http_gateway();
  const auto& vs = static_cast<const gw::VirtualService&>(*stored.message);
  if (vs.has_ssl_config() != gwm.ssl()) {
    return false;
  }
  const bool by_expressions = !http.virtual_service_expressions().expressions().empty();
  const bool by_selector = !by_expressions && !http.virtual_service_selector().empty();
  const bool by_refs = !by_expressions && !by_selector && !http.virtual_services().empty();
  const auto& labels = vs.metadata().labels();
  if (by_expressions) {
    if (model::validate_expressions(http.virtual_service_expressions().expressions())) {
      return false;
    }
    auto ok = model::expressions_match(http.virtual_service_expressions().expressions(), labels);
    return model::namespace_selected(http.virtual_service_namespaces(), stored.key.ns, nullptr) &&
           ok && *ok;
  }
  if (by_selector) {
    return model::namespace_selected(http.virtual_service_namespaces(), stored.key.ns, nullptr) &&
           model::labels_match(http.virtual_service_selector(), labels);
  }
  if (by_refs) {
    return g.refs.count(stored.key) > 0;
  }
  return model::namespace_selected(http.virtual_service_namespaces(), stored.key.ns, nullptr);
}

void incremental_translator::state::compute_placement(const gateway_entry& g,
                                                      const model::stored_resource& stored,
                                                      placement& p) const {
  p = placement{};
  const auto it = vss.find(stored.key);
  if (it == vss.end() || !it->second.t.virtual_host) {
    return;
  }
  const auto& vh = *it->second.t.virtual_host;
  p.domains.assign(vh.domains().begin(), vh.domains().end());
  if (p.domains.empty()) {
    p.domains.emplace_back("*");
  }
  if (gateway_of(g).ssl()) {
    p.ssl = static_cast<const gw::VirtualService&>(*stored.message).ssl_config();
    if (p.ssl.has_secret_ref() && p.ssl.secret_ref().namespace_().empty()) {
      p.ssl.mutable_secret_ref()->set_namespace_(stored.key.ns);
    }
    if (!p.ssl.has_one_way_tls() && gopt.one_way_tls) {
      p.ssl.mutable_one_way_tls()->set_value(*gopt.one_way_tls);
    }
    bool is_error = false;
    if (auto problem = model::tls_secret_problem(world, gopt, p.ssl, stored.key.ns, is_error)) {
      p.secret_problem = std::make_pair(is_error, "sslConfig: " + *problem + "; " + where_of(g) +
                                                      " does not serve this virtual service "
                                                      "until this is fixed");
    }
    gl::SslConfig without_sni = p.ssl;
    without_sni.clear_sni_domains();
    p.tls_key = model::canonical_bytes(without_sni);
    p.sni.assign(p.ssl.sni_domains().begin(), p.ssl.sni_domains().end());
    p.match_all = p.sni.empty();
  }
  p.eligible = true;
}

void incremental_translator::state::count_claims(gateway_entry& g, const placement& p,
                                                 int delta) const {
  if (!p.eligible) {
    return;
  }
  auto bump = [delta](std::unordered_map<std::string, size_t>& m, const std::string& k) {
    if (delta > 0) {
      ++m[k];
    } else if (auto i = m.find(k); i != m.end() && --i->second == 0) {
      m.erase(i);
    }
  };
  for (const auto& d : p.domains) {
    bump(g.domain_claims, d);
  }
  if (!gateway_of(g).ssl()) {
    return;
  }
  for (const auto& s : p.sni) {
    bump(g.sni_claims, s);
  }
  bump(g.key_claims, p.tls_key);
  if (p.match_all) {
    g.match_all_claims = delta > 0 ? g.match_all_claims + 1 : g.match_all_claims - 1;
  }
}

bool incremental_translator::state::entangled(const gateway_entry& g, const placement& p) const {
  // Counts include `p` itself: anything above one means another VirtualService claims the same
  // domain or SNI name (or TLS configuration), so the arrival order decides between them.
  if (!p.eligible) {
    return false;
  }
  auto shared = [](const std::unordered_map<std::string, size_t>& m, const std::string& k) {
    auto i = m.find(k);
    return i != m.end() && i->second > 1;
  };
  for (const auto& d : p.domains) {
    if (shared(g.domain_claims, d)) {
      return true;
    }
  }
  if (!gateway_of(g).ssl()) {
    return false;
  }
  for (const auto& s : p.sni) {
    if (shared(g.sni_claims, s)) {
      return true;
    }
  }
  return shared(g.key_claims, p.tls_key) || (p.match_all && g.match_all_claims > 1);
}

void incremental_translator::state::place_all(gateway_entry& g) {
  ++stats.placements;
  stopwatch sw(stats.translate_ns);
  const auto where = where_of(g);
  struct tls_claim {
    resource_key first_owner;
    std::set<std::string> server_names;
    bool match_all = false;
  };
  std::unordered_map<std::string, resource_key> domain_owner;
  std::map<std::string, tls_claim> tls_claims;
  const bool tls = gateway_of(g).ssl();
  std::vector<resource_key> served;
  for (const auto& [seq, key] : g.arrival) {
    auto& p = g.selected.at(key);
    p.accepted = false;
    if (!p.eligible) {
      continue;
    }
    p.finding.reset();
    bool conflict = false;
    for (const auto& d : p.domains) {
      if (auto o = domain_owner.find(d); o != domain_owner.end()) {
        p.finding = std::make_pair(
            true, "domain conflict: the [" + d +
                      "] domain is present in other virtual services that belong to the same "
                      "Gateway as this one: [" +
                      model::ref_key(o->second) + "]; " + where + " keeps serving " +
                      model::ref_key(o->second) +
                      ", which had the domain first, and does not serve this virtual service "
                      "(remove the domain from one of them, or merge them)");
        conflict = true;
        break;
      }
    }
    if (conflict) {
      continue;
    }
    if (p.secret_problem) {
      p.finding = p.secret_problem;
      continue;
    }
    if (tls) {
      std::optional<std::string> overlap;
      const resource_key* other = nullptr;
      for (const auto& [k, claim] : tls_claims) {
        if (k == p.tls_key) {
          continue;
        }
        if (p.sni.empty()) {
          if (claim.match_all) {
            overlap = "no sniDomains (matching any SNI name)";
            other = &claim.first_owner;
          }
        } else {
          for (const auto& d : p.sni) {
            if (claim.server_names.count(d) > 0) {
              overlap = "SNI domain " + d;
              other = &claim.first_owner;
              break;
            }
          }
        }
        if (overlap) {
          break;
        }
      }
      if (overlap) {
        p.finding = std::make_pair(
            true, "sslConfig conflict: " + *overlap +
                      " is already served with a different TLS configuration (certificate or "
                      "TLS parameters) by virtual service " +
                      model::ref_key(*other) + " on " + where +
                      "; this virtual service is not served there (use the same sslConfig as " +
                      model::ref_key(*other) + ", or sniDomains that do not overlap)");
        continue;
      }
    }
    for (const auto& d : p.domains) {
      domain_owner.emplace(d, key);
    }
    if (tls) {
      auto [i, inserted] = tls_claims.emplace(p.tls_key, tls_claim{key, {}, false});
      if (p.sni.empty()) {
        i->second.match_all = true;
      }
      i->second.server_names.insert(p.sni.begin(), p.sni.end());
    }
    p.accepted = true;
    served.push_back(key);
  }
  std::sort(served.begin(), served.end());
  if (served != g.served) {
    g.served = std::move(served);
    g.listener_changed = true;
  }
  g.placement_dirty = false;
}

void incremental_translator::state::place_one(gateway_entry& g, const resource_key& vs_key) {
  const auto* stored = world.find(vs_key);
  const bool now = stored != nullptr && selects(g, *stored);
  bool tangled = false;
  bool was_served = false;
  std::string old_ssl;
  if (auto i = g.selected.find(vs_key); i != g.selected.end()) {
    tangled = entangled(g, i->second);
    was_served = i->second.accepted;
    if (gateway_of(g).ssl()) {
      old_ssl = model::canonical_bytes(i->second.ssl);
    }
    count_claims(g, i->second, -1);
    g.arrival.erase({i->second.seq, vs_key});
    g.selected.erase(i);
  }
  const auto tls_id = id_of(piece_kind::vs_tls, vs_key);
  if (!now) {
    if (was_served) {
      erase_sorted(g.served, vs_key);
      g.listener_changed = true;
    }
    g.placement_dirty = g.placement_dirty || tangled;
    return;
  }
  placement p;
  compute_placement(g, *stored, p);
  p.seq = stored->seq;
  if (gateway_of(g).ssl()) {
    // The TLS check reads the Secret the sslConfig names.
    model::piece_reads reads;
    const auto& vs = static_cast<const gw::VirtualService&>(*stored->message);
    if (vs.ssl_config().has_secret_ref()) {
      const auto& ref = vs.ssl_config().secret_ref();
      reads.keys.push_back(resource_key{resource_kind::secret,
                                        ref.namespace_().empty() ? vs_key.ns : ref.namespace_(),
                                        ref.name()});
    }
    deps.record(tls_id, std::move(reads));
  }
  count_claims(g, p, +1);
  g.arrival.insert({stored->seq, vs_key});
  auto& placed = g.selected.emplace(vs_key, std::move(p)).first->second;
  const bool ssl_changed =
      gateway_of(g).ssl() && old_ssl != model::canonical_bytes(placed.ssl);
  if (ssl_changed) {
    // The listener carries the TLS configurations of the served ones: look again.
    g.listener_changed = true;
  }
  if (tangled || entangled(g, placed)) {
    g.placement_dirty = true;
    return;
  }
  // Nobody else claims what it claims: only its own TLS secret can keep it out.
  placed.accepted = placed.eligible && !placed.secret_problem;
  placed.finding = placed.eligible ? placed.secret_problem : std::nullopt;
  if (placed.accepted) {
    insert_sorted(g.served, vs_key);
    if (!was_served) {
      g.listener_changed = true;
    }
  } else if (was_served) {
    erase_sorted(g.served, vs_key);
    g.listener_changed = true;
  }
}

void incremental_translator::state::rebuild_gateway(gateway_entry& g) {
  gateway_header(g);
  g.selected.clear();
  g.arrival.clear();
  g.served.clear();
  g.domain_claims.clear();
  g.sni_claims.clear();
  g.key_claims.clear();
  g.match_all_claims = 0;
  g.listener_changed = true;
  g.placement_dirty = false;
  if (!g.has_listener || !gateway_of(g).has_http_gateway()) {
    return;
  }
  for (const auto& [nn, stored] : world.of(resource_kind::virtual_service)) {
    if (selects(g, stored)) {
      place_one(g, stored.key);
    }
  }
  place_all(g);
}

void incremental_translator::state::update_gateways() {
  if (gateways_dirty) {
    std::map<resource_key, gateway_entry> next;
    for (const auto& [nn, stored] : world.of(resource_kind::gateway)) {
      auto& g = next[stored.key];
      g.key = stored.key;
      g.message = stored.message;
      g.seq = stored.seq;
      rebuild_gateway(g);
    }
    gateways = std::move(next);
    gateways_dirty = false;
    proxies_dirty = true;
    return;
  }
  for (auto& [key, g] : gateways) {
    g.listener_changed = false;
    if (!g.read || !g.has_listener || !gateway_of(g).has_http_gateway()) {
      continue;
    }
    bool refs_changed = false;
    for (const auto& vs : changed_vs) {
      refs_changed = refs_changed || g.refs.count(vs) > 0;
      place_one(g, vs);
    }
    for (const auto& vs : dirty_placement) {
      if (changed_vs.count(vs) == 0 && g.selected.count(vs) > 0) {
        place_one(g, vs);
      }
    }
    if (refs_changed) {
      // The refs' findings (missing, TLS mismatch) are on the Gateway.
      const auto hash = g.header_hash;
      gateway_header(g);
      g.listener_changed = g.listener_changed || hash != g.header_hash;
    }
    if (g.placement_dirty) {
      place_all(g);
    }
  }
}

void incremental_translator::state::update_proxies() {
  if (!proxies_dirty) {
    return;
  }
  proxies_dirty = false;
  std::vector<const gateway_entry*> drafts;
  for (const auto& [key, g] : gateways) {
    if (g.read && g.has_listener) {
      drafts.push_back(&g);
    }
  }
  std::vector<const gateway_entry*> by_arrival = drafts;
  std::stable_sort(by_arrival.begin(), by_arrival.end(), [](const auto* a, const auto* b) {
    return arrival_key{a->seq, a->key} < arrival_key{b->seq, b->key};
  });
  gateways_by_arrival.clear();
  port_errors.clear();
  std::map<std::string, std::map<uint32_t, resource_key>> ports;
  for (const auto* g : by_arrival) {
    gateways_by_arrival.push_back(g->key);
    const auto port = gateway_of(*g).bind_port();
    for (const auto& name : proxy_names(*g)) {
      auto& used = ports[name];
      if (auto u = used.find(port); u != used.end()) {
        port_errors[{g->key, name}] =
            "bind port " + std::to_string(port) + " is already used by gateway " +
            model::ref_key(u->second) + " on proxy " + name +
            ": this gateway's listener is not added to that proxy (use another bindPort or "
            "another proxyNames entry)";
        continue;
      }
      used.emplace(port, g->key);
    }
  }
  // Each proxy's listeners in gateway order; cached listener pieces move along.
  std::map<std::string, std::vector<resource_key>> wanted;
  for (const auto* g : drafts) {
    for (const auto& name : proxy_names(*g)) {
      if (port_errors.count({g->key, name}) == 0) {
        wanted[gopt.write_namespace + "~" + name].push_back(g->key);
      }
    }
  }
  for (auto& [role_name, role] : roles) {
    if (wanted.count(role_name) == 0) {
      role.listeners.clear();  // published as removed
    }
  }
  for (auto& [role_name, keys] : wanted) {
    auto [it, created] = roles.try_emplace(role_name);
    auto& role = it->second;
    if (created || role.proxy_name.empty()) {
      role.role = role_name;
      role.proxy_name = role_name.substr(role_name.find('~') + 1);
      role.content.changed = true;
      for (const auto& [u, c] : envoy_clusters) {
        put_cluster_items(role.content, role.secret_refs, nullptr, &c);
      }
    }
    std::map<resource_key, listener_entry> old;
    for (auto& l : role.listeners) {
      old.emplace(l.gateway, std::move(l));
    }
    role.listeners.clear();
    std::set<std::string> names;
    for (const auto& key : keys) {
      const auto& g = gateways.at(key);
      listener_entry l;
      const bool http = !g.header.has_tcp_listener();
      if (auto o = old.find(key); o != old.end()) {
        if (o->second.http == http && o->second.name == g.header.name()) {
          l = std::move(o->second);
          old.erase(o);
        }
      }
      l.gateway = key;
      l.name = g.header.name();
      l.http = http;
      l.duplicate.clear();
      if (!names.insert(l.name).second) {
        l.duplicate = "listener name " + l.name + " is used twice in proxy " + role_name +
                      "; the later one is not served";
      }
      role.listeners.push_back(std::move(l));
    }
    // Listeners that left this proxy take their resources with them.
    for (auto& [key, l] : old) {
      if (l.served) {
        role.content.remove(listener_type, l.name);
        if (l.http) {
          role.content.remove(route_type, route_config_name(l.name));
        }
      }
      for (const auto& [name, s] : l.h.listener_secrets) {
        if (auto r = role.secret_refs.find(name); r != role.secret_refs.end() && --r->second == 0) {
          role.secret_refs.erase(r);
          role.content.remove(secret_type, name);
        }
      }
      for (const auto& [name, s] : l.tcp_secrets) {
        if (auto r = role.secret_refs.find(name); r != role.secret_refs.end() && --r->second == 0) {
          role.secret_refs.erase(r);
          role.content.remove(secret_type, name);
        }
      }
    }
  }
}

gl::VirtualHost incremental_translator::state::qualified(const resource_key& vs,
                                                         const gateway_entry& g,
                                                         const std::string& proxy_name) const {
  gl::VirtualHost vh = *vss.at(vs).t.virtual_host;
  model::qualify_route_names(vh, g.key.name, proxy_name);
  return vh;
}

}  // namespace sluice::xds
