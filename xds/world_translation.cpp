#include "xds/world_translation.hpp"

namespace sluice::xds {

world_translation translate_world(const model::world& w,
                                  const model::gateway_translation_options& gateway_options,
                                  const envoy_translation_options& envoy_options) {
  world_translation out;
  out.proxies = model::translate_gateways(w, out.report, gateway_options);
  for (const auto& p : out.proxies) {
    out.snapshots[p.role] = translate_proxy(p.role, p.proxy, w, out.report, envoy_options);
  }
  out.snapshots[std::string(proxyless_key)] = translate_proxyless(w, out.report, envoy_options);
  return out;
}

}  // namespace sluice::xds
