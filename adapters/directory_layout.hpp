#pragma once
/// Gloo's directory layout rules and the file primitives the directory source is built on.
///
/// Layout (reference gloo.md §4.2): <root>/<plural>/<namespace>/<name>.yaml|.yml|.json. These
/// functions decide which names take part in it and read files with a size bound; they hold no
/// state and touch nothing but the paths they are given.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "caf/expected.hpp"
#include "model/resource_kind.hpp"

namespace sluice::adapters {

/// The kind whose plural is exactly `name` ("virtualservices"), if any.
std::optional<model::resource_kind> kind_of_plural(std::string_view name);

/// A namespace directory: any non-empty name that is not hidden. Hidden directories are skipped
/// because tools keep their own state there (Kubernetes' `..data` in mounted ConfigMaps).
bool is_namespace_dir_name(std::string_view name);

/// A resource file: `.yaml`, `.yml` or `.json`, not hidden. This rules out editor leftovers such
/// as `.x.yaml.swp`, vim's `4913` probe and `x.yaml~` backups.
bool is_resource_file_name(std::string_view name);

/// Size and modification time: what tells us a file changed, and its source revision.
struct file_stamp {
  uint64_t size = 0;
  int64_t mtime_ns = 0;

  bool operator==(const file_stamp&) const = default;

  /// "<mtime_ns>-<size>", the revision reported in source events.
  std::string revision() const;
};

/// What stat() says about a path (following symlinks).
struct file_status {
  enum class type : uint8_t {
    regular,  ///< a regular file; `stamp` is set
    missing,  ///< gone (ENOENT / ENOTDIR)
    other,    ///< exists but is not a regular file (directory, fifo, socket, ...)
    error,    ///< stat failed for another reason; `error_text` says why
  };
  type what = type::missing;
  file_stamp stamp;
  std::string error_text;
};

file_status stat_file(const std::string& path);

/// A file's content, read up to a limit.
struct file_content {
  std::string bytes;   ///< at most `limit` bytes
  file_stamp stamp;    ///< the stamp after reading
  bool stable = true;  ///< size and mtime were the same before and after the read
};

/// Reads at most `limit` bytes of a regular file. Errors: ec::source_error naming the path
/// (cannot open, not a regular file, read failure).
[[nodiscard]] caf::expected<file_content> read_file_bounded(const std::string& path,
                                                            size_t limit);

}  // namespace sluice::adapters
