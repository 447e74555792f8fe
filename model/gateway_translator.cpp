#include "model/gateway_translator.hpp"

#include <map>
#include <optional>
#include <set>

#include "model/error.hpp"
#include "model/gateway_attribution.hpp"
#include "model/gateway_virtual_host.hpp"
#include "model/logging.hpp"
#include "model/selector.hpp"
#include "solo/gateway.pb.h"

namespace sluice::model {

namespace {

namespace gw = ::gateway::solo::io;
namespace gl = ::gloo::solo::io;

constexpr const char* default_proxy_name = "gateway-proxy";

// One run of gateway translation: the per-VirtualService virtual hosts are computed once and
// shared by every Gateway that selects them, so their findings are reported once.
class gateway_translation {
 public:
  gateway_translation(const world& w, translation_report& report) : world_(w), report_(report) {}

  /// The listener of one Gateway, route names not yet qualified; nullopt when it has none.
  std::optional<gl::Listener> listener_for(const resource_key& key, const gw::Gateway& g);

 private:
  const virtual_host_translation& virtual_host_for(const stored_resource& vs);
  std::vector<const stored_resource*> select_virtual_services(const resource_key& key,
                                                              const gw::Gateway& g);
  void fill_http_listener(const resource_key& key, const gw::Gateway& g, gl::Listener& l);

