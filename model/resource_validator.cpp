// validate_resource: the semantic checks of one resource that need no other resource. Rules and
// messages follow Gloo where Gloo has them (route action, weighted destinations); the rest say
// what is wrong and what is expected.

#include <google/protobuf/message.h>
#include <re2/re2.h>

#include "kube/core.pb.h"
#include "model/resource_decoder.hpp"
#include "solo/enterprise.pb.h"
#include "solo/gateway.pb.h"
#include "solo/gloo.pb.h"

namespace sluice::model {
namespace {

namespace gw = ::gateway::solo::io;
namespace gl = ::gloo::solo::io;
namespace ent = ::enterprise::gloo::solo::io;

std::string at(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

std::string dot(const std::string& path, std::string_view name) {
  return path.empty() ? std::string(name) : path + "." + std::string(name);
}

bool is_dns_subdomain(const std::string& name) {
  if (name.empty() || name.size() > 253) {
    return false;
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  for (char c : name) {
    if (!alnum(c) && c != '-' && c != '.') {
      return false;
    }
  }
  return alnum(name.front()) && alnum(name.back());
}

class resource_checker {
 public:
  resource_checker(const decoded_resource& resource, const decode_context& ctx,
                   std::vector<decode_error>& out)
      : resource_(resource), ctx_(ctx), out_(out) {}

  void error(std::string field, std::string message) {
    decode_error e;
    e.file = ctx_.file;
    e.line = resource_.line;  // the document; fields have no positions after decoding
    e.kind = resource_.key.kind;
    e.ns = resource_.key.ns;
    e.name = resource_.key.name;
    e.field = std::move(field);
    e.message = std::move(message);
    out_.push_back(std::move(e));
  }

  void check_name(const ::core::solo::io::Metadata& meta) {
    // Discovery's in-memory upstreams of kube and consul destinations carry Gloo's prefixes
    // ("kube-svc:<ns>-<svc>-<port>", "consul-svc:<service>"); the rest must still be a name.
    std::string_view name = meta.name();
    if (resource_.key.kind == resource_kind::upstream) {
      for (std::string_view prefix : {"kube-svc:", "consul-svc:"}) {
        if (name.substr(0, prefix.size()) == prefix) {
          name.remove_prefix(prefix.size());
          break;
        }
      }
    }
    if (meta.name().empty()) {
      error("metadata.name", "metadata.name is required");
    } else if (!is_dns_subdomain(std::string(name))) {
      error("metadata.name", "invalid name \"" + meta.name()
                                 + "\": use lower-case letters, digits, '-' and '.', starting and "
                                   "ending with a letter or digit, at most 253 characters");
    }
  }

  void check_regex(const std::string& pattern, const std::string& field) {
    // Default RE2 syntax, as Envoy's safe_regex uses; only error logging is turned off because
    // the error is reported here.
    RE2::Options options;
    options.set_log_errors(false);
    RE2 re(pattern, options);
    if (!re.ok()) {
      error(field, "invalid regex \"" + pattern + "\": " + re.error());
    }
  }

  void check_port(uint32_t port, const std::string& field) {
    if (port < 1 || port > 65535) {
      error(field, "port must be between 1 and 65535, got " + std::to_string(port));
    }
  }

  void check_matcher(const gl::Matcher& m, const std::string& path) {
    if (m.path_specifier_case() == gl::Matcher::kRegex) {
      check_regex(m.regex(), dot(path, "regex"));
    }
    for (int i = 0; i < m.headers_size(); ++i) {
      if (m.headers(i).regex()) {
        check_regex(m.headers(i).value(), dot(at(dot(path, "headers"), i), "value"));
      }
    }
    for (int i = 0; i < m.query_parameters_size(); ++i) {
      if (m.query_parameters(i).regex()) {
        check_regex(m.query_parameters(i).value(),
                    dot(at(dot(path, "queryParameters"), i), "value"));
      }
    }
  }

  void check_destination(const gl::Destination& d, const std::string& path) {
    switch (d.destination_type_case()) {
      case gl::Destination::kUpstream:
        if (d.upstream().name().empty()) {
          error(dot(path, "upstream.name"), "the upstream reference needs a name");
        }
        return;
      case gl::Destination::kKube:
        if (d.kube().ref().name().empty()) {
          error(dot(path, "kube.ref.name"), "the Kubernetes service reference needs a name");
        }
        return;
      case gl::Destination::kConsul:
        if (d.consul().service_name().empty()) {
          error(dot(path, "consul.serviceName"), "the Consul destination needs a serviceName");
        }
        return;
      case gl::Destination::DESTINATION_TYPE_NOT_SET:
        error(path, "destination must specify one of upstream, kube, consul");
        return;
    }
  }

  void check_weighted(const google::protobuf::RepeatedPtrField<gl::WeightedDestination>& list,
                      const std::string& path) {
    if (list.empty()) {
      error(path, "at least one weighted destination is required");
      return;
    }
    uint64_t total = 0;
    for (int i = 0; i < list.size(); ++i) {
      const auto& wd = list.Get(i);
      total += wd.has_weight() ? wd.weight().value() : 0;
      if (!wd.has_destination()) {
        error(dot(at(path, i), "destination"), "weighted destination needs a destination");
      } else {
        check_destination(wd.destination(), dot(at(path, i), "destination"));
      }
    }
    if (total < 1) {
      error(path, "Weighted Destinations require a total weight that is greater than or equal to 1");
    }
  }

  void check_resource_ref_named(const ::core::solo::io::ResourceRef& ref, const std::string& path,
                                std::string_view what) {
    if (ref.name().empty()) {
      error(dot(path, "name"), "the " + std::string(what) + " reference needs a name");
    }
  }

  void check_route_action(const gl::RouteAction& a, const std::string& path) {
    switch (a.destination_case()) {
      case gl::RouteAction::kSingle:
        check_destination(a.single(), dot(path, "single"));
        return;
      case gl::RouteAction::kMulti:
        check_weighted(a.multi().destinations(), dot(path, "multi.destinations"));
        return;
      case gl::RouteAction::kUpstreamGroup:
        check_resource_ref_named(a.upstream_group(), dot(path, "upstreamGroup"), "upstream group");
        return;
      case gl::RouteAction::kClusterHeader:
      case gl::RouteAction::kDynamicForwardProxy:
        return;
      case gl::RouteAction::DESTINATION_NOT_SET:
        error(path, "routeAction must specify one of single, multi, upstreamGroup, clusterHeader, "
                    "dynamicForwardProxy");
        return;
    }
  }

  void check_redirect(const gl::RedirectAction& r, const std::string& path) {
    if (r.has_regex_rewrite()) {
      check_regex(r.regex_rewrite().pattern().regex(), dot(path, "regexRewrite.pattern.regex"));
    }
  }

  void check_cors(const gl::CorsPolicy& cors, const std::string& path) {
    for (int i = 0; i < cors.allow_origin_regex_size(); ++i) {
      check_regex(cors.allow_origin_regex(i), at(dot(path, "allowOriginRegex"), i));
    }
  }

  void check_route_options(const gl::RouteOptions& o, const std::string& path) {
    if (o.has_regex_rewrite()) {
      check_regex(o.regex_rewrite().pattern().regex(), dot(path, "regexRewrite.pattern.regex"));
    }
    if (o.has_host_rewrite_path_regex()) {
      check_regex(o.host_rewrite_path_regex().pattern().regex(),
                  dot(path, "hostRewritePathRegex.pattern.regex"));
    }
    if (o.has_cors()) {
      check_cors(o.cors(), dot(path, "cors"));
    }
  }

  void check_gateway_route(const gw::Route& route, const std::string& path) {
    for (int i = 0; i < route.matchers_size(); ++i) {
      check_matcher(route.matchers(i), at(dot(path, "matchers"), i));
    }
    switch (route.action_case()) {
      case gw::Route::kRouteAction:
        check_route_action(route.route_action(), dot(path, "routeAction"));
        break;
      case gw::Route::kRedirectAction:
        check_redirect(route.redirect_action(), dot(path, "redirectAction"));
        break;
      case gw::Route::kDelegateAction: {
        const auto& d = route.delegate_action();
        // The deprecated name/namespace fields still work in Gloo, so they count as a target.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        bool legacy = !d.name().empty() || !d.namespace_().empty();
#pragma GCC diagnostic pop
        if (!legacy && !d.has_ref() && !d.has_selector()) {
          error(dot(path, "delegateAction"), "delegateAction must specify a ref or a selector");
        }
        break;
      }
      case gw::Route::kDirectResponseAction:
      case gw::Route::kGraphqlApiRef:
        break;
      case gw::Route::ACTION_NOT_SET:
        error(path, "invalid route: route must specify an action");
        break;
    }
    if (route.has_options()) {
      check_route_options(route.options(), dot(path, "options"));
    }
  }

  void check_proxy_route(const gl::Route& route, const std::string& path) {
    for (int i = 0; i < route.matchers_size(); ++i) {
      check_matcher(route.matchers(i), at(dot(path, "matchers"), i));
    }
    switch (route.action_case()) {
      case gl::Route::kRouteAction:
        check_route_action(route.route_action(), dot(path, "routeAction"));
        break;
      case gl::Route::kRedirectAction:
        check_redirect(route.redirect_action(), dot(path, "redirectAction"));
        break;
      case gl::Route::kDirectResponseAction:
        break;
      case gl::Route::ACTION_NOT_SET:
        error(path, "invalid route: route must specify an action");
        break;
    }
    if (route.has_options()) {
      check_route_options(route.options(), dot(path, "options"));
    }
  }

  void check_tcp_host(const gl::TcpHost& host, const std::string& path) {
    const auto& d = host.destination();
    std::string dest = dot(path, "destination");
    switch (d.destination_case()) {
      case gl::TcpHost::TcpAction::kSingle:
        check_destination(d.single(), dot(dest, "single"));
        break;
      case gl::TcpHost::TcpAction::kMulti:
        check_weighted(d.multi().destinations(), dot(dest, "multi.destinations"));
        break;
      case gl::TcpHost::TcpAction::kUpstreamGroup:
        check_resource_ref_named(d.upstream_group(), dot(dest, "upstreamGroup"), "upstream group");
        break;
      case gl::TcpHost::TcpAction::kForwardSniClusterName:
        break;
      case gl::TcpHost::TcpAction::DESTINATION_NOT_SET:
        error(dest, "tcp host must specify one of single, multi, upstreamGroup, "
                    "forwardSniClusterName");
        break;
    }
  }

  void check(const gw::Gateway& g) {
    check_name(g.metadata());
    check_port(g.bind_port(), "bindPort");
    switch (g.GatewayType_case()) {
      case gw::Gateway::kTcpGateway:
        for (int i = 0; i < g.tcp_gateway().tcp_hosts_size(); ++i) {
          check_tcp_host(g.tcp_gateway().tcp_hosts(i), at("tcpGateway.tcpHosts", i));
        }
        break;
      case gw::Gateway::kHttpGateway:
      case gw::Gateway::kHybridGateway:
        break;
      case gw::Gateway::GATEWAYTYPE_NOT_SET:
        error("gatewayType",
              "a Gateway must specify exactly one of httpGateway, tcpGateway, hybridGateway");
        break;
    }
  }

  void check(const gw::VirtualService& vs) {
    check_name(vs.metadata());
    if (!vs.has_virtual_host()) {
      error("virtualHost", "a VirtualService must have a virtualHost");
      return;
    }
    const auto& vh = vs.virtual_host();
    for (int i = 0; i < vh.routes_size(); ++i) {
      check_gateway_route(vh.routes(i), at("virtualHost.routes", i));
    }
    if (vh.has_options() && vh.options().has_cors()) {
      check_cors(vh.options().cors(), "virtualHost.options.cors");
    }
  }

  void check(const gw::RouteTable& rt) {
    check_name(rt.metadata());
    for (int i = 0; i < rt.routes_size(); ++i) {
      check_gateway_route(rt.routes(i), at("routes", i));
    }
  }

  void check(const gl::Upstream& us) {
    check_name(us.metadata());
    if (us.has_static_()) {
      const auto& hosts = us.static_().hosts();
      if (hosts.empty()) {
        error("static.hosts", "a static upstream needs at least one host");
      }
      for (int i = 0; i < hosts.size(); ++i) {
        std::string path = at("static.hosts", i);
        if (hosts.Get(i).addr().empty()) {
          error(dot(path, "addr"), "host address must not be empty");
        }
        check_port(hosts.Get(i).port(), dot(path, "port"));
      }
    }
  }

  void check(const gl::UpstreamGroup& ug) {
    check_name(ug.metadata());
    check_weighted(ug.destinations(), "destinations");
  }

  void check(const gl::Proxy& px) {
    check_name(px.metadata());
    for (int i = 0; i < px.listeners_size(); ++i) {
      const auto& l = px.listeners(i);
      std::string path = at("listeners", i);
      check_port(l.bind_port(), dot(path, "bindPort"));
      switch (l.ListenerType_case()) {
        case gl::Listener::kHttpListener:
          for (int v = 0; v < l.http_listener().virtual_hosts_size(); ++v) {
            const auto& vh = l.http_listener().virtual_hosts(v);
            std::string vh_path = at(dot(path, "httpListener.virtualHosts"), v);
            for (int r = 0; r < vh.routes_size(); ++r) {
              check_proxy_route(vh.routes(r), at(dot(vh_path, "routes"), r));
            }
          }
          break;
        case gl::Listener::kTcpListener:
          for (int h = 0; h < l.tcp_listener().tcp_hosts_size(); ++h) {
            check_tcp_host(l.tcp_listener().tcp_hosts(h), at(dot(path, "tcpListener.tcpHosts"), h));
          }
          break;
        case gl::Listener::kHybridListener:
        case gl::Listener::kAggregateListener:
          break;
        case gl::Listener::LISTENERTYPE_NOT_SET:
          error(path, "a listener must specify one of httpListener, tcpListener, hybridListener, "
                      "aggregateListener");
          break;
      }
    }
  }

  void check(const gl::Secret& s) {
    check_name(s.metadata());
    if (s.kind_case() == gl::Secret::KIND_NOT_SET) {
      error("", "a Secret must specify one of tls, aws, azure, header, credentials, oauth, "
                "apiKey, encryption, extensions");
      return;
    }
    if (s.has_tls()) {
      const auto& tls = s.tls();
      if (tls.cert_chain().empty() != tls.private_key().empty()) {
        error(tls.cert_chain().empty() ? "tls.certChain" : "tls.privateKey",
              "certChain and privateKey must be given together");
      } else if (tls.cert_chain().empty() && tls.root_ca().empty()) {
        error("tls", "a tls secret needs certChain and privateKey, or rootCa");
      }
    }
  }

  void check(const gl::Endpoint& ep) {
    check_name(ep.metadata());
    if (ep.address().empty()) {
      error("address", "endpoint address must not be empty");
    }
    check_port(ep.port(), "port");
  }

  void check(const ent::AuthConfig& ac) {
    check_name(ac.metadata());
    for (int i = 0; i < ac.configs_size(); ++i) {
      if (ac.configs(i).auth_config_case() == ent::AuthConfig::Config::AUTH_CONFIG_NOT_SET) {
        error(at("configs", i), "an auth config step must specify its type (basicAuth, oauth2, "
                                "apiKeyAuth, opaAuth, ldap, jwt, passThroughAuth, ...)");
      }
    }
  }

  void check(const gw::VirtualHostOption& o) {
    check_name(o.metadata());
    if (o.options().has_cors()) {
      check_cors(o.options().cors(), "options.cors");
    }
  }

  void check(const gw::RouteOption& o) {
    check_name(o.metadata());
    check_route_options(o.options(), "options");
  }

  void check(const gl::Settings& s) { check_name(s.metadata()); }
  void check(const gl::Artifact& a) { check_name(a.metadata()); }
  void check(const ::kube::core::v1::Service& svc) {
    check_name(svc.metadata());
    for (int i = 0; i < svc.ports_size(); ++i) {
      check_port(svc.ports(i).port(), at("ports", i) + ".port");
    }
  }

 private:
  const decoded_resource& resource_;
  const decode_context& ctx_;
  std::vector<decode_error>& out_;
};

template <class T>
bool dispatch(resource_checker& checker, const google::protobuf::Message& message) {
  if (const auto* typed = dynamic_cast<const T*>(&message)) {
    checker.check(*typed);
    return true;
  }
  return false;
}

}  // namespace

std::vector<decode_error> validate_resource(const decoded_resource& resource,
                                            const decode_context& ctx) {
  std::vector<decode_error> out;
  resource_checker checker(resource, ctx, out);
  if (!resource.message) {
    checker.error("", "no message to validate");
    return out;
  }
  const auto& m = *resource.message;
  bool known = dispatch<gw::Gateway>(checker, m) || dispatch<gw::VirtualService>(checker, m)
               || dispatch<gw::RouteTable>(checker, m) || dispatch<gl::Upstream>(checker, m)
               || dispatch<gl::UpstreamGroup>(checker, m) || dispatch<gl::Proxy>(checker, m)
               || dispatch<gl::Secret>(checker, m) || dispatch<gl::Endpoint>(checker, m)
               || dispatch<ent::AuthConfig>(checker, m) || dispatch<gl::Settings>(checker, m)
               || dispatch<gl::Artifact>(checker, m)
               || dispatch<gw::VirtualHostOption>(checker, m)
               || dispatch<gw::RouteOption>(checker, m)
               || dispatch<::kube::core::v1::Service>(checker, m);
  if (!known) {
    checker.error("", "unexpected message type " + m.GetDescriptor()->full_name() + " for "
                          + std::string(name_of(resource.key.kind)));
  }
  return out;
}

}  // namespace sluice::model
