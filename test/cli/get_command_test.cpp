// `sluice get` end to end: a real control plane (directory source, RocksDB log, actors, ADS
// server) fills a data directory, then the real `sluice` binary reads it, while the server runs
// and after it stopped, and the tests assert what it prints.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "actors/actor_types.hpp"
#include "actors/control_plane.hpp"
#include "model/error.hpp"
#include "store/event_log.hpp"
#include "test/support/temp_dir.hpp"

namespace sluice::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const std::string sluice_binary = SLUICE_BINARY_DIR "/sluice";
const std::string role = "gloo-system~gateway-proxy";
const std::string rds = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";

const char* gateway_yaml = R"(metadata: {name: gateway-proxy, namespace: gloo-system}
bindAddress: "::"
bindPort: 8080
httpGateway: {}
)";

const char* upstream_yaml = R"(metadata: {name: a, namespace: gloo-system}
static:
  hosts:
  - {addr: 127.0.0.1, port: 50061}
)";

const char* greeter_yaml = R"(metadata: {name: greeter, namespace: gloo-system}
virtualHost:
  domains: [greeter.example.com]
  routes:
  - matchers: [{prefix: /api}]
    delegateAction: {ref: {name: api, namespace: gloo-system}}
)";

// Delegates to a RouteTable that does not exist: a Warning in Gloo, the rest keeps serving.
const char* lost_yaml = R"(metadata: {name: lost, namespace: gloo-system}
virtualHost:
  domains: [lost.example.com]
  routes:
  - matchers: [{prefix: /}]
    delegateAction: {ref: {name: nowhere, namespace: gloo-system}}
  - matchers: [{prefix: /ok}]
    routeAction: {single: {upstream: {name: a, namespace: gloo-system}}}
)";

const char* api_table_yaml = R"(metadata: {name: api, namespace: gloo-system}
routes:
- matchers: [{prefix: /api/v1}]
  routeAction: {single: {upstream: {name: a, namespace: gloo-system}}}
)";

const char* orphan_table_yaml = R"(metadata: {name: orphan, namespace: gloo-system}
routes:
- matchers: [{prefix: /nothing}]
  routeAction: {single: {upstream: {name: a, namespace: gloo-system}}}
)";

const char* secret_yaml = R"(metadata: {name: tls, namespace: gloo-system}
tls:
  certChain: not-a-real-chain
  privateKey: super-secret-key-material
)";

struct run_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class GetCommandTest : public ::testing::Test {
 protected:
  GetCommandTest() {
    config_ = dir_.path() / "config";
    data_ = dir_.path() / "data";
    write("gateways/gloo-system/gateway-proxy.yaml", gateway_yaml);
    write("upstreams/gloo-system/a.yaml", upstream_yaml);
    write("virtualservices/gloo-system/greeter.yaml", greeter_yaml);
    write("virtualservices/gloo-system/lost.yaml", lost_yaml);
    write("routetables/gloo-system/api.yaml", api_table_yaml);
    write("routetables/gloo-system/orphan.yaml", orphan_table_yaml);
    write("secrets/gloo-system/tls.yaml", secret_yaml);
  }

  ~GetCommandTest() override { stop(); }

  void SetUp() override {
    ASSERT_TRUE(fs::exists(sluice_binary))
        << sluice_binary << " is missing: build the `sluice` target before sluice_cli_tests";
  }

  void write(const std::string& relative, const std::string& content) {
    auto path = config_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << content;
  }

