#include "model/gateway_virtual_host.hpp"

#include <set>

#include "model/gateway_attribution.hpp"
#include "model/gateway_route_converter.hpp"

namespace sluice::model {

std::string virtual_host_name(const resource_key& vs_key) { return ref_key(vs_key); }

virtual_host_translation translate_virtual_service(const world& w, const resource_key& vs_key,
                                                   const ::gateway::solo::io::VirtualService& vs) {
  virtual_host_translation out;
  out.report.touch(vs_key);
  if (!vs.has_virtual_host()) {
    // Gloo: a warning and the VirtualService is skipped.
    report_warning(out.report, vs_key, "virtual service has no virtualHost: nothing to serve");
    return out;
  }
  const auto& in = vs.virtual_host();

  // Envoy rejects an empty domain and a domain twice in one virtual host (Gloo's
  // EmptyDomainError / DomainsNotUniqueError); catching them here keeps them on this VS alone.
  std::set<std::string> seen;
  for (const auto& d : in.domains()) {
    if (d.empty()) {
      report_error(out.report, vs_key, "invalid virtual host: domain \"\" is not a valid domain");
    } else if (!seen.insert(d).second) {
      report_error(out.report, vs_key,
                   "invalid virtual host: domain " + d + " is listed more than once");
    }
  }
  // Inline options win; each VirtualHostOption, in ref order, fills the fields still unset
  // (Gloo's mergeDelegatedVirtualHostOptions, ShallowMergeVirtualHostOptions).
  ::gloo::solo::io::VirtualHostOptions options = in.options();
  std::set<resource_key> option_refs;
  for (const auto& ref : in.options_config_refs().delegate_options()) {
    const auto key = option_ref_key(resource_kind::virtual_host_option, ref, vs_key.ns);
    option_refs.insert(key);
    const auto* option =
        w.get<::gateway::solo::io::VirtualHostOption>(key.kind, key.ns, key.name);
    if (option == nullptr) {
      report_warning(out.report, vs_key, missing_options_warning(key, "the virtual host"));
      continue;
    }
    merge_virtual_host_options(options, option->options());
  }

  route_converter converter(w, vs_key, out.report);
  auto routes = converter.convert(vs);
  out.route_tables.assign(converter.route_tables().begin(), converter.route_tables().end());
  option_refs.insert(converter.route_options().begin(), converter.route_options().end());
  out.option_resources.assign(option_refs.begin(), option_refs.end());
  if (out.report.has_errors(vs_key)) {
    return out;
  }

  ::gloo::solo::io::VirtualHost vhost;
  vhost.set_name(virtual_host_name(vs_key));
  *vhost.mutable_domains() = in.domains();
  for (auto& r : routes) {
    *vhost.add_routes() = std::move(r);
  }
  if (in.has_options() || options.ByteSizeLong() > 0) {
    *vhost.mutable_options() = std::move(options);
  }
  add_source(*vhost.mutable_metadata_static(), vs_key, vs.metadata().generation());
  out.virtual_host = std::move(vhost);
  return out;
}

void qualify_route_names(::gloo::solo::io::VirtualHost& vhost, const std::string& gateway_name,
                         const std::string& proxy_name) {
  const std::string insert = gateway_name + "_" + proxy_name + "_";
  for (auto& r : *vhost.mutable_routes()) {
    if (r.name().rfind("vs:", 0) == 0) {
      r.set_name("vs:" + insert + r.name().substr(3));
    }
  }
}

}  // namespace sluice::model
