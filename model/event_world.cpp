#include "model/event_world.hpp"

#include <string>

#include "model/error.hpp"
#include "model/resource_kind.hpp"

namespace sluice::model {

caf::expected<std::optional<world_change>> change_of(const sluice::v1::Event& ev) {
  if (ev.verdict() != sluice::v1::VERDICT_ACCEPTED) {
    return std::optional<world_change>{};
  }
  if (ev.op() != sluice::v1::EVENT_OP_DELETE && ev.op() != sluice::v1::EVENT_OP_UPSERT) {
    return std::optional<world_change>{};
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

caf::expected<void> apply_event(world& w, const sluice::v1::Event& ev) {
  w.set_watermark(ev.seq());
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

caf::expected<void> apply_state_rows(world& w, const std::vector<sluice::v1::StateRecord>& rows) {
  for (const auto& row : rows) {
    if (auto ok = apply_event(w, event_of_state_row(row)); !ok) {
      return ok.error();
    }
  }
  return {};
}

}  // namespace sluice::model