  // Starts the server and waits until every input is in the log and a snapshot was published
  // for the gateway proxy (so translation ran over all of them).
  void start() {
    cfg_ = std::make_unique<caf::actor_system_config>();
    cfg_->add_message_types<caf::id_block::sluice>();
    sys_ = std::make_unique<caf::actor_system>(*cfg_);
    actors::control_plane_options options;
    options.config_dir = config_.string();
    options.data_dir = data_.string();
    options.xds_listen = "127.0.0.1:0";
    auto cp = actors::control_plane::start(*sys_, options);
    ASSERT_TRUE(cp) << describe(cp.error());
    cp_ = std::move(*cp);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!ready()) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "the server did not log every input and publish a snapshot within 10 s";
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling interval, bounded
    }
  }

  bool ready() const {
    store::event_log_options o;
    o.path = data_.string();
    o.read_only = true;
    auto log = store::event_log::open(o);
    if (!log) {
      return false;
    }
    auto state = (*log)->load_state();
    auto published = (*log)->publish_records();
    if (!state || !published || state->size() < inputs_) {
      return false;
    }
    for (const auto& p : *published) {
      if (p.role() == role && p.watermark_seq() >= (*log)->last_seq()) {
        return true;
      }
    }
    return false;
  }

  void stop() {
    if (cp_) {
      cp_->stop();
      cp_.reset();
    }
    sys_.reset();
    cfg_.reset();
  }

  // Runs the real binary with `args` and --data-dir, capturing stdout and stderr.
  run_result get(const std::string& args) const {
    const auto err_path = dir_.path() / "stderr.txt";
    const std::string command = "'" + sluice_binary + "' get " + args + " --data-dir '"
                                + data_.string() + "' 2>'" + err_path.string() + "'";
    run_result r;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) {
      ADD_FAILURE() << "cannot run " << command;
      return r;
    }
    char buffer[4096];
    size_t n = 0;
    while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) {
      r.out.append(buffer, n);
    }
    const int status = pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.err = test::read_file(err_path);
    return r;
  }

  // A strictly increasing record time, later than anything the server recorded.
  int64_t next_time() {
    last_time_
        = std::max(last_time_ + 1,
                   static_cast<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count()));
    return last_time_;
  }

  // Records a client answer in the log, as the journal does for a real client.
  void record_response(const std::string& node, bool nack, const std::string& message,
                       const std::string& type_url = rds,
                       const std::vector<std::string>& response_names = {}) {
    store::event_log_options o;
    o.path = data_.string();
    auto log = store::event_log::open(o);
    ASSERT_TRUE(log) << describe(log.error());
    sluice::v1::ClientResponseRecord r;
    r.set_role(role);
    r.set_node_id(node);
    r.set_type_url(type_url);
    r.set_nonce("7");
    for (const auto& n : response_names) {
      r.add_resource_names(n);
    }
    r.set_nack(nack);
    r.set_error_message(message);
    r.set_time_unix_ns(next_time());
    ASSERT_TRUE((*log)->record_client_response(r));
  }

  // Records that new RDS content was published to the role, as the journal does.
  void record_publish(const std::string& version) {
    store::event_log_options o;
    o.path = data_.string();
    auto log = store::event_log::open(o);
    ASSERT_TRUE(log) << describe(log.error());
    sluice::v1::PublishRecord p;
    p.set_role(role);
    p.set_type_url(rds);
    p.set_version(version);
    p.set_time_unix_ns(next_time());
    ASSERT_TRUE((*log)->record_publish(p));
  }

  // Waits (bounded) until the log holds a rejection of `name` at `stage`, as the server records
  // it in its state rows.
  bool rejection_logged(const std::string& name, const std::string& stage) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    do {
      store::event_log_options o;
      o.path = data_.string();
      o.read_only = true;
      if (auto log = store::event_log::open(o)) {
        if (auto rows = (*log)->load_state()) {
          for (const auto& r : *rows) {
            if (r.has_rejection() && r.name() == name && r.rejection().stage() == stage) {
              return true;
            }
          }
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling interval, bounded
    } while (std::chrono::steady_clock::now() < deadline);
    return false;
  }

  // The table row (a line) that names `name` in its NAME column.
  static std::string row(const std::string& table, const std::string& name) {
    std::istringstream in(table);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream cells(line);
      std::string ns;
      std::string n;
      cells >> ns >> n;
      if (n == name) {
        return line;
      }
    }
    return "";
  }

  test::temp_dir dir_{"sluice-get"};
  fs::path config_;
  fs::path data_;
  std::unique_ptr<caf::actor_system_config> cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<actors::control_plane> cp_;
  int64_t last_time_ = 0;
  size_t inputs_ = 7;  ///< files written to config_, all of which must be logged before ready
};

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_F(GetCommandTest, VirtualServicesTableHasGlooStatusColumns) {
  ASSERT_NO_FATAL_FAILURE(start());
  stop();
  auto r = get("vs");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto header = r.out.substr(0, r.out.find('\n'));
  for (const char* column : {"NAMESPACE", "NAME", "STATUS", "DOMAINS", "ROUTES", "REASON"}) {
    EXPECT_TRUE(has(header, column)) << header;
  }
  const auto greeter = row(r.out, "greeter");
  EXPECT_TRUE(has(greeter, "gloo-system")) << r.out;
  EXPECT_TRUE(has(greeter, "Accepted")) << r.out;
  EXPECT_TRUE(has(greeter, "greeter.example.com")) << r.out;
  const auto lost = row(r.out, "lost");
  EXPECT_TRUE(has(lost, "Warning")) << r.out;
  EXPECT_TRUE(has(lost, "nowhere")) << "the reason names the missing table: " << r.out;
}

