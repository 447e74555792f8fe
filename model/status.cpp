#include "model/status.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <string_view>
#include <utility>

#include "model/gateway_attribution.hpp"
#include "solo/gloo.pb.h"

namespace sluice::model {

namespace {

namespace pb = google::protobuf;
using ::core::solo::io::Status;

// Gloo's limits (solo-kit reporter.go: MaxStatusBytes, MaxStatusKeys).
constexpr size_t max_reason_bytes = 1024;
constexpr size_t max_subresources = 100;

struct findings {
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
  /// Lines after the errors (what is served instead of the rejected input).
  std::vector<std::string> notes;

  bool empty() const { return errors.empty() && warnings.empty(); }
};

bool gateway_api(resource_kind kind) {
  return kind == resource_kind::gateway || kind == resource_kind::virtual_service
         || kind == resource_kind::route_table || kind == resource_kind::virtual_host_option
         || kind == resource_kind::route_option;
}

// hashicorp/go-multierror ListFormatFunc, which is what Gloo's reports print.
std::string multierror_text(const std::vector<std::string>& errors) {
  if (errors.size() == 1) {
    return "1 error occurred:\n\t* " + errors.front() + "\n\n";
  }
  std::string out = std::to_string(errors.size()) + " errors occurred:\n\t";
  for (size_t i = 0; i < errors.size(); ++i) {
    if (i > 0) {
      out += "\n\t";
    }
    out += "* " + errors[i];
  }
  out += "\n\n";
  return out;
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) {
      out += separator;
    }
    out += parts[i];
  }
  return out;
}

// Cuts at `limit` bytes without splitting a UTF-8 sequence (Gloo cuts bytes blindly; a broken
// code point would make the status unprintable as JSON).
void truncate_utf8(std::string& text, size_t limit) {
  if (text.size() <= limit) {
    return;
  }
  size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;
  }
  text.resize(end);
}

// solo-kit reporter.go StatusFromReport.
Status status_from(const findings& f, const std::string& reporter, bool truncate) {
  Status s;
  s.set_reported_by(reporter);
  std::string warning_reason;
  if (!f.warnings.empty()) {
    warning_reason = "warning: \n  " + join(f.warnings, "\n");
  }
  if (!f.errors.empty()) {
    std::string reason = multierror_text(f.errors);
    for (const auto& note : f.notes) {
      reason += note + "\n";
    }
    if (!warning_reason.empty()) {
      reason += "\n" + warning_reason;
    }
    s.set_state(Status::Rejected);
    s.set_reason(std::move(reason));
  } else if (!f.warnings.empty()) {
    s.set_state(Status::Warning);
    s.set_reason(std::move(warning_reason));
  } else {
    s.set_state(Status::Accepted);
  }
  if (truncate) {
    truncate_utf8(*s.mutable_reason(), max_reason_bytes);
  }
  return s;
}

void add_subresource(Status& s, const std::string& key, const Status& sub, bool truncate) {
  auto& subs = *s.mutable_subresource_statuses();
  if (truncate && subs.size() >= max_subresources && subs.find(key) == subs.end()) {
    return;
  }
  subs[key] = sub;
}

std::string type_short_name(std::string_view type_url) {
  auto slash = type_url.rfind('/');
  auto full = slash == std::string_view::npos ? type_url : type_url.substr(slash + 1);
  auto dot = full.rfind('.');
  return std::string(dot == std::string_view::npos ? full : full.substr(dot + 1));
}

