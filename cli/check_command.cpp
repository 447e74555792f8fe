// `sluice check PATH...`: decode, validate and translate Gloo YAML offline. Prints every problem
// with file, line, resource and field; exits 1 if any error was found (warnings do not fail).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.hpp"
#include "model/resource_decoder.hpp"
#include "xds/world_translation.hpp"

namespace sluice::cli {

namespace {

namespace fs = std::filesystem;

struct check_flags {
  std::vector<std::string> paths;
  std::string kind;
  std::string ns = "gloo-system";
};

bool yaml_file(const fs::path& p) {
  auto ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

/// Kind and namespace from Gloo's layout <root>/<plural>/<namespace>/<file>, when it fits.
std::pair<std::optional<model::resource_kind>, std::string> layout_of(const fs::path& file) {
  auto ns_dir = file.parent_path();
  auto plural_dir = ns_dir.parent_path();
  auto kind = model::parse_kind(plural_dir.filename().string());
  if (kind && model::info(*kind).plural == plural_dir.filename().string()) {
    return {kind, ns_dir.filename().string()};
  }
  return {std::nullopt, ""};
}

int run_check(const check_flags& flags) {
  std::optional<model::resource_kind> forced;
  if (!flags.kind.empty()) {
    forced = model::parse_kind(flags.kind);
    if (!forced) {
      std::cerr << "error: unknown kind '" << flags.kind << "'\n";
      return 2;
    }
  }
  std::vector<fs::path> files;
  for (const auto& p : flags.paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      for (auto it = fs::recursive_directory_iterator(p, ec); it != fs::end(it); it.increment(ec)) {
        if (it->is_regular_file() && yaml_file(it->path())
            && it->path().filename().string()[0] != '.') {
          files.push_back(it->path());
        }
      }
    } else if (fs::is_regular_file(p, ec)) {
      files.emplace_back(p);
    } else {
      std::cerr << "error: " << p << ": no such file or directory\n";
      return 2;
    }
  }
  std::sort(files.begin(), files.end());

  size_t errors = 0;
  size_t warnings = 0;
  size_t resources = 0;
  model::world w;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    auto [kind, ns] = layout_of(file);
    model::decode_context ctx{file.string(), forced ? forced : kind,
                              ns.empty() ? flags.ns : ns};
    auto result = model::decode_documents(ss.str(), ctx);
    for (const auto& e : result.errors) {
      std::cout << "error: " << e.to_string() << "\n";
      ++errors;
    }
    for (const auto& r : result.resources) {
      auto problems = model::validate_resource(r, ctx);
      for (const auto& e : problems) {
        std::cout << "error: " << e.to_string() << "\n";
        ++errors;
      }
      if (!problems.empty()) {
        continue;
      }
      if (w.find(r.key)) {
        std::cout << "error: " << file.string() << ": " << r.key.to_string()
                  << " is defined more than once\n";
        ++errors;
        continue;
      }
      ++resources;
      model::stored_resource s;
      s.key = r.key;
      s.message = r.message;
      s.origin = file.string();
      w.put(std::move(s));
    }
  }

  // Translation problems need the whole set, so they come after every file decoded.
  auto translation = xds::translate_world(w);
  for (const auto& [key, r] : translation.report.entries()) {
    const auto* res = w.find(key);
    std::string where = res ? res->origin + ": " : "";
    for (const auto& e : r.errors) {
      std::cout << "error: " << where << key.to_string() << ": " << e << "\n";
      ++errors;
    }
    for (const auto& m : r.warnings) {
      std::cout << "warning: " << where << key.to_string() << ": " << m << "\n";
      ++warnings;
    }
  }
  std::cout << files.size() << " files, " << resources << " resources, " << errors
            << " errors, " << warnings << " warnings\n";
  return errors == 0 ? 0 : 1;
}

}  // namespace

command_fn setup_check(CLI::App& app) {
  auto flags = std::make_shared<check_flags>();
  app.add_option("paths", flags->paths, "files or directories (Gloo layout or Kubernetes YAML)")
      ->required();
  app.add_option("--kind", flags->kind, "kind of flat-form files outside Gloo's layout");
  app.add_option("-n,--namespace", flags->ns, "namespace when neither layout nor metadata say")
      ->capture_default_str();
  return [flags] { return run_check(*flags); };
}

namespace {
const command_registration registration{"check", "decode, validate and translate Gloo YAML offline; exit 1 on any error", setup_check};
}  // namespace

}  // namespace sluice::cli
