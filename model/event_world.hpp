#pragma once
/// How a committed event changes the world, in one place: the world actor, the incremental
/// translator, startup restore, `sluice get` and replay all rebuild worlds from events or state
/// rows, and they must agree exactly (served == replayed).

#include <optional>
#include <vector>

#include "caf/expected.hpp"
#include "model/resource.hpp"
#include "model/world.hpp"
#include "sluice/v1/event.pb.h"

namespace sluice::model {

/// One resource put into (upsert set) or taken out of (upsert empty) a world.
struct world_change {
  resource_key key;
  std::optional<stored_resource> upsert;
};

/// The change an event makes: none for rejected events and other ops; an error for an unknown
/// kind or an accepted upsert whose bytes do not parse (a corrupt log), naming the seq.
[[nodiscard]] caf::expected<std::optional<world_change>> change_of(const sluice::v1::Event& ev);

/// The rejection bookkeeping an event implies (model::world::rejections): an accepted upsert or
/// delete clears the rejection of its resource (a nameless delete: of its origin); a rejected event rejects its resource
/// (or, without a name, its origin) at ingest; a reverted event rejects its resource at
/// translation. The store's state rows follow the same rules (store/event_log.cpp).
void apply_rejections(world& w, const sluice::v1::Event& ev);

/// Applies one committed event to a world: the watermark moves to its seq, its rejections are
/// recorded and its change (if any) is made; a reverted event puts back the form it carries.
[[nodiscard]] caf::expected<void> apply_event(world& w, const sluice::v1::Event& ev);

/// State rows are accepted resources, or rejections (`rejection` set, no resource).
bool is_rejection_row(const sluice::v1::StateRecord& row);

/// The accepted upsert a state row stands for (not for rejection rows).
sluice::v1::Event event_of_state_row(const sluice::v1::StateRecord& row);

/// Puts every state row into `w` (the restore at startup and from checkpoints); the watermark is
/// left to the caller. Stops at the first row that does not apply.
[[nodiscard]] caf::expected<void> apply_state_rows(world& w,
                                                   const std::vector<sluice::v1::StateRecord>& rows);

}  // namespace sluice::model
