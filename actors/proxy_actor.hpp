#pragma once
/// One actor per Proxy (snapshot key), plus one for the proxyless view: Proxy + world -> Envoy
/// snapshot (xds::translate_proxy / translate_proxyless). Logs translation problems of its
/// resources when they change.

#include <map>

#include "actors/actor_types.hpp"
#include "model/translation_report.hpp"

namespace sluice::actors {

struct proxy_actor_state {
  static inline const char* name = "sluice.proxy";
  std::string key;
  std::map<model::resource_key, model::resource_report> last_problems;
};

proxy_actor::behavior_type proxy_actor_impl(proxy_actor::stateful_pointer<proxy_actor_state> self,
                                            std::string key);

/// Logs each resource's errors and warnings that differ from `last` (at warn), and the
/// resources whose problems went away (at info); updates `last`.
void log_report_changes(std::string_view who, const model::translation_report& report,
                        std::map<model::resource_key, model::resource_report>& last);

}  // namespace sluice::actors
