#pragma once
/// The load clients of `sluice bench xds` in a process of their own, so that the server's CPU
/// and memory can be measured apart from the clients' (they share the machine's cores, not the
/// process). The benchmark starts `sluice bench xds --client-host` and drives it over its stdin
/// and stdout with one line per command:
///
///   connect PORT ROLE CLIENTS DELTA_CLIENTS  -> "ok"   clients bench-envoy-0.. connect
///   storm PORT SEED                          -> "ok"   each reconnects at a random moment in 1 s
///   stats                                    -> "stats RSS_MB CPU_S"
///   quit                                     -> (exits)
///
/// Anything else is answered with "error ...". ACKs are observed by the server, so no other
/// traffic is needed.

#include <sys/types.h>

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "caf/expected.hpp"

namespace sluice::bench {

/// Node id of load client `i` (the same in and out of process).
std::string load_client_node_id(size_t i);

/// Serves the commands above from `in`, answering on `out`, until "quit" or end of input.
int run_xds_client_host(std::istream& in, std::ostream& out);

/// Resident set size and CPU (user + system) of this process.
double process_rss_mb();
double process_cpu_s();

/// The parent's handle on a client host process.
class client_host_process {
 public:
  client_host_process() = default;
  ~client_host_process();
  client_host_process(const client_host_process&) = delete;
  client_host_process& operator=(const client_host_process&) = delete;

  /// Starts `argv` (argv[0] is the executable) with pipes on its stdin and stdout.
  [[nodiscard]] caf::error start(const std::vector<std::string>& argv);
  /// Sends one command line and returns the answer line (bounded wait).
  [[nodiscard]] caf::expected<std::string> call(const std::string& command);
  /// Sends "quit" and reaps the process; idempotent.
  void stop();

 private:
  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  std::string buffered_;
};

}  // namespace sluice::bench
