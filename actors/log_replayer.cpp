#include "actors/log_replayer.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <ctime>
#include <deque>

#include <fmt/format.h>

#include "actors/world_actor.hpp"
#include "envoy/config/route/v3/route.pb.h"
#include "model/redaction.hpp"
#include "model/error.hpp"
#include "model/gateway_attribution.hpp"
#include "model/logging.hpp"
#include "model/resource_kind.hpp"
#include "model/status.hpp"
#include "solo/gateway.pb.h"
#include "solo/gloo.pb.h"
#include "xds/envoy_common.hpp"

namespace sluice::actors {

namespace {

namespace pb = google::protobuf;

std::optional<model::resource_key> key_of(const sluice::v1::Event& ev) {
  auto kind = model::parse_kind(ev.kind());
  if (!kind) {
    return std::nullopt;
  }
  return model::resource_key{*kind, ev.namespace_(), ev.name()};
}

/// A message of the generated type named by an xDS type URL, or null when this binary does not
/// know it.
std::unique_ptr<pb::Message> message_for(std::string_view type_url) {
  auto slash = type_url.rfind('/');
  auto full_name
      = std::string(slash == std::string_view::npos ? type_url : type_url.substr(slash + 1));
  const auto* descriptor = pb::DescriptorPool::generated_pool()->FindMessageTypeByName(full_name);
  if (descriptor == nullptr) {
    return nullptr;
  }
  const auto* prototype = pb::MessageFactory::generated_factory()->GetPrototype(descriptor);
  return prototype == nullptr ? nullptr : std::unique_ptr<pb::Message>(prototype->New());
}

nlohmann::json message_json(const pb::Message& message) {
  std::string text;
  pb::util::JsonPrintOptions options;
  options.preserve_proto_field_names = false;
  auto status = pb::util::MessageToJsonString(message, &text, options);
  if (status.ok()) {
    auto parsed = nlohmann::json::parse(text, nullptr, false);
    if (!parsed.is_discarded()) {
      return parsed;
    }
  }
  // An Any of a type this binary does not link cannot become JSON; the text format still shows
  // every known field.
  std::string debug;
  pb::TextFormat::PrintToString(message, &debug);
  return nlohmann::json{{"text", debug}};
}

/// Attribution of Envoy resources to the user resources they were built from (file comment of
/// log_replayer.hpp), for one translated point.
class attribution {
 public:
  attribution(const xds::world_translation& t, const model::world& w) : world_(w) {
    for (const auto& p : t.proxies) {
      auto& listeners = proxies_[p.role];
      for (const auto& l : p.proxy.listeners()) {
        auto& keys = listeners[l.name()];
        collect(l, keys);
      }
    }
    for (const auto& [_, stored] : w.of(model::resource_kind::upstream)) {
      upstream_by_cluster_[xds::cluster_name(stored.key.name, stored.key.ns)] = stored.key;
    }
    for (const auto& [_, stored] : w.of(model::resource_kind::endpoint)) {
      const auto* ep = static_cast<const ::gloo::solo::io::Endpoint*>(stored.message.get());
      for (const auto& ref : ep->upstreams()) {
        auto ns = ref.namespace_().empty() ? stored.key.ns : ref.namespace_();
        endpoints_by_upstream_[{ns, ref.name()}].push_back(stored.key);
      }
    }
    for (const auto& [_, stored] : w.of(model::resource_kind::virtual_service)) {
      const auto* vs
          = static_cast<const ::gateway::solo::io::VirtualService*>(stored.message.get());
      vs_by_vhost_[xds::envoy_virtual_host_name(model::ref_key(stored.key))] = stored.key;
      for (const auto& domain : vs->virtual_host().domains()) {
        vs_by_domain_[domain].push_back(stored.key);
      }
    }
    for (const auto& [_, stored] : w.of(model::resource_kind::settings)) {
      settings_.push_back(stored.key);
    }
  }

  /// The inputs of one resource of a role's snapshot; `bytes` is its serialized form there.
  void inputs(const std::string& role, std::string_view type, const std::string& name,
              const std::string& bytes, std::set<model::resource_key>& out) const {
    out.insert(settings_.begin(), settings_.end());
    if (type == xds::listener_type || type == xds::route_type) {
      std::string listener = name;
      if (type == xds::route_type && listener.size() > 7
          && listener.compare(listener.size() - 7, 7, "-routes") == 0) {
        listener.resize(listener.size() - 7);
      }
      if (auto p = proxies_.find(role); p != proxies_.end()) {
        if (auto l = p->second.find(listener); l != p->second.end()) {
          out.insert(l->second.begin(), l->second.end());
        }
      }
      if (auto d = vs_by_domain_.find(listener); d != vs_by_domain_.end()) {
        out.insert(d->second.begin(), d->second.end());
      }
      if (type == xds::route_type) {
        route_references(bytes, out);
      }
    } else if (type == xds::cluster_type || type == xds::endpoint_type) {
      if (auto u = upstream_by_cluster_.find(name); u != upstream_by_cluster_.end()) {
        out.insert(u->second);
        if (type == xds::endpoint_type) {
          auto e = endpoints_by_upstream_.find({u->second.ns, u->second.name});
          if (e != endpoints_by_upstream_.end()) {
            out.insert(e->second.begin(), e->second.end());
          }
        }
      }
    } else if (type == xds::secret_type) {
      for (const auto& [_, stored] : world_.of(model::resource_kind::secret)) {
        const auto& k = stored.key;
        if (k.name == name || model::ref_key(k) == name
            || xds::cluster_name(k.name, k.ns) == name) {
          out.insert(k);
        }
      }
    }
  }