TEST_F(GetCommandTest, UnreferencedRouteTableIsAcceptedAsInGloo) {
  ASSERT_NO_FATAL_FAILURE(start());
  stop();
  auto r = get("routetables");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(row(r.out, "orphan"), "Accepted")) << r.out;
  EXPECT_TRUE(has(row(r.out, "api"), "Accepted")) << r.out;

  // Only the table that fed the Proxy carries the Proxy's status.
  auto api = json::parse(get("rt api -o json").out, nullptr, false);
  ASSERT_FALSE(api.is_discarded());
  const auto& status = api["namespacedStatuses"]["statuses"]["gloo-system"];
  EXPECT_EQ(status["reportedBy"], "gateway");
  EXPECT_TRUE(status["subresourceStatuses"].contains("*v1.Proxy.gateway-proxy_gloo-system"))
      << api.dump(2);
  auto orphan = json::parse(get("rt orphan -o json").out, nullptr, false);
  EXPECT_FALSE(
      orphan["namespacedStatuses"]["statuses"]["gloo-system"].contains("subresourceStatuses"))
      << orphan.dump(2);
}

TEST_F(GetCommandTest, ProxyYamlShowsTheTranslatedProxyWithItsStatus) {
  ASSERT_NO_FATAL_FAILURE(start());
  stop();
  auto r = get("proxy gateway-proxy -o yaml");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "name: gateway-proxy")) << r.out;
  EXPECT_TRUE(has(r.out, "listener-::-8080")) << r.out;
  EXPECT_TRUE(has(r.out, "bindPort: 8080")) << r.out;
  // The delegated route landed in the VirtualService's virtual host, with the table as source.
  EXPECT_TRUE(has(r.out, "gloo-system.greeter")) << r.out;
  EXPECT_TRUE(has(r.out, "/api/v1")) << r.out;
  EXPECT_TRUE(has(r.out, "*v1.RouteTable")) << r.out;
  EXPECT_TRUE(has(r.out, "reportedBy: gloo")) << r.out;

  auto table = get("proxies");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  // "lost" has a warning and fed the Proxy, so the Proxy is Warning.
  EXPECT_TRUE(has(row(table.out, "gateway-proxy"), "Warning")) << table.out;
}

