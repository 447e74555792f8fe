#include "actors/world_actor.hpp"

#include <algorithm>
#include <iterator>
#include <optional>

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
/// Services, stored Proxies) are read, never judged.
bool judged(model::resource_kind kind) {
  using model::resource_kind;
  return kind != resource_kind::endpoint && kind != resource_kind::secret
         && kind != resource_kind::artifact && kind != resource_kind::service
         && kind != resource_kind::proxy;
}

/// Gloo's in-memory upstreams of kube destinations (`kube-svc:<ns>-<svc>-<port>`) exist because
/// their Service does; discovery sends them beside it, and the log may hold them first. Derived
/// data, like Endpoints: read, never judged.
bool derived(const model::resource_key& key) {
  return key.kind == model::resource_kind::upstream && key.name.rfind("kube-svc:", 0) == 0;
}

/// Resources that may be taken out of the world when translation refuses them and they have no
/// clean form: not Settings (without them every default changes).
bool withdrawable(model::resource_kind kind) { return kind != model::resource_kind::settings; }

/// The errors translation now has for one resource.
std::vector<std::string> current_errors(const xds::incremental_translator& t,
                                        const model::resource_key& key) {
  if (auto quick = t.errors_of(key)) {
    return *quick;
  }
  auto report = t.report_for({key});
  auto found = report.entries().find(key);
  return found == report.entries().end() ? std::vector<std::string>{} : found->second.errors;
}

void hold(world_actor_state& st, const xds::translation_delta& d) {
  for (const auto& [key, change] : d.changed) {
    st.held.insert(key);
  }
  for (const auto& key : d.removed) {
    st.held.insert(key);
  }
}

/// Puts `form` into the translator (or takes the resource out), translates, and returns the
/// resource's errors then. The caller puts the logged form back.
std::vector<std::string> try_form(world_actor_state& st, const model::resource_key& key,
                                  const std::optional<model::stored_resource>& form) {
  if (form) {
    st.translator->put(*form);
  } else {
    st.translator->erase(key);
  }
  hold(st, st.translator->flush());
  return form ? current_errors(*st.translator, key) : std::vector<std::string>{};
}

sluice::v1::Event translation_event(const model::resource_key& key) {
  sluice::v1::Event ev;
  ev.set_source("translation");
  ev.set_kind(std::string(model::name_of(key.kind)));
  ev.set_namespace_(key.ns);
  ev.set_name(key.name);
  return ev;
}