 private:
  /// Every source and destination reference inside a Proxy listener, found by reflection so
  /// that every listener type (HTTP, TCP, hybrid) is covered.
  static void collect(const pb::Message& message, std::set<model::resource_key>& out) {
    const auto* descriptor = message.GetDescriptor();
    const auto* reflection = message.GetReflection();
    if (descriptor->full_name() == ::gloo::solo::io::SourceMetadata::descriptor()->full_name()) {
      const auto& meta = static_cast<const ::gloo::solo::io::SourceMetadata&>(message);
      for (const auto& s : meta.sources()) {
        std::string_view kind = s.resource_kind();
        if (kind.substr(0, 4) == "*v1.") {
          kind.remove_prefix(4);
        }
        if (auto parsed = model::parse_kind(kind)) {
          out.insert({*parsed, s.resource_ref().namespace_(), s.resource_ref().name()});
        }
      }
      return;
    }
    std::vector<const pb::FieldDescriptor*> fields;
    reflection->ListFields(message, &fields);
    for (const auto* field : fields) {
      if (field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        continue;
      }
      auto visit = [&](const pb::Message& child) {
        if (child.GetDescriptor()->full_name() == "core.solo.io.ResourceRef") {
          const auto* ref = static_cast<const ::core::solo::io::ResourceRef*>(&child);
          if (field->name() == "upstream") {
            out.insert({model::resource_kind::upstream, ref->namespace_(), ref->name()});
          } else if (field->name() == "upstream_group") {
            out.insert({model::resource_kind::upstream_group, ref->namespace_(), ref->name()});
          }
          return;
        }
        collect(child, out);
      };
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
          visit(reflection->GetRepeatedMessage(message, field, i));
        }
      } else {
        visit(reflection->GetMessage(message, field));
      }
    }
  }

  /// The route configuration's cluster references and virtual hosts.
  void route_references(const std::string& bytes, std::set<model::resource_key>& out) const {
    envoy::config::route::v3::RouteConfiguration rc;
    if (!rc.ParseFromString(bytes)) {
      return;
    }
    auto cluster = [&](const std::string& c) {
      if (auto u = upstream_by_cluster_.find(c); u != upstream_by_cluster_.end()) {
        out.insert(u->second);
      }
    };
    for (const auto& vh : rc.virtual_hosts()) {
      if (auto v = vs_by_vhost_.find(vh.name()); v != vs_by_vhost_.end()) {
        out.insert(v->second);
      }
      for (const auto& r : vh.routes()) {
        if (!r.has_route()) {
          continue;
        }
        cluster(r.route().cluster());
        for (const auto& wc : r.route().weighted_clusters().clusters()) {
          cluster(wc.name());
        }
      }
    }
  }

  const model::world& world_;
  std::map<std::string, std::map<std::string, std::set<model::resource_key>>> proxies_;
  std::map<std::string, model::resource_key> upstream_by_cluster_;
  std::map<std::pair<std::string, std::string>, std::vector<model::resource_key>>
      endpoints_by_upstream_;
  std::map<std::string, model::resource_key> vs_by_vhost_;
  std::map<std::string, std::vector<model::resource_key>> vs_by_domain_;
  std::vector<model::resource_key> settings_;
};

std::string compact(const nlohmann::json& value) {
  auto text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  constexpr size_t limit = 240;
  if (text.size() > limit) {
    text.resize(limit);
    text += "...";
  }
  return text;
}

/// True when every item is an object with a distinct string `name`: such lists are matched by
/// name, so an insertion does not show as a change of every later item.
bool named_items(const nlohmann::json& list) {
  std::set<std::string> names;
  for (const auto& item : list) {
    if (!item.is_object() || !item.contains("name") || !item["name"].is_string()
        || !names.insert(item["name"].get<std::string>()).second) {
      return false;
    }
  }
  return !list.empty();
}

void differences(const std::string& path, const nlohmann::json& a, const nlohmann::json& b,
                 std::vector<field_change>& out) {
  if (a == b) {
    return;
  }
  auto child = [&](const std::string& key) { return path.empty() ? key : path + "." + key; };
  if (a.is_object() && b.is_object()) {
    std::set<std::string> keys;
    for (const auto& [k, _] : a.items()) {
      keys.insert(k);
    }
    for (const auto& [k, _] : b.items()) {
      keys.insert(k);
    }
    for (const auto& k : keys) {
      if (!a.contains(k)) {
        out.push_back({child(k), "", compact(b[k])});
      } else if (!b.contains(k)) {
        out.push_back({child(k), compact(a[k]), ""});
      } else {
        differences(child(k), a[k], b[k], out);
      }
    }
    return;
  }
  if (a.is_array() && b.is_array()) {
    if (named_items(a) && named_items(b)) {
      std::map<std::string, const nlohmann::json*> from;
      std::map<std::string, const nlohmann::json*> to;
      for (const auto& item : a) {
        from[item["name"].get<std::string>()] = &item;
      }
      for (const auto& item : b) {
        to[item["name"].get<std::string>()] = &item;
      }
      for (const auto& [name, item] : from) {
        auto here = path + "[name=" + name + "]";
        if (auto other = to.find(name); other != to.end()) {
          differences(here, *item, *other->second, out);
        } else {
          out.push_back({here, compact(*item), ""});
        }
      }
      for (const auto& [name, item] : to) {
        if (from.count(name) == 0) {
          out.push_back({path + "[name=" + name + "]", "", compact(*item)});
        }
      }
      return;
    }
    const size_t common = std::min(a.size(), b.size());
    for (size_t i = 0; i < common; ++i) {
      differences(path + "[" + std::to_string(i) + "]", a[i], b[i], out);
    }
    for (size_t i = common; i < a.size(); ++i) {
      out.push_back({path + "[" + std::to_string(i) + "]", compact(a[i]), ""});
    }
    for (size_t i = common; i < b.size(); ++i) {
      out.push_back({path + "[" + std::to_string(i) + "]", "", compact(b[i])});
    }
    return;
  }
  out.push_back({path.empty() ? "." : path, compact(a), compact(b)});
}

