// The wasm cache (port 9979): content-addressed GET/HEAD of Artifact values, text (`data`, a
// ConfigMap's data) and binary (`binary_data`, a ConfigMap's binaryData).
//
// The cache reads `binary_data` by name, from any message type that has it. Most binary tests
// build their Artifact from a descriptor made here (Gloo's Artifact shape: `data` plus
// `map<string, bytes> binary_data = 8`, JSON name binaryData) to show that; the last one goes
// through sluice's own Artifact type (proto/solo/gloo.proto) and decoder.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <map>
#include <mutex>

#include "adapters/wasm_cache_server.hpp"
#include "model/error.hpp"
#include "model/resource_decoder.hpp"
#include "solo/gloo.pb.h"
#include "test/deploy/deploy_test_support.hpp"

namespace sluice::adapters {
namespace {

namespace pb = google::protobuf;

/// A module that is not UTF-8 (the wasm magic and version, a NUL, bytes >= 0x80), so it cannot
/// live in a ConfigMap's `data` or a proto3 string field.
std::string binary_module() {
  std::string bytes("\0asm\x01\0\0\0", 8);
  for (int i = 0; i < 512; ++i) {
    bytes += static_cast<char>((i * 37 + 0x80) & 0xff);
  }
  return bytes;
}

/// Gloo's Artifact with the binary map, in a pool of its own.
class binary_artifact_type {
 public:
  binary_artifact_type() {
    pb::FileDescriptorProto file;
    file.set_name("sluice_test_artifact.proto");
    file.set_package("sluice.test");
    file.set_syntax("proto3");
    auto* artifact = file.add_message_type();
    artifact->set_name("Artifact");
    auto map_field = [&](const std::string& name, const std::string& json, int number,
                         const std::string& entry_name, pb::FieldDescriptorProto::Type value) {
      auto* entry = artifact->add_nested_type();
      entry->set_name(entry_name);
      entry->mutable_options()->set_map_entry(true);
      auto* k = entry->add_field();
      k->set_name("key");
      k->set_number(1);
      k->set_label(pb::FieldDescriptorProto::LABEL_OPTIONAL);
      k->set_type(pb::FieldDescriptorProto::TYPE_STRING);
      auto* v = entry->add_field();
      v->set_name("value");
      v->set_number(2);
      v->set_label(pb::FieldDescriptorProto::LABEL_OPTIONAL);
      v->set_type(value);
      auto* f = artifact->add_field();
      f->set_name(name);
      f->set_json_name(json);
      f->set_number(number);
      f->set_label(pb::FieldDescriptorProto::LABEL_REPEATED);
      f->set_type(pb::FieldDescriptorProto::TYPE_MESSAGE);
      f->set_type_name(".sluice.test.Artifact." + entry_name);
    };
    map_field("data", "data", 1, "DataEntry", pb::FieldDescriptorProto::TYPE_STRING);
    map_field("binary_data", "binaryData", 8, "BinaryDataEntry",
              pb::FieldDescriptorProto::TYPE_BYTES);
    const pb::FileDescriptor* built = pool_.BuildFile(file);
    descriptor_ = built != nullptr ? built->FindMessageTypeByName("Artifact") : nullptr;
  }

  const pb::Descriptor* descriptor() const { return descriptor_; }

  /// An Artifact with these text and binary values.
  std::shared_ptr<const pb::Message> make(const std::map<std::string, std::string>& data,
                                          const std::map<std::string, std::string>& binary) {
    std::shared_ptr<pb::Message> m(factory_.GetPrototype(descriptor_)->New());
    const pb::Reflection* r = m->GetReflection();
    auto put = [&](const char* field, const std::map<std::string, std::string>& values) {
      const pb::FieldDescriptor* f = descriptor_->FindFieldByName(field);
      for (const auto& [key, value] : values) {
        pb::Message* entry = r->AddMessage(m.get(), f);
        entry->GetReflection()->SetString(entry, f->message_type()->map_key(), key);
        entry->GetReflection()->SetString(entry, f->message_type()->map_value(), value);
      }
    };
    put("data", data);
    put("binary_data", binary);
    return m;
  }

