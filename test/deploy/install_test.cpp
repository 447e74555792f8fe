// `sluice install kubernetes` and `sluice install rollout`: the committed rendering is current,
// every manifest is valid for its kind (kubernetes-models, through validate_manifests.js), the CRD
// schemas follow the protos field by field and accept every configuration sluice's decoder
// accepts, and the rollout creates the default resources a user does not have yet.
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <regex>
#include <set>

#include "model/resource_kind.hpp"
#include "test/deploy/deploy_test_support.hpp"
#include "test/support/fake_kube_apiserver.hpp"
#include "test/support/temp_dir.hpp"
#include "xds/world_translation.hpp"

namespace sluice::test {
namespace {

namespace fs = std::filesystem;
namespace pb = google::protobuf;

const fs::path committed = fs::path(SLUICE_SOURCE_DIR) / "deploy/kubernetes/rendered/sluice.yaml";
const fs::path validator = fs::path(SLUICE_SOURCE_DIR) / "test/deploy/validate_manifests.js";
const fs::path fixtures = fs::path(SLUICE_SOURCE_DIR) / "test/deploy/fixtures";

/// Runs `sluice install <args>` and returns what it printed (stdout and stderr).
process_result install(const std::string& args) {
  return run_command(sluice_command() + " install " + args);
}

process_result node(const std::string& args) {
  return run_command(shell_quote(SLUICE_NODE) + " " + shell_quote(validator.string()) + " " + args);
}

/// The number in "N failed" of the validator's closing line, or -1.
int failures_of(const std::string& output) {
  std::smatch m;
  if (std::regex_search(output, m, std::regex(R"((\d+) passed, (\d+) failed)"))) {
    return std::stoi(m[2]);
  }
  return -1;
}

TEST(InstallKubernetesTest, TheCommittedRenderingIsCurrent) {
  auto rendered = install("kubernetes");
  ASSERT_EQ(rendered.exit_code, 0) << rendered.output;
  const std::string on_disk = read_file(committed);
  ASSERT_FALSE(on_disk.empty()) << committed << " is missing";
  if (rendered.output != on_disk) {
    std::istringstream a(rendered.output);
    std::istringstream b(on_disk);
    std::string la;
    std::string lb;
    int line = 0;
    while (true) {
      ++line;
      bool ga = static_cast<bool>(std::getline(a, la));
      bool gb = static_cast<bool>(std::getline(b, lb));
      if (!ga && !gb) {
        break;
      }
      if (la != lb || ga != gb) {
        ADD_FAILURE() << "deploy/kubernetes/rendered/sluice.yaml is out of date (first "
                         "difference at line "
                      << line << ":\n  rendered:  " << la << "\n  committed: " << lb
                      << "\nre-render with: sluice install kubernetes > "
                         "deploy/kubernetes/rendered/sluice.yaml";
        break;
      }
    }
  }
}

/// Files whose every document sluice's decoder accepts (Gloo's flat layout <plural>/<ns>/<file>
/// or the Kubernetes form), as lines for validate_manifests.js --resources.
std::string decodable_resources(const std::vector<fs::path>& roots, size_t& count) {
  std::string lines;
  for (const auto& root : roots) {
    std::vector<fs::path> files;
    if (fs::is_regular_file(root)) {
      files.push_back(root);
    } else {
      for (auto it = fs::recursive_directory_iterator(root); it != fs::end(it); ++it) {
        if (it->is_regular_file() && it->path().extension() == ".yaml") {
          files.push_back(it->path());
        }
      }
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      auto plural = file.parent_path().parent_path().filename().string();
      auto kind = model::parse_kind(plural);
      const bool layout = kind && model::info(*kind).plural == plural;
      if (layout && !model::is_custom_resource(*kind)) {
        continue;  // not custom resources in Kubernetes
      }
      const std::string ns = layout ? file.parent_path().filename().string() : "";
      model::decode_context ctx{file.string(), layout ? kind : std::nullopt,
                                ns.empty() ? "default" : ns};
      auto decoded = model::decode_documents(read_file(file), ctx);
      if (!decoded.errors.empty() || decoded.file_failed || decoded.resources.empty()) {
        continue;  // the decoder refuses it; the schema need not accept it
      }
      const std::string text = read_file(file);
      const bool kube_form = text.find("apiVersion:") != std::string::npos;
      lines += file.string() + "\t"
               + (kube_form || !layout ? "" : std::string(model::info(*kind).name)) + "\t"
               + (kube_form ? "" : ns) + "\n";
      ++count;
    }
  }
  return lines;
}

TEST(InstallKubernetesTest, EveryManifestIsValidForItsKind) {
  temp_dir dir("sluice-install");
  auto defaults = install("kubernetes --defaults");
  ASSERT_EQ(defaults.exit_code, 0) << defaults.output;
  dir.write("defaults.yaml", defaults.output);
  size_t count = 0;
  std::vector<fs::path> roots
      = {fs::path(SLUICE_SOURCE_DIR) / "examples/gateway", fixtures / "valid.yaml"};
  for (const auto& golden : fs::directory_iterator(fs::path(SLUICE_SOURCE_DIR) / "test/golden")) {
    if (fs::is_directory(golden.path() / "input")) {
      roots.push_back(golden.path() / "input");
    }
  }
  dir.write("resources.tsv", decodable_resources(roots, count));
  ASSERT_GT(count, 20u) << "expected the examples, golden inputs and fixtures";

  auto result = node("--manifests " + shell_quote(committed.string()) + " --defaults "
                     + shell_quote((dir.path() / "defaults.yaml").string()) + " --resources "
                     + shell_quote((dir.path() / "resources.tsv").string()) + " --invalid "
                     + shell_quote((fixtures / "invalid.yaml").string()));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(failures_of(result.output), 0) << result.output;
  // Every kind was looked at: CRDs, RBAC, workloads, the webhook, the bootstrap, the resources.
  for (const char* expected :
       {"ok CustomResourceDefinition virtualservices.gateway.solo.io: structural schema",
        "ok Deployment gloo-system/gateway-proxy: valid apps/v1 Deployment",
        "ok ValidatingWebhookConfiguration gloo-gateway-validation-webhook-gloo-system: valid",
        "ok gateway-proxy-envoy-config envoy.yaml: valid envoy.config.bootstrap.v3.Bootstrap",
        "ok default Settings gloo-system/default: accepted by its CRD",
        "(VirtualService gloo-system/petstore)", "(Upstream apps/web)",
        "(RouteTable apps/routes-not-a-list) is rejected",
        // The option kinds: their CRDs, the golden fixtures (flat and Kubernetes form), the
        // fixtures, and refusals.
        "ok CustomResourceDefinition virtualhostoptions.gateway.solo.io: structural schema",
        "ok CustomResourceDefinition routeoptions.gateway.solo.io: structural schema",
        "routeoptions/opts/std-timeouts.yaml#0 (RouteOption opts/std-timeouts)",
        "routeoptions/opts/std-rewrites.yaml#0 (RouteOption opts/std-rewrites)",
        "virtualhostoptions/opts/std-vhost.yaml#0 (VirtualHostOption opts/std-vhost)",
        "routeoptions/team/fast.yaml#0 (RouteOption team/fast)",
        "(VirtualHostOption opts/std-vhost)", "(RouteOption opts/misspelt-option) is rejected",
        "(VirtualHostOption opts/options-not-an-object) is rejected"}) {
    EXPECT_NE(result.output.find(expected), std::string::npos) << expected << "\n" << result.output;
  }
}

TEST(InstallKubernetesTest, TheValidatorRejectsBrokenManifests) {
  temp_dir dir("sluice-install");
  std::string broken = read_file(committed);
  // A port by name where a number is required, a Service selecting no pods, and a misspelt field
  // in the Envoy bootstrap.
  auto replace = [&](const std::string& from, const std::string& to) {
    auto at = broken.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    broken.replace(at, from.size(), to);
  };
  replace("containerPort: 9977", "containerPort: grpc");
  replace("type: LoadBalancer\n  selector:\n    gloo: gateway-proxy",
          "type: LoadBalancer\n  selector:\n    gloo: nothing");
  replace("connect_timeout: \"5s\"", "connect_timeuot: \"5s\"");
  dir.write("broken.yaml", broken);
  auto result = node("--manifests " + shell_quote((dir.path() / "broken.yaml").string()));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  // The port by name also leaves the gloo Service's grpc-xds port without a container port.
  EXPECT_EQ(failures_of(result.output), 4) << result.output;
  EXPECT_NE(result.output.find("Service gloo-system/gloo: selects pods that serve its ports: port "
                               "grpc-xds targets 9977"),
            std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("containerPort must be integer"), std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("Service gloo-system/gateway-proxy: selects pods that serve its "
                               "ports: selects no Deployment"),
            std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("has no field connect_timeuot"), std::string::npos) << result.output;
}

// ---- CRD schemas against the descriptors --------------------------------------------------

class schema_walk {
 public:
  std::vector<std::string> problems;
  size_t free_form = 0;