// NACK findings per resource: one error per (type, message), naming the clients that sent it.
std::map<resource_key, std::vector<std::string>> nack_errors(
    const std::vector<nack_attribution>& nacks) {
  std::map<resource_key, std::map<std::pair<std::string, std::string>, std::set<std::string>>>
      grouped;
  for (const auto& n : nacks) {
    grouped[n.key][{n.type_url, n.message}].insert(n.node_id);
  }
  constexpr size_t max_nodes_named = 3;
  std::map<resource_key, std::vector<std::string>> out;
  for (const auto& [key, by_message] : grouped) {
    for (const auto& [type_and_message, nodes] : by_message) {
      std::vector<std::string> named;
      for (const auto& n : nodes) {
        if (named.size() == max_nodes_named) {
          break;
        }
        named.push_back(n);
      }
      std::string who = join(named, ", ");
      if (nodes.size() > named.size()) {
        who += " and " + std::to_string(nodes.size() - named.size()) + " more";
      }
      out[key].push_back(
          std::string(nodes.size() == 1 ? "rejected by xDS client " : "rejected by xDS clients ")
          + who + " (" + type_short_name(type_and_message.first) + "): " + type_and_message.second);
    }
  }
  return out;
}

void add_unique(std::vector<std::string>& to, const std::vector<std::string>& from) {
  for (const auto& e : from) {
    if (std::find(to.begin(), to.end(), e) == to.end()) {
      to.push_back(e);
    }
  }
}

// The rejections that apply to each resource: its own, and its origin's (an input that named
// nothing, e.g. a file that no longer parses, rejects everything that came from it).
std::map<resource_key, std::vector<const rejection*>> rejections_by_resource(const world& w) {
  std::map<resource_key, std::vector<const rejection*>> out;
  for (const auto& [key, r] : w.rejections()) {
    out[key].push_back(&r);
  }
  for (const auto& [kind_origin, r] : w.origin_rejections()) {
    for (const auto& [nn, stored] : w.of(kind_origin.first)) {
      if (stored.origin == kind_origin.second) {
        out[stored.key].push_back(&r);
      }
    }
  }
  return out;
}

// A rejected newest input: its errors come first, then what is served instead.
void add_rejections(findings& f, const std::vector<const rejection*>& rejections,
                    const stored_resource* accepted) {
  for (const auto* r : rejections) {
    add_unique(f.errors, r->errors);
    if (r->errors.empty()) {
      add_unique(f.errors, {"the newest input was rejected at seq " + std::to_string(r->seq)});
    }
    std::string note;
    if (accepted == nullptr) {
      note = "no form of it was ever accepted, so nothing of it is served";
    } else if (r->stage == rejection_stage_translation) {
      note = "translation refused the change at seq " + std::to_string(r->seq)
             + "; the last accepted form keeps serving";
    } else {
      note = "the last accepted form (seq " + std::to_string(accepted->seq) + ") keeps serving";
    }
    add_unique(f.notes, {note});
  }
}

// What a resource the report does not mention gets (reference gloo.md §2.1 initial state).
Status unreported(resource_kind kind, const std::string& reporter) {
  Status s;
  s.set_reported_by(reporter);
  switch (kind) {
    case resource_kind::gateway:
    case resource_kind::virtual_service:
    case resource_kind::route_table:
    case resource_kind::settings:
    case resource_kind::auth_config:
    case resource_kind::virtual_host_option:
    case resource_kind::route_option:
      s.set_state(Status::Accepted);
      break;
    default:
      s.set_state(Status::Pending);
      break;
  }
  return s;
}

void collect_sources(const pb::Message& m, std::set<resource_key>& out) {
  if (m.GetDescriptor() == ::gloo::solo::io::SourceMetadata::descriptor()) {
    for (const auto& src : static_cast<const ::gloo::solo::io::SourceMetadata&>(m).sources()) {
      std::string_view kind_text = src.resource_kind();
      if (kind_text.rfind("*v1.", 0) == 0) {
        kind_text.remove_prefix(4);
      }
      auto kind = parse_kind(kind_text);
      if (!kind) {
        continue;
      }
      out.insert(resource_key{*kind, src.resource_ref().namespace_(), src.resource_ref().name()});
    }
    return;
  }
  const auto* reflection = m.GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  reflection->ListFields(m, &fields);
  for (const auto* field : fields) {
    if (field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      continue;
    }
    // Options and well-known types never hold source metadata; skipping them keeps the walk to
    // the listener / virtual host / route skeleton.
    const auto& type_name = field->message_type()->full_name();
    if (type_name.rfind("google.protobuf.", 0) == 0
        || (type_name.size() > 7 && type_name.compare(type_name.size() - 7, 7, "Options") == 0)) {
      continue;
    }
    if (field->is_repeated()) {
      for (int i = 0; i < reflection->FieldSize(m, field); ++i) {
        collect_sources(reflection->GetRepeatedMessage(m, field, i), out);
      }
    } else {
      collect_sources(reflection->GetMessage(m, field), out);
    }
  }
}

