#pragma once
/// What a kind actor knows about the inputs of one kind: which origin (file, API object) holds
/// which resources, the last input bytes seen per origin, and the accepted content per resource.
/// Turns raw source events into log events:
///
///  - the same input bytes again (a restart, a touch) produce nothing, so a restart with unchanged
///    input appends no events;
///  - a resource whose canonical content is unchanged produces nothing;
///  - an origin that fails to decode produces one rejected event with every error, and the
///    resources it held keep their last accepted form (nothing is deleted);
///  - a document that fails validation produces a rejected event for that resource only;
///  - resources that vanished from an origin that decoded cleanly produce deletes;
///  - a resource already defined by another origin is rejected, naming both origins;
///  - after a rejection, the next accepted input of that resource (or origin) is logged even when
///    it equals the form still served, because it clears the rejection (model::world).
///
/// Plain class, owned by one kind actor; replay and tests drive it directly.

#include <map>
#include <set>
#include <string>
#include <vector>

#include "model/resource_decoder.hpp"
#include "model/resource_kind.hpp"
#include "model/source_event.hpp"
#include "sluice/v1/event.pb.h"

namespace sluice::model {

class ingest_tracker {
 public:
  struct output {
    std::vector<sluice::v1::Event> events;
    std::map<std::string, std::string> cursors;  ///< to persist in the same batch
    bool empty() const { return events.empty() && cursors.empty(); }
  };

  explicit ingest_tracker(resource_kind kind, decode_limits limits = {});

  /// Restores from the log: accepted state rows of this kind and the input cursors
  /// ("input/<Kind>/<source>/<origin>" -> hex hash).
  void restore(const std::vector<sluice::v1::StateRecord>& state,
               const std::map<std::string, std::string>& cursors);

  /// One upsert or remove from a source.
  [[nodiscard]] output ingest(const source_event& event);

  /// The source finished its initial listing: origins restored from the log that the listing did
  /// not report are gone (deleted while sluice was down), so their resources are deleted.
  /// A source that `resumed` (a Kubernetes watch continued from a stored resourceVersion) did not
  /// list everything, so absence means nothing: no delete sweep. Such a source reports what
  /// vanished itself (synthetic removes after a 410 relist).
  [[nodiscard]] output finish_sync(const std::string& source, bool resumed = false);

  /// Cursor name for an origin's input hash: "input/<Kind>/<source>/<origin>".
  std::string cursor_name(const std::string& source, const std::string& origin) const;
  std::string cursor_prefix() const;

  resource_kind kind() const { return kind_; }

 private:
  struct origin_state {
    std::string source;
    std::set<std::pair<std::string, std::string>> keys;  ///< (namespace, name)
  };
  struct accepted {
    uint64_t hash = 0;
    std::string origin;
  };

  sluice::v1::Event base_event(const source_event& in) const;
  /// A delete of a resource this tracker does not hold: it changes no world, but clears the
  /// resource's rejection (model::apply_rejections).
  sluice::v1::Event clear_rejection_event(const source_event& in,
                                          const std::pair<std::string, std::string>& key) const;
  void remove_origin(const std::string& origin, const source_event& in, output& out);

  resource_kind kind_;
  decode_limits limits_;
  std::map<std::string, origin_state> origins_;                     ///< by origin
  std::map<std::string, uint64_t> input_hash_;                      ///< by origin
  std::map<std::pair<std::string, std::string>, accepted> current_; ///< by (ns, name)
  std::map<std::string, std::set<std::string>> seen_;               ///< by source: origins listed
  std::set<std::string> rejected_origins_;  ///< origins whose last input named nothing, rejected
  /// Resources rejected in each origin's last input (cleared by that origin's next input).
  std::map<std::string, std::set<std::pair<std::string, std::string>>> rejected_keys_;
};

}  // namespace sluice::model