void emit_yaml(YAML::Emitter& out, const nlohmann::json& value) {
  if (value.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [k, v] : value.items()) {
      out << YAML::Key << k << YAML::Value;
      emit_yaml(out, v);
    }
    out << YAML::EndMap;
  } else if (value.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& v : value) {
      emit_yaml(out, v);
    }
    out << YAML::EndSeq;
  } else if (value.is_string()) {
    out << YAML::DoubleQuoted << value.get<std::string>();
  } else if (value.is_null()) {
    out << YAML::Null;
  } else {
    out << value.dump();
  }
}

}  // namespace

// ---- replay ---------------------------------------------------------------------------------

void log_replayer::set_progress(replay_progress progress, uint64_t every) {
  progress_ = std::move(progress);
  progress_every_ = std::max<uint64_t>(every, 1);
}

caf::expected<int64_t> log_replayer::time_of(uint64_t seq) const {
  if (seq == 0) {
    return int64_t{0};
  }
  auto ev = log_.event(seq);
  if (!ev) {
    return ev.error();
  }
  return *ev ? (*ev)->time_unix_ns() : int64_t{0};
}

caf::expected<uint64_t> log_replayer::seq_at_time(int64_t time_unix_ns) const {
  auto seq = log_.seq_at_time(time_unix_ns);
  if (!seq) {
    return seq.error();
  }
  if (*seq == 0 && log_.retention_floor() > 0) {
    return make_error(ec::not_found,
                      fmt::format("{} is older than the retained history of the log at {}: its "
                                  "oldest event is seq {}",
                                  format_time(time_unix_ns), log_.path(), log_.first_seq()));
  }
  return *seq;
}

caf::expected<replayed_world> log_replayer::world_at(uint64_t seq) const {
  auto checkpoint = log_.checkpoint_for(seq);
  if (!checkpoint) {
    return checkpoint.error();
  }
  auto rows = log_.load_checkpoint(checkpoint->seq);
  if (!rows) {
    return rows.error();
  }
  replayed_world out;
  out.checkpoint_seq = checkpoint->seq;
  for (const auto& row : *rows) {
    if (auto ok = apply_event(out.world, model::event_of_state_row(row)); !ok) {
      ++out.apply_errors;
      log::store()->warn("checkpoint row not applied seq={} error={}", checkpoint->seq,
                         describe(ok.error()));
    }
  }
  out.world.set_watermark(checkpoint->seq);
  if (auto advanced = advance(out, seq); !advanced) {
    return advanced.error();
  }
  return out;
}

caf::expected<void> log_replayer::advance(
    replayed_world& w, uint64_t seq,
    const std::function<void(const sluice::v1::Event&)>& seen) const {
  const uint64_t start = w.world.watermark();
  if (seq < start) {
    return make_error(ec::invalid_argument,
                      fmt::format("cannot replay backwards from seq {} to seq {}", start, seq));
  }
  if (seq > log_.last_seq()) {
    return make_error(ec::not_found,
                      fmt::format("seq {} is beyond the head of the log at {} (last seq {})", seq,
                                  log_.path(), log_.last_seq()));
  }
  const uint64_t total = seq - start;
  uint64_t done = 0;
  auto walked = log_.for_each_event(start + 1, seq, [&](const sluice::v1::Event& ev) {
    // The world actor logs and skips what it cannot apply; replay does the same, so both
    // arrive at the same world.
    if (auto ok = apply_event(w.world, ev); !ok) {
      ++w.apply_errors;
    }
    if (seen) {
      seen(ev);
    }
    ++done;
    if (progress_ && (done % progress_every_ == 0 || done == total)) {
      progress_(done, total);
    }
    return true;
  });
  if (!walked) {
    return walked.error();
  }
  if (done != total) {
    return make_error(ec::storage_error,
                      fmt::format("replay of the log at {} read {} of the {} events up to seq {}",
                                  log_.path(), done, total, seq));
  }
  w.events_applied += done;
  w.world.set_watermark(seq);
  return {};
}

caf::expected<replayed_point> log_replayer::replay(uint64_t seq) const {
  auto w = world_at(seq);
  if (!w) {
    return w.error();
  }
  auto time = time_of(seq);
  if (!time) {
    return time.error();
  }
  replayed_point out;
  out.seq = seq;
  out.time_unix_ns = *time;
  out.checkpoint_seq = w->checkpoint_seq;
  out.events_applied = w->events_applied;
  out.world = std::make_shared<const model::world>(std::move(w->world));
  out.translation = xds::translate_world(*out.world);
  return out;
}

