#include "xds/validation_engine.hpp"

#include <google/protobuf/struct.pb.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "model/logging.hpp"
#include "solo/gloo.pb.h"

namespace sluice::xds {

namespace {

using model::resource_key;
using model::resource_kind;

/// What the object says about itself, read before decoding so that kinds sluice does not read
/// are let through rather than reported as errors.
struct object_identity {
  std::string api_version;
  std::string kind;
  std::string secret_type;
};

std::optional<object_identity> peek_identity(const std::string& text) {
  try {
    YAML::Node root = YAML::Load(text);
    if (!root.IsMap()) {
      return std::nullopt;
    }
    object_identity id;
    auto scalar = [&](const char* key) {
      auto n = root[key];
      return n && n.IsScalar() ? n.as<std::string>() : std::string();
    };
    id.api_version = scalar("apiVersion");
    id.kind = scalar("kind");
    id.secret_type = scalar("type");
    return id;
  } catch (const YAML::Exception&) {
    return std::nullopt;  // the decoder reports the syntax error with its position
  }
}

bool is_sluice_kind_name(const std::string& kind) {
  const auto all = model::all_kinds();
  return std::any_of(all.begin(), all.end(), [&](const auto& k) { return k.name == kind; });
}

/// Why an object is not sluice's business, or nullopt when it is.
std::optional<std::string> ignore_reason(const object_identity& id) {
  if (id.kind.empty()) {
    return std::nullopt;  // the flat form: the kind comes from the request
  }
  if (id.api_version == "v1" && id.kind == "Secret") {
    if (id.secret_type != "kubernetes.io/tls") {
      return "sluice reads only Secrets of type kubernetes.io/tls; this one is of type "
             + (id.secret_type.empty() ? std::string("Opaque") : id.secret_type);
    }
    return std::nullopt;
  }
  if (!is_sluice_kind_name(id.kind)) {
    return "sluice does not read " + id.kind + " resources";
  }
  return std::nullopt;
}

validation_problem problem_of(const model::decode_error& e, bool report_lines) {
  validation_problem p;
  if (e.kind && !e.name.empty()) {
    p.resource = resource_key{*e.kind, e.ns, e.name};
  }
  if (report_lines && e.line > 0) {
    p.message = "line " + std::to_string(e.line);
    if (e.column > 0) {
      p.message += ", column " + std::to_string(e.column);
    }
    p.message += ": ";
  }
  if (!e.field.empty()) {
    p.message += e.field + ": ";
  }
  p.message += e.message;
  return p;
}

struct problem_diff {
  std::vector<validation_problem> errors;
  std::vector<validation_problem> warnings;
};

/// Problems in `after` that `before` does not have, counted as multisets per resource so that a
/// second copy of an existing message is still new.
problem_diff new_problems(const model::translation_report& before,
                          const model::translation_report& after) {
  problem_diff out;
  auto diff = [](const std::vector<std::string>* old_list, const std::vector<std::string>& now,
                 const resource_key& key, std::vector<validation_problem>& into) {
    std::map<std::string, int> seen;
    if (old_list != nullptr) {
      for (const auto& m : *old_list) {
        ++seen[m];
      }
    }
    for (const auto& m : now) {
      if (auto i = seen.find(m); i != seen.end() && i->second > 0) {
        --i->second;
        continue;
      }
      into.push_back({key, m});
    }
  };
  for (const auto& [key, report] : after.entries()) {
    auto i = before.entries().find(key);
    const bool had = i != before.entries().end();
    diff(had ? &i->second.errors : nullptr, report.errors, key, out.errors);
    diff(had ? &i->second.warnings : nullptr, report.warnings, key, out.warnings);
  }
  return out;
}

/// A snapshot's content in one string: equal strings, equal served resources.
std::string signature(const snapshot& s) {
  std::string out;
  for (const auto& [type, resources] : s.types) {
    out += type;
    out += '=';
    out += resources.version;
    out += ';';
  }
  return out;
}

std::vector<std::string> affected_keys(const world_translation& before,
                                       const world_translation& after) {
  std::set<std::string> keys;
  for (const auto& [k, _] : before.snapshots) {
    keys.insert(k);
  }
  for (const auto& [k, _] : after.snapshots) {
    keys.insert(k);
  }
  std::vector<std::string> out;
  for (const auto& k : keys) {
    auto b = before.snapshots.find(k);
    auto a = after.snapshots.find(k);
    const std::string sb = b != before.snapshots.end() && b->second ? signature(*b->second) : "";
    const std::string sa = a != after.snapshots.end() && a->second ? signature(*a->second) : "";
    if (sb != sa) {
      out.push_back(k);
    }
  }
  return out;
}

/// Puts the changed resource's own problems first; the rest keep the report's (sorted) order.
void own_first(std::vector<validation_problem>& problems, const std::optional<resource_key>& key) {
  if (!key) {
    return;
  }
  std::stable_partition(problems.begin(), problems.end(),
                        [&](const validation_problem& p) { return p.resource == key; });
}

std::string count_of(size_t n, const char* what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

std::string list_problems(const std::vector<validation_problem>& problems, size_t limit) {
  std::string out;
  for (size_t i = 0; i < problems.size() && i < limit; ++i) {
    out += (i == 0 ? "" : "; ") + problems[i].to_string();
  }
  if (problems.size() > limit) {
    out += "; and " + std::to_string(problems.size() - limit) + " more";
  }
  return out;
}

bool struct_bool(const google::protobuf::Struct& s, const std::string& field, bool fallback) {
  auto i = s.fields().find(field);
  if (i == s.fields().end()) {
    return fallback;
  }
  const auto& v = i->second;
  if (v.kind_case() == google::protobuf::Value::kBoolValue) {
    return v.bool_value();
  }
  if (v.kind_case() == google::protobuf::Value::kStringValue) {
    if (v.string_value() == "true") {
      return true;
    }
    if (v.string_value() == "false") {
      return false;
    }
  }
  return fallback;
}

}  // namespace

std::string validation_problem::to_string() const {
  return resource ? resource->to_string() + ": " + message : message;
}

validation_policy policy_from_settings(const model::world& w, const std::string& ns,
                                       const std::string& name) {
  validation_policy policy;
  const auto* settings = w.get<::gloo::solo::io::Settings>(resource_kind::settings, ns, name);
  if (settings == nullptr || !settings->gateway().has_validation()) {
    return policy;
  }
  const auto& v = settings->gateway().validation();
  policy.always_accept = struct_bool(v, "alwaysAccept", policy.always_accept);
  policy.allow_warnings = struct_bool(v, "allowWarnings", policy.allow_warnings);
  return policy;
}

validation_engine::validation_engine(world_provider worlds, validation_engine_options options,
                                     clock_fn clock)
    : worlds_(std::move(worlds)), options_(std::move(options)), clock_(std::move(clock)) {}

void validation_engine::forget_reflected(const model::world& current) {
  const auto now = clock_();
  bool changed = false;
  for (auto i = remembered_.begin(); i != remembered_.end();) {
    const auto* stored = current.find(i->first);
    const bool reflected
        = i->second.resource
              ? stored != nullptr && stored->content_hash == i->second.resource->content_hash
              : stored == nullptr;
    if (reflected || now >= i->second.expires) {
      i = remembered_.erase(i);
      changed = true;
    } else {
      ++i;
    }
  }
  if (changed) {
    ++remembered_generation_;
  }
}

const validation_engine::baseline& validation_engine::baseline_for(
    const std::shared_ptr<const model::world>& current) {
  forget_reflected(*current);
  if (baseline_ && baseline_->source == current
      && baseline_->remembered_generation == remembered_generation_) {
    return *baseline_;
  }
  baseline b;
  b.source = current;
  b.remembered_generation = remembered_generation_;
  if (remembered_.empty()) {
    b.world = current;
  } else {
    auto copy = std::make_shared<model::world>(*current);
    for (const auto& [key, r] : remembered_) {
      if (r.resource) {
        copy->put(*r.resource);
      } else {
        copy->erase(key);
      }
    }
    b.world = std::move(copy);
  }
  b.translation = std::make_shared<const world_translation>(
      translate_world(*b.world, options_.gateway, options_.envoy));
  baseline_ = std::move(b);
  return *baseline_;
}

validation_verdict validation_engine::validate(const proposed_change& change) {
  std::lock_guard lock(mutex_);
  validation_verdict verdict;

  // What the change is about, before anything else: kinds sluice does not read pass unchecked.
  std::optional<resource_kind> hinted_kind;
  if (!change.kind.empty() && change.op != proposed_change::op_t::remove_namespace) {
    hinted_kind = model::parse_kind(change.kind);
  }
  if (change.op == proposed_change::op_t::upsert) {
    if (auto id = peek_identity(change.object)) {
      if (auto why = ignore_reason(*id)) {
        verdict.allowed = verdict.valid = verdict.ignored = true;
        verdict.message = *why + "; not validated";
        return verdict;
      }
    }
  } else if (change.op == proposed_change::op_t::remove) {
    if (!hinted_kind) {
      verdict.allowed = verdict.valid = verdict.ignored = true;
      verdict.message = "sluice does not read " + change.kind + " resources; not validated";
      return verdict;
    }
    verdict.resource = resource_key{*hinted_kind, change.ns, change.name};
  }

  auto current = worlds_();
  if (!current) {
    const auto policy = options_.policy_override.value_or(validation_policy{});
    verdict.allowed = policy.always_accept;
    verdict.message
        = "validation is not yet available: sluice has not finished reading its configuration; "
          "try again in a moment";
    verdict.errors.push_back({std::nullopt, verdict.message});
    return verdict;
  }
  const baseline& base = baseline_for(current);
  const auto policy = options_.policy_override.value_or(
      policy_from_settings(*base.world, options_.settings_namespace, options_.settings_name));

  // The candidate: decoded and checked on its own first; its problems are always new.
  std::optional<model::stored_resource> candidate;
  std::vector<validation_problem> own_errors;
  if (change.op == proposed_change::op_t::upsert) {
    model::decode_context ctx{"", hinted_kind, change.ns};
    auto decoded = model::decode_documents(change.object, ctx, options_.limits);
    for (const auto& e : decoded.errors) {
      own_errors.push_back(problem_of(e, change.report_lines));
    }
    if (own_errors.empty() && decoded.resources.size() != 1) {
      own_errors.push_back({std::nullopt, "expected exactly one resource, got "
                                              + std::to_string(decoded.resources.size())});
    }
    if (own_errors.empty()) {
      const auto& r = decoded.resources.front();
      verdict.resource = r.key;
      for (const auto& e : model::validate_resource(r, ctx)) {
        own_errors.push_back(problem_of(e, change.report_lines));
      }
      model::stored_resource s;
      s.key = r.key;
      s.message = r.message;
      s.content_hash = model::content_hash(model::canonical_bytes(*r.message));
      s.origin = "validation";
      // The candidate arrives after everything the world holds: Gloo's conflict rules blame
      // the newcomer, so its sequence number must say it is the newest.
      s.seq = std::max(base.world->watermark(), admitted_seq_) + 1;
      candidate = std::move(s);
    } else if (!verdict.resource) {
      for (const auto& p : own_errors) {
        if (p.resource) {
          verdict.resource = p.resource;
          break;
        }
      }
    }
  }

  std::string subject;
  switch (change.op) {
    case proposed_change::op_t::upsert:
      subject = verdict.resource ? verdict.resource->to_string() : std::string("the resource");
      break;
    case proposed_change::op_t::remove:
      subject = "deleting " + verdict.resource->to_string();
      break;
    case proposed_change::op_t::remove_namespace:
      subject = "deleting namespace " + change.ns;
      break;
  }

  const bool decodes = own_errors.empty();
  if (!decodes) {
    verdict.errors = std::move(own_errors);
  } else {
    // Apply the change to a copy and translate everything, as Gloo does: a change can break
    // resources other than itself.
    auto after = std::make_shared<model::world>(*base.world);
    bool changed = false;
    switch (change.op) {
      case proposed_change::op_t::upsert: {
        const auto* existing = after->find(candidate->key);
        changed = existing == nullptr || existing->content_hash != candidate->content_hash;
        after->put(*candidate);
        break;
      }
      case proposed_change::op_t::remove:
        changed = after->erase(*verdict.resource);
        break;
      case proposed_change::op_t::remove_namespace:
        for (const auto& k : model::all_kinds()) {
          std::vector<resource_key> doomed;
          for (const auto& [nn, stored] : after->of(k.kind)) {
            if (nn.first == change.ns) {
              doomed.push_back(stored.key);
            }
          }
          for (const auto& key : doomed) {
            changed = after->erase(key) || changed;
          }
        }
        break;
    }
    if (changed) {
      auto translated = translate_world(*after, options_.gateway, options_.envoy);
      auto diff = new_problems(base.translation->report, translated.report);
      verdict.errors = std::move(diff.errors);
      verdict.warnings = std::move(diff.warnings);
      verdict.affected_proxies = affected_keys(*base.translation, translated);
    }
  }
  own_first(verdict.errors, verdict.resource);
  own_first(verdict.warnings, verdict.resource);

  const bool blocked_by_warnings = !policy.allow_warnings && !verdict.warnings.empty();
  verdict.valid = verdict.errors.empty() && !blocked_by_warnings;
  verdict.allowed = verdict.valid || policy.always_accept;
  if (!verdict.valid) {
    const size_t limit = options_.max_problems_in_message;
    std::string why;
    if (!verdict.errors.empty()) {
      why = subject + " would introduce " + count_of(verdict.errors.size(), "error") + ": "
            + list_problems(verdict.errors, limit);
    } else {
      why = subject + " would introduce " + count_of(verdict.warnings.size(), "warning")
            + " and Settings gateway.validation.allowWarnings is false: "
            + list_problems(verdict.warnings, limit);
    }
    verdict.message = policy.always_accept
                          ? "accepted because Settings gateway.validation.alwaysAccept is true, "
                            "although "
                                + why
                          : why;
    log::xds()->info("validation {} subject=\"{}\" errors={} warnings={}",
                     verdict.allowed ? "accepted-invalid" : "rejected", subject,
                     verdict.errors.size(), verdict.warnings.size());
  } else {
    log::xds()->debug("validation accepted subject=\"{}\" warnings={} affected={}", subject,
                      verdict.warnings.size(), verdict.affected_proxies.size());
  }

  // Remember what is about to be stored, so the next request sees it even if the world lags. A
  // candidate that does not decode is never applied by the server, so it is not remembered.
  if (verdict.allowed && !change.dry_run && decodes) {
    const auto expires = clock_() + options_.remember_admitted;
    switch (change.op) {
      case proposed_change::op_t::upsert:
        if (candidate) {
          admitted_seq_ = candidate->seq;
          remembered_[candidate->key] = {candidate, expires};
          ++remembered_generation_;
        }
        break;
      case proposed_change::op_t::remove:
        remembered_[*verdict.resource] = {std::nullopt, expires};
        ++remembered_generation_;
        break;
      case proposed_change::op_t::remove_namespace:
        for (const auto& k : model::all_kinds()) {
          for (const auto& [nn, stored] : base.world->of(k.kind)) {
            if (nn.first == change.ns) {
              remembered_[stored.key] = {std::nullopt, expires};
            }
          }
        }
        ++remembered_generation_;
        break;
    }
  }
  return verdict;
}

}  // namespace sluice::xds
