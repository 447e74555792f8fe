// `sluice log [list|show SEQ|tail]`: the event log of a data directory, read through a read-only
// open, so it works on a stopped server's directory and on a running one's alike.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "actors/log_replayer.hpp"
#include "cli/commands.hpp"
#include "model/error.hpp"
#include "model/logging.hpp"
#include "store/event_log.hpp"

namespace sluice::cli {

namespace {

struct log_flags {
  std::string data_dir = ".sluice/data";
  std::string output = "table";
  uint64_t from = 0;
  uint64_t to = UINT64_MAX;
  std::string since;
  std::string until;
  std::string kind;
  std::string ns;
  std::string name;
  std::string source;
  size_t limit = 0;
  size_t lines = 10;
  bool follow = false;
  uint64_t seq = 0;
  std::chrono::milliseconds poll{500};
};

std::atomic<bool> interrupted{false};

void on_interrupt(int) { interrupted = true; }

caf::expected<std::unique_ptr<store::event_log>> open_read_only(const std::string& dir) {
  return store::event_log::open(store::event_log_options{dir, true, true});
}

caf::expected<actors::event_filter> make_filter(const log_flags& f) {
  actors::event_filter filter;
  filter.from = f.from;
  filter.to = f.to;
  filter.kind = f.kind;
  filter.ns = f.ns;
  filter.name = f.name;
  filter.source = f.source;
  filter.limit = f.limit;
  for (auto [text, slot] :
       {std::pair{&f.since, &filter.since_unix_ns}, std::pair{&f.until, &filter.until_unix_ns}}) {
    if (!text->empty()) {
      auto t = actors::parse_time(*text);
      if (!t) {
        return t.error();
      }
      *slot = *t;
    }
  }
  return filter;
}

/// "2024-05-01 14:02:03.123": the table's time column (UTC, milliseconds).
std::string short_time(int64_t unix_ns) {
  auto full = actors::format_time(unix_ns);
  if (full.size() < 23) {
    return full;
  }
  full[10] = ' ';
  return full.substr(0, 23);
}

std::string short_op(sluice::v1::EventOp op) {
  switch (op) {
    case sluice::v1::EVENT_OP_UPSERT:
      return "upsert";
    case sluice::v1::EVENT_OP_DELETE:
      return "delete";
    case sluice::v1::EVENT_OP_SOURCE_SYNCED:
      return "synced";
    default:
      return "?";
  }
}

std::string short_verdict(sluice::v1::Verdict v) {
  switch (v) {
    case sluice::v1::VERDICT_ACCEPTED:
      return "accepted";
    case sluice::v1::VERDICT_REJECTED:
      return "REJECTED";
    case sluice::v1::VERDICT_REVERTED:
      return "REVERTED";
    default:
      return "-";
  }
}

void print_header() {
  std::cout << fmt::format("{:>8}  {:<23}  {:<6}  {:<8}  {:<16}  {:<16}  {:<24}  {}\n", "SEQ",
                           "TIME (UTC)", "OP", "VERDICT", "KIND", "NAMESPACE", "NAME", "ORIGIN");
}

void print_row(const sluice::v1::Event& ev) {
  std::cout << fmt::format("{:>8}  {:<23}  {:<6}  {:<8}  {:<16}  {:<16}  {:<24}  {}\n", ev.seq(),
                           short_time(ev.time_unix_ns()), short_op(ev.op()),
                           short_verdict(ev.verdict()), ev.kind(),
                           ev.namespace_().empty() ? "-" : ev.namespace_(),
                           ev.name().empty() ? "-" : ev.name(), ev.origin());
}

int print_events(const std::vector<sluice::v1::Event>& events, const log_flags& f, bool header) {
  if (f.output == "json") {
    for (const auto& ev : events) {
      std::cout << actors::dump_json(actors::event_json(ev, false)) << "\n";
    }
    return 0;
  }
  if (header) {
    print_header();
  }
  for (const auto& ev : events) {
    print_row(ev);
  }
  return 0;
}

int fail(const caf::error& err) {
  std::cerr << "error: " << describe(err) << "\n";
  return 1;
}

int run_list(const log_flags& f) {
  auto log = open_read_only(f.data_dir);
  if (!log) {
    return fail(log.error());
  }
  auto filter = make_filter(f);
  if (!filter) {
    return fail(filter.error());
  }
  auto events = actors::select_events(**log, *filter);
  if (!events) {
    return fail(events.error());
  }
  return print_events(*events, f, true);
}

int run_show(const log_flags& f) {
  auto log = open_read_only(f.data_dir);
  if (!log) {
    return fail(log.error());
  }
  auto ev = (*log)->event(f.seq);
  if (!ev) {
    return fail(ev.error());
  }
  if (!*ev) {
    std::cerr << "error: the log at " << f.data_dir << " has no event seq " << f.seq
              << " (it holds seq " << (*log)->first_seq() << ".." << (*log)->last_seq() << ")\n";
    return 1;
  }
  auto body = actors::event_json(**ev, true);
  if (f.output == "json") {
    std::cout << actors::dump_json(body, 2) << "\n";
    return 0;
  }
  const auto& e = **ev;
  std::cout << "seq:       " << e.seq() << "\n"
            << "time:      " << actors::format_time(e.time_unix_ns()) << "\n"
            << "op:        " << short_op(e.op()) << "\n"
            << "verdict:   " << short_verdict(e.verdict()) << "\n"
            << "kind:      " << e.kind() << "\n"
            << "namespace: " << e.namespace_() << "\n"
            << "name:      " << e.name() << "\n"
            << "source:    " << e.source() << "\n"
            << "origin:    " << e.origin() << "\n"
            << "revision:  " << e.source_revision() << "\n"
            << "hash:      " << body["contentHash"].get<std::string>() << "\n";
  for (const auto& err : e.errors()) {
    std::cout << "error:     " << err << "\n";
  }
  if (body.contains("resource")) {
    std::cout << "resource:\n" << actors::to_yaml(body["resource"]);
  }
  if (!e.raw().empty()) {
    std::cout << "raw input:\n" << e.raw() << (e.raw().back() == '\n' ? "" : "\n");
  }
  return 0;
}

int run_tail(const log_flags& f) {
  auto filter = make_filter(f);
  if (!filter) {
    return fail(filter.error());
  }
  filter->limit = f.lines;
  filter->newest = true;
  uint64_t printed = 0;
  {
    auto log = open_read_only(f.data_dir);
    if (!log) {
      return fail(log.error());
    }
    auto events = actors::select_events(**log, *filter);
    if (!events) {
      return fail(events.error());
    }
    print_events(*events, f, true);
    printed = (*log)->last_seq();
  }
  if (!f.follow) {
    return 0;
  }
  signal(SIGINT, on_interrupt);
  signal(SIGTERM, on_interrupt);
  filter->limit = 0;
  filter->newest = false;
  while (!interrupted) {
    std::cout.flush();
    std::this_thread::sleep_for(f.poll);  // a read-only open is a point-in-time view: reopen
    auto log = open_read_only(f.data_dir);
    if (!log) {
      return fail(log.error());
    }
    if ((*log)->last_seq() <= printed) {
      continue;
    }
    filter->from = std::max(f.from, printed + 1);
    auto events = actors::select_events(**log, *filter);
    if (!events) {
      return fail(events.error());
    }
    print_events(*events, f, false);
    printed = (*log)->last_seq();
  }
  return 0;
}

}  // namespace

command_fn setup_log(CLI::App& app) {
  auto f = std::make_shared<log_flags>();
  app.add_option("--data-dir", f->data_dir, "the server's data directory (RocksDB event log)")
      ->capture_default_str();
  app.add_option("-o,--output", f->output, "table or json (one event per line)")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  app.add_option("--from", f->from, "first seq");
  app.add_option("--to", f->to, "last seq");
  app.add_option("--since", f->since, "first commit time (RFC 3339 or @unix-seconds)");
  app.add_option("--until", f->until, "last commit time (RFC 3339 or @unix-seconds)");
  app.add_option("--kind", f->kind, "only this kind (VirtualService, Upstream, ...)");
  app.add_option("-n,--namespace", f->ns, "only this namespace");
  app.add_option("--name", f->name, "only this resource name");
  app.add_option("--source", f->source, "only this source (directory, kubernetes, ...)");
  app.add_option("--limit", f->limit, "at most this many events (the oldest; 0: all)");
  app.require_subcommand(0, 1);
  auto* list = app.add_subcommand("list", "list events (the default)");
  list->fallthrough();
  auto* show = app.add_subcommand("show", "one event in full: resource, errors, raw input");
  show->add_option("seq", f->seq, "the event's seq")->required();
  show->fallthrough();
  auto* tail = app.add_subcommand("tail", "the newest events; -f keeps printing new ones");
  tail->add_option("--lines", f->lines, "how many of the newest events")->capture_default_str();
  tail->add_flag("-f,--follow", f->follow, "keep printing new events until interrupted");
  tail->fallthrough();
  return [f, show, tail] {
    log::set_level("warn");  // the store's open/close lines would mix with the output
    if (show->parsed()) {
      return run_show(*f);
    }
    if (tail->parsed()) {
      return run_tail(*f);
    }
    return run_list(*f);
  };
}

namespace {
const command_registration registration{
    "log", "list, show and tail events of an event log (works on a running server's data dir)",
    setup_log};
}  // namespace

}  // namespace sluice::cli