  void message(const YAML::Node& schema, const pb::Descriptor* d, const std::string& at,
               const std::set<std::string>& skip = {}) {
    stack_.push_back(d);
    const YAML::Node props = schema["properties"];
    std::set<std::string> seen;
    for (int i = 0; i < d->field_count(); ++i) {
      const pb::FieldDescriptor* f = d->field(i);
      if (skip.count(f->name()) != 0) {
        continue;
      }
      seen.insert(f->json_name());
      const YAML::Node node = props ? props[f->json_name()] : YAML::Node();
      if (!node) {
        if (!recursive(f)) {
          problems.push_back(at + "." + f->json_name() + ": missing from the schema");
        }
        continue;
      }
      field(node, f, at + "." + f->json_name());
    }
    if (props) {
      for (const auto& p : props) {
        if (seen.count(p.first.as<std::string>()) == 0) {
          problems.push_back(at + "." + p.first.as<std::string>() + ": not a field of "
                             + d->full_name());
        }
      }
    }
    stack_.pop_back();
  }

 private:
  bool recursive(const pb::FieldDescriptor* f) const {
    const pb::Descriptor* m
        = f->is_map() ? f->message_type()->map_value()->message_type() : f->message_type();
    return m != nullptr && std::count(stack_.begin(), stack_.end(), m) >= 2;
  }

