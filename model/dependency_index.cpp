#include "model/dependency_index.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <algorithm>
#include <functional>

#include "model/selector.hpp"
#include "solo/core.pb.h"
#include "solo/gloo.pb.h"

namespace sluice::model {

namespace {

constexpr size_t kinds_capacity = 16;

size_t slot(resource_kind kind) { return static_cast<size_t>(kind) % kinds_capacity; }

}  // namespace

bool selector_read::may_select(const std::string& ns,
                               const google::protobuf::Map<std::string, std::string>& l) const {
  if (!namespace_selected(namespaces, ns, empty_means_all ? nullptr : &owner_namespace)) {
    return false;
  }
  if (!labels_match(labels, l)) {
    return false;
  }
  auto ok = expressions_match(expressions, l);
  return !ok || *ok;
}

const google::protobuf::Map<std::string, std::string>& labels_of(
    const google::protobuf::Message& message) {
  static const google::protobuf::Map<std::string, std::string> empty;
  const auto* field = message.GetDescriptor()->FindFieldByName("metadata");
  if (field == nullptr || field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE ||
      field->message_type() != ::core::solo::io::Metadata::descriptor()) {
    return empty;
  }
  const auto& md = static_cast<const ::core::solo::io::Metadata&>(
      message.GetReflection()->GetMessage(message, field));
  return md.labels();
}

std::vector<resource_key> references_of(resource_kind kind, const std::string& ns,
                                        const google::protobuf::Message& message) {
  std::vector<resource_key> out;
  if (kind == resource_kind::endpoint) {
    const auto& e = static_cast<const ::gloo::solo::io::Endpoint&>(message);
    for (const auto& ref : e.upstreams()) {
      out.push_back(resource_key{resource_kind::upstream,
                                 ref.namespace_().empty() ? ns : ref.namespace_(), ref.name()});
    }
  }
  return out;
}

size_t dependency_index::key_hash::operator()(const resource_key& k) const noexcept {
  size_t h = std::hash<std::string>()(k.ns);
  h ^= std::hash<std::string>()(k.name) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h ^ (static_cast<size_t>(k.kind) * 0x100000001b3ULL);
}

namespace {

// Removes one occurrence of `piece` (order does not matter).
void remove_one(std::vector<piece_id>& list, piece_id piece) {
  if (auto i = std::find(list.begin(), list.end(), piece); i != list.end()) {
    *i = list.back();
    list.pop_back();
  }
}

}  // namespace

void dependency_index::index(piece_id piece, const piece_reads& reads) {
  for (const auto& k : reads.keys) {
    by_key_[k].push_back(piece);
  }
  for (const auto& r : reads.references) {
    by_reference_[slot(r.kind)][r.target].push_back(piece);
  }
  for (const auto& s : reads.selectors) {
    ++selector_count_[slot(s.kind)][piece];
  }
  for (auto kind : reads.kinds) {
    by_kind_[slot(kind)].insert(piece);
  }
}

void dependency_index::unindex(piece_id piece, const piece_reads& reads) {
  for (const auto& k : reads.keys) {
    if (auto i = by_key_.find(k); i != by_key_.end()) {
      remove_one(i->second, piece);
      if (i->second.empty()) {
        by_key_.erase(i);
      }
    }
  }
  for (const auto& r : reads.references) {
    auto& m = by_reference_[slot(r.kind)];
    if (auto i = m.find(r.target); i != m.end()) {
      remove_one(i->second, piece);
      if (i->second.empty()) {
        m.erase(i);
      }
    }
  }
  for (const auto& s : reads.selectors) {
    auto& m = selector_count_[slot(s.kind)];
    if (auto i = m.find(piece); i != m.end() && --i->second == 0) {
      m.erase(i);
    }
  }
  for (auto kind : reads.kinds) {
    by_kind_[slot(kind)].erase(piece);
  }
}

void dependency_index::record(piece_id piece, piece_reads reads) {
  auto i = reads_.find(piece);
  if (i != reads_.end()) {
    unindex(piece, i->second);
    i->second = std::move(reads);
  } else {
    i = reads_.emplace(piece, std::move(reads)).first;
  }
  index(piece, i->second);
}

void dependency_index::forget(piece_id piece) {
  auto i = reads_.find(piece);
  if (i == reads_.end()) {
    return;
  }
  unindex(piece, i->second);
  reads_.erase(i);
}

const piece_reads* dependency_index::reads_of(piece_id piece) const {
  auto i = reads_.find(piece);
  return i == reads_.end() ? nullptr : &i->second;
}

void dependency_index::affected(const resource_key& key, const google::protobuf::Message* before,
                                const google::protobuf::Message* after,
                                std::vector<piece_id>& out) const {
  if (auto i = by_key_.find(key); i != by_key_.end()) {
    out.insert(out.end(), i->second.begin(), i->second.end());
  }
  const auto& kind_readers = by_kind_[slot(key.kind)];
  out.insert(out.end(), kind_readers.begin(), kind_readers.end());

  // Reverse references: the targets the resource named before and names now.
  const auto& refs = by_reference_[slot(key.kind)];
  if (!refs.empty()) {
    for (const auto* m : {before, after}) {
      if (m == nullptr) {
        continue;
      }
      for (const auto& target : references_of(key.kind, key.ns, *m)) {
        if (auto i = refs.find(target); i != refs.end()) {
          out.insert(out.end(), i->second.begin(), i->second.end());
        }
      }
    }
  }

  // Selections: a reader is affected if the resource may have been selected before or may be now.
  const auto& selecting = selector_count_[slot(key.kind)];
  for (const auto& [piece, count] : selecting) {
    const auto& reads = reads_.at(piece);
    bool hit = false;
    for (const auto& s : reads.selectors) {
      if (s.kind != key.kind) {
        continue;
      }
      for (const auto* m : {before, after}) {
        if (m != nullptr && s.may_select(key.ns, labels_of(*m))) {
          hit = true;
          break;
        }
      }
      if (hit) {
        break;
      }
    }
    if (hit) {
      out.push_back(piece);
    }
  }
}

}  // namespace sluice::model
