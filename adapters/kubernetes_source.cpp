#include "adapters/kubernetes_source.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "model/error.hpp"
#include "model/logging.hpp"
#include "model/resource.hpp"

namespace sluice::adapters {
namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;
using op = model::source_event::op_t;

std::string str(const json& j, const char* field) {
  if (!j.is_object()) {
    return {};
  }
  auto it = j.find(field);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

const json& member(const json& j, const char* field) {
  static const json empty = json::object();
  if (!j.is_object()) {
    return empty;
  }
  auto it = j.find(field);
  return it != j.end() ? *it : empty;
}

// The metadata Gloo's Metadata carries; the rest (resourceVersion, uid, generation,
// managedFields, creationTimestamp, ...) is the server's bookkeeping and would make every write
// look like a change.
json gloo_metadata(const json& meta) {
  json out = json::object();
  for (const char* f : {"name", "namespace", "labels", "annotations", "ownerReferences"}) {
    if (auto it = meta.find(f); it != meta.end() && !it->is_null()) {
      out[f] = *it;
    }
  }
  return out;
}

bool feeds_discovery(kube_role role) {
  return role == kube_role::service || role == kube_role::endpoints
         || role == kube_role::endpointslice;
}

/// What the source remembers of one object it reported.
struct held_object {
  std::string rv;
  uint64_t hash = 0;        ///< of the bytes reported (or of the object, for discovery input)
  bool known_only = false;  ///< restored from the log: content unknown
  std::string ns;
  std::string name;
};

enum class outcome : uint8_t { ok, gone, failed, not_found, cancelled };

struct watch_unit {
  kube_collection coll;
  std::string ns;    ///< empty = all namespaces
  bool emit = true;  ///< false: read only for discovery (Upstreams when the kind is not selected)
  bool resumable = true;  ///< false for discovery inputs: they always list, cursors are useless
  std::string cursor_name;
  std::string rv;
  bool resumed = false;  ///< watching from a saved cursor without having listed
  bool counted_synced = false;
  bool late = false;              ///< added by a watched-namespace change after start
  bool listed_once = false;       ///< its first list is in (progress of a namespace change)
  std::atomic<bool> stop{false};  ///< retired by a namespace change
  bool resync_pending = false;
  steady::time_point resync_due{};
  std::map<std::string, held_object> held;  ///< by origin
  kubernetes_stream_control control;
  std::mt19937_64 rng;
  std::thread thread;
};

}  // namespace

std::string kube_collection::prefix() const {
  return group.empty() ? "api/" + version : "apis/" + group + "/" + version;
}

std::string kube_collection::path(const std::string& ns) const {
  return prefix() + (ns.empty() ? "" : "/namespaces/" + ns) + "/" + plural;
}

std::optional<kube_collection> collection_for(model::resource_kind kind) {
  switch (kind) {
    case model::resource_kind::secret:
      return kube_collection{"", "v1", "secrets", "Secret", kube_role::secret, kind};
    case model::resource_kind::artifact:
      return kube_collection{"", "v1", "configmaps", "ConfigMap", kube_role::configmap, kind};
    case model::resource_kind::endpoint:
    case model::resource_kind::service:  // discovery's Service watch emits them
      return std::nullopt;
    default: {
      const auto& k = model::info(kind);
      return kube_collection{std::string(k.group), std::string(k.version), std::string(k.plural),
                             std::string(k.name),  kube_role::gloo_crd,    kind};
    }
  }
}

class kubernetes_source::impl {
 public:
  impl(kubernetes_source_options options, sink out)
      : options_(std::move(options)), sink_(std::move(out)) {
    if (!options_.now) {
      options_.now = [] { return steady::now(); };
    }
  }

  // ---- setup

  std::vector<std::pair<kube_collection, bool>> selected() const {
    std::vector<std::pair<kube_collection, bool>> out;
    bool upstreams = false;
    for (auto kind : options_.kinds) {
      if (auto c = collection_for(kind)) {
        if (std::none_of(out.begin(), out.end(),
                         [&](const auto& e) { return e.first.path("") == c->path(""); })) {
          upstreams = upstreams || kind == model::resource_kind::upstream;
          out.emplace_back(std::move(*c), true);
        }
      }
    }
    if (options_.follow_settings && std::none_of(out.begin(), out.end(), [](const auto& e) {
          return e.first.gloo_kind == model::resource_kind::settings;
        })) {
      out.emplace_back(*collection_for(model::resource_kind::settings), false);
    }
    if (options_.discovery) {
      if (!upstreams) {
        out.emplace_back(*collection_for(model::resource_kind::upstream), false);
      }
      out.emplace_back(kube_collection{"", "v1", "services", "Service", kube_role::service, {}},
                       true);
      out.emplace_back(
          kube_collection{"", "v1", "endpoints", "Endpoints", kube_role::endpoints, {}}, true);
      out.emplace_back(kube_collection{"discovery.k8s.io",
                                       "v1",
                                       "endpointslices",
                                       "EndpointSlice",
                                       kube_role::endpointslice,
                                       {}},
                       true);
    }
    return out;
  }

  std::vector<std::string> namespaces() const { return namespaces(options_.watch_namespaces); }

