#include "actors/world_actor.hpp"

#include "actors/proxy_actor.hpp"
#include "model/gateway_translator.hpp"
#include "model/error.hpp"
#include "model/logging.hpp"
#include "model/metrics.hpp"

namespace sluice::actors {

caf::expected<void> apply_event(model::world& w, const sluice::v1::Event& ev) {
  w.set_watermark(ev.seq());
  if (ev.verdict() != sluice::v1::VERDICT_ACCEPTED) {
    return {};
  }
  auto kind = model::parse_kind(ev.kind());
  if (!kind) {
    return make_error(ec::invalid_resource,
                      "event seq " + std::to_string(ev.seq()) + " has unknown kind " + ev.kind());
  }
  model::resource_key key{*kind, ev.namespace_(), ev.name()};
  if (ev.op() == sluice::v1::EVENT_OP_DELETE) {
    w.erase(key);
    return {};
  }
  if (ev.op() != sluice::v1::EVENT_OP_UPSERT) {
    return {};
  }
  auto msg = model::new_message(*kind);
  if (!msg->ParseFromString(ev.resource())) {
    return make_error(ec::storage_error, "event seq " + std::to_string(ev.seq()) + " ("
                                             + key.to_string() + ") does not parse");
  }
  model::stored_resource r;
  r.key = std::move(key);
  r.message = std::shared_ptr<const google::protobuf::Message>(std::move(msg));
  r.content_hash = ev.content_hash();
  r.seq = ev.seq();
  r.origin = ev.origin();
  w.put(std::move(r));
  return {};
}

namespace {

/// Hands the current outcome to the hook now, or schedules it for when the interval allows.
void deliver_outcome(world_actor::stateful_pointer<world_actor_state> self) {
  auto& st = self->state;
  if (!st.hooks.on_translated || !st.outcome_dirty) {
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
  auto out = std::make_shared<translation_outcome>();
  out->watermark = st.last_view->watermark();
  out->world = st.last_view;
  out->report = st.last_report;
  out->proxies = st.last_proxies;
  st.outcome_at = now;
  st.outcome_dirty = false;
  st.hooks.on_translated(std::move(out));
}

void translate_all(world_actor::stateful_pointer<world_actor_state> self) {
  auto& st = self->state;
  auto view = std::make_shared<const model::world>(st.world);
  model::translation_report report;
  auto proxies = model::translate_gateways(*view, report);
  log_report_changes("gateways", report, st.last_problems);
  if (st.hooks.on_translated) {
    st.last_view = view;
    st.last_report = report;
    st.last_proxies = proxies;
    st.outcome_dirty = true;
    deliver_outcome(self);
  }

  const uint64_t round = ++st.round;
  model::metrics_registry::global()
      .counter("sluice_translations_total", "whole-world translation rounds")
      .add();
  model::metrics_registry::global()
      .gauge("sluice_world_resources", "accepted resources in the world")
      .set(static_cast<int64_t>(view->size()));
  model::metrics_registry::global()
      .gauge("sluice_world_watermark", "last event seq applied to the world")
      .set(static_cast<int64_t>(view->watermark()));
  const bool first = !st.announced;
  auto outstanding = std::make_shared<size_t>(proxies.size() + 1);
  auto done = [self, first, outstanding] {
    if (--*outstanding == 0 && first && !self->state.announced) {
      self->state.announced = true;
      self->send(self->state.xds, atom::ready_v);
    }
  };
  auto forward = [self, done](const xds::snapshot_ptr& snap) {
    self->send(self->state.xds, atom::publish_v, snap);
    done();
  };
  auto failed = [done, round](const caf::error& err) {
    log::actors()->error("translation failed round={} error={}", round, describe(err));
    done();
  };

  std::set<std::string> live;
  for (auto& p : proxies) {
    live.insert(p.role);
    auto it = st.proxies.find(p.role);
    if (it == st.proxies.end()) {
      it = st.proxies.emplace(p.role, self->spawn(proxy_actor_impl, p.role)).first;
      log::actors()->info("proxy appeared role={}", p.role);
    }
    auto proxy = std::make_shared<const ::gloo::solo::io::Proxy>(std::move(p.proxy));
    self->request(it->second, std::chrono::seconds(60), atom::translate_v, view,
                  proxy_ptr{proxy})
        .then(forward, failed);
  }
  // A Proxy that no longer exists gets an empty snapshot, as Gloo's garbage collection does.
  for (auto it = st.proxies.begin(); it != st.proxies.end();) {
    if (live.count(it->first) > 0) {
      ++it;
      continue;
    }
    log::actors()->info("proxy removed role={}", it->first);
    auto empty = std::make_shared<xds::snapshot>();
    empty->key = it->first;
    empty->watermark = view->watermark();
    self->send(st.xds, atom::publish_v, xds::snapshot_ptr{empty});
    self->send_exit(it->second, caf::exit_reason::user_shutdown);
    it = st.proxies.erase(it);
  }
  self->request(st.proxyless, std::chrono::seconds(60), atom::translate_v, view, proxy_ptr{})
      .then(forward, failed);
}

}  // namespace

world_actor::behavior_type world_actor_impl(world_actor::stateful_pointer<world_actor_state> self,
                                            std::shared_ptr<const model::world> initial,
                                            xds_actor xds, world_hooks hooks) {
  auto& st = self->state;
  st.hooks = std::move(hooks);
  st.world = *initial;
  st.xds = std::move(xds);
  for (const auto& k : model::all_kinds()) {
    st.pending_kinds.insert(std::string(k.name));
  }
  st.proxyless = self->spawn(proxy_actor_impl, std::string(xds::proxyless_key));
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
          if (auto ok = apply_event(st.world, ev); !ok) {
            log::actors()->error("cannot apply event: {}", describe(ok.error()));
          }
        }
        if (st.ready && !st.translate_scheduled) {
          st.translate_scheduled = true;
          self->send(self, atom::translate_v);
        }
      },
      [self](atom::translate) {
        self->state.translate_scheduled = false;
        translate_all(self);
      },
      [self](atom::status) {
        self->state.outcome_scheduled = false;
        deliver_outcome(self);
      },
      [self](atom::synced, const std::string& kind) {
        auto& st = self->state;
        st.pending_kinds.erase(kind);
        if (!st.ready && st.pending_kinds.empty()) {
          st.ready = true;
          log::actors()->info("all sources synced resources={} watermark={}", st.world.size(),
                              st.world.watermark());
          translate_all(self);
        }
      },
  };
}

}  // namespace sluice::actors
