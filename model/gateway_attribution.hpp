#pragma once
/// How translation findings are attributed to the user resources that caused them.
///
/// Two halves: (1) recording into a translation_report without duplicates, so that a resource
/// reached twice in one run (a VirtualService on two Gateways, an Upstream used by the gateway and
/// the proxyless snapshot) reports each finding once; (2) Gloo's `metadataStatic.sources`
/// back-pointers on Proxy listeners, virtual hosts and routes ("*v1.VirtualService" ...), which is
/// how the Envoy translation finds whom to blame for a problem it sees on a Proxy piece
/// (reference gloo.md §1.9, §2.1).

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/resource.hpp"
#include "model/translation_report.hpp"
#include "solo/gloo.pb.h"

namespace sluice::model {

/// Adds `message` as an error of `key` unless that exact error is already recorded.
inline void report_error(translation_report& report, const resource_key& key,
                         const std::string& message) {
  if (!report.wants(key)) {
    return;
  }
  auto i = report.entries().find(key);
  if (i != report.entries().end()) {
    const auto& errors = i->second.errors;
    if (std::find(errors.begin(), errors.end(), message) != errors.end()) {
      return;
    }
  }
  report.error(key, message);
}

/// Adds `message` as a warning of `key` unless that exact warning is already recorded.
inline void report_warning(translation_report& report, const resource_key& key,
                           const std::string& message) {
  if (!report.wants(key)) {
    return;
  }
  auto i = report.entries().find(key);
  if (i != report.entries().end()) {
    const auto& warnings = i->second.warnings;
    if (std::find(warnings.begin(), warnings.end(), message) != warnings.end()) {
      return;
    }
  }
  report.warning(key, message);
}

/// Merges `from` into `into` with the same de-duplication (touches included).
inline void merge_report(translation_report& into, const translation_report& from) {
  for (const auto& [key, r] : from.entries()) {
    if (!into.wants(key)) {
      continue;
    }
    into.touch(key);
    for (const auto& e : r.errors) {
      report_error(into, key, e);
    }
    for (const auto& w : r.warnings) {
      report_warning(into, key, w);
    }
  }
}

/// Gloo's source kind strings ("*v1.Gateway", "*v1.VirtualService", "*v1.RouteTable").
inline std::string source_kind(resource_kind kind) { return "*v1." + std::string(name_of(kind)); }

inline void add_source(::gloo::solo::io::SourceMetadata& metadata, const resource_key& key,
                       int64_t generation = 0) {
  auto* s = metadata.add_sources();
  s->mutable_resource_ref()->set_name(key.name);
  s->mutable_resource_ref()->set_namespace_(key.ns);
  s->set_resource_kind(source_kind(key.kind));
  s->set_observed_generation(generation);
}

/// The sources of one kind, in the order they were recorded.
inline std::vector<resource_key> sources_of(const ::gloo::solo::io::SourceMetadata& metadata,
                                            resource_kind kind) {
  std::vector<resource_key> out;
  const auto wanted = source_kind(kind);
  for (const auto& s : metadata.sources()) {
    if (s.resource_kind() == wanted) {
      out.push_back(resource_key{kind, s.resource_ref().namespace_(), s.resource_ref().name()});
    }
  }
  return out;
}

/// "namespace.name", the key form Gloo writes refs in messages.
inline std::string ref_key(std::string_view ns, std::string_view name) {
  std::string out(ns);
  out += '.';
  out += name;
  return out;
}

inline std::string ref_key(const resource_key& key) { return ref_key(key.ns, key.name); }

}  // namespace sluice::model
