#include "model/gateway_translator.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "model/error.hpp"
#include "model/gateway_attribution.hpp"
#include "model/gateway_settings.hpp"
#include "model/gateway_virtual_host.hpp"
#include "model/logging.hpp"
#include "model/selector.hpp"
#include "solo/gateway.pb.h"

namespace sluice::model {

namespace {

namespace gw = ::gateway::solo::io;
namespace gl = ::gloo::solo::io;
namespace pb = google::protobuf;

constexpr const char* default_proxy_name = "gateway-proxy";
constexpr const char* isolate_vhost_annotation = "gateway.solo.io/isolate_vhost";

// Newcomer order: the resource whose current version arrived last loses a conflict. Resources
// built without a log (sluice check) all have seq 0 and fall back to namespace/name order.
bool arrived_before(const stored_resource* a, const stored_resource* b) {
  if (a->seq != b->seq) {
    return a->seq < b->seq;
  }
  return a->key < b->key;
}

// One matched gateway of a hybrid Gateway, kept typed until the Proxy is assembled (the Proxy
// holds Gloo's HybridListener as JSON, see gloo.proto).
struct matched_draft {
  pb::Struct matcher;  ///< Gloo's Matcher as written
  std::optional<gl::HttpListener> http;
  std::optional<gl::TcpListener> tcp;
  std::vector<gl::SslConfig> ssl_configurations;
};

// A Gateway's listener before it is copied into each of its Proxies.
struct listener_draft {
  gl::Listener listener;
  bool hybrid = false;
  std::vector<matched_draft> matched;
};

// The virtual hosts one HTTP gateway (or one matched HTTP gateway) serves.
struct placement {
  std::vector<gl::VirtualHost> virtual_hosts;
  std::vector<gl::SslConfig> ssl_configurations;  ///< one per virtual host, same order (ssl only)
};

// One TLS configuration on a listener and the SNI names it answers (Gloo consolidates sslConfigs
// that differ only in sniDomains into one filter chain; an empty list matches every name).
struct tls_claim {
  resource_key first_owner;
  std::set<std::string> server_names;
  bool match_all = false;
};

bool is_ip(const std::string& addr) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, addr.c_str(), buf) == 1 || inet_pton(AF_INET6, addr.c_str(), buf) == 1;
}

// One run of gateway translation: the per-VirtualService virtual hosts are computed once and
// shared by every Gateway that selects them, so their findings are reported once.
class gateway_translation {
 public:
  gateway_translation(const world& w, translation_report& report,
                      const gateway_translation_options& options)
      : world_(w), report_(report), options_(options) {}

  /// The listener of one Gateway, route names not yet qualified; nullopt when it has none.
  std::optional<listener_draft> listener_for(const stored_resource& stored);

 private:
  const virtual_host_translation& virtual_host_for(const stored_resource& vs);
  std::vector<const stored_resource*> select_virtual_services(const resource_key& key,
                                                              const gw::HttpGateway& http,
                                                              bool ssl, bool warn_ssl_mismatch);
  placement place(const std::string& where, const std::vector<const stored_resource*>& selected,
                  bool tls_from_vs);
  void hybrid(const resource_key& key, const gw::HybridGateway& h, listener_draft& draft);
  void warn_isolation(const resource_key& key, const gw::Gateway& g);

