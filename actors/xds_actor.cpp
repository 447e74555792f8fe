#include "actors/xds_actor.hpp"

#include "model/logging.hpp"
#include "model/metrics.hpp"

namespace sluice::actors {

xds_actor::behavior_type xds_actor_impl(xds_actor::stateful_pointer<xds_actor_state> self,
                                        std::shared_ptr<xds::ads_server> server,
                                        std::shared_ptr<served_snapshots> served) {
  self->state.server = std::move(server);
  self->state.served = std::move(served);
  return {
      [self](atom::publish, const xds::snapshot_ptr& snap) {
        log::xds()->debug("publish key={} watermark={}", snap->key, snap->watermark);
        model::metrics_registry::global()
            .counter("sluice_snapshots_published_total", "snapshots handed to the ADS server")
            .add();
        self->state.server->publish(snap);
        if (self->state.served) {
          self->state.served->put(snap);
        }
        if (self->state.journal) {
          self->send(self->state.journal, atom::record_v, snap);
        }
      },
      [self](atom::ready) {
        if (!self->state.open) {
          self->state.open = true;
          self->state.server->open_gate();
          log::xds()->info("serving: startup gate open, snapshots published");
        }
      },
      [self](atom::response, const client_response_ptr& r) {
        if (r->nack) {
          model::metrics_registry::global()
              .counter("sluice_xds_nacks_total", "NACKs received from xDS clients",
                       "type_url=\"" + r->type_url + "\"")
              .add();
          log::xds()->warn("nack node={} key={} type={} version={} nonce={}: {}", r->node_id,
                           r->key, r->type_url, r->version, r->nonce, r->error_message);
        } else {
          log::xds()->debug("ack node={} key={} type={} version={}", r->node_id, r->key,
                            r->type_url, r->version);
        }
        if (self->state.journal) {
          self->send(self->state.journal, atom::record_v, r);
        }
      },
      [self](atom::record, journal_actor& journal) { self->state.journal = std::move(journal); },
  };
}

}  // namespace sluice::actors