caf::expected<publish_verification> log_replayer::verify_publishes() const {
  auto records = log_.publish_records();
  if (!records) {
    return records.error();
  }
  publish_verification out;
  std::vector<const sluice::v1::PublishRecord*> replayable;
  for (const auto& r : *records) {
    if (r.watermark_seq() < log_.retention_floor() || r.watermark_seq() > log_.last_seq()) {
      ++out.skipped;
      continue;
    }
    replayable.push_back(&r);
  }
  std::stable_sort(replayable.begin(), replayable.end(), [](const auto* a, const auto* b) {
    return a->watermark_seq() < b->watermark_seq();
  });
  std::optional<replayed_world> w;
  std::optional<xds::world_translation> translation;
  for (const auto* r : replayable) {
    if (!w) {
      auto first = world_at(r->watermark_seq());
      if (!first) {
        return first.error();
      }
      w = std::move(*first);
    }
    if (!translation || w->world.watermark() != r->watermark_seq()) {
      if (auto advanced = advance(*w, r->watermark_seq()); !advanced) {
        return advanced.error();
      }
      translation = xds::translate_world(w->world);
    }
    ++out.checked;
    std::string version;
    if (auto s = translation->snapshots.find(r->role()); s != translation->snapshots.end()) {
      version = s->second->of(r->type_url()).version;
    }
    if (version != r->version()) {
      out.mismatches.push_back(publish_check{*r, version});
    }
  }
  return out;
}

caf::expected<log_diff> log_replayer::diff(uint64_t from, uint64_t to,
                                           const std::string& role) const {
  if (to < from) {
    return make_error(ec::invalid_argument,
                      fmt::format("--to (seq {}) is before --from (seq {})", to, from));
  }
  auto w = world_at(from);
  if (!w) {
    return w.error();
  }
  log_diff out;
  out.from_seq = from;
  out.to_seq = to;
  auto from_time = time_of(from);
  auto to_time = time_of(to);
  if (!from_time) {
    return from_time.error();
  }
  if (!to_time) {
    return to_time.error();
  }
  out.from_time_unix_ns = *from_time;
  out.to_time_unix_ns = *to_time;
  const model::world before = w->world;
  auto ta = xds::translate_world(before);
  std::map<model::resource_key, std::vector<const sluice::v1::Event*>> touched;
  std::deque<sluice::v1::Event> between;
  if (auto advanced = advance(*w, to,
                              [&](const sluice::v1::Event& ev) {
                                if ((ev.verdict() == sluice::v1::VERDICT_ACCEPTED
                                     || ev.verdict() == sluice::v1::VERDICT_REVERTED)
                                    && (ev.op() == sluice::v1::EVENT_OP_UPSERT
                                        || ev.op() == sluice::v1::EVENT_OP_DELETE)) {
                                  between.push_back(ev);
                                }
                              });
      !advanced) {
    return advanced.error();
  }
  for (const auto& ev : between) {
    if (auto key = key_of(ev)) {
      touched[*key].push_back(&ev);
    }
  }
  auto tb = xds::translate_world(w->world);
  attribution at_a(ta, before);
  attribution at_b(tb, w->world);

  std::set<std::string> roles;
  for (const auto* t : {&ta, &tb}) {
    for (const auto& [key, _] : t->snapshots) {
      if (role.empty() || key == role) {
        roles.insert(key);
      }
    }
  }
  if (!role.empty() && roles.empty()) {
    return make_error(ec::not_found, fmt::format("role {} has no snapshot at seq {} or at seq {}",
                                                 role, from, to));
  }
  static const xds::snapshot empty_snapshot;
  for (const auto& r : roles) {
    auto sa = ta.snapshots.count(r) ? ta.snapshots.at(r).get() : &empty_snapshot;
    auto sb = tb.snapshots.count(r) ? tb.snapshots.at(r).get() : &empty_snapshot;
    std::set<std::string> types;
    for (const auto* s : {sa, sb}) {
      for (const auto& [type, set] : s->types) {
        types.insert(type);
      }
    }
    for (const auto& type : types) {
      const auto& ia = sa->of(type);
      const auto& ib = sb->of(type);
      out.versions[r][type] = {ia.version, ib.version};
      std::set<std::string> names;
      for (const auto& [name, _] : ia.items) {
        names.insert(name);
      }
      for (const auto& [name, _] : ib.items) {
        names.insert(name);
      }
      for (const auto& name : names) {
        auto a = ia.items.find(name);
        auto b = ib.items.find(name);
        const bool in_a = a != ia.items.end();
        const bool in_b = b != ib.items.end();
        if (in_a && in_b && a->second->bytes == b->second->bytes) {
          continue;
        }
        resource_change change;
        change.role = r;
        change.type_url = type;
        change.name = name;
        change.kind = !in_a   ? change_kind::added
                      : !in_b ? change_kind::removed
                              : change_kind::changed;
        change.from_version = in_a ? a->second->version : "";
        change.to_version = in_b ? b->second->version : "";
        differences("", in_a ? envoy_json(type, a->second->bytes) : nlohmann::json::object(),
                    in_b ? envoy_json(type, b->second->bytes) : nlohmann::json::object(),
                    change.fields);
        std::set<model::resource_key> inputs;
        if (in_a) {
          at_a.inputs(r, type, name, a->second->bytes, inputs);
        }
        if (in_b) {
          at_b.inputs(r, type, name, b->second->bytes, inputs);
        }
        // An Upstream reaches a route (or a TCP listener) only by name: its edits change
        // clusters and endpoints, not routes. It causes a route change only by appearing or
        // disappearing (a route to a missing Upstream becomes a direct response).
        if (type == xds::route_type || type == xds::listener_type) {
          for (auto it = inputs.begin(); it != inputs.end();) {
            if (it->kind == model::resource_kind::upstream
                && (before.find(*it) != nullptr) == (w->world.find(*it) != nullptr)) {
              it = inputs.erase(it);
            } else {
              ++it;
            }
          }
        }
        std::set<uint64_t> causes;
        for (const auto& key : inputs) {
          if (auto t = touched.find(key); t != touched.end()) {
            for (const auto* ev : t->second) {
              causes.insert(ev->seq());
              out.causes.emplace(ev->seq(), *ev);
            }
          }
        }
        change.inputs.assign(inputs.begin(), inputs.end());
        change.causes.assign(causes.begin(), causes.end());
        out.changes.push_back(std::move(change));
      }
    }
  }
  auto records = log_.publish_records();
  if (!records) {
    return records.error();
  }
  for (auto& rec : *records) {
    if (rec.watermark_seq() > from && rec.watermark_seq() <= to
        && (role.empty() || rec.role() == role)) {
      out.publishes.push_back(std::move(rec));
    }
  }
  return out;
}

