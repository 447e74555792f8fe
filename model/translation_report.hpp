#pragma once
/// Errors and warnings that translation found, attributed to the user resource that caused them.
/// Gloo's status model (Accepted / Rejected / Warning with a reason) is built from this.

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "model/resource.hpp"

namespace sluice::model {

struct resource_report {
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
};

class translation_report {
 public:
  /// A report that keeps the findings of `keys` only and ignores the rest (cheap to assemble
  /// when only a few resources' findings are wanted).
  static translation_report only(std::set<resource_key> keys) {
    translation_report r;
    r.only_ = std::make_shared<const std::set<resource_key>>(std::move(keys));
    return r;
  }
  bool wants(const resource_key& key) const { return !only_ || only_->count(key) > 0; }

  void error(const resource_key& key, std::string message) {
    if (wants(key)) {
      entries_[key].errors.push_back(std::move(message));
    }
  }
  void warning(const resource_key& key, std::string message) {
    if (wants(key)) {
      entries_[key].warnings.push_back(std::move(message));
    }
  }
  /// Marks a resource as seen by translation, so it shows up (as Accepted) even with no problems.
  void touch(const resource_key& key) {
    if (wants(key)) {
      entries_[key];
    }
  }

  const std::map<resource_key, resource_report>& entries() const { return entries_; }
  bool has_errors(const resource_key& key) const {
    auto i = entries_.find(key);
    return i != entries_.end() && !i->second.errors.empty();
  }
  void merge(const translation_report& other) {
    for (const auto& [k, r] : other.entries_) {
      if (!wants(k)) {
        continue;
      }
      auto& mine = entries_[k];
      mine.errors.insert(mine.errors.end(), r.errors.begin(), r.errors.end());
      mine.warnings.insert(mine.warnings.end(), r.warnings.begin(), r.warnings.end());
    }
  }

 private:
  std::map<resource_key, resource_report> entries_;
  std::shared_ptr<const std::set<resource_key>> only_;  ///< null: every key
};

}  // namespace sluice::model
