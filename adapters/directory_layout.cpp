#include "adapters/directory_layout.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "model/error.hpp"

namespace sluice::adapters {
namespace {

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() > suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

file_stamp stamp_of(const struct stat& st) {
  return file_stamp{static_cast<uint64_t>(st.st_size),
                    static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000
                        + static_cast<int64_t>(st.st_mtim.tv_nsec)};
}

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

std::optional<model::resource_kind> kind_of_plural(std::string_view name) {
  for (const auto& k : model::all_kinds()) {
    if (k.plural == name) {
      return k.kind;
    }
  }
  return std::nullopt;
}

bool is_namespace_dir_name(std::string_view name) { return !name.empty() && name[0] != '.'; }

bool is_resource_file_name(std::string_view name) {
  if (name.empty() || name[0] == '.') {
    return false;
  }
  return ends_with(name, ".yaml") || ends_with(name, ".yml") || ends_with(name, ".json");
}

std::string file_stamp::revision() const {
  return std::to_string(mtime_ns) + "-" + std::to_string(size);
}

file_status stat_file(const std::string& path) {
  struct stat st {};
  file_status out;
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      out.what = file_status::type::missing;
    } else {
      out.what = file_status::type::error;
      out.error_text = errno_text(err);
    }
    return out;
  }
  if (!S_ISREG(st.st_mode)) {
    out.what = file_status::type::other;
    return out;
  }
  out.what = file_status::type::regular;
  out.stamp = stamp_of(st);
  return out;
}

caf::expected<file_content> read_file_bounded(const std::string& path, size_t limit) {
  // O_NONBLOCK so that a fifo given a .yaml name cannot block the watch thread in open().
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    return make_error(ec::source_error, "cannot open " + path + ": " + errno_text(errno));
  }
  struct stat before {};
  if (::fstat(fd, &before) != 0) {
    int err = errno;
    ::close(fd);
    return make_error(ec::source_error, "cannot stat " + path + ": " + errno_text(err));
  }
  if (!S_ISREG(before.st_mode)) {
    ::close(fd);
    return make_error(ec::source_error, path + " is not a regular file");
  }
  file_content out;
  size_t expected = static_cast<size_t>(before.st_size);
  out.bytes.resize(expected < limit ? expected + 1 : limit);  // +1 sees growth since fstat
  size_t filled = 0;
  while (filled < limit) {
    if (filled == out.bytes.size()) {
      out.bytes.resize(std::min(limit, out.bytes.size() * 2 + 4096));
    }
    ssize_t n = ::read(fd, out.bytes.data() + filled, out.bytes.size() - filled);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      int err = errno;
      ::close(fd);
      return make_error(ec::source_error, "cannot read " + path + ": " + errno_text(err));
    }
    if (n == 0) {
      break;
    }
    filled += static_cast<size_t>(n);
  }
  out.bytes.resize(filled);
  struct stat after {};
  if (::fstat(fd, &after) != 0) {
    int err = errno;
    ::close(fd);
    return make_error(ec::source_error, "cannot stat " + path + ": " + errno_text(err));
  }
  ::close(fd);
  out.stamp = stamp_of(after);
  out.stable = stamp_of(before) == out.stamp;
  return out;
}

}  // namespace sluice::adapters