// ---- event selection ------------------------------------------------------------------------

bool event_filter::matches(const sluice::v1::Event& ev) const {
  return ev.seq() >= from && ev.seq() <= to && ev.time_unix_ns() >= since_unix_ns
         && ev.time_unix_ns() <= until_unix_ns && (kind.empty() || ev.kind() == kind)
         && (ns.empty() || ev.namespace_() == ns) && (name.empty() || ev.name() == name)
         && (source.empty() || ev.source() == source);
}

caf::expected<std::vector<sluice::v1::Event>> select_events(const store::event_log& log,
                                                            const event_filter& filter) {
  uint64_t from = std::max(filter.from, log.first_seq());
  uint64_t to = std::min(filter.to, log.last_seq());
  // Commit times are non-decreasing, so a time range is a seq range.
  if (filter.since_unix_ns != INT64_MIN) {
    auto before = log.seq_at_time(filter.since_unix_ns - 1);
    if (!before) {
      return before.error();
    }
    from = std::max(from, *before + 1);
  }
  if (filter.until_unix_ns != INT64_MAX) {
    auto last = log.seq_at_time(filter.until_unix_ns);
    if (!last) {
      return last.error();
    }
    to = std::min(to, *last);
  }
  std::deque<sluice::v1::Event> out;
  if (from > to) {
    return std::vector<sluice::v1::Event>{};
  }
  auto walked = log.for_each_event(from, to, [&](const sluice::v1::Event& ev) {
    if (!filter.matches(ev)) {
      return true;
    }
    out.push_back(ev);
    if (filter.limit > 0 && out.size() > filter.limit) {
      if (!filter.newest) {
        out.pop_back();
        return false;
      }
      out.pop_front();
    }
    return true;
  });
  if (!walked) {
    return walked.error();
  }
  return std::vector<sluice::v1::Event>(std::make_move_iterator(out.begin()),
                                        std::make_move_iterator(out.end()));
}

// ---- JSON views -----------------------------------------------------------------------------

nlohmann::json gloo_json(std::string_view kind, const std::string& bytes) {
  auto parsed = model::parse_kind(kind);
  if (!parsed) {
    return nlohmann::json{{"error", fmt::format("unknown kind {}", kind)}};
  }
  auto message = model::new_message(*parsed);
  if (!message->ParseFromString(bytes)) {
    return nlohmann::json{{"error", "the stored resource does not parse"}};
  }
  auto out = message_json(*message);
  model::redact_gloo_json(kind, out);
  return out;
}

nlohmann::json envoy_json(std::string_view type_url, const std::string& bytes) {
  auto message = message_for(type_url);
  if (!message) {
    return nlohmann::json{{"error", fmt::format("unknown type {}", type_url)}};
  }
  if (!message->ParseFromString(bytes)) {
    return nlohmann::json{{"error", "the resource does not parse"}};
  }
  auto out = message_json(*message);
  model::redact_envoy_json(out);
  return out;
}

nlohmann::json event_json(const sluice::v1::Event& ev, bool full) {
  nlohmann::json out{
      {"seq", ev.seq()},
      {"time", format_time(ev.time_unix_ns())},
      {"source", ev.source()},
      {"kind", ev.kind()},
      {"namespace", ev.namespace_()},
      {"name", ev.name()},
      {"op", sluice::v1::EventOp_Name(ev.op())},
      {"verdict", sluice::v1::Verdict_Name(ev.verdict())},
      {"contentHash", model::hash_hex(ev.content_hash())},
      {"origin", ev.origin()},
  };
  if (!ev.source_revision().empty()) {
    out["sourceRevision"] = ev.source_revision();
  }
  if (ev.errors_size() > 0) {
    out["errors"] = std::vector<std::string>(ev.errors().begin(), ev.errors().end());
  }
  if (full) {
    if (!ev.resource().empty()) {
      out["resource"] = gloo_json(ev.kind(), ev.resource());
    }
    if (!ev.raw().empty()) {
      // Raw input of a Secret is as secret as the decoded one (and may not even decode).
      out["raw"] = ev.kind() == "Secret" ? model::redacted(ev.raw()) : ev.raw();
    }
  }
  return out;
}

