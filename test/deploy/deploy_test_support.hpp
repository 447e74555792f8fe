#pragma once
/// Helpers shared by the deploy tests: worlds built from Gloo YAML directories, running the
/// `sluice` binary and node, and TLS material on disk.

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "model/resource_decoder.hpp"
#include "model/world.hpp"

namespace sluice::test {

inline std::string source_dir() { return SLUICE_SOURCE_DIR; }

/// Decodes every YAML file under `root` laid out as <plural>/<namespace>/<file> into `w`.
/// Returns every decode problem, so a test can assert there were none.
inline std::vector<std::string> load_world(const std::filesystem::path& root, model::world& w) {
  namespace fs = std::filesystem;
  std::vector<std::string> problems;
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::end(it); ++it) {
    if (it->is_regular_file() && it->path().extension() == ".yaml") {
      files.push_back(it->path());
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    std::ifstream in(file);
    std::stringstream ss;
    ss << in.rdbuf();
    auto kind = model::parse_kind(file.parent_path().parent_path().filename().string());
    model::decode_context ctx{file.string(), kind, file.parent_path().filename().string()};
    auto decoded = model::decode_documents(ss.str(), ctx);
    for (const auto& e : decoded.errors) {
      problems.push_back(e.to_string());
    }
    for (const auto& r : decoded.resources) {
      for (const auto& e : model::validate_resource(r, ctx)) {
        problems.push_back(e.to_string());
      }
      model::stored_resource s;
      s.key = r.key;
      s.message = r.message;
      s.content_hash = model::content_hash(model::canonical_bytes(*r.message));
      s.origin = file.string();
      w.put(std::move(s));
    }
  }
  return problems;
}

/// Adds the resources of one YAML text (Kubernetes form) to `w`; returns decode problems.
inline std::vector<std::string> add_yaml(model::world& w, const std::string& text) {
  std::vector<std::string> problems;
  model::decode_context ctx{"test", std::nullopt, "gloo-system"};
  auto decoded = model::decode_documents(text, ctx);
  for (const auto& e : decoded.errors) {
    problems.push_back(e.to_string());
  }
  for (const auto& r : decoded.resources) {
    model::stored_resource s;
    s.key = r.key;
    s.message = r.message;
    s.content_hash = model::content_hash(model::canonical_bytes(*r.message));
    s.origin = "test";
    w.put(std::move(s));
  }
  return problems;
}

struct process_result {
  int exit_code = -1;
  std::string output;  ///< stdout and stderr together
};

/// Runs a shell command line, capturing its output. Arguments are the caller's to quote.
inline process_result run_command(const std::string& command) {
  process_result r;
  std::unique_ptr<FILE, decltype(&pclose)> pipe(popen((command + " 2>&1").c_str(), "r"), &pclose);
  if (!pipe) {
    return r;
  }
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), pipe.get())) > 0) {
    r.output.append(buf.data(), n);
  }
  int status = pclose(pipe.release());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

/// Single-quotes a string for the shell.
inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return out + "'";
}

inline std::string sluice_command() { return shell_quote(SLUICE_EXECUTABLE); }

}  // namespace sluice::test