  std::vector<std::string> namespaces(const std::vector<std::string>& wanted) const {
    std::set<std::string> set(wanted.begin(), wanted.end());
    set.erase("");
    if (set.empty()) {
      return {""};
    }
    if (!options_.write_namespace.empty()) {
      set.insert(options_.write_namespace);
    }
    set.erase("");
    return {set.begin(), set.end()};
  }

  static bool owns(const watch_unit& u, const std::string& origin) {
    const std::string head = u.coll.prefix() + "/namespaces/";
    if (origin.rfind(head, 0) != 0) {
      return false;
    }
    std::vector<std::string> parts;
    size_t i = head.size();
    while (i <= origin.size()) {
      size_t j = origin.find('/', i);
      if (j == std::string::npos) {
        j = origin.size();
      }
      parts.push_back(origin.substr(i, j - i));
      i = j + 1;
    }
    return parts.size() == 3 && parts[1] == u.coll.plural && !parts[2].empty()
           && (u.ns.empty() || parts[0] == u.ns);
  }

  std::unique_ptr<watch_unit> make_unit(const kube_collection& coll, bool emit,
                                        const std::string& ns, bool may_resume) {
    auto u = std::make_unique<watch_unit>();
    u->coll = coll;
    u->ns = ns;
    u->emit = emit;
    u->cursor_name = "kubernetes/" + coll.path(ns);
    u->rng.seed(seed_ + units_made_++);
    // Discovery needs every object of its inputs in memory, so those always list.
    const bool discovery_input
        = feeds_discovery(coll.role)
          || (options_.discovery && coll.gloo_kind == model::resource_kind::upstream);
    u->resumable = !discovery_input && emit;
    if (auto it = options_.resume.find(u->cursor_name);
        may_resume && it != options_.resume.end() && !it->second.empty() && u->resumable) {
      u->rv = it->second;
      u->resumed = true;
    }
    return u;
  }

  caf::expected<void> start() {
    if (!options_.client) {
      return make_error(ec::invalid_argument, "the Kubernetes source needs a client");
    }
    if (started_) {
      return {};
    }
    std::random_device rd;
    seed_ = options_.seed != 0 ? options_.seed : (uint64_t{rd()} << 32) ^ rd();
    std::lock_guard<std::mutex> units_lock(units_mutex_);
    watched_ = namespaces();
    {
      std::lock_guard<std::mutex> clock(cursor_mutex_);
      watched_mirror_ = watched_;
    }
    for (auto& [coll, emit] : selected()) {
      for (const auto& ns : watched_) {
        auto u = make_unit(coll, emit, ns, true);
        if (emit && !feeds_discovery(coll.role)) {
          for (const auto& origin : options_.known_origins) {
            if (owns(*u, origin)) {
              auto slash = origin.rfind('/');
              auto ns_at = origin.find("/namespaces/") + 12;
              held_object h;
              h.known_only = true;
              h.ns = origin.substr(ns_at, origin.find('/', ns_at) - ns_at);
              h.name = origin.substr(slash + 1);
              u->held.emplace(origin, std::move(h));
            }
          }
        }
        units_.push_back(std::move(u));
      }
    }
    if (units_.empty()) {
      return make_error(ec::invalid_argument, "the Kubernetes source has nothing to watch");
    }
    if (options_.discovery) {
      discovery_.emplace(options_.discovery_options);
      retire_discovery_origins();
    }
    pending_sync_ = units_.size();
    initial_units_ = units_.size();
    stopping_ = false;
    started_ = true;
    log::adapters()->info(
        "kubernetes source starting server={} collections={} namespaces={} resumed={} "
        "follow_settings={}",
        options_.client->server(), selected().size(), names_text(watched_),
        std::count_if(units_.begin(), units_.end(), [](const auto& u) { return u->resumed; }),
        options_.follow_settings);
    if (options_.follow_settings) {
      control_thread_ = std::thread([this] { control_loop(); });
    }
    for (auto& u : units_) {
      schedule_resync(*u);
      watch_unit* raw = u.get();
      u->thread = std::thread([this, raw] { run(*raw); });
    }
    return {};
  }

  static std::string names_text(const std::vector<std::string>& namespaces) {
    if (namespaces.size() == 1 && namespaces.front().empty()) {
      return "all";
    }
    std::string out = "[";
    for (const auto& ns : namespaces) {
      out += (out.size() > 1 ? "," : "") + ns;
    }
    return out + "]";
  }

  // In-memory discovered Upstreams an earlier run generated and this one does not: removed
  // before anything else is delivered, so an Upstream CRD of the same name (the discovery
  // leader's) is never refused as a second definition.
  void retire_discovery_origins() {
    if (options_.discovery_options.upstreams) {
      return;
    }
    const std::string head = "discovery/upstreams/";
    model::source_batch batch;
    for (const auto& origin : options_.known_discovery_origins) {
      if (origin.rfind(head, 0) != 0) {
        continue;
      }
      auto ns_end = origin.find('/', head.size());
      if (ns_end == std::string::npos || origin.compare(ns_end + 1, 9, "kube-svc:") == 0) {
        continue;  // Gloo's in-memory kube-svc: upstreams are still generated
      }
      model::source_event ev;
      ev.source = options_.discovery_options.source;
      ev.op = op::remove;
      ev.kind = model::resource_kind::upstream;
      ev.ns = origin.substr(head.size(), ns_end - head.size());
      ev.origin = origin;
      batch.push_back(std::move(ev));
    }
    if (!batch.empty()) {
      log::adapters()->info(
          "in-memory discovered upstreams retired, the upstream CRDs replace "
          "them count={}",
          batch.size());
      kubernetes_batch b;
      b.events = std::move(batch);
      sink_(std::move(b));  // no unit runs yet: nothing overlaps
    }
  }

