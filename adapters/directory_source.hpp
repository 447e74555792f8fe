#pragma once
/// The directory source: Gloo's file layout, watched with inotify.
///
/// Layout (reference gloo.md §4.2), all under one root:
///   <root>/<plural>/<namespace>/<anything>.yaml|.yml|.json
/// where <plural> is a kind's plural (gateways, virtualservices, routetables, upstreams,
/// upstreamgroups, proxies, authconfigs, endpoints, secrets, artifacts, settings). Other files and
/// directories are ignored (and logged once at debug).
///
/// start() scans the tree, reports every file as an upsert in one batch followed by a `synced`
/// event, then watches. A file is reported only once it is complete: after IN_CLOSE_WRITE or
/// IN_MOVED_TO, and only when its size and mtime are unchanged over a short settle period (so an
/// editor's half-written file is not ingested). A deleted or moved-away file is a `remove`. New
/// namespace and kind directories are picked up as they appear. Unchanged content is still
/// reported (deduplication is the kind actors' job, by content hash).

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "caf/expected.hpp"
#include "model/source_event.hpp"

namespace sluice::adapters {

struct directory_source_options {
  std::string root;
  std::chrono::milliseconds settle{50};   ///< quiet period before a changed file is read
  std::chrono::milliseconds rescan{0};    ///< periodic full rescan as a safety net; 0 = off
  size_t max_file_bytes = 8 * 1024 * 1024;
  /// Quiet period for a file that was modified but not closed (a writer holding it open, such as
  /// `>>` from a long-running process): read only once it has been this quiet. Much longer than
  /// `settle` because a pause in an open writer is no sign that the file is complete.
  std::chrono::milliseconds open_writer_quiet{2000};
};

class directory_source {
 public:
  using sink = std::function<void(model::source_batch)>;

  directory_source(directory_source_options options, sink out);
  ~directory_source();  ///< stops the watch thread
  directory_source(const directory_source&) = delete;
  directory_source& operator=(const directory_source&) = delete;

  /// Initial scan (delivered synchronously to the sink before returning), then starts the watch
  /// thread. Errors: ec::source_error when the root does not exist or inotify fails.
  [[nodiscard]] caf::expected<void> start();
  /// Stops and joins the watch thread; no sink call happens after it returns. Idempotent. Called
  /// from inside the sink it only requests the stop (a thread cannot join itself).
  void stop();

  class impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace sluice::adapters