  const world& world_;
  translation_report& report_;
  std::map<resource_key, virtual_host_translation> virtual_hosts_;
};

const virtual_host_translation& gateway_translation::virtual_host_for(const stored_resource& vs) {
  auto i = virtual_hosts_.find(vs.key);
  if (i == virtual_hosts_.end()) {
    auto t = translate_virtual_service(world_, vs.key,
                                       static_cast<const gw::VirtualService&>(*vs.message));
    merge_report(report_, t.report);
    i = virtual_hosts_.emplace(vs.key, std::move(t)).first;
  }
  return i->second;
}

std::vector<const stored_resource*> gateway_translation::select_virtual_services(
    const resource_key& key, const gw::Gateway& g) {
  const auto& http = g.http_gateway();
  std::vector<const stored_resource*> out;
  // Precedence (Gloo): expressions > selector > refs > everything.
  const bool by_expressions = !http.virtual_service_expressions().expressions().empty();
  const bool by_selector = !by_expressions && !http.virtual_service_selector().empty();
  const bool by_refs = !by_expressions && !by_selector && !http.virtual_services().empty();

  if (by_expressions) {
    if (auto err = validate_expressions(http.virtual_service_expressions().expressions())) {
      report_error(report_, key, "invalid virtualServiceExpressions: " + describe(err));
      return out;
    }
  }
  std::set<resource_key> refs;
  if (by_refs) {
    for (const auto& ref : http.virtual_services()) {
      resource_key k{resource_kind::virtual_service,
                     ref.namespace_().empty() ? key.ns : ref.namespace_(), ref.name()};
      const auto* vs = world_.find(k);
      if (vs == nullptr) {
        // The VirtualServices that do exist keep serving: the Gateway says what is missing.
        report_error(report_, key,
                     "invalid virtual service ref " + ref_key(k) + ": virtual service not found");
      } else if (static_cast<const gw::VirtualService&>(*vs->message).has_ssl_config() != g.ssl()) {
        report_warning(report_, key,
                       "virtual service " + ref_key(k) +
                           (g.ssl() ? " has no sslConfig and this gateway is ssl"
                                    : " has an sslConfig and this gateway is not ssl") +
                           ": it is not served here");
      }
      refs.insert(std::move(k));
    }
  }
  for (const auto& [nn, stored] : world_.of(resource_kind::virtual_service)) {
    const auto& vs = static_cast<const gw::VirtualService&>(*stored.message);
    if (vs.has_ssl_config() != g.ssl()) {
      continue;
    }
    const auto& labels = vs.metadata().labels();
    bool selected = false;
    if (by_expressions) {
      auto ok = expressions_match(http.virtual_service_expressions().expressions(), labels);
      selected = namespace_selected(http.virtual_service_namespaces(), stored.key.ns, nullptr) &&
                 ok && *ok;
    } else if (by_selector) {
      selected = namespace_selected(http.virtual_service_namespaces(), stored.key.ns, nullptr) &&
                 labels_match(http.virtual_service_selector(), labels);
    } else if (by_refs) {
      selected = refs.count(stored.key) > 0;
    } else {
      selected = namespace_selected(http.virtual_service_namespaces(), stored.key.ns, nullptr);
    }
    if (selected) {
      out.push_back(&stored);
    }
  }
  return out;
}

void gateway_translation::fill_http_listener(const resource_key& key, const gw::Gateway& g,
                                             gl::Listener& l) {
  auto* hl = l.mutable_http_listener();
  if (g.http_gateway().has_options()) {
    *hl->mutable_options() = g.http_gateway().options();
  }
  // Domain -> the VirtualService that serves it on this Gateway. VirtualServices are visited in
  // namespace/name order and the later one of a conflicting pair is the one dropped: unlike Gloo,
  // which rejects both and the Gateway (freezing the whole listener), sluice blames only the
  // newcomer and everything else keeps serving (reference gloo.md §2.3).
  std::map<std::string, resource_key> owners;
  for (const auto* stored : select_virtual_services(key, g)) {
    const auto& t = virtual_host_for(*stored);
    if (!t.virtual_host) {
      continue;
    }
    std::vector<std::string> domains(t.virtual_host->domains().begin(),
                                     t.virtual_host->domains().end());
    if (domains.empty()) {
      domains.emplace_back("*");  // Envoy gets "*" for an empty list; two such VSs conflict
    }
    const resource_key* conflict = nullptr;
    std::string conflicting_domain;
    for (const auto& d : domains) {
      if (auto o = owners.find(d); o != owners.end()) {
        conflict = &o->second;
        conflicting_domain = d;
        break;
      }
    }
    if (conflict != nullptr) {
      report_error(report_, stored->key,
                   "domain conflict: the [" + conflicting_domain +
                       "] domain is present in other virtual services that belong to the same "
                       "Gateway as this one: [" +
                       ref_key(*conflict) + "]; gateway " + ref_key(key) + " keeps serving " +
                       ref_key(*conflict) + " and does not serve this virtual service");
      continue;
    }
    for (const auto& d : domains) {
      owners.emplace(d, stored->key);
    }
    *hl->add_virtual_hosts() = *t.virtual_host;
    if (g.ssl()) {
      *l.add_ssl_configurations() =
          static_cast<const gw::VirtualService&>(*stored->message).ssl_config();
    }
  }
}

std::optional<gl::Listener> gateway_translation::listener_for(const resource_key& key,
                                                              const gw::Gateway& g) {
  gl::Listener l;
  const std::string address = g.bind_address().empty() ? "::" : g.bind_address();
  l.set_name("listener-" + address + "-" + std::to_string(g.bind_port()));
  l.set_bind_address(address);
  l.set_bind_port(g.bind_port());
  if (g.has_use_proxy_proto()) {
    *l.mutable_use_proxy_proto() = g.use_proxy_proto();
  }
  if (g.has_options()) {
    *l.mutable_options() = g.options();
  }
  if (g.has_route_options()) {
    *l.mutable_route_options() = g.route_options();
  }
  add_source(*l.mutable_metadata_static(), key, g.metadata().generation());

  switch (g.GatewayType_case()) {
    case gw::Gateway::kHttpGateway:
      // Gloo: no VirtualService in the whole snapshot means no listener (translateEmptyGateways
      // off).
      if (world_.of(resource_kind::virtual_service).empty()) {
        return std::nullopt;
      }
      fill_http_listener(key, g, l);
      return l;
    case gw::Gateway::kTcpGateway: {
      auto* tl = l.mutable_tcp_listener();
      *tl->mutable_tcp_hosts() = g.tcp_gateway().tcp_hosts();
      for (auto& host : *tl->mutable_tcp_hosts()) {
        auto* dest = host.mutable_destination();
        if (dest->has_single() && dest->single().has_upstream() &&
            dest->single().upstream().namespace_().empty()) {
          dest->mutable_single()->mutable_upstream()->set_namespace_(key.ns);
        }
        if (dest->has_multi()) {
          for (auto& d : *dest->mutable_multi()->mutable_destinations()) {
            if (d.destination().has_upstream() && d.destination().upstream().namespace_().empty()) {
              d.mutable_destination()->mutable_upstream()->set_namespace_(key.ns);
            }
          }
        }
      }
      if (g.tcp_gateway().has_options()) {
        *tl->mutable_options() = g.tcp_gateway().options();
      }
      return l;
    }
    case gw::Gateway::kHybridGateway:
      report_warning(report_, key,
                     "hybridGateway is not supported yet: this gateway has no listener");
      return std::nullopt;
    case gw::Gateway::GATEWAYTYPE_NOT_SET:
      report_error(report_, key,
                   "invalid gateway: gateway must set one of httpGateway, tcpGateway or "
                   "hybridGateway");
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

std::vector<translated_proxy> translate_gateways(const world& w, translation_report& report,
                                                 const gateway_translation_options& options) {
  // Gloo marks every Gateway, VirtualService and RouteTable it sees Accepted before adding
  // findings; unselected VirtualServices and unreferenced RouteTables are therefore Accepted.
  for (auto kind :
       {resource_kind::gateway, resource_kind::virtual_service, resource_kind::route_table}) {
    for (const auto& [nn, stored] : w.of(kind)) {
      report.touch(stored.key);
    }
  }

  gateway_translation translation(w, report);
  std::map<std::string, gl::Proxy> proxies;
  std::map<std::string, std::map<uint32_t, resource_key>> ports;  // proxy -> port -> gateway

  for (const auto& [nn, stored] : w.of(resource_kind::gateway)) {
    const auto& key = stored.key;
    const auto& g = static_cast<const gw::Gateway&>(*stored.message);
    if (key.ns != options.write_namespace && !options.read_gateways_from_all_namespaces) {
      report_warning(report, key,
                     "gateway ignored: only gateways in namespace " + options.write_namespace +
                         " are read (Settings gateway.readGatewaysFromAllNamespaces is false)");
      continue;
    }
    auto listener = translation.listener_for(key, g);
    if (!listener) {
      continue;
    }
    std::vector<std::string> names(g.proxy_names().begin(), g.proxy_names().end());
    if (names.empty()) {
      names.emplace_back(default_proxy_name);
    }
    std::set<std::string> done;
    for (const auto& proxy_name : names) {
      if (!done.insert(proxy_name).second) {
        continue;
      }
      auto& used = ports[proxy_name];
      if (auto u = used.find(g.bind_port()); u != used.end()) {
        // Two listeners cannot bind one port; the Gateway that sorts first keeps it.
        report_error(report, key,
                     "bind port " + std::to_string(g.bind_port()) + " is already used by gateway " +
                         ref_key(u->second) + " on proxy " + proxy_name +
                         ": this gateway's listener is not added to that proxy");
        continue;
      }
      used.emplace(g.bind_port(), key);
      auto& proxy = proxies[proxy_name];
      auto* l = proxy.add_listeners();
      *l = *listener;
      if (l->has_http_listener()) {
        for (auto& vh : *l->mutable_http_listener()->mutable_virtual_hosts()) {
          qualify_route_names(vh, key.name, proxy_name);
        }
      }
    }
  }

  std::map<std::string, translated_proxy> by_role;
  for (auto& [name, proxy] : proxies) {
    if (proxy.listeners().empty()) {
      continue;
    }
    auto* md = proxy.mutable_metadata();
    md->set_name(name);
    md->set_namespace_(options.write_namespace);
    (*md->mutable_labels())["created_by"] = "gloo-gateway";
    std::string role = options.write_namespace + "~" + name;
    by_role.emplace(role, translated_proxy{role, std::move(proxy)});
  }
  std::vector<translated_proxy> out;
  out.reserve(by_role.size());
  for (auto& [role, p] : by_role) {
    out.push_back(std::move(p));
  }
  log::model()->debug("gateways translated proxies={}", out.size());
  return out;
}

}  // namespace sluice::model
