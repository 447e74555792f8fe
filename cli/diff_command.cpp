// `sluice diff --data-dir D --from A --to B [--role R] [-o table|json]`: the Envoy resources each
// role gained, lost or saw change between two points of the event log (seqs or times), a
// field-level diff of each, and the events that caused it (attribution: actors/log_replayer.hpp).
#include <iostream>

#include <fmt/format.h>

#include "actors/log_replayer.hpp"
#include "cli/commands.hpp"
#include "model/error.hpp"
#include "model/logging.hpp"
#include "store/event_log.hpp"

namespace sluice::cli {

namespace {

struct diff_flags {
  std::string data_dir = ".sluice/data";
  std::string from;
  std::string to = "head";
  std::string role;
  std::string output = "table";
};

int fail(const caf::error& err) {
  std::cerr << "error: " << describe(err) << "\n";
  return 1;
}

/// "RouteConfiguration" from its type URL.
std::string short_type(const std::string& type_url) {
  auto dot = type_url.rfind('.');
  return dot == std::string::npos ? type_url : type_url.substr(dot + 1);
}

std::string short_version(const std::string& v) { return v.empty() ? "-" : v.substr(0, 12); }

std::string op_name(const sluice::v1::Event& ev) {
  return ev.op() == sluice::v1::EVENT_OP_DELETE ? "delete" : "upsert";
}

void print_table(const actors::log_diff& d) {
  std::cout << fmt::format("diff from seq {} ({}) to seq {} ({})\n", d.from_seq,
                           actors::format_time(d.from_time_unix_ns), d.to_seq,
                           actors::format_time(d.to_time_unix_ns));
  if (d.changes.empty()) {
    std::cout << "no Envoy resource changed\n";
  }
  std::string role;
  for (const auto& c : d.changes) {
    if (c.role != role) {
      role = c.role;
      std::cout << "\nrole " << role << "\n";
      for (const auto& [type, versions] : d.versions.at(role)) {
        if (versions.first != versions.second) {
          std::cout << fmt::format("  {} version {} -> {}\n", short_type(type),
                                   short_version(versions.first), short_version(versions.second));
        }
      }
    }
    std::cout << fmt::format("  {} {} {} ({} -> {})\n", actors::change_kind_name(c.kind),
                             short_type(c.type_url), c.name, short_version(c.from_version),
                             short_version(c.to_version));
    for (const auto& f : c.fields) {
      std::cout << fmt::format("      {}: {} -> {}\n", f.path, f.from.empty() ? "(none)" : f.from,
                               f.to.empty() ? "(none)" : f.to);
    }
    if (c.causes.empty()) {
      std::cout << "    caused by: no event between the points touched its inputs\n";
    } else {
      std::cout << "    caused by:\n";
    }
    for (auto seq : c.causes) {
      const auto& ev = d.causes.at(seq);
      std::cout << fmt::format("      seq {} {} {} {} {}.{} ({})\n", seq,
                               actors::format_time(ev.time_unix_ns()), op_name(ev), ev.kind(),
                               ev.namespace_(), ev.name(), ev.origin());
    }
  }
  if (!d.publishes.empty()) {
    std::cout << "\npublished between the points (recorded):\n";
    for (const auto& p : d.publishes) {
      std::cout << fmt::format("  watermark {} {} {} {}\n", p.watermark_seq(), p.role(),
                               short_type(p.type_url()), short_version(p.version()));
    }
  }
}

int run_diff(const diff_flags& f) {
  log::set_level("warn");
  auto log = store::event_log::open(store::event_log_options{f.data_dir, true, true});
  if (!log) {
    return fail(log.error());
  }
  auto from = actors::resolve_point(**log, f.from);
  if (!from) {
    return fail(from.error());
  }
  auto to = actors::resolve_point(**log, f.to);
  if (!to) {
    return fail(to.error());
  }
  auto d = actors::log_replayer{**log}.diff(*from, *to, f.role);
  if (!d) {
    return fail(d.error());
  }
  if (f.output == "json") {
    std::cout << actors::dump_json(actors::diff_json(*d), 2) << "\n";
  } else {
    print_table(*d);
  }
  return 0;
}

}  // namespace

command_fn setup_diff(CLI::App& app) {
  auto f = std::make_shared<diff_flags>();
  app.add_option("--data-dir", f->data_dir, "the server's data directory (RocksDB event log)")
      ->capture_default_str();
  app.add_option("--from", f->from, "first point: a seq, or a time (RFC 3339 or @unix-seconds)")
      ->required();
  app.add_option("--to", f->to, "second point: a seq, a time, or head")->capture_default_str();
  app.add_option("--role", f->role, "only this role (namespace~proxy-name, or 'proxyless')");
  app.add_option("-o,--output", f->output, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  return [f] { return run_diff(*f); };
}

namespace {
const command_registration registration{
    "diff",
    "Envoy resources changed between two points of the event log, and the events that caused it",
    setup_diff};
}  // namespace

}  // namespace sluice::cli
