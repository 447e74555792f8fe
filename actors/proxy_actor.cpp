#include "actors/proxy_actor.hpp"

#include "model/logging.hpp"
#include "xds/proxy_translator.hpp"

namespace sluice::actors {

void log_report_changes(std::string_view who, const model::translation_report& report,
                        std::map<model::resource_key, model::resource_report>& last) {
  std::map<model::resource_key, model::resource_report> now;
  for (const auto& [key, r] : report.entries()) {
    if (!r.errors.empty() || !r.warnings.empty()) {
      now[key] = r;
    }
  }
  for (const auto& [key, r] : now) {
    auto prev = last.find(key);
    if (prev != last.end() && prev->second.errors == r.errors
        && prev->second.warnings == r.warnings) {
      continue;
    }
    for (const auto& e : r.errors) {
      log::actors()->warn("translation error in={} kind={} namespace={} name={}: {}", who,
                          model::name_of(key.kind), key.ns, key.name, e);
    }
    for (const auto& w : r.warnings) {
      log::actors()->warn("translation warning in={} kind={} namespace={} name={}: {}", who,
                          model::name_of(key.kind), key.ns, key.name, w);
    }
  }
  for (const auto& [key, r] : last) {
    if (now.count(key) == 0) {
      log::actors()->info("translation problems resolved in={} kind={} namespace={} name={}", who,
                          model::name_of(key.kind), key.ns, key.name);
    }
  }
  last = std::move(now);
}

proxy_actor::behavior_type proxy_actor_impl(proxy_actor::stateful_pointer<proxy_actor_state> self,
                                            std::string key) {
  self->state.key = std::move(key);
  return {
      [self](atom::translate, const world_ptr& w, const proxy_ptr& proxy) -> xds::snapshot_ptr {
        model::translation_report report;
        xds::snapshot_ptr snap;
        if (proxy) {
          snap = xds::translate_proxy(self->state.key, *proxy, *w, report);
        } else {
          snap = xds::translate_proxyless(*w, report);
        }
        log_report_changes(self->state.key, report, self->state.last_problems);
        return snap;
      },
  };
}

}  // namespace sluice::actors