nlohmann::json snapshot_json(const xds::snapshot& snap, bool with_resources) {
  nlohmann::json types = nlohmann::json::object();
  for (const auto& [type, set] : snap.types) {
    nlohmann::json resources = nlohmann::json::array();
    for (const auto& [name, res] : set.items) {
      nlohmann::json item{{"name", name}, {"version", res->version}};
      if (with_resources) {
        item["resource"] = envoy_json(type, res->bytes);
      }
      resources.push_back(std::move(item));
    }
    types[type] = nlohmann::json{{"version", set.version}, {"resources", std::move(resources)}};
  }
  return nlohmann::json{{"role", snap.key}, {"watermark", snap.watermark}, {"types", types}};
}

nlohmann::json publish_json(const sluice::v1::PublishRecord& record) {
  return nlohmann::json{{"role", record.role()},
                        {"type", record.type_url()},
                        {"version", record.version()},
                        {"watermark", record.watermark_seq()},
                        {"time", format_time(record.time_unix_ns())}};
}

nlohmann::json checkpoint_json(const store::checkpoint_info& info) {
  return nlohmann::json{{"seq", info.seq},
                        {"time", format_time(info.time_unix_ns)},
                        {"rows", info.rows},
                        {"hash", model::hash_hex(info.hash)}};
}

nlohmann::json replay_json(const replayed_point& point, const std::string& role) {
  nlohmann::json roles = nlohmann::json::array();
  for (const auto& [key, snap] : point.translation.snapshots) {
    if (!role.empty() && key != role) {
      continue;
    }
    auto item = snapshot_json(*snap, true);
    for (const auto& p : point.translation.proxies) {
      if (p.role == key) {
        item["proxy"] = message_json(p.proxy);
      }
    }
    roles.push_back(std::move(item));
  }
  return nlohmann::json{{"seq", point.seq},
                        {"time", format_time(point.time_unix_ns)},
                        {"checkpoint", point.checkpoint_seq},
                        {"eventsReplayed", point.events_applied},
                        {"resources", point.world ? point.world->size() : 0},
                        {"roles", std::move(roles)}};
}

nlohmann::json diff_json(const log_diff& diff) {
  nlohmann::json changes = nlohmann::json::array();
  for (const auto& c : diff.changes) {
    nlohmann::json fields = nlohmann::json::array();
    for (const auto& f : c.fields) {
      fields.push_back({{"path", f.path}, {"from", f.from}, {"to", f.to}});
    }
    nlohmann::json inputs = nlohmann::json::array();
    for (const auto& k : c.inputs) {
      inputs.push_back(k.to_string());
    }
    changes.push_back({{"role", c.role},
                       {"type", c.type_url},
                       {"name", c.name},
                       {"change", change_kind_name(c.kind)},
                       {"fromVersion", c.from_version},
                       {"toVersion", c.to_version},
                       {"fields", std::move(fields)},
                       {"inputs", std::move(inputs)},
                       {"causes", c.causes}});
  }
  nlohmann::json causes = nlohmann::json::array();
  for (const auto& [_, ev] : diff.causes) {
    causes.push_back(event_json(ev, false));
  }
  nlohmann::json versions = nlohmann::json::object();
  for (const auto& [role, types] : diff.versions) {
    for (const auto& [type, pair] : types) {
      versions[role][type] = {{"from", pair.first}, {"to", pair.second}};
    }
  }
  nlohmann::json publishes = nlohmann::json::array();
  for (const auto& p : diff.publishes) {
    publishes.push_back(publish_json(p));
  }
  return nlohmann::json{
      {"from", {{"seq", diff.from_seq}, {"time", format_time(diff.from_time_unix_ns)}}},
      {"to", {{"seq", diff.to_seq}, {"time", format_time(diff.to_time_unix_ns)}}},
      {"changes", std::move(changes)},
      {"events", std::move(causes)},
      {"versions", std::move(versions)},
      {"publishes", std::move(publishes)}};
}

std::vector<field_change> json_differences(const nlohmann::json& from, const nlohmann::json& to) {
  std::vector<field_change> out;
  differences("", from, to, out);
  return out;
}

std::string to_yaml(const nlohmann::json& value) {
  YAML::Emitter out;
  emit_yaml(out, value);
  return std::string(out.c_str()) + "\n";
}

std::string format_time(int64_t unix_ns) {
  if (unix_ns == 0) {
    return "";
  }
  auto seconds = static_cast<time_t>(unix_ns / 1'000'000'000);
  auto nanos = unix_ns % 1'000'000'000;
  if (nanos < 0) {
    nanos += 1'000'000'000;
    --seconds;
  }
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, nanos);
}

