#pragma once
/// What a watch adapter reports: raw input as it arrived, before any decoding. Adapters know
/// where a thing came from (kind and namespace from the layout, the file or API path); the kind
/// actors decode it, validate it and turn it into log events.

#include <optional>
#include <string>
#include <vector>

#include "model/resource_kind.hpp"

namespace sluice::model {

struct source_event {
  enum class op_t : uint8_t {
    upsert,  ///< `origin` now holds `bytes` (created or changed)
    remove,  ///< `origin` is gone
    synced,  ///< the source finished its initial listing; `kind` unset
  };
  std::string source;                  ///< "directory", "kubernetes", ...
  op_t op = op_t::upsert;
  std::optional<resource_kind> kind;   ///< from the layout (directory plural, CRD kind)
  std::string ns;                      ///< from the layout; metadata may override
  std::string origin;                  ///< file path or API path; unique per source
  std::string bytes;                   ///< the whole file or object
  std::string revision;                ///< source revision (mtime+size, resourceVersion, ...)
};

using source_batch = std::vector<source_event>;

}  // namespace sluice::model
