#include "actors/journal_actor.hpp"

#include <algorithm>
#include <chrono>

#include "model/error.hpp"
#include "model/logging.hpp"

namespace sluice::actors {

namespace {

using writer_pointer = journal_writer_actor::stateful_pointer<journal_writer_state>;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool waiting_for_retry(const journal_writer_state& st) { return st.retry_scheduled; }

/// Asks for a flush behind everything already in the mailbox: the appends queued there join the
/// same batch (group commit). At most one flush message is ever in flight.
void schedule_flush(writer_pointer self) {
  auto& st = self->state;
  if (st.flush_scheduled || waiting_for_retry(st)) {
    return;
  }
  st.flush_scheduled = true;
  self->send(self, atom::append_v);
}

/// Forwards the `synced` markers at the front of the queue: everything before them is committed
/// and already on its way to the world, so the world sees the kind's data first.
void forward_leading_synced(writer_pointer self) {
  auto& st = self->state;
  while (!st.queue.empty()) {
    auto* marker = std::get_if<journal_writer_state::queued_synced>(&st.queue.front());
    if (marker == nullptr) {
      return;
    }
    self->send(st.world, atom::synced_v, std::move(marker->kind));
    st.queue.pop_front();
  }
}

/// Checkpoints every `checkpoint_every` events, then retention. Failures are logged; the store
/// reports them through its health and the next write retries.
void maintain(writer_pointer self) {
  auto& st = self->state;
  if (st.options.checkpoint_every == 0
      || st.log->last_seq() < st.last_checkpoint + st.options.checkpoint_every) {
    return;
  }
  auto checkpoint = st.log->write_checkpoint();
  if (!checkpoint) {
    log::store()->warn("checkpoint failed last_seq={} error={}", st.log->last_seq(),
                       describe(checkpoint.error()));
    return;
  }
  st.last_checkpoint = checkpoint->seq;
  if (st.counters) {
    ++st.counters->checkpoints;
  }
  if (st.options.retention.enabled()) {
    if (auto kept = st.log->apply_retention(st.options.retention, now_ns()); !kept) {
      log::store()->warn("retention failed error={}", describe(kept.error()));
    }
  }
  if (auto pruned = st.log->prune_checkpoints(st.options.keep_checkpoints); !pruned) {
    log::store()->warn("pruning checkpoints failed error={}", describe(pruned.error()));
  }
}

void schedule_retry(writer_pointer self) {
  auto& st = self->state;
  st.backoff = st.backoff.count() == 0 ? st.options.retry_first
                                       : std::min(st.backoff * 2, st.options.retry_max);
  st.retry_scheduled = true;
  self->delayed_send(self, st.backoff, atom::append_v);
}

/// Writes the appends at the front of the queue (up to max_group_events) and every queued
/// record in one synced WriteBatch, then answers the appends and forwards the events.
void flush(writer_pointer self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  forward_leading_synced(self);
  store::write_group group;
  size_t events = 0;
  for (const auto& item : st.queue) {
    const auto* pending = std::get_if<journal_writer_state::queued_append>(&item);
    if (pending == nullptr) {
      break;  // a synced marker: the appends after it go in a later batch
    }
    if (!group.appends.empty() && events + pending->events->size() > st.options.max_group_events) {
      break;
    }
    group.appends.push_back(store::append_item{*pending->events, *pending->cursors});
    events += pending->events->size();
  }
  group.publishes = std::move(st.publishes);
  group.client_responses = std::move(st.client_responses);
  st.publishes.clear();
  st.client_responses.clear();
  if (group.empty()) {
    return;
  }
  auto heads = st.log->write(group);
  if (!heads) {
    // Keep everything for the retry; answer nothing: unacknowledged, the sources still own it.
    st.publishes = std::move(group.publishes);
    st.client_responses = std::move(group.client_responses);
    if (st.counters) {
      ++st.counters->failed_writes;
    }
    schedule_retry(self);
    log::store()->error(
        "journal cannot write, holding appends={} events={} retry_in_ms={} "
        "error={}",
        group.appends.size(), events, st.backoff.count(), describe(heads.error()));
    return;
  }
  st.backoff = std::chrono::milliseconds{0};
  // Counters first: whoever gets an answer below may read them at once.
  if (st.counters) {
    st.counters->appends += group.appends.size();
    st.counters->events += events;
    st.counters->groups += group.appends.empty() ? 0 : 1;
  }
  auto committed = std::make_shared<event_batch>();
  committed->reserve(events);
  for (size_t i = 0; i < group.appends.size(); ++i) {
    auto& pending = std::get<journal_writer_state::queued_append>(st.queue.front());
    for (auto& ev : group.appends[i].events) {
      committed->push_back(std::move(ev));
    }
    pending.promise.deliver((*heads)[i]);
    st.queued_events -= pending.events->size();
    st.queue.pop_front();
  }
  if (!committed->empty()) {
    self->send(st.world, atom::committed_v, event_batch_ptr{committed});
  }
  if (st.counters) {
    st.counters->queued_events = st.queued_events;
  }
  forward_leading_synced(self);
  maintain(self);
  if (!st.queue.empty() || !st.publishes.empty() || !st.client_responses.empty()) {
    schedule_flush(self);
  }
}

}  // namespace

journal_writer_actor::behavior_type journal_writer_impl(
    journal_writer_actor::stateful_pointer<journal_writer_state> self,
    std::shared_ptr<store::event_log> log, world_actor world, journal_options options,
    std::shared_ptr<journal_counters> counters) {
  auto& st = self->state;
  st.log = std::move(log);
  st.world = std::move(world);
  st.options = options;
  st.counters = std::move(counters);
  if (auto stored = st.log->checkpoints(); stored && !stored->empty()) {
    st.last_checkpoint = stored->back().seq;
  } else {
    // No checkpoint yet: count from the floor, so a fresh log gets its first one after
    // checkpoint_every events rather than at once.
    st.last_checkpoint = st.log->retention_floor();
  }
  if (st.options.retention.enabled()) {
    if (auto kept = st.log->apply_retention(st.options.retention, now_ns()); !kept) {
      log::store()->warn("retention failed error={}", describe(kept.error()));
    }
  }
  return {
      [self](atom::append, const event_batch_ptr& events,
             const cursor_map_ptr& cursors) -> caf::result<uint64_t> {
        auto& st = self->state;
        auto promise = self->make_response_promise<uint64_t>();
        if (waiting_for_retry(st)
            && st.queued_events + events->size() > st.options.max_queued_events) {
          promise.deliver(
              make_error(ec::storage_error,
                         "the event log cannot write (" + st.log->health().error + ") and "
                             + std::to_string(st.queued_events)
                             + " events are already waiting; refusing more until it recovers"));
          return promise;
        }
        st.queued_events += events->size();
        if (st.counters) {
          st.counters->queued_events = st.queued_events;
        }
        st.queue.emplace_back(journal_writer_state::queued_append{events, cursors, promise});
        schedule_flush(self);
        return promise;
      },
      [self](atom::synced, std::string& kind) {
        auto& st = self->state;
        if (st.queue.empty()) {
          self->send(st.world, atom::synced_v, std::move(kind));
          return;
        }
        st.queue.emplace_back(journal_writer_state::queued_synced{std::move(kind)});
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
        if (r->nack) {
          // What was rejected, so statuses can blame its producers; an ACK needs no list (a
          // response can hold every cluster of a role).
          rec.mutable_resource_names()->Assign(r->resource_names.begin(),
                                               r->resource_names.end());
        }
        rec.set_time_unix_ns(now_ns());
        self->state.client_responses.push_back(std::move(rec));
        schedule_flush(self);
      },
      [self](atom::record, const xds::snapshot_ptr& snap) {
        auto& st = self->state;
        bool any = false;
        for (const auto& [type, set] : snap->types) {
          auto& last = st.published[{snap->key, type}];
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
          st.publishes.push_back(std::move(rec));
          any = true;
        }
        if (any) {
          schedule_flush(self);
        }
      },
      [self](atom::append) {
        auto& st = self->state;
        if (st.retry_scheduled) {
          st.retry_scheduled = false;
          if (auto resumed = st.log->recover(); !resumed) {
            log::store()->warn("store not recovered yet error={}", describe(resumed.error()));
          }
        }
        flush(self);
      },
  };
}

journal_actor::behavior_type journal_actor_impl(
    journal_actor::stateful_pointer<journal_actor_state> self,
    std::shared_ptr<store::event_log> log, world_actor world) {
  return configured_journal_impl(self, std::move(log), std::move(world), journal_options{},
                                 nullptr);
}

journal_actor::behavior_type configured_journal_impl(
    journal_actor::stateful_pointer<journal_actor_state> self,
    std::shared_ptr<store::event_log> log, world_actor world, journal_options options,
    std::shared_ptr<journal_counters> counters) {
  // Linked: the writer ends with the journal. Every message goes to it in arrival order, so
  // `synced` stays behind the appends sent before it.
  self->state.writer = self->spawn<caf::detached + caf::linked>(
      journal_writer_impl, std::move(log), std::move(world), options, std::move(counters));
  return {
      [self](atom::append, const event_batch_ptr& events,
             const cursor_map_ptr& cursors) -> caf::result<uint64_t> {
        return self->delegate(self->state.writer, atom::append_v, events, cursors);
      },
      [self](atom::synced, const std::string& kind) {
        self->send(self->state.writer, atom::synced_v, kind);
      },
      [self](atom::record, const client_response_ptr& r) {
        self->send(self->state.writer, atom::record_v, r);
      },
      [self](atom::record, const xds::snapshot_ptr& snap) {
        self->send(self->state.writer, atom::record_v, snap);
      },
  };
}

}  // namespace sluice::actors
