#pragma once
/// The wasm-cache port (9979, the `gloo` Service's `wasm-cache` contract): content-addressed HTTP.
/// `GET /<sha256 hex>` answers the bytes of any Artifact data value whose SHA-256 is that digest
/// (Artifacts are ConfigMaps on Kubernetes, files in a directory), so Envoy's wasm filters can
/// fetch a module by the sha256 they are configured with; `HEAD` the same without a body. Any
/// other path or an unknown digest is 404.
///
/// What it does not do (Gloo's cache pulls OCI images from registries): it fetches nothing; a
/// module must be stored as an Artifact first.
///
/// Binary modules: a ConfigMap's `data` holds UTF-8 text only, so Kubernetes keeps binary values
/// in `binaryData` (base64 in the API object). The cache serves both: every value of the
/// Artifact's `data` map (text) and of its `binary_data` map (`map<string, bytes>`, JSON name
/// `binaryData`, base64 like Kubernetes) when the Artifact message has that field. The fields are
/// found by name through reflection, so the cache needs no change when the Artifact type gains
/// `binary_data`; until it does, `binaryData` never reaches the world and only `data` is served.
///
/// The digest index is rebuilt when the world changes (the provider returns a different world),
/// on the server's thread. Thread-safe.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "caf/expected.hpp"
#include "model/world.hpp"

namespace google::protobuf {
class Message;
}

namespace httplib {
class Server;
}

namespace sluice::adapters {

/// SHA-256 of `bytes` as 64 lower-case hex digits.
std::string sha256_hex(std::string_view bytes);

/// Adds every value of `artifact`'s `data` and `binary_data` maps (those of the two it has, with
/// string or bytes values) to `by_digest`, keyed by SHA-256; returns how many values it saw.
size_t index_artifact_values(const google::protobuf::Message& artifact,
                             std::map<std::string, std::string>& by_digest);

class wasm_cache_server {
 public:
  using world_provider = std::function<std::shared_ptr<const model::world>()>;

  explicit wasm_cache_server(world_provider worlds);
  ~wasm_cache_server();
  wasm_cache_server(const wasm_cache_server&) = delete;
  wasm_cache_server& operator=(const wasm_cache_server&) = delete;

  /// Binds `host:port` (port 0 picks one) and starts serving; returns the bound port.
  [[nodiscard]] caf::expected<int> start(const std::string& listen);
  void stop();

  /// The bytes stored under `digest` in the current world, or nullopt.
  std::optional<std::string> lookup(const std::string& digest);

 private:
  world_provider worlds_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::mutex mutex_;
  std::shared_ptr<const model::world> indexed_;
  std::map<std::string, std::string> by_digest_;  ///< sha256 hex -> bytes
};

}  // namespace sluice::adapters