// The Proxy's own status: a sub-resource status per listener from the findings of what fed it,
// and Rejected only for NACKs attributed to the Proxy itself.
Status proxy_status(const translated_proxy& p, const translation_report& report,
                    const std::vector<std::string>& nacked, const status_options& options) {
  findings top;
  top.errors = nacked;
  std::map<std::string, Status> listeners;
  for (const auto& l : p.proxy.listeners()) {
    findings lf;
    for (const auto& src : sources_in(l)) {
      auto i = report.entries().find(src);
      if (i == report.entries().end()) {
        continue;
      }
      const std::string who = std::string(name_of(src.kind)) + " " + ref_key(src) + ": ";
      for (const auto& e : i->second.errors) {
        lf.warnings.push_back(who + e);
      }
      for (const auto& w : i->second.warnings) {
        lf.warnings.push_back(who + w);
      }
    }
    for (const auto& w : lf.warnings) {
      top.warnings.push_back("listener " + l.name() + ": " + w);
    }
    listeners[l.name()] = status_from(lf, options.gloo_reporter, options.truncate);
  }
  Status s = status_from(top, options.gloo_reporter, options.truncate);
  for (const auto& [name, ls] : listeners) {
    add_subresource(s, name, ls, options.truncate);
  }
  return s;
}

}  // namespace

std::map<resource_key, Status> build_statuses(const world& w, const translation_report& report,
                                              const std::vector<nack_attribution>& nacks,
                                              const status_options& options) {
  return build_statuses(w, report, {}, nacks, options);
}

std::map<resource_key, Status> build_statuses(const world& w, const translation_report& report,
                                              const std::vector<translated_proxy>& proxies,
                                              const std::vector<nack_attribution>& nacks,
                                              const status_options& options) {
  const auto nacked = nack_errors(nacks);
  const auto rejected = rejections_by_resource(w);
  std::map<resource_key, Status> out;

  for (const auto& k : all_kinds()) {
    if (!k.has_status) {
      continue;
    }
    const std::string& reporter
        = gateway_api(k.kind) ? options.gateway_reporter : options.gloo_reporter;
    for (const auto& [nn, stored] : w.of(k.kind)) {
      const auto& key = stored.key;
      auto r = report.entries().find(key);
      auto n = nacked.find(key);
      auto j = rejected.find(key);
      if (r == report.entries().end() && n == nacked.end() && j == rejected.end()) {
        out[key] = unreported(key.kind, reporter);
        continue;
      }
      findings f;
      // The rejection first: a reverted resource translates cleanly in its old form, but the
      // resource as written is not in effect.
      if (j != rejected.end()) {
        add_rejections(f, j->second, &stored);
      }
      if (r != report.entries().end()) {
        f.errors.insert(f.errors.end(), r->second.errors.begin(), r->second.errors.end());
        f.warnings = r->second.warnings;
      }
      if (n != nacked.end()) {
        f.errors.insert(f.errors.end(), n->second.begin(), n->second.end());
      }
      out[key] = status_from(f, reporter, options.truncate);
    }
  }
  // Rejected input that never had an accepted form is in no world, but it exists where the
  // user wrote it and must say why it is not served.
  for (const auto& [key, r] : w.rejections()) {
    if (!info(key.kind).has_status || w.find(key) != nullptr) {
      continue;
    }
    out[key] = never_accepted_status(key.kind, r, options);
  }

  for (const auto& p : proxies) {
    resource_key key{resource_kind::proxy, p.proxy.metadata().namespace_(),
                     p.proxy.metadata().name()};
    auto n = nacked.find(key);
    Status s = proxy_status(p, report, n == nacked.end() ? std::vector<std::string>{} : n->second,
                            options);
    // Gloo embeds the Proxy's state and reason, not its own sub-resources.
    Status embedded = s;
    embedded.clear_subresource_statuses();
    const auto sub_key = proxy_subresource_key(key.name, key.ns);
    for (const auto& src : sources_in(p.proxy)) {
      if (!gateway_api(src.kind)) {
        continue;
      }
      if (auto i = out.find(src); i != out.end()) {
        add_subresource(i->second, sub_key, embedded, options.truncate);
      }
    }
    out[key] = std::move(s);
  }
  return out;
}

