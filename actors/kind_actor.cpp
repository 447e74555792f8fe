#include "actors/kind_actor.hpp"

#include "model/error.hpp"
#include "model/logging.hpp"

namespace sluice::actors {

namespace {

/// The revision a source puts on its `synced` event when it resumed instead of listing.
constexpr std::string_view resumed_revision = "resumed";

void ingest(kind_actor::stateful_pointer<kind_actor_state> self, const source_batch_ptr& batch,
            const cursor_map_ptr& extra_cursors) {
  auto& st = self->state;
  auto events = std::make_shared<event_batch>();
  auto cursors = std::make_shared<cursor_map>();
  auto take = [&](model::ingest_tracker::output out) {
    for (auto& ev : out.events) {
      events->push_back(std::move(ev));
    }
    for (auto& [k, v] : out.cursors) {
      (*cursors)[k] = std::move(v);
    }
  };
  std::vector<std::string> synced_now;
  for (const auto& ev : *batch) {
    if (ev.op == model::source_event::op_t::synced) {
      take(st.tracker->finish_sync(ev.source, ev.revision == resumed_revision));
      synced_now.push_back(ev.source);
    } else {
      take(st.tracker->ingest(ev));
    }
  }
  if (extra_cursors) {
    for (const auto& [k, v] : *extra_cursors) {
      (*cursors)[k] = v;
    }
  }
  if (!events->empty() || !cursors->empty()) {
    auto n = events->size();
    auto kind_name = std::string(model::name_of(st.tracker->kind()));
    self->request(st.journal, std::chrono::seconds(60), atom::append_v, event_batch_ptr{events},
                  cursor_map_ptr{cursors})
        .then([](uint64_t) {},
              [kind_name, n](const caf::error& err) {
                log::actors()->error("append failed kind={} events={} error={}", kind_name, n,
                                     describe(err));
              });
  }
  for (auto& s : synced_now) {
    st.synced_sources.insert(std::move(s));
  }
  if (!st.reported_synced && st.synced_sources.size() >= st.expected_sources) {
    st.reported_synced = true;
    self->send(st.journal, atom::synced_v, std::string(model::name_of(st.tracker->kind())));
  }
}

}  // namespace

kind_actor::behavior_type kind_actor_impl(
    kind_actor::stateful_pointer<kind_actor_state> self, model::resource_kind kind,
    journal_actor journal, size_t expected_sources,
    std::shared_ptr<const std::vector<sluice::v1::StateRecord>> state, cursor_map_ptr cursors) {
  self->state.tracker = std::make_unique<model::ingest_tracker>(kind);
  self->state.tracker->restore(*state, *cursors);
  self->state.journal = std::move(journal);
  self->state.expected_sources = expected_sources;
  return {
      [self](atom::ingest, const source_batch_ptr& batch) { ingest(self, batch, nullptr); },
      [self](atom::ingest, const source_batch_ptr& batch, const cursor_map_ptr& cursors) {
        ingest(self, batch, cursors);
      },
  };
}

}  // namespace sluice::actors