  void stop() {
    stopping_ = true;
    {
      std::lock_guard<std::mutex> lock(sleep_mutex_);
      sleep_cv_.notify_all();
    }
    {
      std::lock_guard<std::mutex> lock(control_mutex_);
      control_cv_.notify_all();
    }
    if (control_thread_.joinable() && control_thread_.get_id() != std::this_thread::get_id()) {
      control_thread_.join();
    }
    std::lock_guard<std::mutex> units_lock(units_mutex_);
    for (auto& u : units_) {
      u->control.cancel();
    }
    for (auto& u : units_) {
      // From inside the sink the calling thread cannot join itself: it ends on its own and is
      // joined by a later stop() (the destructor's).
      if (u->thread.joinable() && u->thread.get_id() != std::this_thread::get_id()) {
        u->thread.join();
      }
    }
  }

  ~impl() {
    stop();
    if (control_thread_.joinable()) {
      control_thread_.detach();
    }
    for (auto& u : units_) {
      if (u->thread.joinable()) {
        u->thread.detach();  // destroyed from its own sink call: nothing else can join it
      }
    }
  }

  // ---- watched namespaces from Settings

  // Called with the Settings' watchNamespaces (delivery_mutex_ held): hands a change to the
  // control thread, which stops and starts watches (it may join unit threads; this one may not).
  void settings_namespaces(const std::vector<std::string>& wanted) {
    auto target = namespaces(wanted);
    std::lock_guard<std::mutex> lock(control_mutex_);
    if (target == requested_ || (!requested_set_ && target == watched_initial())) {
      return;
    }
    log::adapters()->info("kubernetes watch namespaces changing in settings from={} to={}",
                          names_text(requested_set_ ? requested_ : watched_initial()),
                          names_text(target));
    requested_ = std::move(target);
    requested_set_ = true;
    control_pending_ = true;
    control_cv_.notify_all();
  }

  std::vector<std::string> watched_initial() const { return namespaces(); }

  static std::vector<std::string> watch_namespaces_of(const json& settings) {
    std::vector<std::string> out;
    const json& list = member(member(settings, "spec"), "watchNamespaces");
    if (list.is_array()) {
      for (const auto& ns : list) {
        if (ns.is_string() && !ns.get<std::string>().empty()) {
          out.push_back(ns.get<std::string>());
        }
      }
    }
    return out;
  }

  bool is_followed_settings(const watch_unit& u, const std::string& ns,
                            const std::string& name) const {
    return options_.follow_settings && u.coll.gloo_kind == model::resource_kind::settings
           && ns == options_.write_namespace && name == options_.settings_name;
  }

  void control_loop() {
    while (true) {
      std::vector<std::string> target;
      {
        std::unique_lock<std::mutex> lock(control_mutex_);
        control_cv_.wait(lock, [&] { return stopping_.load() || control_pending_; });
        if (stopping_) {
          return;
        }
        target = requested_;
        control_pending_ = false;
      }
      reconfigure(target);
    }
  }

