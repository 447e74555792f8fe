#pragma once
/// The whole translation of one world, without actors: Gateways -> Proxies -> one snapshot per
/// Proxy role, plus the proxyless snapshot. `sluice check`, `replay`, the benchmarks and golden
/// tests use it; the actors run the same two steps split across the world and proxy actors, so
/// what they serve is what this computes.

#include <map>
#include <string>
#include <vector>

#include "model/gateway_translator.hpp"
#include "model/translation_report.hpp"
#include "model/world.hpp"
#include "xds/proxy_translator.hpp"
#include "xds/snapshot.hpp"

namespace sluice::xds {

struct world_translation {
  std::vector<model::translated_proxy> proxies;     ///< sorted by role
  std::map<std::string, snapshot_ptr> snapshots;    ///< by key (roles and proxyless_key)
  model::translation_report report;
};

[[nodiscard]] world_translation translate_world(
    const model::world& w, const model::gateway_translation_options& gateway_options = {},
    const envoy_translation_options& envoy_options = {});

}  // namespace sluice::xds
