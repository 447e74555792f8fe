#include "bench/translate_engine.hpp"

#include "bench/workload.hpp"
#include "xds/incremental_translator.hpp"
#include "xds/world_translation.hpp"

namespace sluice::bench {

namespace {

double ms_since(bench_clock::time_point start) { return bench_clock::now().ms - start.ms; }

// Gloo's way and sluice's actors today: every publish re-translates the whole world.
class full_engine final : public translation_engine {
 public:
  std::string_view name() const override { return "full"; }

  void load(model::world w) override {
    world_ = std::move(w);
    publish();
  }

  void apply(const sluice::v1::Event& ev, uint64_t seq) override { apply_to(world_, ev, seq); }

  std::vector<std::string> publish() override {
    const auto start = bench_clock::now();
    auto t = xds::translate_world(world_);
    std::vector<std::string> changed;
    for (const auto& [key, snap] : t.snapshots) {
      auto i = snapshots_.find(key);
      if (i == snapshots_.end() || !same_versions(*i->second, *snap)) {
        changed.push_back(key);
      }
    }
    snapshots_ = std::move(t.snapshots);
    report_ = std::move(t.report);
    breakdown_.translate_ms += ms_since(start);
    return changed;
  }

  model::translation_report report() override { return report_; }
  model::translation_report report_for(std::set<model::resource_key> keys) override {
    auto r = model::translation_report::only(std::move(keys));
    r.merge(report_);
    return r;
  }

  void materialize(const std::vector<std::string>&) override {}

  std::map<std::string, xds::snapshot_ptr> snapshots() override { return snapshots_; }

  time_breakdown breakdown() const override { return breakdown_; }

 private:
  model::translation_report report_;
  static bool same_versions(const xds::snapshot& a, const xds::snapshot& b) {
    if (a.types.size() != b.types.size()) {
      return false;
    }
    for (const auto& [type, set] : a.types) {
      if (b.of(type).version != set.version) {
        return false;
      }
    }
    return true;
  }

  model::world world_;
  std::map<std::string, xds::snapshot_ptr> snapshots_;
  time_breakdown breakdown_;
};

// The incremental translator: only what the applied events affect is translated again.
class incremental_engine final : public translation_engine {
 public:
  std::string_view name() const override { return "incremental"; }

  void load(model::world w) override {
    translator_.reset(std::move(w));
    materialize(publish());
  }

  void apply(const sluice::v1::Event& ev, uint64_t seq) override {
    sluice::v1::Event copy = ev;
    copy.set_seq(seq);
    (void)translator_.apply(copy);
  }

  std::vector<std::string> publish() override {
    std::vector<std::string> keys;
    for (const auto& [key, change] : translator_.flush().changed) {
      keys.push_back(key);
    }
    return keys;
  }

  void materialize(const std::vector<std::string>& keys) override {
    for (const auto& key : keys) {
      (void)translator_.snapshot(key);
    }
  }

  std::map<std::string, xds::snapshot_ptr> snapshots() override {
    return translator_.snapshots();
  }

  model::translation_report report() override { return translator_.report(); }
  model::translation_report report_for(std::set<model::resource_key> keys) override {
    return translator_.report_for(std::move(keys));
  }

  time_breakdown breakdown() const override {
    const auto& s = translator_.stats();
    return time_breakdown{s.translate_ns / 1e6, s.assemble_ns / 1e6, s.hash_ns / 1e6};
  }

 private:
  xds::incremental_translator translator_;
};

}  // namespace

std::unique_ptr<translation_engine> make_engine(engine_kind kind) {
  switch (kind) {
    case engine_kind::full:
      return std::make_unique<full_engine>();
    case engine_kind::incremental:
      return std::make_unique<incremental_engine>();
  }
  return nullptr;
}

std::string_view name_of(engine_kind kind) {
  return kind == engine_kind::full ? "full" : "incremental";
}

}  // namespace sluice::bench