  void reconfigure(const std::vector<std::string>& target) {
    std::vector<std::unique_ptr<watch_unit>> retiring;
    std::vector<watch_unit*> fresh;
    std::vector<std::string> before;
    {
      std::lock_guard<std::mutex> units_lock(units_mutex_);
      if (stopping_ || target == watched_) {
        return;
      }
      before = watched_;
      std::set<std::string> keep(target.begin(), target.end());
      std::vector<std::unique_ptr<watch_unit>> kept;
      for (auto& u : units_) {
        (keep.count(u->ns) > 0 ? kept : retiring).push_back(std::move(u));
      }
      units_ = std::move(kept);
      for (auto& [coll, emit] : selected()) {
        for (const auto& ns : target) {
          const std::string path = coll.path(ns);
          if (std::any_of(units_.begin(), units_.end(),
                          [&](const auto& u) { return u->coll.path(u->ns) == path; })) {
            continue;
          }
          auto u = make_unit(coll, emit, ns, false);
          u->late = true;
          fresh.push_back(u.get());
          units_.push_back(std::move(u));
        }
      }
      watched_ = target;
      {
        std::lock_guard<std::mutex> clock(cursor_mutex_);
        watched_mirror_ = target;
      }
      for (auto& u : retiring) {
        u->stop = true;
        u->control.cancel();
      }
    }
    {
      std::lock_guard<std::mutex> lock(sleep_mutex_);
      sleep_cv_.notify_all();
    }
    log::adapters()->info(
        "kubernetes watch namespaces changing from={} to={} stopping={} "
        "starting={}",
        names_text(before), names_text(target), retiring.size(), fresh.size());
    for (auto& u : retiring) {
      if (u->thread.joinable()) {
        u->thread.join();
      }
    }
    {
      std::lock_guard<std::mutex> lock(delivery_mutex_);
      // New units count towards the initial sync when it is not in yet.
      for (auto* u : fresh) {
        if (pending_sync_ > 0) {
          ++pending_sync_;
        } else {
          u->counted_synced = true;
        }
      }
      late_pending_ += fresh.size();
      for (auto& old : retiring) {
        if (old->late && !old->listed_once && late_pending_ > 0) {
          --late_pending_;  // replaced before its first list: nothing to wait for
        }
      }
      // What a new unit will watch is handed over: its list then diffs against it, so an object
      // still in scope is neither removed nor re-added.
      std::map<std::string, size_t> removed_by_ns;
      for (auto& old : retiring) {
        for (auto it = old->held.begin(); it != old->held.end();) {
          auto to = std::find_if(fresh.begin(), fresh.end(), [&](watch_unit* u) {
            return u->coll.path("") == old->coll.path("") && owns(*u, it->first);
          });
          if (to != fresh.end()) {
            (*to)->held.insert(*it);
            it = old->held.erase(it);
          } else {
            ++it;
          }
        }
        model::source_batch batch;
        std::vector<std::string> origins;
        for (const auto& [origin, _] : old->held) {
          origins.push_back(origin);
        }
        for (const auto& origin : origins) {
          ++stats_.synthetic_removes;
          ++removed_by_ns[old->ns];
          remove_origin(*old, origin, "", batch);
        }
        kubernetes_batch b;
        b.events = std::move(batch);
        {
          std::lock_guard<std::mutex> clock(cursor_mutex_);
          cursors_.erase(old->cursor_name);
        }
        if (old->resumable) {
          // Cleared, so a later run that watches it again lists instead of resuming a watch
          // that missed everything meanwhile.
          b.cursors[old->cursor_name] = "";
          b.cursor_kind = old->coll.gloo_kind;
        }
        if (!old->counted_synced) {
          old->counted_synced = true;
          count_synced_locked(b);
        }
        if (!b.events.empty() || !b.cursors.empty()) {
          sink_(std::move(b));
        }
        forward_writer_synced_locked();
      }
      for (const auto& ns : before) {
        if (std::find(target.begin(), target.end(), ns) == target.end()) {
          log::adapters()->info("kubernetes stopped watching namespace={} removed={}",
                                ns.empty() ? "all" : ns, removed_by_ns[ns]);
        }
      }
      ++stats_.namespace_changes;
      if (fresh.empty()) {
        log::adapters()->info("kubernetes watch namespaces applied namespaces={}",
                              names_text(target));
      }
    }
    std::lock_guard<std::mutex> units_lock(units_mutex_);
    if (stopping_) {
      return;
    }
    for (auto* u : fresh) {
      schedule_resync(*u);
      u->thread = std::thread([this, u] { run(*u); });
    }
  }

  // ---- the per-collection loop

  void run(watch_unit& u) {
    int failures = 0;
    int gone_in_a_row = 0;
    while (!stopping_ && !u.stop) {
      if (options_.resync.count() > 0 && options_.now() >= u.resync_due) {
        u.resync_pending = true;  // anti-entropy: list and compare (reliability.md §1.3)
      }
      if (u.rv.empty() || u.resync_pending) {
        outcome o = relist(u);
        if (o == outcome::cancelled || stopping_ || u.stop) {
          return;
        }
        if (o != outcome::ok) {
          backoff(u, failures++);
          continue;
        }
      }
      bool accepted = false;
      outcome o = watch(u, accepted);
      if (accepted) {
        failures = 0;
      }
      switch (o) {
        case outcome::ok:
          gone_in_a_row = 0;
          break;
        case outcome::gone:
          // The watch fell out of the server's history: relist and diff (reliability.md §1.1).
          // A server that keeps answering 410 gets backed off like any failure.
          ++stats_.gone;
          log::adapters()->warn("kubernetes watch expired (410), relisting path={}",
                                u.coll.path(u.ns));
          u.rv.clear();
          if (gone_in_a_row++ > 0) {
            backoff(u, failures++);
          }
          break;
        case outcome::not_found:
          u.rv.clear();
          backoff(u, failures++);
          break;
        case outcome::failed:
          backoff(u, failures++);
          break;
        case outcome::cancelled:
          return;
      }
    }
  }

  void schedule_resync(watch_unit& u) {
    if (options_.resync.count() <= 0) {
      return;
    }
    std::uniform_real_distribution<double> jitter(0.9, 1.1);
    auto ms = static_cast<int64_t>(static_cast<double>(options_.resync.count()) * jitter(u.rng));
    u.resync_due = options_.now() + std::chrono::milliseconds(ms);
  }