Status never_accepted_status(resource_kind kind, const rejection& r,
                             const status_options& options) {
  findings f;
  add_rejections(f, {&r}, nullptr);
  return status_from(f, gateway_api(kind) ? options.gateway_reporter : options.gloo_reporter,
                     options.truncate);
}

std::string state_name(Status::State state) {
  switch (state) {
    case Status::Accepted:
      return "Accepted";
    case Status::Rejected:
      return "Rejected";
    case Status::Warning:
      return "Warning";
    case Status::Pending:
      return "Pending";
    default:
      return "Pending";
  }
}

std::string proxy_subresource_key(const std::string& proxy_name, const std::string& proxy_ns) {
  return "*v1.Proxy." + proxy_name + "_" + proxy_ns;
}

std::vector<resource_key> sources_in(const pb::Message& piece) {
  std::set<resource_key> found;
  collect_sources(piece, found);
  return {found.begin(), found.end()};
}

std::vector<std::string> nacked_resource_names(std::string_view message,
                                               const std::vector<std::string>& response_names) {
  constexpr std::string_view marker = "resource index ";
  std::vector<std::string> out;
  bool indexed = false;
  for (size_t at = message.find(marker); at != std::string_view::npos;
       at = message.find(marker, at + 1)) {
    size_t pos = at + marker.size();
    size_t index = 0;
    size_t digits = 0;
    // Bounded so that a hostile message cannot overflow the index.
    while (pos < message.size() && digits < 9
           && std::isdigit(static_cast<unsigned char>(message[pos]))) {
      index = index * 10 + static_cast<size_t>(message[pos] - '0');
      ++pos;
      ++digits;
    }
    if (digits == 0) {
      continue;
    }
    indexed = true;
    if (index < response_names.size()
        && std::find(out.begin(), out.end(), response_names[index]) == out.end()) {
      out.push_back(response_names[index]);
    }
  }
  if (!indexed && response_names.size() == 1) {
    out.push_back(response_names.front());
  }
  return out;
}

std::string reason_summary(const std::string& reason) {
  std::vector<std::string> parts;
  size_t at = 0;
  while (at <= reason.size()) {
    size_t end = reason.find('\n', at);
    if (end == std::string::npos) {
      end = reason.size();
    }
    std::string_view line(reason.data() + at, end - at);
    at = end + 1;
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) {
      line.remove_prefix(1);
    }
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) {
      line.remove_suffix(1);
    }
    // The multierror header and the warning header carry no finding of their own.
    if (line.empty() || line == "warning:"
        || (line.find(" occurred:") != std::string_view::npos
            && std::isdigit(static_cast<unsigned char>(line.front()))
            && line.find(' ') == line.find(" error"))) {
      continue;
    }
    if (line.rfind("* ", 0) == 0) {
      line.remove_prefix(2);
    }
    parts.emplace_back(line);
  }
  return join(parts, "; ");
}

}  // namespace sluice::model