caf::expected<int64_t> parse_time(std::string_view text) {
  auto bad = [&] {
    return make_error(ec::invalid_argument,
                      fmt::format("'{}' is not a time: use RFC 3339 (2024-05-01T14:02:03Z, "
                                  "optionally with a fraction or an offset like +02:00) or "
                                  "@<unix seconds>",
                                  text));
  };
  if (!text.empty() && text.front() == '@') {
    int64_t seconds = 0;
    auto rest = text.substr(1);
    auto [end, err] = std::from_chars(rest.data(), rest.data() + rest.size(), seconds);
    if (err != std::errc{} || end != rest.data() + rest.size()) {
      return bad();
    }
    return seconds * 1'000'000'000;
  }
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)
  auto number = [&](size_t pos, size_t len, int& value) {
    if (pos + len > text.size()) {
      return false;
    }
    auto [end, err] = std::from_chars(text.data() + pos, text.data() + pos + len, value);
    return err == std::errc{} && end == text.data() + pos + len;
  };
  std::tm tm{};
  int year = 0;
  int month = 0;
  if (text.size() < 20 || !number(0, 4, year) || text[4] != '-' || !number(5, 2, month)
      || text[7] != '-' || !number(8, 2, tm.tm_mday)
      || (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || !number(11, 2, tm.tm_hour)
      || text[13] != ':' || !number(14, 2, tm.tm_min) || text[16] != ':'
      || !number(17, 2, tm.tm_sec)) {
    return bad();
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  size_t pos = 19;
  int64_t nanos = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int64_t scale = 100'000'000;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      nanos += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
  }
  int64_t offset_seconds = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int hours = 0;
    int minutes = 0;
    if (!number(pos + 1, 2, hours) || pos + 3 >= text.size() || text[pos + 3] != ':'
        || !number(pos + 4, 2, minutes)) {
      return bad();
    }
    offset_seconds = (hours * 3600 + minutes * 60) * (text[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != text.size()) {
    return bad();
  }
  auto seconds = static_cast<int64_t>(timegm(&tm)) - offset_seconds;
  return seconds * 1'000'000'000 + nanos;
}

std::string_view change_kind_name(change_kind kind) {
  switch (kind) {
    case change_kind::added:
      return "added";
    case change_kind::removed:
      return "removed";
    case change_kind::changed:
      return "changed";
  }
  return "changed";
}

}  // namespace sluice::actors

namespace sluice::actors {

std::string dump_json(const nlohmann::json& value, int indent) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

caf::expected<uint64_t> resolve_point(const store::event_log& log, std::string_view text) {
  if (text == "head" || text == "now") {
    return log.last_seq();
  }
  if (!text.empty()
      && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    uint64_t seq = 0;
    auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), seq);
    if (err != std::errc{} || end != text.data() + text.size()) {
      return make_error(ec::invalid_argument, fmt::format("'{}' is not a seq", text));
    }
    return seq;
  }
  auto time = parse_time(text);
  if (!time) {
    return make_error(ec::invalid_argument,
                      fmt::format("'{}' is neither a seq, 'head', nor a time (RFC 3339 such as "
                                  "2024-05-01T14:02:03Z, or @<unix seconds>)",
                                  text));
  }
  log_replayer replayer{log};
  return replayer.seq_at_time(*time);
}

namespace {

adapters::admin_response json_response(const nlohmann::json& body, int status = 200) {
  return adapters::admin_response{status, dump_json(body)};
}

adapters::admin_response failure(const caf::error& err) {
  const auto code = static_cast<ec>(err.code());
  int status = 500;
  if (code == ec::invalid_argument) {
    status = 400;
  } else if (code == ec::not_found) {
    status = 404;
  }
  return adapters::admin_error(status, describe(err));
}

std::string query(const adapters::admin_request& req, const std::string& key,
                  std::string fallback = {}) {
  auto it = req.query.find(key);
  return it == req.query.end() ? std::move(fallback) : it->second;
}

caf::expected<uint64_t> query_number(const adapters::admin_request& req, const std::string& key,
                                     uint64_t fallback) {
  auto text = query(req, key);
  if (text.empty()) {
    return fallback;
  }
  uint64_t value = 0;
  auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (err != std::errc{} || end != text.data() + text.size()) {
    return make_error(ec::invalid_argument,
                      fmt::format("query parameter {}='{}' is not a number", key, text));
  }
  return value;
}

}  // namespace