/// Looks at the resources changed since the last look. A change is refused when its form has
/// errors that the form it replaced does not have in today's world (found by trying that form
/// outside the log): it introduced them. A refused change with a previous form is put back (a
/// reverted upsert); a refused newcomer is taken out (a reverted delete). Errors a change did
/// not introduce (a reference that was already missing, a conflict the world made around it)
/// are tolerated, as before. The first look after a start takes the world as it is: what the
/// log holds was accepted. Returns the events to append.
event_batch find_reverts(world_actor::stateful_pointer<world_actor_state> self) {
  auto& st = self->state;
  event_batch reverts;
  const auto& w = st.translator->world();
  if (!st.clean_forms_known) {
    st.clean_forms_known = true;
    st.suspects.clear();
    for (const auto& k : model::all_kinds()) {
      if (!judged(k.kind)) {
        continue;
      }
      for (const auto& [ns_name, r] : w.of(k.kind)) {
        st.last_good.insert_or_assign(r.key, r);
      }
    }
    // Refused forms from before a restart are retried like the ones refused now.
    for (const auto& [key, r] : w.rejections()) {
      if (r.stage != model::rejection_stage_translation || r.refused.empty()) {
        continue;
      }
      auto msg = model::new_message(key.kind);
      if (!msg->ParseFromString(r.refused)) {
        continue;
      }
      model::stored_resource form;
      form.key = key;
      form.message = std::shared_ptr<const google::protobuf::Message>(std::move(msg));
      form.content_hash = model::content_hash(r.refused);
      form.seq = r.seq;
      form.origin = r.origin;
      st.refused.insert_or_assign(key, std::move(form));
    }
    return reverts;
  }
  auto suspects = std::move(st.suspects);
  st.suspects.clear();
  for (const auto& key : suspects) {
    const auto* found = w.find(key);
    if (found == nullptr) {
      st.last_good.erase(key);
      continue;
    }
    const model::stored_resource now = *found;
    const auto errors = current_errors(*st.translator, key);
    auto good = st.last_good.find(key);
    if (errors.empty() || (good != st.last_good.end() && good->second.content_hash
                                                             == now.content_hash)) {
      st.last_good.insert_or_assign(key, now);
      continue;
    }
    if (good != st.last_good.end()) {
      // Would the previous form have the same errors today? Then the change introduced none.
      auto before = try_form(st, key, good->second);
      (void)try_form(st, key, now);
      std::sort(before.begin(), before.end());
      auto introduced = errors;
      std::sort(introduced.begin(), introduced.end());
      std::vector<std::string> fresh;
      std::set_difference(introduced.begin(), introduced.end(), before.begin(), before.end(),
                          std::back_inserter(fresh));
      if (fresh.empty()) {
        st.last_good.insert_or_assign(key, now);
        continue;
      }
    } else if (!withdrawable(key.kind)) {
      continue;
    }
    st.refused.insert_or_assign(key, now);
    auto ev = translation_event(key);
    ev.set_verdict(sluice::v1::VERDICT_REVERTED);
    ev.set_origin(now.origin);
    ev.set_raw(model::canonical_bytes(*now.message));
    for (const auto& e : errors) {
      ev.add_errors(e);
    }
    if (good != st.last_good.end()) {
      ev.set_op(sluice::v1::EVENT_OP_UPSERT);
      ev.set_resource(model::canonical_bytes(*good->second.message));
      ev.set_content_hash(good->second.content_hash);
      log::actors()->warn(
          "translation refused kind={} namespace={} name={} seq={}; serving its last accepted "
          "form from seq={}: {}",
          model::name_of(key.kind), key.ns, key.name, now.seq, good->second.seq, errors.front());
    } else {
      // A newcomer: left in the world it would compete by arrival with what it conflicts with.
      ev.set_op(sluice::v1::EVENT_OP_DELETE);
      log::actors()->warn(
          "translation refused kind={} namespace={} name={} seq={}; it was never accepted, so it "
          "is not served: {}",
          model::name_of(key.kind), key.ns, key.name, now.seq, errors.front());
    }
    reverts.push_back(std::move(ev));
  }
  return reverts;
}

/// A refused form tried again and found clean: what to undo if its accepted event cannot be
/// written.
struct readmission {
  model::resource_key key;
  model::stored_resource form;
  std::optional<model::stored_resource> logged;
};

/// After other resources changed: tries each refused form again, outside the log (put it,
/// translate, look, put back what the log says). A form that now translates cleanly is returned
/// as an accepted upsert to append; it stays in the translator meanwhile (the event will put it
/// there anyway), and `undo` says how to take it back if the append fails.
event_batch retry_refused(world_actor::stateful_pointer<world_actor_state> self,
                          std::vector<readmission>& undo) {
  auto& st = self->state;
  event_batch readmit;
  for (auto it = st.refused.begin(); it != st.refused.end();) {
    const auto key = it->first;
    std::optional<model::stored_resource> logged;
    if (const auto* cur = st.translator->world().find(key)) {
      logged = *cur;
    }
    auto trial = it->second;
    trial.seq = st.translator->world().watermark() + 1;  // it would arrive now
    if (try_form(st, key, trial).empty()) {
      auto ev = translation_event(key);
      ev.set_op(sluice::v1::EVENT_OP_UPSERT);
      ev.set_verdict(sluice::v1::VERDICT_ACCEPTED);
      ev.set_resource(model::canonical_bytes(*trial.message));
      ev.set_content_hash(trial.content_hash);
      ev.set_origin(trial.origin);
      log::actors()->info("translation accepts a refused form now kind={} namespace={} name={}",
                          model::name_of(key.kind), key.ns, key.name);
      readmit.push_back(std::move(ev));
      undo.push_back({key, it->second, logged});
      it = st.refused.erase(it);
      continue;
    }
    (void)try_form(st, key, logged);
    ++it;
  }
  return readmit;
}

void schedule_translate(world_actor::stateful_pointer<world_actor_state> self) {
  auto& st = self->state;
  if (!st.translate_scheduled) {
    st.translate_scheduled = true;
    self->send(self, atom::translate_v);
  }
}