  void field(const YAML::Node& node, const pb::FieldDescriptor* f, const std::string& at) {
    if (f->is_map()) {
      expect_type(node, "object", at);
      element(node["additionalProperties"], f->message_type()->map_value(), at + "[*]");
    } else if (f->is_repeated()) {
      expect_type(node, "array", at);
      element(node["items"], f, at + "[]");
    } else {
      element(node, f, at);
    }
  }

  void element(const YAML::Node& node, const pb::FieldDescriptor* f, const std::string& at) {
    if (!node) {
      problems.push_back(at + ": no schema");
      return;
    }
    const bool preserve = node["x-kubernetes-preserve-unknown-fields"]
                          && node["x-kubernetes-preserve-unknown-fields"].as<bool>();
    const bool is_struct = f->type() == pb::FieldDescriptor::TYPE_MESSAGE
                           && f->message_type()->full_name() == "google.protobuf.Struct";
    if (preserve != is_struct) {
      problems.push_back(at + ": preserve-unknown-fields is " + (preserve ? "set" : "unset")
                         + " but the field is " + (is_struct ? "" : "not ") + "a Struct");
    }
    free_form += preserve ? 1 : 0;
    if (f->type() == pb::FieldDescriptor::TYPE_ENUM && node["enum"]) {
      if (node["enum"].size() != static_cast<size_t>(f->enum_type()->value_count())) {
        problems.push_back(at + ": enum values differ from " + f->enum_type()->full_name());
      }
    }
    if (f->type() == pb::FieldDescriptor::TYPE_MESSAGE
        && f->message_type()->file()->package() != "google.protobuf") {
      expect_type(node, "object", at);
      message(node, f->message_type(), at);
    }
  }

  void expect_type(const YAML::Node& node, const std::string& type, const std::string& at) {
    if (!node["type"] || node["type"].as<std::string>() != type) {
      problems.push_back(at + ": expected type " + type);
    }
  }