adapters::admin_handlers make_admin_handlers(admin_sources sources) {
  adapters::admin_handlers h;
  auto log = sources.log;
  h.events = [log](const adapters::admin_request& req) {
    event_filter filter;
    auto from = query_number(req, "from", 0);
    auto to = query_number(req, "to", UINT64_MAX);
    auto limit = query_number(req, "limit", 100);
    for (const auto* n : {&from, &to, &limit}) {
      if (!*n) {
        return failure(n->error());
      }
    }
    filter.from = *from;
    filter.to = *to;
    filter.limit = *limit;
    filter.newest = query(req, "tail") == "1" || query(req, "tail") == "true";
    for (auto [key, slot] :
         {std::pair{"since", &filter.since_unix_ns}, std::pair{"until", &filter.until_unix_ns}}) {
      if (auto text = query(req, key); !text.empty()) {
        auto t = parse_time(text);
        if (!t) {
          return failure(t.error());
        }
        *slot = *t;
      }
    }
    filter.kind = query(req, "kind");
    filter.ns = query(req, "namespace");
    filter.name = query(req, "name");
    filter.source = query(req, "source");
    const bool full = query(req, "full") == "1" || query(req, "full") == "true";
    auto events = select_events(*log, filter);
    if (!events) {
      return failure(events.error());
    }
    nlohmann::json items = nlohmann::json::array();
    for (const auto& ev : *events) {
      items.push_back(event_json(ev, full));
    }
    return json_response({{"firstSeq", log->first_seq()},
                          {"lastSeq", log->last_seq()},
                          {"events", std::move(items)}});
  };
  auto served = sources.served;
  h.snapshots = [log, served](const adapters::admin_request& req) {
    std::map<std::string, xds::snapshot_ptr> snapshots;
    if (served) {
      snapshots = served();
    } else {
      auto point = log_replayer{*log}.replay(log->last_seq());
      if (!point) {
        return failure(point.error());
      }
      snapshots = point->translation.snapshots;
    }
    const bool with_resources = query(req, "resources", "1") != "0";
    if (!req.rest.empty()) {
      auto it = snapshots.find(req.rest);
      if (it == snapshots.end()) {
        return adapters::admin_error(404, "no snapshot for role " + req.rest);
      }
      return json_response(snapshot_json(*it->second, with_resources));
    }
    nlohmann::json items = nlohmann::json::array();
    for (const auto& [_, snap] : snapshots) {
      items.push_back(snapshot_json(*snap, with_resources));
    }
    return json_response({{"snapshots", std::move(items)}});
  };
  h.publishes = [log](const adapters::admin_request& req) {
    auto limit = query_number(req, "limit", 1000);
    if (!limit) {
      return failure(limit.error());
    }
    auto records = log->publish_records();
    if (!records) {
      return failure(records.error());
    }
    auto role = query(req, "role");
    auto type = query(req, "type");
    std::deque<nlohmann::json> items;
    for (const auto& r : *records) {
      if ((role.empty() || r.role() == role) && (type.empty() || r.type_url() == type)) {
        items.push_back(publish_json(r));
        if (*limit > 0 && items.size() > *limit) {
          items.pop_front();  // the newest `limit`
        }
      }
    }
    return json_response(
        {{"publishes", nlohmann::json(std::vector<nlohmann::json>(items.begin(), items.end()))}});
  };
  h.healthz = [log](const adapters::admin_request&) {
    auto health = log->health();
    nlohmann::json body{{"healthy", health.healthy},
                        {"store", health.healthy ? "ok" : "failing"},
                        {"lastSeq", log->last_seq()},
                        {"failedWrites", health.failed_writes}};
    if (!health.healthy) {
      body["error"] = health.error;
      body["since"] = format_time(health.since_unix_ns);
    }
    return json_response(body, health.healthy ? 200 : 503);
  };
  h.statuses = sources.statuses;
  if (!h.statuses) {
    // Statuses are a pure function of the world and its translation (model/status.hpp), so
    // the log answers them. NACKs are listed as recorded; blaming them on resources is what
    // `sluice get` does and what an owner-wired handler adds.
    h.statuses = [log](const adapters::admin_request& req) {
      auto point = log_replayer{*log}.replay(log->last_seq());
      if (!point) {
        return failure(point.error());
      }
      auto statuses = model::build_statuses(*point->world, point->translation.report,
                                            point->translation.proxies);
      auto kind = query(req, "kind");
      nlohmann::json items = nlohmann::json::array();
      for (const auto& [key, status] : statuses) {
        if (!kind.empty() && model::name_of(key.kind) != kind) {
          continue;
        }
        items.push_back({{"kind", std::string(model::name_of(key.kind))},
                         {"namespace", key.ns},
                         {"name", key.name},
                         {"state", model::state_name(status.state())},
                         {"status", message_json(status)}});
      }
      nlohmann::json nacks = nlohmann::json::array();
      if (auto responses = log->client_responses()) {
        for (const auto& r : *responses) {
          if (r.nack()) {
            nacks.push_back({{"role", r.role()},
                             {"node", r.node_id()},
                             {"type", r.type_url()},
                             {"version", r.version()},
                             {"message", r.error_message()},
                             {"time", format_time(r.time_unix_ns())}});
          }
        }
      }
      return json_response(
          {{"seq", point->seq}, {"statuses", std::move(items)}, {"nacks", std::move(nacks)}});
    };
  }
  h.extra["/checkpoints"] = [log](const adapters::admin_request&) {
    auto list = log->checkpoints();
    if (!list) {
      return failure(list.error());
    }
    nlohmann::json items = nlohmann::json::array();
    for (const auto& c : *list) {
      items.push_back(checkpoint_json(c));
    }
    return json_response(
        {{"retentionFloor", log->retention_floor()}, {"checkpoints", std::move(items)}});
  };
  h.extra["/replay"] = [log](const adapters::admin_request& req) {
    auto at = resolve_point(*log, query(req, "at", query(req, "time", "head")));
    if (!at) {
      return failure(at.error());
    }
    auto point = log_replayer{*log}.replay(*at);
    if (!point) {
      return failure(point.error());
    }
    return json_response(replay_json(*point, query(req, "role")));
  };
  h.extra["/diff"] = [log](const adapters::admin_request& req) {
    auto from = resolve_point(*log, query(req, "from"));
    auto to = resolve_point(*log, query(req, "to", "head"));
    if (!from) {
      return failure(from.error());
    }
    if (!to) {
      return failure(to.error());
    }
    auto d = log_replayer{*log}.diff(*from, *to, query(req, "role"));
    if (!d) {
      return failure(d.error());
    }
    return json_response(diff_json(*d));
  };
  return h;
}

}  // namespace sluice::actors
