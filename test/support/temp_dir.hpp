#pragma once
/// A fresh directory under the system temp dir, removed with everything in it on destruction.

#include <filesystem>
#include <string>
#include <string_view>

namespace sluice::test {

class temp_dir {
 public:
  explicit temp_dir(std::string_view prefix = "sluice-test");
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

  /// Writes `content` to `relative` (creating parent directories) and returns the full path.
  std::filesystem::path write(std::string_view relative, std::string_view content) const;

 private:
  std::filesystem::path path_;
};

/// Reads a whole file; empty when missing.
std::string read_file(const std::filesystem::path& path);

}  // namespace sluice::test