 private:
  pb::DescriptorPool pool_;
  pb::DynamicMessageFactory factory_{&pool_};
  const pb::Descriptor* descriptor_ = nullptr;
};

model::stored_resource artifact_resource(const std::string& ns, const std::string& name,
                                         std::shared_ptr<const pb::Message> message) {
  model::stored_resource s;
  s.key = model::resource_key{model::resource_kind::artifact, ns, name};
  s.message = std::move(message);
  s.content_hash = model::content_hash(model::canonical_bytes(*s.message));
  s.origin = "test";
  return s;
}

class WasmCacheServerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(type_.descriptor(), nullptr); }

  /// Starts a cache reading `current_` (tests swap it to move the world on).
  void start() {
    server_ = std::make_unique<wasm_cache_server>([this] {
      std::lock_guard lock(mu_);
      return current_;
    });
    auto port = server_->start("127.0.0.1:0");
    ASSERT_TRUE(port) << describe(port.error());
    port_ = *port;
  }

  void set_world(model::world w) {
    std::lock_guard lock(mu_);
    current_ = std::make_shared<const model::world>(std::move(w));
  }

  httplib::Result get(const std::string& path) {
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(5, 0);
    client.set_read_timeout(10, 0);
    return client.Get(path);
  }

  /// The HTTP status of a GET, or -1 when the request failed.
  int status_of(const std::string& path) {
    auto res = get(path);
    return res ? res->status : -1;
  }

  binary_artifact_type type_;
  std::mutex mu_;
  std::shared_ptr<const model::world> current_;
  std::unique_ptr<wasm_cache_server> server_;
  int port_ = 0;
};

TEST_F(WasmCacheServerTest, ServesBinaryDataByItsSha256) {
  const std::string module = binary_module();
  model::world w;
  w.put(artifact_resource(
      "apps", "filters",
      type_.make({{"README", "text next to the module"}}, {{"filter.wasm", module}})));
  set_world(std::move(w));
  start();

  auto res = get("/" + sha256_hex(module));
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body.size(), module.size());
  EXPECT_EQ(res->body, module) << "the bytes, not their base64 or a text re-encoding";
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/octet-stream");
  EXPECT_EQ(res->get_header_value("ETag"), "\"" + sha256_hex(module) + "\"");

  // The text value of the same Artifact is served too.
  auto text = get("/" + sha256_hex("text next to the module"));
  ASSERT_TRUE(text);
  EXPECT_EQ(text->status, 200);
  EXPECT_EQ(text->body, "text next to the module");
}