  void backoff(watch_unit& u, int attempt) {
    ++stats_.errors;
    auto base = options_.backoff_initial.count() << std::min(attempt, 20);
    base = std::min<int64_t>(base, options_.backoff_max.count());
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    double factor = 1.0 - std::clamp(options_.backoff_jitter, 0.0, 1.0) * unit(u.rng);
    auto delay
        = std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(base) * factor));
    if (stopping_ || u.stop) {
      return;
    }
    if (options_.sleep) {
      options_.sleep(delay);
      return;
    }
    std::unique_lock<std::mutex> lock(sleep_mutex_);
    sleep_cv_.wait_for(lock, delay, [&] { return stopping_.load() || u.stop.load(); });
  }

  // ---- list

  outcome relist(watch_unit& u) {
    const std::string path = "/" + u.coll.path(u.ns);
    std::vector<json> items;
    std::string list_rv;
    std::string cont;
    bool restarted = false;
    while (true) {
      std::string target = path + "?limit=" + std::to_string(options_.page_size);
      if (!cont.empty()) {
        target += "&continue=" + url_encode(cont);
      }
      ++stats_.lists;
      auto r = options_.client->request("GET", target);
      if (stopping_ || u.stop) {
        return outcome::cancelled;
      }
      if (!r) {
        log::adapters()->warn("kubernetes list failed path={} error={}", path, describe(r.error()));
        return outcome::failed;
      }
      if (r->status == 410 && !cont.empty() && !restarted) {
        // The continue token expired mid-list: start the list over (once), as client-go does.
        ++stats_.gone;
        restarted = true;
        cont.clear();
        items.clear();
        continue;
      }
      if (r->status == 404) {
        if (!u.counted_synced || !u.held.empty()) {
          log::adapters()->warn(
              "kubernetes collection not found (is its CRD installed?) path={}; treated as "
              "empty, retrying",
              path);
        }
        apply_list(u, {}, "");
        return outcome::not_found;
      }
      if (r->status != 200) {
        log::adapters()->warn("kubernetes list failed path={} status={} message={}", path,
                              r->status, status_message(r->body));
        return outcome::failed;
      }
      try {
        json body = json::parse(r->body);
        for (auto& item : body.at("items")) {
          items.push_back(std::move(item));
        }
        const json& meta = member(body, "metadata");
        list_rv = str(meta, "resourceVersion");
        cont = str(meta, "continue");
      } catch (const json::exception& e) {
        log::adapters()->warn("kubernetes list answer is not a list path={} error={}", path,
                              e.what());
        return outcome::failed;
      }
      if (cont.empty()) {
        break;
      }
    }
    apply_list(u, items, list_rv);
    return outcome::ok;
  }

  // Diffs a complete list against what the unit holds and delivers the difference.
  void apply_list(watch_unit& u, const std::vector<json>& items, const std::string& list_rv) {
    std::lock_guard<std::mutex> lock(delivery_mutex_);
    if (u.stop) {
      return;  // retired by a namespace change: what it held is being removed
    }
    model::source_batch batch;
    std::set<std::string> seen;
    const bool counting = u.resync_pending;
    size_t corrections = 0;
    for (const auto& item : items) {
      try {
        auto origin = apply_object(u, item, batch, counting ? &corrections : nullptr);
        if (!origin.empty()) {
          seen.insert(origin);
        }
      } catch (const json::exception& e) {
        log::adapters()->warn("kubernetes object skipped path={} error={}", u.coll.path(u.ns),
                              e.what());
      }
    }
    std::vector<std::string> vanished;
    for (const auto& [origin, h] : u.held) {
      if (seen.count(origin) == 0) {
        vanished.push_back(origin);
      }
    }
    for (const auto& origin : vanished) {
      // Deleted while we were not watching: only the absence from the list tells.
      ++stats_.synthetic_removes;
      ++corrections;
      remove_origin(u, origin, list_rv, batch);
    }
    if (counting) {
      u.resync_pending = false;
      schedule_resync(u);
      if (corrections > 0) {
        stats_.resync_corrections += corrections;
        log::adapters()->warn("kubernetes resync found differences path={} count={}",
                              u.coll.path(u.ns), corrections);
      }
    }
    u.resumed = false;
    u.rv = list_rv;
    deliver_locked(u, std::move(batch), !list_rv.empty(), true);
  }

  // ---- watch

  outcome watch(watch_unit& u, bool& accepted) {
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    auto timeout = std::chrono::seconds(static_cast<int64_t>(
        static_cast<double>(options_.watch_timeout.count()) * (1.0 + unit(u.rng))));
    if (options_.resync.count() > 0) {
      auto left = std::chrono::duration_cast<std::chrono::seconds>(u.resync_due - options_.now());
      timeout = std::clamp(left, std::chrono::seconds(1), timeout);
    }
    const std::string path = "/" + u.coll.path(u.ns);
    const std::string target
        = path + "?watch=1&resourceVersion=" + url_encode(u.rv)
          + "&allowWatchBookmarks=true&timeoutSeconds=" + std::to_string(timeout.count());
    ++stats_.watches;
    outcome result = outcome::ok;
    auto r = options_.client->stream(
        target, timeout + std::chrono::seconds(30),
        [&](int status) {
          if (status != 200) {
            return;
          }
          accepted = true;
          if (u.resumed && !u.counted_synced) {
            std::lock_guard<std::mutex> lock(delivery_mutex_);
            deliver_locked(u, {}, false, true);
          }
        },
        [&](const std::vector<std::string_view>& lines) {
          std::lock_guard<std::mutex> lock(delivery_mutex_);
          if (u.stop) {
            return false;
          }
          model::source_batch batch;
          const std::string before = u.rv;
          bool go_on = true;
          for (auto line : lines) {
            go_on = apply_event(u, line, batch, result);
            if (!go_on) {
              break;
            }
          }
          deliver_locked(u, std::move(batch), u.rv != before, false);
          return go_on;
        },
        u.control);
    if (!r) {
      if (u.control.cancelled() || stopping_ || u.stop) {
        return outcome::cancelled;
      }
      log::adapters()->warn("kubernetes watch broke path={} error={}", path, describe(r.error()));
      return outcome::failed;
    }
    if (r->status == 410) {
      return outcome::gone;
    }
    if (r->status == 404) {
      return outcome::not_found;
    }
    if (r->status != 200) {
      log::adapters()->warn("kubernetes watch refused path={} status={} message={}", path,
                            r->status, status_message(r->body));
      return outcome::failed;
    }
    return result;
  }

  // One watch event. Returns false to end the stream (ERROR or garbage); `result` says why.
  bool apply_event(watch_unit& u, std::string_view line, model::source_batch& batch,
                   outcome& result) {
    json ev = json::parse(line, nullptr, false);
    if (ev.is_discarded() || !ev.is_object()) {
      log::adapters()->warn("kubernetes watch sent a line that is not JSON path={}",
                            u.coll.path(u.ns));
      result = outcome::failed;
      return false;
    }
    try {
      const std::string type = str(ev, "type");
      const json& object = member(ev, "object");
      const std::string rv = str(member(object, "metadata"), "resourceVersion");
      if (type == "ADDED" || type == "MODIFIED") {
        apply_object(u, object, batch, nullptr);
        u.rv = rv.empty() ? u.rv : rv;
      } else if (type == "DELETED") {
        const json& meta = member(object, "metadata");
        auto origin = origin_of(u.coll, str(meta, "namespace"), str(meta, "name"));
        if (u.held.count(origin) > 0) {
          remove_origin(u, origin, rv, batch);
        }
        u.rv = rv.empty() ? u.rv : rv;
      } else if (type == "BOOKMARK") {
        // Progress only: every change up to rv has been sent (KEP-956).
        ++stats_.bookmarks;
        u.rv = rv.empty() ? u.rv : rv;
      } else if (type == "ERROR") {
        const int code = object.value("code", 0);
        if (code == 410) {
          result = outcome::gone;
        } else {
          log::adapters()->warn("kubernetes watch error path={} code={} message={}",
                                u.coll.path(u.ns), code, str(object, "message"));
          result = outcome::failed;
        }
        return false;
      } else {
        log::adapters()->warn("kubernetes watch sent an unknown event type path={} type={}",
                              u.coll.path(u.ns), type);
      }
    } catch (const json::exception& e) {
      log::adapters()->warn("kubernetes watch event skipped path={} error={}", u.coll.path(u.ns),
                            e.what());
    }
    return true;
  }

  // ---- objects (delivery_mutex_ held)

  static std::string origin_of(const kube_collection& c, const std::string& ns,
                               const std::string& name) {
    return c.path(ns) + "/" + name;
  }

  struct converted {
    std::string bytes;
    bool ours = false;
  };

  static converted convert(const kube_collection& c, const json& obj) {
    const json& meta = member(obj, "metadata");
    switch (c.role) {
      case kube_role::gloo_crd: {
        json out{{"apiVersion", c.group + "/" + c.version},
                 {"kind", c.kind},
                 {"metadata", gloo_metadata(meta)}};
        if (auto spec = obj.find("spec"); spec != obj.end() && !spec->is_null()) {
          out["spec"] = *spec;
        }
        return {out.dump(), true};
      }
      case kube_role::secret: {
        if (str(obj, "type") != "kubernetes.io/tls") {
          return {};
        }
        json out{{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata", gloo_metadata(meta)},
                 {"type", "kubernetes.io/tls"}};
        if (auto data = obj.find("data"); data != obj.end() && !data->is_null()) {
          out["data"] = *data;
        }
        return {out.dump(), true};
      }
      case kube_role::configmap: {
        // Gloo's ConfigMap artifact client: the ConfigMap's data is the Artifact's data, and its
        // binaryData (base64 in the API, like proto3 JSON `bytes`) the Artifact's binaryData, so a
        // wasm module stored as a ConfigMap reaches the wasm cache byte for byte.
        json data = member(obj, "data");
        json spec{{"data", data.is_object() ? data : json::object()}};
        if (json binary = member(obj, "binaryData"); binary.is_object() && !binary.empty()) {
          spec["binaryData"] = std::move(binary);
        }
        json out{{"apiVersion", "gloo.solo.io/v1"},
                 {"kind", "Artifact"},
                 {"metadata", gloo_metadata(meta)},
                 {"spec", std::move(spec)}};
        return {out.dump(), true};
      }
      default:
        return {};
    }
  }

  // Applies an object from a list or an ADDED/MODIFIED event; returns its origin.
  std::string apply_object(watch_unit& u, const json& obj, model::source_batch& batch,
                           size_t* corrections) {
    const json& meta = member(obj, "metadata");
    const std::string ns = str(meta, "namespace");
    const std::string name = str(meta, "name");
    const std::string rv = str(meta, "resourceVersion");
    if (name.empty()) {
      return {};
    }
    const std::string origin = origin_of(u.coll, ns, name);
    auto held = u.held.find(origin);
    if (is_followed_settings(u, ns, name)) {
      settings_namespaces(watch_namespaces_of(obj));
    }
    if (options_.discovery_writer && u.coll.gloo_kind == model::resource_kind::upstream
        && ns == options_.write_namespace) {
      // Every version, even one only its status or resourceVersion tells apart: the writer's
      // next update must carry the newest resourceVersion.
      options_.discovery_writer->observe(name, obj);
    }

    if (feeds_discovery(u.coll.role)) {
      json copy = obj;
      copy["metadata"].erase("resourceVersion");
      copy["metadata"].erase("managedFields");
      uint64_t hash = model::content_hash(copy.dump());
      if (held != u.held.end() && held->second.hash == hash) {
        held->second.rv = rv;
        return origin;
      }
      u.held[origin] = held_object{rv, hash, false, ns, name};
      model::source_batch out;
      if (u.coll.role == kube_role::service) {
        out = discovery_->upsert_service(obj);
      } else if (u.coll.role == kube_role::endpoints) {
        out = discovery_->upsert_endpoints(obj);
      } else {
        out = discovery_->upsert_endpoint_slice(obj);
      }
      append(batch, std::move(out));
      forward_discovered();
      return origin;
    }

    converted c = convert(u.coll, obj);
    if (!c.ours) {
      if (held != u.held.end()) {
        remove_origin(u, origin, rv, batch);  // e.g. a Secret that is no longer TLS
      }
      return {};
    }
    const uint64_t hash = model::content_hash(c.bytes);
    if (held != u.held.end() && !held->second.known_only && held->second.hash == hash) {
      held->second.rv = rv;
      return origin;  // nothing sluice reads changed (a status write, a resync)
    }
    if (corrections != nullptr && held != u.held.end() && !held->second.known_only) {
      ++*corrections;
    }
    u.held[origin] = held_object{rv, hash, false, ns, name};
    if (u.emit) {
      model::source_event ev;
      ev.source = std::string(source_name);
      ev.op = op::upsert;
      ev.kind = u.coll.gloo_kind;
      ev.ns = ns;
      ev.origin = origin;
      ev.bytes = std::move(c.bytes);
      ev.revision = rv;
      batch.push_back(std::move(ev));
    }
    if (discovery_ && u.coll.gloo_kind == model::resource_kind::upstream) {
      append(batch, discovery_->upsert_upstream(obj));
    }
    return origin;
  }

  void remove_origin(watch_unit& u, const std::string& origin, const std::string& rv,
                     model::source_batch& batch) {
    auto it = u.held.find(origin);
    if (it == u.held.end()) {
      return;
    }
    const held_object h = it->second;
    u.held.erase(it);
    switch (u.coll.role) {
      case kube_role::service:
        append(batch, discovery_->remove_service(h.ns, h.name));
        forward_discovered();
        return;
      case kube_role::endpoints:
        append(batch, discovery_->remove_endpoints(h.ns, h.name));
        return;
      case kube_role::endpointslice:
        append(batch, discovery_->remove_endpoint_slice(h.ns, h.name));
        return;
      default:
        break;
    }
    if (is_followed_settings(u, h.ns, h.name)) {
      settings_namespaces({});  // no Settings: every namespace, as at start
    }
    if (options_.discovery_writer && u.coll.gloo_kind == model::resource_kind::upstream
        && h.ns == options_.write_namespace) {
      options_.discovery_writer->observe(h.name, json());
    }
    if (u.emit) {
      model::source_event ev;
      ev.source = std::string(source_name);
      ev.op = op::remove;
      ev.kind = u.coll.gloo_kind;
      ev.ns = h.ns;
      ev.origin = origin;
      ev.revision = rv;
      batch.push_back(std::move(ev));
    }
    if (discovery_ && u.coll.gloo_kind == model::resource_kind::upstream) {
      append(batch, discovery_->remove_upstream(h.ns, h.name));
    }
  }

  // Hands what changed in the desired discovered Upstreams to the writer.
  void forward_discovered() {
    if (!options_.discovery_writer || !discovery_) {
      return;
    }
    for (auto& [name, upstream] : discovery_->take_discovered_changes()) {
      options_.discovery_writer->desire(name, upstream);
    }
  }

  static void append(model::source_batch& into, model::source_batch more) {
    into.insert(into.end(), std::make_move_iterator(more.begin()),
                std::make_move_iterator(more.end()));
  }

  // Delivers a batch (delivery_mutex_ held); `initial` marks the unit's initial list (or
  // accepted resumed watch) as in, and the last one adds the synced events.
  void deliver_locked(watch_unit& u, model::source_batch events, bool cursor_changed,
                      bool initial) {
    kubernetes_batch b;
    b.events = std::move(events);
    if (cursor_changed && !u.rv.empty()) {
      std::lock_guard<std::mutex> lock(cursor_mutex_);
      cursors_[u.cursor_name] = u.rv;
      if (u.resumable) {
        b.cursors[u.cursor_name] = u.rv;
        b.cursor_kind = u.coll.gloo_kind;
      }
    }
    if (initial && !u.counted_synced) {
      u.counted_synced = true;
      any_resumed_ = any_resumed_ || u.resumed;
      count_synced_locked(b);
    }
    if (!b.events.empty() || !b.cursors.empty()) {
      sink_(std::move(b));
    }
    forward_writer_synced_locked();
    if (initial && u.late && !u.listed_once) {
      u.listed_once = true;
      log::adapters()->debug("kubernetes collection listed after a namespace change path={}",
                             u.coll.path(u.ns));
      if (late_pending_ > 0 && --late_pending_ == 0) {
        log::adapters()->info("kubernetes watch namespaces applied namespaces={}",
                              names_text(watched_namespaces_locked_copy()));
      }
    }
  }

  // One unit's initial list is in; the last one adds the synced events to `b`.
  void count_synced_locked(kubernetes_batch& b) {
    if (pending_sync_ == 0 || --pending_sync_ > 0) {
      return;
    }
    model::source_event s;
    s.source = std::string(source_name);
    s.op = op::synced;
    s.revision = any_resumed_ ? "resumed" : "listed";
    b.events.push_back(s);
    // Discovery syncs too when it is off: it listed nothing, so what an earlier run with
    // discovery logged (Services, Endpoints, in-memory upstreams) is swept, not kept stale.
    s.source = options_.discovery_options.source;
    s.revision = "listed";
    b.events.push_back(std::move(s));
    synced_pending_log_ = true;
  }

  // After the sink got the synced events: tell waiters and the discovery writer.
  void forward_writer_synced_locked() {
    if (!synced_pending_log_) {
      return;
    }
    synced_pending_log_ = false;
    log::adapters()->info("kubernetes source synced collections={} resumed={}", initial_units_,
                          any_resumed_);
    if (options_.discovery_writer) {
      options_.discovery_writer->synced();
    }
    std::lock_guard<std::mutex> lock(synced_mutex_);
    synced_ = true;
    synced_cv_.notify_all();
  }

  // The namespaces last applied, from under the delivery lock (the control thread writes them
  // under units_mutex_ and mirrors them here).
  std::vector<std::string> watched_namespaces_locked_copy() {
    std::lock_guard<std::mutex> lock(cursor_mutex_);
    return watched_mirror_;
  }

  static std::string status_message(const std::string& body) {
    json j = json::parse(body, nullptr, false);
    if (j.is_object()) {
      if (auto m = str(j, "message"); !m.empty()) {
        return m;
      }
    }
    return body.substr(0, 200);
  }

  struct atomic_counters {
    std::atomic<uint64_t> lists{0}, watches{0}, gone{0}, synthetic_removes{0},
        resync_corrections{0}, errors{0}, bookmarks{0}, namespace_changes{0};
  };

  kubernetes_source_options options_;
  sink sink_;
  mutable std::mutex units_mutex_;  ///< units_ and watched_ (before delivery_mutex_, never after)
  std::vector<std::unique_ptr<watch_unit>> units_;
  std::vector<std::string> watched_;  ///< namespaces watched now ({""} = all)
  uint64_t seed_ = 0;
  size_t units_made_ = 0;
  size_t initial_units_ = 0;
  bool started_ = false;

  // Settings-driven namespace changes: requested by the Settings unit, applied by control_thread_.
  std::mutex control_mutex_;
  std::condition_variable control_cv_;
  std::thread control_thread_;
  std::vector<std::string> requested_;
  bool requested_set_ = false;
  bool control_pending_ = false;
  size_t late_pending_ = 0;          ///< new units whose first list is not in (delivery_mutex_)
  bool synced_pending_log_ = false;  ///< synced events went into a batch (delivery_mutex_)
  std::atomic<bool> stopping_{false};
  std::mutex sleep_mutex_;
  std::condition_variable sleep_cv_;

  mutable std::mutex delivery_mutex_;  ///< sink calls, discovery, sync counting
  mutable std::mutex cursor_mutex_;    ///< cursors_, watched_mirror_ (readable from the sink)
  std::map<std::string, std::string> cursors_;
  std::vector<std::string> watched_mirror_;
  size_t pending_sync_ = 0;
  bool any_resumed_ = false;
  std::optional<kubernetes_discovery> discovery_;

  mutable std::mutex synced_mutex_;
  mutable std::condition_variable synced_cv_;
  bool synced_ = false;

  atomic_counters stats_;
};