std::string names_of(const event_batch& events) {
  std::string out;
  for (const auto& ev : events) {
    out += (out.empty() ? "" : ", ") + ev.kind() + " " + ev.namespace_() + "." + ev.name();
  }
  return out;
}

/// Appends reverts or readmissions; publishing is held until they are back and translated.
/// One append at a time: nothing is judged while one is in flight (its suspects wait).
void append_judgements(world_actor::stateful_pointer<world_actor_state> self, event_batch events,
                       std::vector<readmission> undo) {
  auto& st = self->state;
  st.revert_in_flight = true;
  auto batch = std::make_shared<const event_batch>(std::move(events));
  self->request(st.journal, std::chrono::seconds(60), atom::append_v, event_batch_ptr{batch},
                cursor_map_ptr{std::make_shared<const cursor_map>()})
      .then(
          [self](uint64_t last) {
            auto& s = self->state;
            s.revert_in_flight = false;
            s.revert_awaited = s.translator->world().watermark() >= last ? 0 : last;
            schedule_translate(self);
          },
          [self, batch, undo](const caf::error& err) {
            // Serving the newest translation beats serving nothing new; a readmitted form that
            // is not in the log must not be served, so it goes back to being refused.
            log::actors()->error("cannot append translation verdicts for {}: {}",
                                 names_of(*batch), describe(err));
            auto& s = self->state;
            for (const auto& u : undo) {
              (void)try_form(s, u.key, u.logged);
              s.refused.insert_or_assign(u.key, u.form);
            }
            s.revert_in_flight = false;
            s.revert_awaited = 0;
            schedule_translate(self);
          });
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

/// How often refused forms are retried at most: a retry costs two translations per form.
constexpr auto retry_interval = std::chrono::seconds(1);

/// Translates what changed since the last flush and publishes the snapshots whose content
/// changed (all of them the first time) — unless a revert or readmission is on its way through
/// the journal: then the changed keys are held and go out with the translation that includes it.
void translate(world_actor::stateful_pointer<world_actor_state> self) {
  auto& st = self->state;
  auto delta = st.translator->flush();
  auto& registry = model::metrics_registry::global();
  registry.counter("sluice_translations_total", "incremental translation flushes").add();
  registry.gauge("sluice_world_resources", "accepted resources in the world")
      .set(static_cast<int64_t>(st.translator->world().size()));
  registry.gauge("sluice_world_watermark", "last event seq applied to the world")
      .set(static_cast<int64_t>(delta.watermark));
  hold(st, delta);
  if (st.revert_awaited != 0 && st.translator->world().watermark() >= st.revert_awaited) {
    st.revert_awaited = 0;
  }
  if (st.journal && !st.revert_in_flight && st.revert_awaited == 0) {
    auto reverts = find_reverts(self);
    std::vector<readmission> undo;
    if (reverts.empty() && st.others_changed && !st.refused.empty()) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= st.next_retry) {
        st.others_changed = false;
        st.next_retry = now + retry_interval;
        reverts = retry_refused(self, undo);
      } else if (!st.retry_scheduled) {
        st.retry_scheduled = true;
        self->delayed_send(self,
                           std::chrono::duration_cast<std::chrono::milliseconds>(st.next_retry
                                                                                 - now),
                           atom::translate_v);
      }
    }
    if (!reverts.empty()) {
      registry.counter("sluice_translation_verdicts_total",
                       "refusals and readmissions the world actor logged")
          .add(static_cast<int64_t>(reverts.size()));
      append_judgements(self, std::move(reverts), std::move(undo));
    }
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
            if (auto kind = model::parse_kind(ev.kind())) {
              const model::resource_key key{*kind, ev.namespace_(), ev.name()};
              if (judged(*kind) && !derived(key)) {
                st.suspects.insert(key);
              }
              if (ev.verdict() == sluice::v1::VERDICT_ACCEPTED) {
                // New input supersedes a refused form; any other change may unblock one.
                // Endpoints never decide whether a form translates.
                if (st.refused.erase(key) == 0 && *kind != model::resource_kind::endpoint) {
                  st.others_changed = true;
                }
              }
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
        self->state.retry_scheduled = false;
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
        log::actors()->debug("kind synced kind={} waiting_for={}", kind, st.pending_kinds.size());
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
