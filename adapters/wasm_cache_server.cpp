#include "adapters/wasm_cache_server.hpp"

#include <httplib.h>
#include <openssl/sha.h>

#include "adapters/metrics_server.hpp"
#include "model/error.hpp"
#include "model/logging.hpp"
#include "solo/gloo.pb.h"

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
        const auto* a = static_cast<const ::gloo::solo::io::Artifact*>(r.message.get());
        for (const auto& [key, value] : a->data()) {
          by_digest_.emplace(sha256_hex(value), value);
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
