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

/// Kinds whose translation findings can refuse a form; the rest (Endpoints, Secrets, Artifacts,
/// stored Proxies) are read, never judged.
bool judged(model::resource_kind kind) {
  using model::resource_kind;
  return kind != resource_kind::endpoint && kind != resource_kind::secret
         && kind != resource_kind::artifact && kind != resource_kind::proxy;
}

/// Looks at the findings of the resources changed since the last look: clean forms are
/// remembered; a changed resource with errors whose last clean form differs is put back by a
/// reverted event. Returns the events to append (empty: nothing to put back).
event_batch find_reverts(world_actor::stateful_pointer<world_actor_state> self) {
  auto& st = self->state;
  event_batch reverts;
  if (st.clean_forms_known && st.suspects.empty()) {
    return reverts;
  }
  const auto report = st.translator->report();  // O(world): only when something judged changed
  const auto& w = st.translator->world();
  auto look = [&](const model::resource_key& key) {
    const auto* now = w.find(key);
    if (now == nullptr) {
      st.last_clean.erase(key);
      return;
    }
    auto found = report.entries().find(key);
    if (found == report.entries().end() || found->second.errors.empty()) {
      st.last_clean.insert_or_assign(key, *now);
      return;
    }
    auto clean = st.last_clean.find(key);
    if (clean == st.last_clean.end() || clean->second.content_hash == now->content_hash) {
      return;  // never clean, or already back at the clean form: nothing better to serve
    }
    sluice::v1::Event ev;
    ev.set_source("translation");
    ev.set_kind(std::string(model::name_of(key.kind)));
    ev.set_namespace_(key.ns);
    ev.set_name(key.name);
    ev.set_op(sluice::v1::EVENT_OP_UPSERT);
    ev.set_verdict(sluice::v1::VERDICT_REVERTED);
    ev.set_resource(model::canonical_bytes(*clean->second.message));
    ev.set_content_hash(clean->second.content_hash);
    ev.set_origin(now->origin);
    for (const auto& e : found->second.errors) {
      ev.add_errors(e);
    }
    log::actors()->warn(
        "translation refused kind={} namespace={} name={} seq={}; serving its last accepted form "
        "from seq={}: {}",
        model::name_of(key.kind), key.ns, key.name, now->seq, clean->second.seq,
        found->second.errors.front());
    reverts.push_back(std::move(ev));
  };
  if (!st.clean_forms_known) {
    st.clean_forms_known = true;
    for (const auto& k : model::all_kinds()) {
      if (!judged(k.kind)) {
        continue;
      }
      for (const auto& [ns_name, r] : w.of(k.kind)) {
        look(r.key);
      }
    }
  } else {
    for (const auto& key : st.suspects) {
      look(key);
    }
  }
  st.suspects.clear();
  return reverts;
}

void publish_key(world_actor::stateful_pointer<world_actor_state> self, const std::string& key,
                 uint64_t watermark) {
  auto& st = self->state;
  if (auto snap = st.translator->snapshot(key)) {
    publish(self, std::move(snap));
    return;
  }
  // A Proxy that no longer exists gets an empty snapshot, as Gloo's garbage collection does.
  log::actors()->info("proxy removed role={}", key);
  auto empty = std::make_shared<xds::snapshot>();
  empty->key = key;
  empty->watermark = watermark;
  publish(self, xds::snapshot_ptr{empty});
}

/// Translates what changed since the last flush and publishes the snapshots whose content
/// changed (all of them the first time) — unless a revert is on its way through the journal:
/// then the changed keys are held and go out with the translation that includes the revert.
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
    st.held.insert(key);
  }
  for (const auto& key : delta.removed) {
    st.held.insert(key);
  }
  if (st.journal) {
    auto reverts = find_reverts(self);
    if (!reverts.empty()) {
      registry.counter("sluice_translation_reverts_total",
                       "resources put back to their last clean form after translation refused "
                       "their newest one")
          .add(static_cast<int64_t>(reverts.size()));
      st.revert_in_flight = true;
      auto batch = std::make_shared<const event_batch>(std::move(reverts));
      self->request(st.journal, std::chrono::seconds(60), atom::append_v, event_batch_ptr{batch},
                    cursor_map_ptr{std::make_shared<const cursor_map>()})
          .then(
              [self](uint64_t last) {
                auto& s = self->state;
                s.revert_in_flight = false;
                s.revert_awaited = last;
                if (s.translator->world().watermark() >= last) {
                  s.revert_awaited = 0;  // already applied: the flush that follows releases
                }
                if (!s.translate_scheduled) {
                  s.translate_scheduled = true;
                  self->send(self, atom::translate_v);
                }
              },
              [self](const caf::error& err) {
                // Serving the newest translation (without the refused resource) beats serving
                // nothing new at all.
                log::actors()->error("cannot append reverts, publishing without them: {}",
                                     describe(err));
                auto& s = self->state;
                s.revert_in_flight = false;
                s.revert_awaited = 0;
                if (!s.translate_scheduled) {
                  s.translate_scheduled = true;
                  self->send(self, atom::translate_v);
                }
              });
    }
  }
  if (st.revert_awaited != 0 && st.translator->world().watermark() >= st.revert_awaited) {
    st.revert_awaited = 0;
  }
  if (!st.revert_in_flight && st.revert_awaited == 0) {
    auto keys = std::move(st.held);
    st.held.clear();
    for (const auto& key : keys) {
      publish_key(self, key, delta.watermark);
    }
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
          } else if ((ev.verdict() == sluice::v1::VERDICT_ACCEPTED
                      || ev.verdict() == sluice::v1::VERDICT_REVERTED)
                     && !ev.name().empty()) {
            if (auto kind = model::parse_kind(ev.kind()); kind && judged(*kind)) {
              st.suspects.insert(model::resource_key{*kind, ev.namespace_(), ev.name()});
            }
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
      [self](atom::record, journal_actor journal) { self->state.journal = std::move(journal); },
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
