// Golden translation scenarios (test/golden/README.md): each directory test/golden/<scenario>/
// holds input/ in Gloo's directory layout (<plural>/<namespace>/<file>.yaml) and expected/ with
// what sluice must make of it:
//   proxies.yaml   the translated Proxies (Gloo's flat YAML form), one document per Proxy;
//   envoy.json     the Envoy resources of every snapshot key (roles and "proxyless"), by type;
//   statuses.yaml  documents rejected before translation, and every resource's status as
//                  model/status builds it from the translation report (Gloo's status model).
// The comparison is exact. SLUICE_GOLDEN_UPDATE=1 rewrites expected/ instead; every rewritten
// file is then reviewed by hand against reference gloo.md before it is committed.
//
// An optional scenario.yaml holds options: `secrets: sds` serves TLS secrets over SDS.
#include <google/protobuf/any.pb.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "model/resource_decoder.hpp"
#include "model/resource_kind.hpp"
#include "model/status.hpp"
#include "model/world.hpp"
#include "xds/snapshot_checker.hpp"
#include "xds/world_translation.hpp"

namespace sluice::golden {
namespace {

namespace fs = std::filesystem;

fs::path golden_root() { return fs::path(SLUICE_SOURCE_DIR) / "test" / "golden"; }

std::vector<std::string> scenarios() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(golden_root(), ec)) {
    if (e.is_directory() && fs::is_directory(e.path() / "input")) {
      out.push_back(e.path().filename().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct loaded {
  model::world world;
  std::vector<std::pair<std::string, std::string>> rejected;  ///< (file, error)
};

// Loads input/ as the directory source and ingest would: layout gives kind and namespace, every
// document is decoded and validated, a failing document is rejected alone. Files are applied in
// path order, each a later log sequence number than the one before (the order decides who is the
// newcomer in a conflict).
loaded load(const fs::path& input) {
  loaded out;
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(input)) {
    const auto ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
      files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  uint64_t seq = 0;
  for (const auto& file : files) {
    const auto rel = fs::relative(file, input).generic_string();
    const auto ns_dir = file.parent_path();
    auto kind = model::parse_kind(ns_dir.parent_path().filename().string());
    model::decode_context ctx{rel, kind, ns_dir.filename().string()};
    auto result = model::decode_documents(read_file(file), ctx);
    for (const auto& e : result.errors) {
      out.rejected.emplace_back(rel, e.to_string());
    }
    for (const auto& r : result.resources) {
      auto problems = model::validate_resource(r, ctx);
      for (const auto& e : problems) {
        out.rejected.emplace_back(rel, e.to_string());
      }
      if (!problems.empty()) {
        continue;
      }
      model::stored_resource s;
      s.key = r.key;
      s.message = r.message;
      s.content_hash = model::content_hash(model::canonical_bytes(*r.message));
      s.seq = ++seq;
      s.origin = rel;
      out.world.put(std::move(s));
    }
  }
  out.world.set_watermark(seq);
  return out;
}

std::string render_proxies(const xds::world_translation& t) {
  if (t.proxies.empty()) {
    return "# no proxies\n";
  }
  std::string out;
  for (const auto& p : t.proxies) {
    if (!out.empty()) {
      out += "---\n";
    }
    out += "# role: " + p.role + "\n" + model::to_yaml(p.proxy);
  }
  return out;
}

const char* short_type(std::string_view type_url) {
  if (type_url == xds::listener_type) return "listeners";
  if (type_url == xds::route_type) return "routes";
  if (type_url == xds::cluster_type) return "clusters";
  if (type_url == xds::endpoint_type) return "endpoints";
  if (type_url == xds::secret_type) return "secrets";
  return "other";
}

std::string render_envoy(const xds::world_translation& t) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [key, snap] : t.snapshots) {
    nlohmann::json by_type = nlohmann::json::object();
    for (const auto& [type, set] : snap->types) {
      nlohmann::json items = nlohmann::json::object();
      for (const auto& [name, res] : set.items) {
        google::protobuf::Any any;
        any.set_type_url(res->type_url);
        any.set_value(res->bytes);
        auto text = model::to_json(any, false);
        auto parsed = nlohmann::json::parse(text, nullptr, false);
        if (parsed.is_object()) {
          parsed.erase("@type");
        }
        items[name] = std::move(parsed);
      }
      if (!items.empty()) {
        by_type[short_type(type)] = std::move(items);
      }
    }
    out[key] = std::move(by_type);
  }
  return out.dump(2) + "\n";
}

void emit_status(YAML::Emitter& y, const ::core::solo::io::Status& s) {
  y << YAML::Key << "state" << YAML::Value << model::state_name(s.state());
  y << YAML::Key << "reportedBy" << YAML::Value << s.reported_by();
  if (!s.reason().empty()) {
    y << YAML::Key << "reason" << YAML::Value;
    if (s.reason().find('\n') != std::string::npos) {
      y << YAML::Literal;
    } else {
      y << YAML::DoubleQuoted;
    }
    y << s.reason();
  }
  if (!s.subresource_statuses().empty()) {
    // Sorted: protobuf maps iterate in no particular order.
    std::map<std::string, const ::core::solo::io::Status*> subs;
    for (const auto& [k, v] : s.subresource_statuses()) {
      subs.emplace(k, &v);
    }
    y << YAML::Key << "subresourceStatuses" << YAML::Value << YAML::BeginMap;
    for (const auto& [k, v] : subs) {
      y << YAML::Key << YAML::DoubleQuoted << k << YAML::Value << YAML::BeginMap;
      emit_status(y, *v);
      y << YAML::EndMap;
    }
    y << YAML::EndMap;
  }
}

// Statuses as model/status builds them (Gloo's model: state, reason, reportedBy, sub-resource
// statuses including each Proxy's), plus the documents ingest rejected before translation.
std::string render_statuses(const loaded& in, const xds::world_translation& t) {
  YAML::Emitter y;
  y.SetIndent(2);
  y << YAML::BeginMap;
  if (!in.rejected.empty()) {
    y << YAML::Key << "rejectedAtIngest" << YAML::Value << YAML::BeginSeq;
    for (const auto& [file, error] : in.rejected) {
      y << YAML::BeginMap << YAML::Key << "file" << YAML::Value << file << YAML::Key << "error"
        << YAML::Value << YAML::DoubleQuoted << error << YAML::EndMap;
    }
    y << YAML::EndSeq;
  }
  const auto statuses = model::build_statuses(in.world, t.report, t.proxies);
  y << YAML::Key << "resources" << YAML::Value << YAML::BeginSeq;
  for (const auto& [key, status] : statuses) {
    y << YAML::BeginMap;
    y << YAML::Key << "kind" << YAML::Value << std::string(model::name_of(key.kind));
    y << YAML::Key << "namespace" << YAML::Value << key.ns;
    y << YAML::Key << "name" << YAML::Value << key.name;
    emit_status(y, status);
    y << YAML::EndMap;
  }
  y << YAML::EndSeq << YAML::EndMap;
  return std::string(y.c_str()) + "\n";
}

xds::envoy_translation_options scenario_options(const fs::path& dir) {
  xds::envoy_translation_options options;
  const auto file = dir / "scenario.yaml";
  if (fs::exists(file)) {
    auto node = YAML::LoadFile(file.string());
    if (node["secrets"] && node["secrets"].as<std::string>() == "sds") {
      options.secrets = xds::secret_delivery::sds;
    }
  }
  return options;
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, OutputMatchesTheReviewedExpectation) {
  const auto dir = golden_root() / GetParam();
  const auto in = load(dir / "input");
  const auto translation = xds::translate_world(in.world, {}, scenario_options(dir));

  // The promise behind every scenario: whatever the input, what is served is consistent.
  for (const auto& [key, snap] : translation.snapshots) {
    EXPECT_EQ(xds::check_snapshot(*snap), std::vector<std::string>{}) << "snapshot " << key;
  }
  // Translation is a pure function of the world.
  const auto again = xds::translate_world(in.world, {}, scenario_options(dir));
  EXPECT_EQ(render_envoy(translation), render_envoy(again));

  const std::map<std::string, std::string> outputs{
      {"proxies.yaml", render_proxies(translation)},
      {"envoy.json", render_envoy(translation)},
      {"statuses.yaml", render_statuses(in, translation)},
  };
  const bool update = std::getenv("SLUICE_GOLDEN_UPDATE") != nullptr &&
                      std::string(std::getenv("SLUICE_GOLDEN_UPDATE")) == "1";
  for (const auto& [file, text] : outputs) {
    const auto path = dir / "expected" / file;
    if (update) {
      fs::create_directories(path.parent_path());
      std::ofstream(path, std::ios::binary) << text;
      continue;
    }
    ASSERT_TRUE(fs::exists(path)) << path << " is missing; run with SLUICE_GOLDEN_UPDATE=1, then "
                                  << "review the new file by hand";
    EXPECT_EQ(read_file(path), text) << GetParam() << "/expected/" << file
                                     << " differs (SLUICE_GOLDEN_UPDATE=1 rewrites it; review "
                                        "the diff by hand)";
  }
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string out;
  for (char c : info.param) {
    out += std::isalnum(static_cast<unsigned char>(c)) != 0 ? c : '_';
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Scenarios, GoldenTest, ::testing::ValuesIn(scenarios()), test_name);

TEST(GoldenScenariosTest, ThereAreAtLeastFortyScenarios) { EXPECT_GE(scenarios().size(), 40u); }

}  // namespace
}  // namespace sluice::golden
