#pragma once
/// The validation engine: dry-runs one proposed change (create / replace / delete of a resource,
/// or the deletion of a whole namespace) against the configuration the server holds, and says
/// whether it may be stored. The admission webhook (adapters/validation_webhook) and the gRPC
/// validation service (xds/validation_service) both ask it, so they agree.
///
/// The check follows Gloo's validator (reference gloo.md §3.6): decode and validate the candidate,
/// apply it to a copy of the current world, translate every proxy, and compare with the
/// translation of the world as it is. Unlike Gloo, which rejects when *any* error is present
/// (and so disables itself once one invalid resource is stored), only problems that the change
/// *introduces* count: an unrelated broken resource does not block every other write. Each new
/// problem names the resource it is reported on, which need not be the changed one (a
/// VirtualService that takes a domain already served breaks the other VirtualService too).
///
/// Policy comes from the Settings resource (`gateway.validation.alwaysAccept`, `allowWarnings`),
/// read live from the world. Gloo's Helm chart defaults to alwaysAccept; sluice's default rejects.
///
/// Kubernetes admits writes before they reach the store, so the world lags behind what was just
/// accepted: two VirtualServices claiming one domain in quick succession would both pass against
/// the same stale world. Like Gloo, the engine remembers every change it accepted for real (not dry
/// run) and applies it on top of the world until the world shows it, or a short time passes (the
/// write may have failed after admission).
///
/// Thread-safe: calls are serialized (each translates the whole world; the baseline translation
/// is cached until the world or the remembered changes move).

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "model/gateway_translator.hpp"
#include "model/resource.hpp"
#include "model/resource_decoder.hpp"
#include "model/world.hpp"
#include "xds/proxy_translator.hpp"
#include "xds/world_translation.hpp"

namespace sluice::xds {

/// One change a client proposes.
struct proposed_change {
  enum class op_t { upsert, remove, remove_namespace };
  op_t op = op_t::upsert;
  /// upsert: the resource as YAML or JSON, Kubernetes form or Gloo's flat form.
  std::string object;
  /// remove: the resource's kind (Gloo's kind name, plural or short name), namespace and name.
  /// remove_namespace: `ns` only. upsert: `kind` is the kind of a flat-form object and `ns` the
  /// namespace used when its metadata names none.
  std::string kind;
  std::string ns;
  std::string name;
  /// The caller will not store the change (Kubernetes dryRun): it is not remembered.
  bool dry_run = false;
  /// Prefix decode problems with the line and column in `object` (useful when a person wrote the
  /// text; meaningless for JSON that a program re-serialized).
  bool report_lines = false;
};

/// One problem, on the resource it is reported against (none for problems with the request).
struct validation_problem {
  std::optional<model::resource_key> resource;
  std::string message;

  /// "VirtualService gloo-system.petstore: message".
  std::string to_string() const;
  bool operator==(const validation_problem&) const = default;
};

struct validation_verdict {
  /// The answer under the policy in force.
  bool allowed = false;
  /// No new error (and no new warning when warnings are not allowed).
  bool valid = false;
  /// The object is of a kind sluice does not read (e.g. a core Secret that is not
  /// kubernetes.io/tls): allowed without a check.
  bool ignored = false;
  /// The resource the change is about, when known.
  std::optional<model::resource_key> resource;
  /// One paragraph a person can act on; empty when the change is valid.
  std::string message;
  /// New problems, the changed resource's own first.
  std::vector<validation_problem> errors;
  std::vector<validation_problem> warnings;
  /// Snapshot keys (roles "<ns>~<proxy>", or "proxyless") whose served content would change.
  std::vector<std::string> affected_proxies;
};

/// Settings gateway.validation, as sluice reads it.
struct validation_policy {
  /// Accept every change; what would have been rejected is logged and returned as warnings.
  bool always_accept = false;
  /// Accept changes that introduce warnings only (Gloo's default, kept).
  bool allow_warnings = true;
};

/// The policy from the Settings resource `ns`/`name` in `w` (defaults when absent).
[[nodiscard]] validation_policy policy_from_settings(const model::world& w, const std::string& ns,
                                                     const std::string& name);

struct validation_engine_options {
  /// The Settings resource the policy is read from.
  std::string settings_namespace = "gloo-system";
  std::string settings_name = "default";
  /// When set, wins over Settings (e.g. a command-line flag).
  std::optional<validation_policy> policy_override;
  /// Must be the options the server translates with, or verdicts would not match what is served.
  model::gateway_translation_options gateway;
  envoy_translation_options envoy;
  model::decode_limits limits;
  /// How long an accepted change is applied on top of a world that does not show it yet.
  std::chrono::milliseconds remember_admitted{std::chrono::seconds(30)};
  /// At most this many problems are spelled out in `message` (all are in the lists).
  size_t max_problems_in_message = 8;
};

/// The current world, or nullptr while the server has not finished its first sync.
using world_provider = std::function<std::shared_ptr<const model::world>()>;

class validation_engine {
 public:
  using clock_fn = std::function<std::chrono::steady_clock::time_point()>;

  explicit validation_engine(world_provider worlds, validation_engine_options options = {},
                             clock_fn clock = &std::chrono::steady_clock::now);

  [[nodiscard]] validation_verdict validate(const proposed_change& change);

 private:
  struct remembered {
    std::optional<model::stored_resource> resource;  ///< nullopt: a deletion
    std::chrono::steady_clock::time_point expires;
  };
  struct baseline {
    std::shared_ptr<const model::world> source;
    uint64_t remembered_generation = 0;
    std::shared_ptr<const model::world> world;  ///< source plus what is remembered
    std::shared_ptr<const world_translation> translation;
  };

  /// The world with remembered changes applied, translated; cached.
  const baseline& baseline_for(const std::shared_ptr<const model::world>& current);
  void forget_reflected(const model::world& current);

  world_provider worlds_;
  validation_engine_options options_;
  clock_fn clock_;
  std::mutex mutex_;
  std::map<model::resource_key, remembered> remembered_;
  uint64_t remembered_generation_ = 0;
  uint64_t admitted_seq_ = 0;  ///< sequence number given to the last remembered candidate
  std::optional<baseline> baseline_;
};

}  // namespace sluice::xds