TEST_F(WasmCacheServerTest, HeadAnswersWithoutTheBody) {
  const std::string module = binary_module();
  model::world w;
  w.put(artifact_resource("apps", "filters", type_.make({}, {{"filter.wasm", module}})));
  set_world(std::move(w));
  start();
  httplib::Client client("127.0.0.1", port_);
  auto res = client.Head("/" + sha256_hex(module));
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(res->body.empty());
  auto missing = client.Head("/" + sha256_hex("nothing"));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST_F(WasmCacheServerTest, UnknownDigestsAndOtherPathsAreNotFound) {
  model::world w;
  w.put(artifact_resource("apps", "filters", type_.make({{"a", "x"}}, {{"b", binary_module()}})));
  set_world(std::move(w));
  start();
  auto unknown = get("/" + sha256_hex("not stored"));
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  auto upper = get("/" + std::string(64, 'A'));  // digests are lower-case hex
  ASSERT_TRUE(upper);
  EXPECT_EQ(upper->status, 404);
  auto by_name = get("/apps/filters/b");
  ASSERT_TRUE(by_name);
  EXPECT_EQ(by_name->status, 404);
}

TEST_F(WasmCacheServerTest, FollowsTheWorld) {
  const std::string v1 = binary_module();
  std::string v2 = v1;
  v2.back() = static_cast<char>(v2.back() ^ 0x5a);
  model::world first;
  first.put(artifact_resource("apps", "filters", type_.make({}, {{"filter.wasm", v1}})));
  set_world(first);
  start();
  ASSERT_EQ(status_of("/" + sha256_hex(v1)), 200);

  // The ConfigMap is updated: the new module is served, the old one is gone.
  model::world second;
  second.put(artifact_resource("apps", "filters", type_.make({}, {{"filter.wasm", v2}})));
  set_world(second);
  EXPECT_EQ(status_of("/" + sha256_hex(v2)), 200);
  EXPECT_EQ(status_of("/" + sha256_hex(v1)), 404);

  // Deleted: nothing is served.
  set_world(model::world{});
  EXPECT_EQ(status_of("/" + sha256_hex(v2)), 404);
}

TEST_F(WasmCacheServerTest, IndexesTheArtifactTypeSluiceDecodes) {
  // Today's Artifact (text `data`), decoded the way the Kubernetes source hands a ConfigMap
  // over, is indexed by the same code; a `binary_data` map is read when the type has one.
  model::world w;
  auto problems = test::add_yaml(w, R"yaml(
apiVersion: gloo.solo.io/v1
kind: Artifact
metadata: {name: filters, namespace: apps}
spec:
  data: {filter.wat: "(module)", other: "second value"}
)yaml");
  ASSERT_TRUE(problems.empty()) << problems.front();
  std::map<std::string, std::string> index;
  const auto* stored = w.find(model::resource_kind::artifact, "apps", "filters");
  ASSERT_NE(stored, nullptr);
  EXPECT_EQ(index_artifact_values(*stored->message, index), 2u);
  EXPECT_EQ(index.at(sha256_hex("(module)")), "(module)");
  EXPECT_EQ(index.at(sha256_hex("second value")), "second value");

  std::map<std::string, std::string> binary_index;
  auto m = type_.make({{"t", "text"}}, {{"b1", binary_module()}, {"b2", std::string("\xff", 1)}});
  EXPECT_EQ(index_artifact_values(*m, binary_index), 3u);
  EXPECT_EQ(binary_index.at(sha256_hex(std::string("\xff", 1))), std::string("\xff", 1));

  // A message with neither map contributes nothing (and does not crash).
  ::gloo::solo::io::Settings not_an_artifact;
  std::map<std::string, std::string> none;
  EXPECT_EQ(index_artifact_values(not_an_artifact, none), 0u);
  EXPECT_TRUE(none.empty());
}

TEST_F(WasmCacheServerTest, BinaryDataInAKubernetesFormArtifactFollowsTheArtifactType) {
  // `binaryData` is base64, as in a ConfigMap (and as proto3 JSON writes `bytes`): the decoder
  // turns it into the bytes, and the cache serves those, not their base64.
  const std::string encoded
      = "AGFzbQEAAAA=";  // "\0asm\x01\0\0\0": the wasm header, base64 as the API server sends it
  const std::string header("\0asm\x01\0\0\0", 8);
  const std::string text
      = "apiVersion: gloo.solo.io/v1\nkind: Artifact\nmetadata: {name: filters, "
        "namespace: apps}\nspec:\n  data: {README: text}\n  binaryData: {filter.wasm: "
        + encoded + "}\n";
  model::decode_context ctx{"configmap", std::nullopt, "apps"};
  auto decoded = model::decode_documents(text, ctx);
  ASSERT_TRUE(decoded.errors.empty()) << decoded.errors.front().to_string();
  ASSERT_EQ(decoded.resources.size(), 1u);
  const auto* artifact
      = dynamic_cast<const ::gloo::solo::io::Artifact*>(decoded.resources.front().message.get());
  ASSERT_NE(artifact, nullptr);
  ASSERT_EQ(artifact->binary_data().count("filter.wasm"), 1u);
  EXPECT_EQ(artifact->binary_data().at("filter.wasm"), header);
  std::map<std::string, std::string> index;
  EXPECT_EQ(index_artifact_values(*decoded.resources.front().message, index), 2u);
  EXPECT_EQ(index.at(sha256_hex(header)), header);
  EXPECT_EQ(index.count(sha256_hex(encoded)), 0u) << "the base64 text is not a value";

  // Served by the cache from a world holding that Artifact.
  model::world w;
  w.put(artifact_resource("apps", "filters", decoded.resources.front().message));
  set_world(std::move(w));
  start();
  auto res = get("/" + sha256_hex(header));
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, header);
}

}  // namespace
}  // namespace sluice::adapters
