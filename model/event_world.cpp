#include "model/event_world.hpp"

#include <string>

#include "model/error.hpp"
#include "model/resource_kind.hpp"

namespace sluice::model {

caf::expected<std::optional<world_change>> change_of(const sluice::v1::Event& ev) {
  const bool reverted = ev.verdict() == sluice::v1::VERDICT_REVERTED;
  if (ev.verdict() != sluice::v1::VERDICT_ACCEPTED && !reverted) {
    return std::optional<world_change>{};
  }
  if (ev.op() != sluice::v1::EVENT_OP_DELETE && ev.op() != sluice::v1::EVENT_OP_UPSERT) {
    return std::optional<world_change>{};
  }
  if (ev.name().empty()) {
    return std::optional<world_change>{};  // an origin-only event changes no resource
  }
  auto kind = parse_kind(ev.kind());
  if (!kind) {
    return make_error(ec::invalid_resource,
                      "event seq " + std::to_string(ev.seq()) + " has unknown kind " + ev.kind());
  }
  world_change change{resource_key{*kind, ev.namespace_(), ev.name()}, std::nullopt};
  if (ev.op() == sluice::v1::EVENT_OP_DELETE) {
    return std::optional<world_change>{std::move(change)};
  }
  auto msg = new_message(*kind);
  if (!msg->ParseFromString(ev.resource())) {
    return make_error(ec::storage_error, "event seq " + std::to_string(ev.seq()) + " (" +
                                             change.key.to_string() + ") does not parse");
  }
  stored_resource r;
  r.key = change.key;
  r.message = std::shared_ptr<const google::protobuf::Message>(std::move(msg));
  r.content_hash = ev.content_hash();
  r.seq = ev.seq();
  r.origin = ev.origin();
  change.upsert = std::move(r);
  return std::optional<world_change>{std::move(change)};
}

void apply_rejections(world& w, const sluice::v1::Event& ev) {
  if (ev.op() != sluice::v1::EVENT_OP_UPSERT && ev.op() != sluice::v1::EVENT_OP_DELETE) {
    return;
  }
  auto kind = parse_kind(ev.kind());
  if (!kind) {
    return;
  }
  const resource_key key{*kind, ev.namespace_(), ev.name()};
  auto rejection_of_event = [&](const char* stage) {
    rejection r;
    r.seq = ev.seq();
    r.errors.assign(ev.errors().begin(), ev.errors().end());
    r.stage = stage;
    r.origin = ev.origin();
    return r;
  };
  switch (ev.verdict()) {
    case sluice::v1::VERDICT_ACCEPTED:
      // A named change clears its resource's rejection; only the tracker's nameless delete
      // clears an origin's (another resource of the same file says nothing about the file).
      w.clear_rejections(key, ev.name().empty() ? ev.origin() : std::string());
      break;
    case sluice::v1::VERDICT_REJECTED:
      if (ev.op() != sluice::v1::EVENT_OP_UPSERT) {
        break;  // only input is rejected (as in the store's state rows)
      }
      if (ev.name().empty()) {
        w.set_origin_rejection(*kind, ev.origin(), rejection_of_event(rejection_stage_ingest));
      } else {
        w.set_rejection(key, rejection_of_event(rejection_stage_ingest));
      }
      break;
    case sluice::v1::VERDICT_REVERTED:
      if (!ev.name().empty()) {
        auto r = rejection_of_event(rejection_stage_translation);
        r.refused = ev.raw();
        w.set_rejection(key, std::move(r));
      }
      break;
    default:
      break;
  }
}

caf::expected<void> apply_event(world& w, const sluice::v1::Event& ev) {
  w.set_watermark(ev.seq());
  apply_rejections(w, ev);
  auto change = change_of(ev);
  if (!change) {
    return change.error();
  }
  if (!*change) {
    return {};
  }
  if ((*change)->upsert) {
    w.put(std::move(*(*change)->upsert));
  } else {
    w.erase((*change)->key);
  }
  return {};
}

sluice::v1::Event event_of_state_row(const sluice::v1::StateRecord& row) {
  sluice::v1::Event ev;
  ev.set_seq(row.seq());
  ev.set_kind(row.kind());
  ev.set_namespace_(row.namespace_());
  ev.set_name(row.name());
  ev.set_op(sluice::v1::EVENT_OP_UPSERT);
  ev.set_verdict(sluice::v1::VERDICT_ACCEPTED);
  ev.set_resource(row.resource());
  ev.set_content_hash(row.content_hash());
  ev.set_origin(row.origin());
  return ev;
}

bool is_rejection_row(const sluice::v1::StateRecord& row) { return row.has_rejection(); }

caf::expected<void> apply_state_rows(world& w, const std::vector<sluice::v1::StateRecord>& rows) {
  for (const auto& row : rows) {
    if (is_rejection_row(row)) {
      auto kind = parse_kind(row.kind());
      if (!kind) {
        return make_error(ec::invalid_resource, "state row of unknown kind " + row.kind());
      }
      rejection r;
      r.seq = row.rejection().seq();
      r.errors.assign(row.rejection().errors().begin(), row.rejection().errors().end());
      r.stage = row.rejection().stage();
      r.origin = row.origin();
      r.refused = row.rejection().refused();
      if (row.name().empty()) {
        w.set_origin_rejection(*kind, row.origin(), std::move(r));
      } else {
        w.set_rejection(resource_key{*kind, row.namespace_(), row.name()}, std::move(r));
      }
      continue;
    }
    if (auto ok = apply_event(w, event_of_state_row(row)); !ok) {
      return ok.error();
    }
  }
  return {};
}

}  // namespace sluice::model
