#pragma once
/// The validation engine on the example configuration (examples/gateway), shared by the engine
/// and option-kind tests: an engine that reads `current_` (tests swap it to move the world on),
/// a fixed clock, and builders for proposed changes.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "model/world.hpp"
#include "test/deploy/deploy_test_support.hpp"
#include "xds/validation_engine.hpp"

namespace sluice::test {

class validation_engine_fixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto problems = load_world(source_dir() + "/examples/gateway", base_);
    ASSERT_TRUE(problems.empty()) << problems.front();
    current_ = std::make_shared<const model::world>(base_);
  }

  /// An engine reading `current_`.
  std::unique_ptr<xds::validation_engine> engine(xds::validation_engine_options options = {}) {
    return std::make_unique<xds::validation_engine>([this] { return current_; },
                                                    std::move(options), [this] { return now_; });
  }

  void set_world(model::world w) { current_ = std::make_shared<const model::world>(std::move(w)); }

  static xds::proposed_change upsert(std::string text, bool dry_run = true) {
    xds::proposed_change c;
    c.op = xds::proposed_change::op_t::upsert;
    c.object = std::move(text);
    c.dry_run = dry_run;
    return c;
  }

  static xds::proposed_change remove(std::string kind, std::string ns, std::string name) {
    xds::proposed_change c;
    c.op = xds::proposed_change::op_t::remove;
    c.kind = std::move(kind);
    c.ns = std::move(ns);
    c.name = std::move(name);
    c.dry_run = true;
    return c;
  }

  model::world base_;
  std::shared_ptr<const model::world> current_;
  std::chrono::steady_clock::time_point now_{std::chrono::hours(1)};
};

}  // namespace sluice::test
