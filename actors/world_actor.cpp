#include "actors/world_actor.hpp"

#include "model/gateway_translator.hpp"
#include "model/error.hpp"
#include "model/logging.hpp"
#include "model/metrics.hpp"

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

namespace {

/// Every few hundred milliseconds at most (and after the last change of a burst): logs what
/// changed in the translation report and hands the outcome to the hook.
void look_at_report(world_actor::stateful_pointer<world_actor_state> self) {
  auto& st = self->state;
  if (!st.outcome_dirty) {
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  const auto due = st.outcome_at + st.hooks.outcome_interval;
  if (now < due) {
    if (!st.outcome_scheduled) {
      st.outcome_scheduled = true;
      self->delayed_send(self, std::chrono::duration_cast<std::chrono::milliseconds>(due - now),
                         atom::status_v);
    }
    return;
  }
  st.outcome_at = now;
  st.outcome_dirty = false;
  auto report = st.translator->report();
  log_report_changes("translation", report, st.last_problems);
  if (!st.hooks.on_translated) {
    return;
  }
  auto out = std::make_shared<translation_outcome>();
  out->world = std::make_shared<const model::world>(st.translator->world());
  out->watermark = out->world->watermark();
  // The Proxies are the gateway translation's output; the incremental translator keeps pieces,
  // not whole Proxy messages, so they are rebuilt here, at most once per interval.
  model::translation_report gateway_report;
  out->proxies = model::translate_gateways(*out->world, gateway_report);
  out->report = std::move(report);
  st.hooks.on_translated(std::move(out));
}

void publish(world_actor::stateful_pointer<world_actor_state> self, xds::snapshot_ptr snap) {
  if (snap) {
    self->send(self->state.xds, atom::publish_v, std::move(snap));
  }
}

/// Translates what changed since the last flush and publishes the snapshots whose content
/// changed (all of them the first time).
void translate(world_actor::stateful_pointer<world_actor_state> self) {
  auto& st = self->state;
  auto delta = st.translator->flush();
  auto& registry = model::metrics_registry::global();
  registry.counter("sluice_translations_total", "incremental translation flushes").add();
  registry.gauge("sluice_world_resources", "accepted resources in the world")
      .set(static_cast<int64_t>(st.translator->world().size()));
  registry.gauge("sluice_world_watermark", "last event seq applied to the world")
      .set(static_cast<int64_t>(delta.watermark));
  for (const auto& [key, change] : delta.changed) {
    publish(self, st.translator->snapshot(key));
  }
  // A Proxy that no longer exists gets an empty snapshot, as Gloo's garbage collection does.
  for (const auto& key : delta.removed) {
    log::actors()->info("proxy removed role={}", key);
    auto empty = std::make_shared<xds::snapshot>();
    empty->key = key;
    empty->watermark = delta.watermark;
    publish(self, xds::snapshot_ptr{empty});
  }
  st.outcome_dirty = true;
  look_at_report(self);
}

}  // namespace

world_actor::behavior_type world_actor_impl(world_actor::stateful_pointer<world_actor_state> self,
                                            std::shared_ptr<const model::world> initial,
                                            xds_actor xds, world_hooks hooks) {
  auto& st = self->state;
  st.hooks = std::move(hooks);
  st.xds = std::move(xds);
  st.translator = std::make_unique<xds::incremental_translator>();
  st.translator->reset(*initial);
  for (const auto& k : model::all_kinds()) {
    st.pending_kinds.insert(std::string(k.name));
  }
  return {
      [self](atom::committed, const event_batch_ptr& batch) {
        auto& st = self->state;
        for (const auto& ev : *batch) {
          if (ev.verdict() == sluice::v1::VERDICT_REJECTED) {
            model::metrics_registry::global()
                .counter("sluice_resources_rejected_total",
                         "input that failed to decode or validate", "kind=\"" + ev.kind() + "\"")
                .add();
            for (const auto& e : ev.errors()) {
              log::actors()->warn("rejected seq={} kind={} namespace={} name={} origin={}: {}",
                                  ev.seq(), ev.kind(), ev.namespace_(),
                                  ev.name().empty() ? "-" : ev.name(), ev.origin(), e);
            }
          } else {
            log::actors()->debug("applied seq={} op={} kind={} namespace={} name={}", ev.seq(),
                                 sluice::v1::EventOp_Name(ev.op()), ev.kind(), ev.namespace_(),
                                 ev.name());
          }
          if (auto ok = st.translator->apply(ev); !ok) {
            log::actors()->error("cannot apply event: {}", describe(ok.error()));
          }
        }
        // Translate after everything already in the mailbox: a burst costs one flush.
        if (st.ready && !st.translate_scheduled) {
          st.translate_scheduled = true;
          self->send(self, atom::translate_v);
        }
      },
      [self](atom::translate) {
        self->state.translate_scheduled = false;
        translate(self);
      },
      [self](atom::status) {
        self->state.outcome_scheduled = false;
        look_at_report(self);
      },
      [self](atom::synced, const std::string& kind) {
        auto& st = self->state;
        st.pending_kinds.erase(kind);
        if (!st.ready && st.pending_kinds.empty()) {
          st.ready = true;
          log::actors()->info("all sources synced resources={} watermark={}",
                              st.translator->world().size(), st.translator->world().watermark());
          // The first flush after reset() publishes every snapshot; the gate opens after them
          // (the xDS actor handles messages in order).
          translate(self);
          self->send(st.xds, atom::ready_v);
        }
      },
  };
}

}  // namespace sluice::actors