  std::vector<const pb::Descriptor*> stack_;
};

TEST(InstallKubernetesTest, CrdSchemasFollowTheProtosFieldByField) {
  auto docs = YAML::LoadAll(read_file(committed));
  std::set<std::string> crds;
  for (const auto& doc : docs) {
    if (!doc["kind"] || doc["kind"].as<std::string>() != "CustomResourceDefinition") {
      continue;
    }
    const auto kind = model::parse_kind(doc["spec"]["names"]["kind"].as<std::string>());
    ASSERT_TRUE(kind) << doc["metadata"]["name"];
    crds.insert(std::string(model::info(*kind).name));
    const auto schema = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    schema_walk walk;
    walk.message(schema["properties"]["spec"], model::info(*kind).descriptor, "spec",
                 {"metadata", "namespaced_statuses"});
    walk.message(schema["properties"]["status"],
                 pb::DescriptorPool::generated_pool()->FindMessageTypeByName(
                     "core.solo.io.NamespacedStatuses"),
                 "status");
    EXPECT_TRUE(walk.problems.empty())
        << model::info(*kind).name << ":\n  " << walk.problems.front()
        << (walk.problems.size() > 1 ? "\n  ..." : "");
    if (*kind == model::resource_kind::virtual_service) {
      EXPECT_GT(walk.free_form, 10u) << "the option Structs of routes and virtual hosts";
    }
  }
  EXPECT_EQ(crds, (std::set<std::string>{"Gateway", "VirtualService", "RouteTable", "Upstream",
                                         "UpstreamGroup", "Settings", "Proxy", "AuthConfig",
                                         "VirtualHostOption", "RouteOption"}));
}

TEST(InstallKubernetesTest, TheWebhookJudgesEveryKindGlooJudgesAndTheOptionKinds) {
  // operations by "group/resource", from every rule of every webhook.
  std::map<std::string, std::set<std::string>> judged;
  for (const auto& doc : YAML::LoadAll(read_file(committed))) {
    if (!doc["kind"] || doc["kind"].as<std::string>() != "ValidatingWebhookConfiguration") {
      continue;
    }
    for (const auto& hook : doc["webhooks"]) {
      for (const auto& rule : hook["rules"]) {
        for (const auto& group : rule["apiGroups"]) {
          for (const auto& resource : rule["resources"]) {
            for (const auto& op : rule["operations"]) {
              judged[group.as<std::string>() + "/" + resource.as<std::string>()].insert(
                  op.as<std::string>());
            }
          }
        }
      }
    }
  }
  const std::set<std::string> all = {"CREATE", "UPDATE", "DELETE"};
  for (const char* r : {"gateway.solo.io/virtualservices", "gateway.solo.io/routetables",
                        "gateway.solo.io/virtualhostoptions", "gateway.solo.io/routeoptions",
                        "gloo.solo.io/upstreams"}) {
    EXPECT_EQ(judged[r], all) << r;
  }
  EXPECT_EQ(judged["gateway.solo.io/gateways"], (std::set<std::string>{"CREATE", "UPDATE"}));
  EXPECT_EQ(judged["/secrets"], std::set<std::string>{"DELETE"});
  EXPECT_EQ(judged["/namespaces"], std::set<std::string>{"DELETE"});
}

TEST(InstallKubernetesTest, TheDecoderAgreesWithTheFixtures) {
  model::decode_context ctx{"valid.yaml", std::nullopt, "default"};
  auto valid = model::decode_documents(read_file(fixtures / "valid.yaml"), ctx);
  EXPECT_TRUE(valid.errors.empty()) << valid.errors.front().to_string();
  EXPECT_EQ(valid.resources.size(), 20u);
  auto docs = YAML::LoadAll(read_file(fixtures / "invalid.yaml"));
  for (const auto& doc : docs) {
    YAML::Emitter out;
    out << doc;
    model::decode_context one{"invalid.yaml", std::nullopt, "default"};
    auto decoded = model::decode_documents(out.c_str(), one);
    std::vector<std::string> problems;
    for (const auto& r : decoded.resources) {
      for (const auto& e : model::validate_resource(r, one)) {
        problems.push_back(e.to_string());
      }
    }
    EXPECT_TRUE(!decoded.errors.empty() || !problems.empty())
        << doc["metadata"]["name"] << " is accepted by sluice's decoder but refused by the schema";
  }
}

TEST(InstallKubernetesTest, TheDefaultResourcesDecodeAndTranslateCleanly) {
  auto defaults = install("kubernetes --defaults");
  ASSERT_EQ(defaults.exit_code, 0) << defaults.output;
  model::world w;
  auto problems = add_yaml(w, defaults.output);
  ASSERT_TRUE(problems.empty()) << problems.front();
  EXPECT_TRUE(w.find(model::resource_kind::settings, "gloo-system", "default"));
  EXPECT_TRUE(w.find(model::resource_kind::gateway, "gloo-system", "gateway-proxy"));
  EXPECT_TRUE(w.find(model::resource_kind::gateway, "gloo-system", "gateway-proxy-ssl"));
  auto translation = xds::translate_world(w);
  for (const auto& [key, report] : translation.report.entries()) {
    EXPECT_TRUE(report.errors.empty()) << key.to_string() << ": " << report.errors.front();
  }
}

TEST(InstallKubernetesTest, AnotherNamespaceLeavesNoTraceOfTheDefaultOne) {
  auto rendered = install("kubernetes --namespace edge --image registry.example/sluice:1");
  ASSERT_EQ(rendered.exit_code, 0) << rendered.output;
  EXPECT_EQ(rendered.output.find("gloo-system"), std::string::npos);
  EXPECT_NE(rendered.output.find("role: edge~gateway-proxy"), std::string::npos);
  EXPECT_NE(rendered.output.find("gloo.edge.svc.cluster.local:9977"), std::string::npos);
  EXPECT_NE(rendered.output.find("image: registry.example/sluice:1"), std::string::npos);
  EXPECT_NE(rendered.output.find("name: gloo-gateway-validation-webhook-edge"), std::string::npos);
}

TEST(InstallKubernetesTest, ABadNamespaceIsRefused) {
  auto rendered = install("kubernetes --namespace Not_Valid");
  EXPECT_EQ(rendered.exit_code, 2);
  EXPECT_NE(rendered.output.find("not a valid namespace name"), std::string::npos)
      << rendered.output;
}

// ---- sluice install rollout -----------------------------------------------------------------

TEST(InstallRolloutTest, CreatesMissingDefaultsAndLeavesExistingOnesAlone) {
  fake_kube_apiserver api;
  temp_dir dir("sluice-rollout");
  dir.write("kubeconfig", api.kubeconfig());
  // The user already tuned the Settings; an upgrade must not undo that.
  api.apply_text(R"(
apiVersion: gloo.solo.io/v1
kind: Settings
metadata: {name: default, namespace: gloo-system}
spec: {refreshRate: 5s}
)");
  const std::string rollout = "rollout --namespace gloo-system --timeout-seconds 0 --kubeconfig "
                              + shell_quote((dir.path() / "kubeconfig").string());

  // The Gateway CRD is not established yet: a clear error, and nothing is half done.
  api.set_installed("apis/gateway.solo.io/v1/gateways", false);
  auto early = install(rollout);
  EXPECT_EQ(early.exit_code, 1) << early.output;
  EXPECT_NE(early.output.find("gateways.gateway.solo.io CRD did not become available"),
            std::string::npos)
      << early.output;

  api.set_installed("apis/gateway.solo.io/v1/gateways", true);
  auto run = install(rollout);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("Settings gloo-system/default: exists, left as it is"),
            std::string::npos)
      << run.output;
  auto settings = api.get("apis/gloo.solo.io/v1/namespaces/gloo-system/settings/default");
  ASSERT_TRUE(settings);
  EXPECT_EQ((*settings)["spec"]["refreshRate"], "5s");
  auto http = api.get("apis/gateway.solo.io/v1/namespaces/gloo-system/gateways/gateway-proxy");
  auto ssl = api.get("apis/gateway.solo.io/v1/namespaces/gloo-system/gateways/gateway-proxy-ssl");
  ASSERT_TRUE(http);
  ASSERT_TRUE(ssl);
  EXPECT_EQ((*http)["spec"]["bindPort"], 8080);
  EXPECT_EQ((*ssl)["spec"]["ssl"], true);

  // Idempotent: a second run creates nothing.
  const size_t posts = api.count("POST", "gateways");
  auto again = install(rollout);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(api.count("POST", "gateways"), posts);
}

}  // namespace
}  // namespace sluice::test