  const world& world_;
  translation_report& report_;
  const gateway_translation_options& options_;
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
    const resource_key& key, const gw::HttpGateway& http, bool ssl, bool warn_ssl_mismatch) {
  std::vector<const stored_resource*> out;
  // Precedence (Gloo): expressions > selector > refs > everything.
  const bool by_expressions = !http.virtual_service_expressions().expressions().empty();
  const bool by_selector = !by_expressions && !http.virtual_service_selector().empty();
  const bool by_refs = !by_expressions && !by_selector && !http.virtual_services().empty();

  if (by_expressions) {
    if (auto err = validate_expressions(http.virtual_service_expressions().expressions())) {
      report_error(report_, key,
                   "invalid virtualServiceExpressions: " + describe(err) +
                       "; no virtual service is selected by this gateway until it is fixed");
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
                     "invalid virtual service ref " + ref_key(k) +
                         ": virtual service not found (the other refs are served)");
      } else if (warn_ssl_mismatch &&
                 static_cast<const gw::VirtualService&>(*vs->message).has_ssl_config() != ssl) {
        report_warning(report_, key,
                       "virtual service " + ref_key(k) +
                           (ssl ? " has no sslConfig and this gateway is ssl"
                                : " has an sslConfig and this gateway is not ssl") +
                           ": it is not served here");
      }
      refs.insert(std::move(k));
    }
  }
  for (const auto& [nn, stored] : world_.of(resource_kind::virtual_service)) {
    const auto& vs = static_cast<const gw::VirtualService&>(*stored.message);
    if (vs.has_ssl_config() != ssl) {
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

}  // namespace

std::optional<std::string> tls_secret_problem(const world& w,
                                              const gateway_translation_options& options,
                                              const gl::SslConfig& c, const std::string& ns,
                                              bool& is_error) {
  if (c.has_sds()) {
    is_error = true;
    return std::string(
        "sslConfig.sds (an external SDS server) is not supported; use secretRef (which sluice can "
        "serve over SDS) or sslFiles");
  }
  if (!c.has_secret_ref()) {
    return std::nullopt;
  }
  const std::string secret_ns =
      c.secret_ref().namespace_().empty() ? ns : c.secret_ref().namespace_();
  const auto* secret = w.get<gl::Secret>(resource_kind::secret, secret_ns, c.secret_ref().name());
  if (secret == nullptr) {
    is_error = !options.warn_missing_tls_secret;
    return "SSL secret " + ref_key(secret_ns, c.secret_ref().name()) + " not found";
  }
  if (!secret->has_tls()) {
    is_error = true;
    return "SSL secret " + ref_key(secret_ns, c.secret_ref().name()) +
           " is not a TLS secret (it needs tls.certChain and tls.privateKey)";
  }
  if (secret->tls().cert_chain().empty() || secret->tls().private_key().empty()) {
    is_error = true;
    return "SSL secret " + ref_key(secret_ns, c.secret_ref().name()) +
           " has no certificate chain and private key, which a server needs";
  }
  return std::nullopt;
}

namespace {

placement gateway_translation::place(const std::string& where,
                                     const std::vector<const stored_resource*>& selected,
                                     bool tls_from_vs) {
  // Conflicts are decided in arrival order (the newcomer loses), the output keeps Gloo's
  // namespace/name order. Unlike Gloo, which rejects both VirtualServices and the Gateway (and so
  // freezes the whole listener), only the newcomer is left out and blamed (reference §2.3).
  std::vector<const stored_resource*> by_arrival = selected;
  std::stable_sort(by_arrival.begin(), by_arrival.end(), arrived_before);

  std::map<std::string, resource_key> domain_owner;
  std::map<std::string, tls_claim> tls_claims;  // by sslConfig without sniDomains
  std::set<resource_key> accepted;
  std::map<resource_key, gl::SslConfig> ssl_of;

  for (const auto* stored : by_arrival) {
    const auto& t = virtual_host_for(*stored);
    if (!t.virtual_host) {
      continue;
    }
    std::vector<std::string> domains(t.virtual_host->domains().begin(),
                                     t.virtual_host->domains().end());
    if (domains.empty()) {
      domains.emplace_back("*");  // Envoy gets "*" for an empty list; two such VSs conflict
    }
    bool conflict = false;
    for (const auto& d : domains) {
      if (auto o = domain_owner.find(d); o != domain_owner.end()) {
        report_error(report_, stored->key,
                     "domain conflict: the [" + d +
                         "] domain is present in other virtual services that belong to the same "
                         "Gateway as this one: [" +
                         ref_key(o->second) + "]; " + where + " keeps serving " +
                         ref_key(o->second) +
                         ", which had the domain first, and does not serve this virtual service "
                         "(remove the domain from one of them, or merge them)");
        conflict = true;
        break;
      }
    }
    if (conflict) {
      continue;
    }

    std::string tls_key;
    gl::SslConfig ssl;
    if (tls_from_vs) {
      ssl = static_cast<const gw::VirtualService&>(*stored->message).ssl_config();
      // The Proxy names the secret fully: a secretRef without namespace means the
      // VirtualService's (the listener does not know which VirtualService a config came from).
      if (ssl.has_secret_ref() && ssl.secret_ref().namespace_().empty()) {
        ssl.mutable_secret_ref()->set_namespace_(stored->key.ns);
      }
      if (!ssl.has_one_way_tls() && options_.one_way_tls) {
        ssl.mutable_one_way_tls()->set_value(*options_.one_way_tls);
      }
      bool is_error = false;
      if (auto p = tls_secret_problem(world_, options_, ssl, stored->key.ns, is_error)) {
        const std::string message = "sslConfig: " + *p + "; " + where +
                                    " does not serve this virtual service until this is fixed";
        if (is_error) {
          report_error(report_, stored->key, message);
        } else {
          report_warning(report_, stored->key, message);
        }
        continue;
      }
      gl::SslConfig without_sni = ssl;
      without_sni.clear_sni_domains();
      tls_key = canonical_bytes(without_sni);
      // Envoy rejects a listener in which one SNI name (or "match all") leads to two filter
      // chains; Gloo then rejects the whole listener. Here the newcomer is left out.
      std::optional<std::string> overlap;
      const resource_key* other = nullptr;
      for (const auto& [k, claim] : tls_claims) {
        if (k == tls_key) {
          continue;
        }
        if (ssl.sni_domains().empty()) {
          if (claim.match_all) {
            overlap = "no sniDomains (matching any SNI name)";
            other = &claim.first_owner;
          }
        } else {
          for (const auto& d : ssl.sni_domains()) {
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
        report_error(report_, stored->key,
                     "sslConfig conflict: " + *overlap +
                         " is already served with a different TLS configuration (certificate or "
                         "TLS parameters) by virtual service " +
                         ref_key(*other) + " on " + where +
                         "; this virtual service is not served there (use the same sslConfig as " +
                         ref_key(*other) + ", or sniDomains that do not overlap)");
        continue;
      }
    }

    for (const auto& d : domains) {
      domain_owner.emplace(d, stored->key);
    }
    if (tls_from_vs) {
      auto [i, inserted] = tls_claims.emplace(tls_key, tls_claim{stored->key, {}, false});
      if (ssl.sni_domains().empty()) {
        i->second.match_all = true;
      }
      i->second.server_names.insert(ssl.sni_domains().begin(), ssl.sni_domains().end());
      ssl_of.emplace(stored->key, std::move(ssl));
    }
    accepted.insert(stored->key);
  }

  placement out;
  for (const auto* stored : selected) {
    if (accepted.count(stored->key) == 0) {
      continue;
    }
    out.virtual_hosts.push_back(*virtual_host_for(*stored).virtual_host);
    if (tls_from_vs) {
      out.ssl_configurations.push_back(ssl_of.at(stored->key));
    }
  }
  return out;
}

}  // namespace

gl::TcpListener tcp_listener_for(const resource_key& key, const gw::TcpGateway& tcp,
                                 const gateway_translation_options& options) {
  gl::TcpListener tl;
  *tl.mutable_tcp_hosts() = tcp.tcp_hosts();
  for (auto& host : *tl.mutable_tcp_hosts()) {
    auto* dest = host.mutable_destination();
    // Refs without a namespace mean the Gateway's namespace.
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
    if (dest->has_upstream_group() && dest->upstream_group().namespace_().empty()) {
      dest->mutable_upstream_group()->set_namespace_(key.ns);
    }
    if (host.has_ssl_config() && !host.ssl_config().has_one_way_tls() && options.one_way_tls) {
      host.mutable_ssl_config()->mutable_one_way_tls()->set_value(*options.one_way_tls);
    }
  }
  if (tcp.has_options()) {
    *tl.mutable_options() = tcp.options();
  }
  return tl;
}

namespace {

// Checks a hybrid matcher's shape (Gloo's Matcher: sslConfig, sourcePrefixRanges,
// passthroughCipherSuites); returns what is wrong.
std::optional<std::string> matcher_problem(const pb::Struct& m, gl::SslConfig* ssl) {
  for (const auto& [name, value] : m.fields()) {
    if (name != "sslConfig" && name != "sourcePrefixRanges" && name != "passthroughCipherSuites" &&
        name != "prefixRanges" && name != "destinationPort") {
      return "matcher field " + name + " is not known";
    }
  }
  if (const auto* s = struct_struct(m, "sslConfig")) {
    if (auto p = struct_to_message(*s, *ssl)) {
      return "matcher.sslConfig: " + *p;
    }
  } else if (struct_field(m, "sslConfig") != nullptr) {
    return std::string("matcher.sslConfig must be an object");
  }
  if (const auto* v = struct_field(m, "sourcePrefixRanges")) {
    if (v->kind_case() != pb::Value::kListValue) {
      return std::string("matcher.sourcePrefixRanges must be a list");
    }
    for (int i = 0; i < v->list_value().values_size(); ++i) {
      const auto& item = v->list_value().values(i);
      const std::string at = "matcher.sourcePrefixRanges[" + std::to_string(i) + "]";
      if (item.kind_case() != pb::Value::kStructValue) {
        return at + " must be {addressPrefix, prefixLen}";
      }
      auto addr = struct_string(item.struct_value(), "addressPrefix");
      if (!addr || !is_ip(*addr)) {
        return at + ".addressPrefix must be an IPv4 or IPv6 address";
      }
      auto len = struct_number(item.struct_value(), "prefixLen");
      const double max = addr->find(':') != std::string::npos ? 128 : 32;
      if (len && (*len < 0 || *len > max || static_cast<double>(static_cast<int>(*len)) != *len)) {
        return at + ".prefixLen must be an integer between 0 and " +
               std::to_string(static_cast<int>(max));
      }
    }
  }
  return std::nullopt;
}

void gateway_translation::hybrid(const resource_key& key, const gw::HybridGateway& h,
                                 listener_draft& draft) {
  if (h.matched_gateways().empty()) {
    if (h.has_delegated_http_gateways() || h.has_delegated_tcp_gateways()) {
      report_warning(report_, key,
                     "hybridGateway.delegatedHttpGateways / delegatedTcpGateways select "
                     "MatchableHttpGateway and MatchableTcpGateway resources, which sluice does "
                     "not read yet; use matchedGateways. This gateway has no listener");
    } else {
      report_error(report_, key, "hybridGateway needs at least one entry in matchedGateways");
    }
    return;
  }
  std::map<std::string, int> seen_matchers;
  for (int i = 0; i < h.matched_gateways_size(); ++i) {
    const std::string at = "hybridGateway.matchedGateways[" + std::to_string(i) + "]";
    const auto& entry = h.matched_gateways(i);
    auto fail = [&](const std::string& why) {
      report_error(report_, key, at + ": " + why + "; this matched gateway is not served");
    };
    matched_draft d;
    if (const auto* m = struct_struct(entry, "matcher")) {
      d.matcher = *m;
    } else if (struct_field(entry, "matcher") != nullptr) {
      fail("matcher must be an object");
      continue;
    }
    gl::SslConfig ssl;
    if (auto p = matcher_problem(d.matcher, &ssl)) {
      fail(*p);
      continue;
    }
    const bool has_ssl = struct_field(d.matcher, "sslConfig") != nullptr;
    if (has_ssl && !ssl.has_one_way_tls() && options_.one_way_tls) {
      ssl.mutable_one_way_tls()->set_value(*options_.one_way_tls);
    }
    if (struct_field(d.matcher, "passthroughCipherSuites") != nullptr) {
      report_warning(report_, key,
                     at + ": matcher.passthroughCipherSuites is not supported; it is ignored");
    }
    // Gloo: matchers must be unique and at most one may be empty (the catch-all).
    const auto matcher_bytes = canonical_bytes(d.matcher);
    if (auto s = seen_matchers.find(matcher_bytes); s != seen_matchers.end()) {
      fail("its matcher equals the one of hybridGateway.matchedGateways[" +
           std::to_string(s->second) + "] (a filter chain match must be unique)");
      continue;
    }
    const auto* http_struct = struct_struct(entry, "httpGateway");
    const auto* tcp_struct = struct_struct(entry, "tcpGateway");
    if ((http_struct != nullptr) == (tcp_struct != nullptr)) {
      fail("set exactly one of httpGateway and tcpGateway");
      continue;
    }
    if (http_struct != nullptr) {
      gw::HttpGateway http;
      if (auto p = struct_to_message(*http_struct, http)) {
        fail("httpGateway: " + *p);
        continue;
      }
      // Inside a matched gateway the ssl-ness of a VirtualService is compared with the matcher's
      // and the VirtualService's own sslConfig is not used (GWTR/hybrid_translator.go).
      auto selected = select_virtual_services(key, http, has_ssl, false);
      auto placed = place("gateway " + ref_key(key) + " " + at, selected, false);
      gl::HttpListener hl;
      for (auto& vh : placed.virtual_hosts) {
        *hl.add_virtual_hosts() = std::move(vh);
      }
      if (http.has_options()) {
        *hl.mutable_options() = http.options();
      }
      d.http = std::move(hl);
    } else {
      gw::TcpGateway tcp;
      if (auto p = struct_to_message(*tcp_struct, tcp)) {
        fail("tcpGateway: " + *p);
        continue;
      }
      d.tcp = tcp_listener_for(key, tcp, options_);
    }
    if (has_ssl) {
      d.ssl_configurations.push_back(std::move(ssl));
    }
    seen_matchers.emplace(matcher_bytes, i);
    draft.matched.push_back(std::move(d));
  }
}

void gateway_translation::warn_isolation(const resource_key& key, const gw::Gateway& g) {
  bool isolate = options_.isolate_virtual_hosts_by_ssl_config;
  if (auto a = g.metadata().annotations().find(isolate_vhost_annotation);
      a != g.metadata().annotations().end()) {
    isolate = a->second == "true";
  }
  if (isolate) {
    report_warning(report_, key,
                   "virtual host isolation by sslConfig (AggregateListener) is not supported: "
                   "the virtual services of this gateway share one route configuration");
  }
}

std::optional<listener_draft> gateway_translation::listener_for(const stored_resource& stored) {
  const auto& key = stored.key;
  const auto& g = static_cast<const gw::Gateway&>(*stored.message);
  listener_draft draft;
  auto& l = draft.listener;
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
    case gw::Gateway::kHttpGateway: {
      // Gloo: no VirtualService in the whole snapshot means no listener (unless
      // translateEmptyGateways).
      if (world_.of(resource_kind::virtual_service).empty() && !options_.translate_empty_gateways) {
        return std::nullopt;
      }
      warn_isolation(key, g);
      auto selected = select_virtual_services(key, g.http_gateway(), g.ssl(), true);
      auto placed = place("gateway " + ref_key(key), selected, g.ssl());
      auto* hl = l.mutable_http_listener();
      if (g.http_gateway().has_options()) {
        *hl->mutable_options() = g.http_gateway().options();
      }
      for (auto& vh : placed.virtual_hosts) {
        *hl->add_virtual_hosts() = std::move(vh);
      }
      for (auto& c : placed.ssl_configurations) {
        *l.add_ssl_configurations() = std::move(c);
      }
      return draft;
    }
    case gw::Gateway::kTcpGateway:
      *l.mutable_tcp_listener() = tcp_listener_for(key, g.tcp_gateway(), options_);
      return draft;
    case gw::Gateway::kHybridGateway:
      warn_isolation(key, g);
      draft.hybrid = true;
      hybrid(key, g.hybrid_gateway(), draft);
      if (draft.matched.empty()) {
        return std::nullopt;
      }
      return draft;
    case gw::Gateway::GATEWAYTYPE_NOT_SET:
      report_error(report_, key,
                   "invalid gateway: gateway must set one of httpGateway, tcpGateway or "
                   "hybridGateway; it has no listener");
      return std::nullopt;
  }
  return std::nullopt;
}

// The Proxy listener for one proxy: route names qualified with the gateway and proxy names, and a
// hybrid gateway's matched listeners rendered as Gloo's HybridListener JSON.
gl::Listener assemble(const listener_draft& draft, const std::string& gateway_name,
                      const std::string& proxy_name) {
  gl::Listener l = draft.listener;
  if (l.has_http_listener()) {
    for (auto& vh : *l.mutable_http_listener()->mutable_virtual_hosts()) {
      qualify_route_names(vh, gateway_name, proxy_name);
    }
  }
  if (draft.hybrid) {
    auto* hybrid = l.mutable_hybrid_listener();
    pb::ListValue list;
    for (const auto& m : draft.matched) {
      pb::Struct entry;
      (*entry.mutable_fields())["matcher"].mutable_struct_value()->CopyFrom(m.matcher);
      if (m.http) {
        gl::HttpListener http = *m.http;
        for (auto& vh : *http.mutable_virtual_hosts()) {
          qualify_route_names(vh, gateway_name, proxy_name);
        }
        *(*entry.mutable_fields())["httpListener"].mutable_struct_value() =
            message_to_struct(http);
      }
      if (m.tcp) {
        *(*entry.mutable_fields())["tcpListener"].mutable_struct_value() =
            message_to_struct(*m.tcp);
      }
      if (!m.ssl_configurations.empty()) {
        auto* ssl = (*entry.mutable_fields())["sslConfigurations"].mutable_list_value();
        for (const auto& c : m.ssl_configurations) {
          *ssl->add_values()->mutable_struct_value() = message_to_struct(c);
        }
      }
      *list.add_values()->mutable_struct_value() = std::move(entry);
    }
    *(*hybrid->mutable_fields())["matchedListeners"].mutable_list_value() = std::move(list);
  }
  return l;
}

}  // namespace

gateway_translation_options effective_gateway_options(const world& w,
                                                      const gateway_translation_options& options) {
  gateway_translation_options out = options;
  if (!options.apply_settings) {
    return out;
  }
  auto s = read_settings(w, options.settings_namespace, options.settings_name);
  if (!s) {
    return out;
  }
  if (!s->discovery_namespace.empty()) {
    out.write_namespace = s->discovery_namespace;
  }
  out.read_gateways_from_all_namespaces = s->read_gateways_from_all_namespaces;
  out.translate_empty_gateways = s->translate_empty_gateways;
  if (s->warn_missing_tls_secret) {
    out.warn_missing_tls_secret = *s->warn_missing_tls_secret;
  }
  if (s->one_way_tls) {
    out.one_way_tls = s->one_way_tls;
  }
  out.isolate_virtual_hosts_by_ssl_config = s->isolate_virtual_hosts_by_ssl_config;
  return out;
}

std::vector<translated_proxy> translate_gateways(const world& w, translation_report& report,
                                                 const gateway_translation_options& requested) {
  const auto options = effective_gateway_options(w, requested);
  if (requested.apply_settings) {
    if (auto s = read_settings(w, requested.settings_namespace, requested.settings_name)) {
      report_settings(*s, report);
    }
  }
  // Gloo marks every Gateway, VirtualService and RouteTable it sees Accepted before adding
  // findings; unselected VirtualServices and unreferenced RouteTables are therefore Accepted.
  for (auto kind :
       {resource_kind::gateway, resource_kind::virtual_service, resource_kind::route_table}) {
    for (const auto& [nn, stored] : w.of(kind)) {
      report.touch(stored.key);
    }
  }

  gateway_translation translation(w, report, options);
  // Drafts in namespace/name order (that is the listener order in every Proxy).
  std::vector<std::pair<const stored_resource*, listener_draft>> drafts;
  for (const auto& [nn, stored] : w.of(resource_kind::gateway)) {
    if (stored.key.ns != options.write_namespace && !options.read_gateways_from_all_namespaces) {
      report_warning(report, stored.key,
                     "gateway ignored: only gateways in namespace " + options.write_namespace +
                         " are read (Settings gateway.readGatewaysFromAllNamespaces is false)");
      continue;
    }
    if (auto draft = translation.listener_for(stored)) {
      drafts.emplace_back(&stored, std::move(*draft));
    }
  }

  // Port ownership per proxy, decided in arrival order: two listeners cannot bind one port, and
  // the Gateway that was there first keeps it.
  std::vector<size_t> by_arrival(drafts.size());
  for (size_t i = 0; i < drafts.size(); ++i) {
    by_arrival[i] = i;
  }
  std::stable_sort(by_arrival.begin(), by_arrival.end(), [&](size_t a, size_t b) {
    return arrived_before(drafts[a].first, drafts[b].first);
  });
  auto proxy_names_of = [](const gw::Gateway& g) {
    std::vector<std::string> names;
    std::set<std::string> seen;
    for (const auto& n : g.proxy_names()) {
      if (seen.insert(n).second) {
        names.push_back(n);
      }
    }
    if (names.empty()) {
      names.emplace_back(default_proxy_name);
    }
    return names;
  };
  std::set<std::pair<size_t, std::string>> left_out;
  std::map<std::string, std::map<uint32_t, resource_key>> ports;  // proxy -> port -> gateway
  for (size_t i : by_arrival) {
    const auto& [stored, draft] = drafts[i];
    const auto& g = static_cast<const gw::Gateway&>(*stored->message);
    for (const auto& proxy_name : proxy_names_of(g)) {
      auto& used = ports[proxy_name];
      if (auto u = used.find(g.bind_port()); u != used.end()) {
        report_error(report, stored->key,
                     "bind port " + std::to_string(g.bind_port()) + " is already used by gateway " +
                         ref_key(u->second) + " on proxy " + proxy_name +
                         ": this gateway's listener is not added to that proxy (use another "
                         "bindPort or another proxyNames entry)");
        left_out.emplace(i, proxy_name);
        continue;
      }
      used.emplace(g.bind_port(), stored->key);
    }
  }

  std::map<std::string, gl::Proxy> proxies;
  for (size_t i = 0; i < drafts.size(); ++i) {
    const auto& [stored, draft] = drafts[i];
    const auto& g = static_cast<const gw::Gateway&>(*stored->message);
    for (const auto& proxy_name : proxy_names_of(g)) {
      if (left_out.count({i, proxy_name}) > 0) {
        continue;
      }
      *proxies[proxy_name].add_listeners() = assemble(draft, stored->key.name, proxy_name);
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
