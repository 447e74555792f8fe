#include "adapters/wasm_cache_server.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <httplib.h>
#include <openssl/sha.h>

#include "adapters/metrics_server.hpp"
#include "model/error.hpp"
#include "model/logging.hpp"

namespace sluice::adapters {

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * SHA256_DIGEST_LENGTH);
  for (unsigned char c : digest) {
    out += hex[c >> 4];
    out += hex[c & 0xf];
  }
  return out;
}

size_t index_artifact_values(const google::protobuf::Message& artifact,
                             std::map<std::string, std::string>& by_digest) {
  namespace pb = google::protobuf;
  const pb::Descriptor* d = artifact.GetDescriptor();
  const pb::Reflection* r = artifact.GetReflection();
  size_t seen = 0;
  // `data`: ConfigMap data (text). `binary_data`: ConfigMap binaryData (bytes), when the Artifact
  // type carries it. Any other shape under these names is not ours to read.
  for (const char* name : {"data", "binary_data"}) {
    const pb::FieldDescriptor* f = d->FindFieldByName(name);
    if (f == nullptr || !f->is_map()) {
      continue;
    }
    const pb::FieldDescriptor* key = f->message_type()->map_key();
    const pb::FieldDescriptor* value = f->message_type()->map_value();
    if (key->cpp_type() != pb::FieldDescriptor::CPPTYPE_STRING
        || value->cpp_type() != pb::FieldDescriptor::CPPTYPE_STRING) {
      continue;
    }
    const int n = r->FieldSize(artifact, f);
    for (int i = 0; i < n; ++i) {
      const pb::Message& entry = r->GetRepeatedMessage(artifact, f, i);
      std::string bytes = entry.GetReflection()->GetString(entry, value);
      std::string digest = sha256_hex(bytes);
      by_digest.emplace(std::move(digest), std::move(bytes));
      ++seen;
    }
  }
  return seen;
}

wasm_cache_server::wasm_cache_server(world_provider worlds)
    : worlds_(std::move(worlds)), server_(std::make_unique<httplib::Server>()) {
  auto handle = [this](const httplib::Request& req, httplib::Response& res) {
    auto bytes = lookup(req.matches[1]);
    if (!bytes) {
      res.status = 404;
      res.set_content("no artifact with this sha256\n", "text/plain");
      return;
    }
    res.set_header("ETag", "\"" + std::string(req.matches[1]) + "\"");
    res.set_content(std::move(*bytes), "application/octet-stream");
  };
  server_->Get(R"(/([0-9a-f]{64}))", handle);
}

wasm_cache_server::~wasm_cache_server() { stop(); }

std::optional<std::string> wasm_cache_server::lookup(const std::string& digest) {
  auto current = worlds_ ? worlds_() : nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  if (current != indexed_) {
    by_digest_.clear();
    if (current) {
      for (const auto& [_, r] : current->of(model::resource_kind::artifact)) {
        if (r.message) {
          index_artifact_values(*r.message, by_digest_);
        }
      }
    }
    indexed_ = current;
  }
  auto it = by_digest_.find(digest);
  if (it == by_digest_.end()) {
    return std::nullopt;
  }
  return it->second;
}

caf::expected<int> wasm_cache_server::start(const std::string& listen) {
  std::string host;
  int port = 0;
  if (!split_host_port(listen, host, port)) {
    return make_error(ec::invalid_argument, "wasm-cache address '" + listen + "' is not host:port");
  }
  int bound = port == 0 ? server_->bind_to_any_port(host)
                        : (server_->bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    return make_error(ec::invalid_argument, "cannot bind the wasm-cache port on " + listen);
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return bound;
}

void wasm_cache_server::stop() {
  if (server_) {
    server_->stop();
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

}  // namespace sluice::adapters
