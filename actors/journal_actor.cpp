#include "actors/journal_actor.hpp"

#include <chrono>

#include "model/error.hpp"
#include "model/logging.hpp"

namespace sluice::actors {

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

journal_actor::behavior_type journal_actor_impl(
    journal_actor::stateful_pointer<journal_actor_state> self,
    std::shared_ptr<store::event_log> log, world_actor world) {
  self->state.log = std::move(log);
  self->state.world = std::move(world);
  return {
      [self](atom::append, const event_batch_ptr& events,
             const cursor_map_ptr& cursors) -> caf::result<uint64_t> {
        auto stored = self->state.log->append(*events, *cursors);
        if (!stored) {
          log::store()->error("append failed events={} error={}", events->size(),
                              describe(stored.error()));
          return stored.error();
        }
        if (!stored->empty()) {
          auto committed = std::make_shared<event_batch>(std::move(*stored));
          self->send(self->state.world, atom::committed_v, event_batch_ptr{committed});
        }
        return self->state.log->last_seq();
      },
      [self](atom::synced, const std::string& kind) {
        // Same mailbox order as the appends before it: the world sees the kind's data first.
        self->send(self->state.world, atom::synced_v, kind);
      },
      [self](atom::record, const client_response_ptr& r) {
        sluice::v1::ClientResponseRecord rec;
        rec.set_role(r->key);
        rec.set_node_id(r->node_id);
        rec.set_type_url(r->type_url);
        rec.set_version(r->version);
        rec.set_nonce(r->nonce);
        rec.set_nack(r->nack);
        rec.set_error_message(r->error_message);
        rec.set_time_unix_ns(now_ns());
        if (auto ok = self->state.log->record_client_response(rec); !ok) {
          log::store()->warn("cannot record client response node={} error={}", r->node_id,
                             describe(ok.error()));
        }
      },
      [self](atom::record, const xds::snapshot_ptr& snap) {
        for (const auto& [type, set] : snap->types) {
          auto& last = self->state.published[{snap->key, type}];
          if (last == set.version) {
            continue;
          }
          last = set.version;
          sluice::v1::PublishRecord rec;
          rec.set_role(snap->key);
          rec.set_type_url(type);
          rec.set_version(set.version);
          rec.set_watermark_seq(snap->watermark);
          rec.set_time_unix_ns(now_ns());
          if (auto ok = self->state.log->record_publish(rec); !ok) {
            log::store()->warn("cannot record publish key={} type={} error={}", snap->key, type,
                               describe(ok.error()));
          }
        }
      },
  };
}

}  // namespace sluice::actors