kubernetes_source::kubernetes_source(kubernetes_source_options options, sink out)
    : impl_(std::make_unique<impl>(std::move(options), std::move(out))) {}

kubernetes_source::~kubernetes_source() { stop(); }

caf::expected<void> kubernetes_source::start() { return impl_->start(); }

void kubernetes_source::stop() { impl_->stop(); }

bool kubernetes_source::wait_synced(std::chrono::milliseconds bound) const {
  std::unique_lock<std::mutex> lock(impl_->synced_mutex_);
  return impl_->synced_cv_.wait_for(lock, bound, [&] { return impl_->synced_; });
}

std::map<std::string, std::string> kubernetes_source::cursors() const {
  std::lock_guard<std::mutex> lock(impl_->cursor_mutex_);
  return impl_->cursors_;
}

kubernetes_source::counters kubernetes_source::stats() const {
  const auto& s = impl_->stats_;
  return counters{s.lists.load(),
                  s.watches.load(),
                  s.gone.load(),
                  s.synthetic_removes.load(),
                  s.resync_corrections.load(),
                  s.errors.load(),
                  s.bookmarks.load(),
                  s.namespace_changes.load()};
}

std::vector<std::string> kubernetes_source::watched_namespaces() const {
  std::lock_guard<std::mutex> lock(impl_->cursor_mutex_);
  return impl_->watched_mirror_;
}

std::vector<kube_collection> kubernetes_source::collections() const {
  std::vector<kube_collection> out;
  for (auto& [c, _] : impl_->selected()) {
    out.push_back(c);
  }
  return out;
}

}  // namespace sluice::adapters
