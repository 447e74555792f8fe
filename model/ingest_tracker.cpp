#include "model/ingest_tracker.hpp"

#include <cstdlib>

#include "model/logging.hpp"
#include "model/resource.hpp"

namespace sluice::model {

ingest_tracker::ingest_tracker(resource_kind kind, decode_limits limits)
    : kind_(kind), limits_(limits) {}

std::string ingest_tracker::cursor_name(const std::string& source,
                                        const std::string& origin) const {
  return cursor_prefix() + source + "/" + origin;
}

std::string ingest_tracker::cursor_prefix() const {
  return "input/" + std::string(name_of(kind_)) + "/";
}

void ingest_tracker::restore(const std::vector<sluice::v1::StateRecord>& state,
                             const std::map<std::string, std::string>& cursors) {
  const std::string kind_name(name_of(kind_));
  std::vector<std::pair<std::string, std::string>> rejected_keys;
  for (const auto& row : state) {
    if (row.kind() != kind_name) {
      continue;
    }
    if (row.has_rejection()) {
      if (row.name().empty()) {
        rejected_origins_.insert(row.origin());
      } else {
        rejected_keys.emplace_back(row.namespace_(), row.name());
        rejected_keys_[row.origin()].insert({row.namespace_(), row.name()});
      }
      continue;
    }
    std::pair<std::string, std::string> key{row.namespace_(), row.name()};
    current_[key] = accepted{row.content_hash(), row.origin()};
    origins_[row.origin()].keys.insert(key);
  }
  // A resource whose newest input was rejected serves an older form; the next accepted input
  // must be logged even when it equals that form, so that it clears the rejection.
  for (const auto& key : rejected_keys) {
    if (auto cur = current_.find(key); cur != current_.end()) {
      cur->second.hash = 0;
    }
  }
  // Cursors remember the last input of every origin of this kind, accepted or not, so the same
  // bytes after a restart (even a file that was rejected) append nothing.
  const auto prefix = cursor_prefix();
  for (const auto& [name, value] : cursors) {
    if (name.rfind(prefix, 0) != 0 || value.empty()) {
      continue;
    }
    auto rest = name.substr(prefix.size());
    auto slash = rest.find('/');
    if (slash == std::string::npos) {
      continue;
    }
    auto source = rest.substr(0, slash);
    auto origin = rest.substr(slash + 1);
    origins_[origin].source = source;
    input_hash_[origin] = std::strtoull(value.c_str(), nullptr, 16);
  }
}

sluice::v1::Event ingest_tracker::base_event(const source_event& in) const {
  sluice::v1::Event ev;
  ev.set_source(in.source);
  ev.set_kind(std::string(name_of(kind_)));
  ev.set_namespace_(in.ns);
  ev.set_origin(in.origin);
  ev.set_source_revision(in.revision);
  return ev;
}

sluice::v1::Event ingest_tracker::clear_rejection_event(
    const source_event& in, const std::pair<std::string, std::string>& key) const {
  auto ev = base_event(in);
  ev.set_namespace_(key.first);
  ev.set_name(key.second);
  ev.set_op(sluice::v1::EVENT_OP_DELETE);
  ev.set_verdict(sluice::v1::VERDICT_ACCEPTED);
  return ev;
}

void ingest_tracker::remove_origin(const std::string& origin, const source_event& in,
                                   output& out) {
  auto it = origins_.find(origin);
  if (it != origins_.end()) {
    for (const auto& key : it->second.keys) {
      auto cur = current_.find(key);
      if (cur == current_.end() || cur->second.origin != origin) {
        continue;
      }
      auto ev = base_event(in);
      ev.set_origin(origin);
      ev.set_namespace_(key.first);
      ev.set_name(key.second);
      ev.set_op(sluice::v1::EVENT_OP_DELETE);
      ev.set_verdict(sluice::v1::VERDICT_ACCEPTED);
      out.events.push_back(std::move(ev));
      current_.erase(cur);
    }
    origins_.erase(it);
  }
  if (auto r = rejected_keys_.find(origin); r != rejected_keys_.end()) {
    for (const auto& key : r->second) {
      if (current_.count(key) == 0) {  // held ones were deleted above, which clears them
        auto ev = clear_rejection_event(in, key);
        ev.set_origin(origin);
        out.events.push_back(std::move(ev));
      }
    }
    rejected_keys_.erase(r);
  }
  if (rejected_origins_.erase(origin) > 0) {
    // The origin's last input named nothing and was rejected; now it is gone, and so is the
    // rejection: a delete without a name clears it (model::apply_rejections).
    auto ev = base_event(in);
    ev.set_origin(origin);
    ev.set_op(sluice::v1::EVENT_OP_DELETE);
    ev.set_verdict(sluice::v1::VERDICT_ACCEPTED);
    out.events.push_back(std::move(ev));
  }
  if (input_hash_.erase(origin) > 0) {
    out.cursors[cursor_name(in.source, origin)] = "";
  }
}

ingest_tracker::output ingest_tracker::ingest(const source_event& in) {
  output out;
  seen_[in.source].insert(in.origin);
  if (in.op == source_event::op_t::remove) {
    seen_[in.source].erase(in.origin);
    remove_origin(in.origin, in, out);
    return out;
  }
  if (in.op != source_event::op_t::upsert) {
    return out;
  }

  const uint64_t input_hash = content_hash(in.bytes);
  auto prev = input_hash_.find(in.origin);
  if (prev != input_hash_.end() && prev->second == input_hash) {
    return out;  // same bytes as last time: nothing happened
  }
  input_hash_[in.origin] = input_hash;
  out.cursors[cursor_name(in.source, in.origin)] = hash_hex(input_hash);
  origins_[in.origin].source = in.source;

  decode_context ctx{in.origin, kind_, in.ns};
  auto decoded = decode_documents(in.bytes, ctx, limits_);

  bool origin_rejected_now = false;
  std::set<std::pair<std::string, std::string>> rejected_now;
  std::set<std::pair<std::string, std::string>> logged_now;  ///< accepted upserts and deletes
  auto rejected = [&](const std::string& ns, const std::string& name,
                      std::vector<std::string> errors) {
    auto ev = base_event(in);
    ev.set_namespace_(ns);
    ev.set_name(name);
    ev.set_op(sluice::v1::EVENT_OP_UPSERT);
    ev.set_verdict(sluice::v1::VERDICT_REJECTED);
    ev.set_raw(in.bytes);
    ev.set_content_hash(input_hash);
    for (auto& e : errors) {
      ev.add_errors(std::move(e));
    }
    out.events.push_back(std::move(ev));
    if (name.empty()) {
      origin_rejected_now = true;
      rejected_origins_.insert(in.origin);
    } else {
      rejected_now.insert({ns, name});
      if (auto cur = current_.find({ns, name}); cur != current_.end()) {
        cur->second.hash = 0;  // the next accepted input clears the rejection, whatever it is
      }
    }
  };

  if (decoded.file_failed) {
    std::vector<std::string> errors;
    for (const auto& e : decoded.errors) {
      errors.push_back(e.to_string());
    }
    rejected(in.ns, "", std::move(errors));
    return out;  // the origin's resources keep their last accepted form
  }

  // Document errors that name a resource reject that resource only; an error without a name
  // means we cannot tell which resource it was, so nothing from this origin is deleted.
  bool unnamed_error = false;
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> doc_errors;
  for (const auto& e : decoded.errors) {
    if (e.name.empty()) {
      unnamed_error = true;
      rejected(e.ns.empty() ? in.ns : e.ns, "", {e.to_string()});
    } else {
      doc_errors[{e.ns.empty() ? in.ns : e.ns, e.name}].push_back(e.to_string());
    }
  }

  std::set<std::pair<std::string, std::string>> now_keys;
  std::vector<std::string> origin_errors;  ///< definitions this origin may not make
  for (const auto& res : decoded.resources) {
    std::pair<std::string, std::string> key{res.key.ns, res.key.name};
    // A definition another origin owns is this origin's mistake, not the resource's: it is
    // rejected on the origin, so the owner's resource is neither blamed nor touched.
    auto owner = current_.find(key);
    if (owner != current_.end() && owner->second.origin != in.origin) {
      origin_errors.push_back(in.origin + ": " + std::string(name_of(kind_)) + " " + key.first
                              + "." + key.second + " is already defined in "
                              + owner->second.origin + "; this definition is ignored");
      continue;
    }
    auto problems = validate_resource(res, ctx);
    if (!problems.empty()) {
      for (const auto& p : problems) {
        doc_errors[key].push_back(p.to_string());
      }
      continue;
    }
    if (now_keys.count(key) > 0) {
      doc_errors[key].push_back(in.origin + ": " + std::string(name_of(kind_)) + " " + key.first
                                + "." + key.second + " is defined twice in this file");
      continue;
    }
    now_keys.insert(key);
    auto bytes = canonical_bytes(*res.message);
    auto hash = content_hash(bytes);
    if (owner != current_.end() && owner->second.hash == hash) {
      continue;  // same content, e.g. only formatting or comments changed
    }
    auto ev = base_event(in);
    ev.set_namespace_(key.first);
    ev.set_name(key.second);
    ev.set_op(sluice::v1::EVENT_OP_UPSERT);
    ev.set_verdict(sluice::v1::VERDICT_ACCEPTED);
    ev.set_resource(std::move(bytes));
    ev.set_content_hash(hash);
    out.events.push_back(std::move(ev));
    current_[key] = accepted{hash, in.origin};
    logged_now.insert(key);
  }
  if (!origin_errors.empty()) {
    rejected(in.ns, "", std::move(origin_errors));
  }

  for (auto& [key, errors] : doc_errors) {
    rejected(key.first, key.second, std::move(errors));
    // A rejected resource that this origin held keeps its last accepted form.
    if (current_.count(key) > 0 && current_[key].origin == in.origin) {
      now_keys.insert(key);
    }
  }

  auto& keys = origins_[in.origin].keys;
  if (!unnamed_error) {
    for (const auto& key : keys) {
      if (now_keys.count(key) > 0) {
        continue;
      }
      auto cur = current_.find(key);
      if (cur == current_.end() || cur->second.origin != in.origin) {
        continue;
      }
      auto ev = base_event(in);
      ev.set_namespace_(key.first);
      ev.set_name(key.second);
      ev.set_op(sluice::v1::EVENT_OP_DELETE);
      ev.set_verdict(sluice::v1::VERDICT_ACCEPTED);
      out.events.push_back(std::move(ev));
      current_.erase(cur);
      logged_now.insert(key);
    }
    keys = now_keys;
    // Resources rejected earlier that this input neither defines acceptably nor rejects again
    // (the bad document was removed): nothing is served for them, so a delete clears the
    // rejection without changing the world.
    for (const auto& key : rejected_keys_[in.origin]) {
      if (rejected_now.count(key) == 0 && logged_now.count(key) == 0 && current_.count(key) == 0) {
        out.events.push_back(clear_rejection_event(in, key));
      }
    }
    rejected_keys_[in.origin] = rejected_now;
    if (!origin_rejected_now && rejected_origins_.erase(in.origin) > 0) {
      // The origin decoded cleanly again: a delete without a name clears its rejection.
      auto ev = base_event(in);
      ev.set_op(sluice::v1::EVENT_OP_DELETE);
      ev.set_verdict(sluice::v1::VERDICT_ACCEPTED);
      out.events.push_back(std::move(ev));
    }
  } else {
    keys.insert(now_keys.begin(), now_keys.end());
    rejected_keys_[in.origin].insert(rejected_now.begin(), rejected_now.end());
  }
  return out;
}

ingest_tracker::output ingest_tracker::finish_sync(const std::string& source, bool resumed) {
  output out;
  if (resumed) {
    log::model()->info("source resumed, no delete sweep kind={} source={}", name_of(kind_),
                       source);
    return out;
  }
  const auto& seen = seen_[source];
  std::vector<std::string> vanished;
  for (const auto& [origin, st] : origins_) {
    if ((st.source == source || st.source.empty()) && seen.count(origin) == 0) {
      vanished.push_back(origin);
    }
  }
  for (const auto& origin : vanished) {
    source_event gone;
    gone.source = source;
    gone.op = source_event::op_t::remove;
    gone.kind = kind_;
    gone.origin = origin;
    remove_origin(origin, gone, out);
  }
  return out;
}

}  // namespace sluice::model