TEST_F(GetCommandTest, XdsJsonIsAnEnvoyConfigDump) {
  ASSERT_NO_FATAL_FAILURE(start());
  stop();
  auto r = get("xds " + role + " -o json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto dump = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(dump.is_discarded()) << r.out;
  ASSERT_TRUE(dump["configs"].is_array());
  std::map<std::string, json> by_type;
  for (const auto& c : dump["configs"]) {
    by_type[c["@type"].get<std::string>()] = c;
  }
  const auto& clusters = by_type["type.googleapis.com/envoy.admin.v3.ClustersConfigDump"];
  ASSERT_EQ(clusters["dynamic_active_clusters"].size(), 1u) << clusters.dump(2);
  const auto& cluster = clusters["dynamic_active_clusters"][0]["cluster"];
  EXPECT_EQ(cluster["@type"], "type.googleapis.com/envoy.config.cluster.v3.Cluster");
  EXPECT_EQ(cluster["name"], "a_gloo-system");

  const auto& listeners = by_type["type.googleapis.com/envoy.admin.v3.ListenersConfigDump"];
  ASSERT_EQ(listeners["dynamic_listeners"].size(), 1u) << listeners.dump(2);
  EXPECT_EQ(listeners["dynamic_listeners"][0]["name"], "listener-::-8080");
  const auto& listener = listeners["dynamic_listeners"][0]["active_state"]["listener"];
  EXPECT_EQ(listener["address"]["socketAddress"]["portValue"], 8080) << listener.dump(2);

  const auto& routes = by_type["type.googleapis.com/envoy.admin.v3.RoutesConfigDump"];
  ASSERT_EQ(routes["dynamic_route_configs"].size(), 1u) << routes.dump(2);
  const auto& rc = routes["dynamic_route_configs"][0]["route_config"];
  EXPECT_EQ(rc["name"], "listener-::-8080-routes");
  std::set<std::string> vhosts;
  std::set<std::string> prefixes;
  for (const auto& vh : rc["virtualHosts"]) {
    vhosts.insert(vh["name"].get<std::string>());
    for (const auto& route : vh["routes"]) {
      if (route["match"].contains("prefix")) {
        prefixes.insert(route["match"]["prefix"].get<std::string>());
      }
    }
  }
  EXPECT_EQ(vhosts, (std::set<std::string>{"gloo-system_greeter", "gloo-system_lost"}));
  EXPECT_TRUE(prefixes.count("/api/v1")) << rc.dump(2);

  // Without a role: the snapshot keys, the proxyless one included.
  auto keys = get("xds");
  ASSERT_EQ(keys.exit_code, 0) << keys.err;
  EXPECT_TRUE(has(keys.out, role)) << keys.out;
  EXPECT_TRUE(has(keys.out, "proxyless")) << keys.out;
}

TEST_F(GetCommandTest, ReadsTheDataDirectoryOfARunningServer) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto r = get("upstreams");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto a = row(r.out, "a");
  EXPECT_TRUE(has(a, "Accepted")) << r.out;
  EXPECT_TRUE(has(a, "127.0.0.1:50061")) << r.out;

  auto doc = json::parse(get("upstream a -n gloo-system -o json").out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_EQ(doc["metadata"]["name"], "a");
  EXPECT_EQ(doc["namespacedStatuses"]["statuses"]["gloo-system"]["state"], "Accepted");
  EXPECT_EQ(doc["namespacedStatuses"]["statuses"]["gloo-system"]["reportedBy"], "gloo");
}

TEST_F(GetCommandTest, CurrentNackRejectsTheVirtualServiceItNames) {
  ASSERT_NO_FATAL_FAILURE(start());
  stop();
  // gRPC and Envoy name the rejected virtual host in their error text.
  ASSERT_NO_FATAL_FAILURE(
      record_response("envoy-1", true, "virtual host gloo-system_greeter: route: invalid regex"));
  auto r = get("vs");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto greeter = row(r.out, "greeter");
  EXPECT_TRUE(has(greeter, "Rejected")) << r.out;
  EXPECT_TRUE(has(greeter, "rejected by xDS client envoy-1 (RouteConfiguration)")) << r.out;
  EXPECT_TRUE(has(row(r.out, "lost"), "Warning")) << "only the named one is blamed: " << r.out;
  // The delegated table produced part of that virtual host.
  EXPECT_TRUE(has(row(get("rt").out, "api"), "Rejected"));
  EXPECT_TRUE(has(row(get("proxy").out, "gateway-proxy"), "Rejected"));

  // New content published after the NACK supersedes what was rejected.
  ASSERT_NO_FATAL_FAILURE(record_publish("v2"));
  auto republished = get("vs");
  EXPECT_TRUE(has(row(republished.out, "greeter"), "Accepted")) << republished.out;

  // Rejected again, then a later ACK from the same client: it holds newer content, so the NACK
  // is history.
  ASSERT_NO_FATAL_FAILURE(
      record_response("envoy-1", true, "virtual host gloo-system_greeter: route: invalid regex"));
  EXPECT_TRUE(has(row(get("vs").out, "greeter"), "Rejected"));
  ASSERT_NO_FATAL_FAILURE(record_response("envoy-1", false, ""));
  auto after = get("vs");
  EXPECT_TRUE(has(row(after.out, "greeter"), "Accepted")) << after.out;
}

// grpc-js names no resource in its NACK, only its index in the rejected response; the server
// records the response's names in order.
TEST_F(GetCommandTest, NackNamingOnlyAnIndexRejectsTheUpstreamAtThatIndex) {
  ASSERT_NO_FATAL_FAILURE(start());
  stop();
  const std::string cds = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
  const std::string message = "xDS response validation errors: [resource index 0: Cluster "
                              "message validation failed: [LB policy is not supported]]";
  // Without the names the index means nothing: only the Proxy carries the NACK.
  ASSERT_NO_FATAL_FAILURE(record_response("node-js", true, message, cds));
  EXPECT_TRUE(has(row(get("upstreams").out, "a"), "Accepted"));
  EXPECT_TRUE(has(row(get("proxy").out, "gateway-proxy"), "Rejected"));

  ASSERT_NO_FATAL_FAILURE(record_response("node-js", true, message, cds, {"a_gloo-system"}));
  auto r = get("upstream a -n gloo-system -o json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << r.out;
  const auto& status = doc["namespacedStatuses"]["statuses"]["gloo-system"];
  EXPECT_EQ(status["state"], "Rejected") << r.out;
  EXPECT_TRUE(has(status["reason"].get<std::string>(),
                  "rejected by xDS client node-js (Cluster): " + message))
      << r.out;
  // A CDS NACK is not about the virtual services.
  EXPECT_TRUE(has(row(get("vs").out, "greeter"), "Accepted"));
}

// A VirtualService whose regex RE2 refuses: rejected at ingest.
std::string bad_regex_vs(const std::string& name) {
  return "metadata: {name: " + name + ", namespace: gloo-system}\n"
         "virtualHost:\n"
         "  domains: [" + name + ".example.com]\n"
         "  routes:\n"
         "  - matchers: [{regex: \"(unclosed\"}]\n"
         "    routeAction: {single: {upstream: {name: a, namespace: gloo-system}}}\n";
}

TEST_F(GetCommandTest, IngestRejectionsShowAsRejectedWithWhatKeepsServing) {
  write("virtualservices/gloo-system/broken.yaml", bad_regex_vs("broken"));  // never valid
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_TRUE(rejection_logged("broken", "ingest"));
  // An edit that fails validation: the accepted form keeps serving.
  write("virtualservices/gloo-system/lost.yaml", bad_regex_vs("lost"));
  ASSERT_TRUE(rejection_logged("lost", "ingest"));
  stop();

  auto r = get("vs");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto broken = row(r.out, "broken");
  EXPECT_TRUE(has(broken, "Rejected")) << r.out;
  const auto lost = row(r.out, "lost");
  EXPECT_TRUE(has(lost, "Rejected")) << r.out;
  EXPECT_TRUE(has(lost, "lost.example.com")) << "the accepted form's domains: " << r.out;
  EXPECT_TRUE(has(row(r.out, "greeter"), "Accepted")) << r.out;

  auto yaml = get("vs lost -o yaml");
  ASSERT_EQ(yaml.exit_code, 0) << yaml.err;
  EXPECT_TRUE(has(yaml.out, "state: Rejected")) << yaml.out;
  EXPECT_TRUE(has(yaml.out, "regex")) << yaml.out;
  EXPECT_TRUE(has(yaml.out, "the last accepted form (seq")) << yaml.out;

  // The never-accepted one is found by name, with only its name to show.
  auto one = get("vs broken -n gloo-system -o json");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  auto doc = json::parse(one.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << one.out;
  EXPECT_EQ(doc["metadata"]["name"], "broken");
  const auto& status = doc["namespacedStatuses"]["statuses"]["gloo-system"];
  EXPECT_EQ(status["state"], "Rejected") << one.out;
  EXPECT_TRUE(has(status.value("reason", ""), "no form of it was ever accepted")) << one.out;
}

TEST_F(GetCommandTest, TranslationRejectionShowsTheSeqItWasRefusedAt) {
  ASSERT_NO_FATAL_FAILURE(start());
  // lost was clean; now it claims greeter's domain, which translation refuses: its clean form
  // is put back.
  write("virtualservices/gloo-system/lost.yaml", R"(metadata: {name: lost, namespace: gloo-system}
virtualHost:
  domains: [greeter.example.com]
  routes:
  - matchers: [{prefix: /ok}]
    routeAction: {single: {upstream: {name: a, namespace: gloo-system}}}
)");
  ASSERT_TRUE(rejection_logged("lost", "translation"));
  stop();
  auto r = get("vs");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lost = row(r.out, "lost");
  EXPECT_TRUE(has(lost, "Rejected")) << r.out;
  EXPECT_TRUE(has(lost, "lost.example.com")) << "the put-back form's domains: " << r.out;
  EXPECT_TRUE(has(row(r.out, "greeter"), "Accepted")) << r.out;
  auto yaml = get("vs lost -o yaml");
  EXPECT_TRUE(has(yaml.out, "state: Rejected")) << yaml.out;
  EXPECT_TRUE(has(yaml.out, "translation refused the change at seq")) << yaml.out;
  EXPECT_TRUE(has(yaml.out, "greeter.example.com")) << "the refusal names the domain: " << yaml.out;
}

TEST_F(GetCommandTest, OptionResourcesAreListedWithTheirOptions) {
  write("routeoptions/gloo-system/std.yaml",
        "metadata: {name: std, namespace: gloo-system}\noptions: {timeout: 3s, prefixRewrite: /}\n");
  inputs_ = 8;
  ASSERT_NO_FATAL_FAILURE(start());
  stop();
  auto r = get("rtopts");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out.substr(0, r.out.find('\n')), "OPTIONS")) << r.out;
  const auto std_row = row(r.out, "std");
  EXPECT_TRUE(has(std_row, "Accepted")) << r.out;
  EXPECT_TRUE(has(std_row, "prefixRewrite,timeout")) << r.out;
}

TEST_F(GetCommandTest, SecretsAreListedWithoutTheirKeys) {
  ASSERT_NO_FATAL_FAILURE(start());
  stop();
  auto table = get("secrets");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_TRUE(has(row(table.out, "tls"), "tls")) << table.out;
  EXPECT_FALSE(has(table.out, "STATUS")) << "Secrets carry no status";
  auto yaml = get("secret tls -o yaml");
  ASSERT_EQ(yaml.exit_code, 0) << yaml.err;
  EXPECT_TRUE(has(yaml.out, "not-a-real-chain")) << yaml.out;
  EXPECT_FALSE(has(yaml.out, "super-secret-key-material")) << yaml.out;
}

TEST_F(GetCommandTest, MistakesGetActionableErrors) {
  ASSERT_NO_FATAL_FAILURE(start());
  stop();
  auto unknown_kind = get("gadgets");
  EXPECT_EQ(unknown_kind.exit_code, 2);
  EXPECT_TRUE(has(unknown_kind.err, "unknown kind \"gadgets\"")) << unknown_kind.err;
  EXPECT_TRUE(has(unknown_kind.err, "virtualservices")) << unknown_kind.err;

  auto missing = get("vs nope");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(has(missing.err, "VirtualService \"nope\" not found")) << missing.err;

  auto wrong_role = get("xds gloo-system~nope -o json");
  EXPECT_EQ(wrong_role.exit_code, 1);
  EXPECT_TRUE(has(wrong_role.err, role)) << "lists the roles that exist: " << wrong_role.err;

  auto bad_output = get("vs -o xml");
  EXPECT_EQ(bad_output.exit_code, 2);

  const std::string command = "'" + sluice_binary + "' get vs --data-dir '"
                              + (dir_.path() / "no-such-dir").string() + "' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buffer[1024];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) {
    out.append(buffer, n);
  }
  const int status = pclose(pipe);
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_TRUE(has(out, "cannot read the sluice data directory")) << out;
  EXPECT_FALSE(fs::exists(dir_.path() / "no-such-dir")) << "a read must not create a store";
}

}  // namespace
}  // namespace sluice::cli
