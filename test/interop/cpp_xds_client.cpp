// cpp_xds_client: the gRPC C++ (Debian libgrpc++ 1.51) interop peer.
//
//   cpp_xds_client --target xds:///NAME --calls N [--header k=v]... [--interval-ms X]
//                  [--deadline-ms D]
//
// Calls sluice.interop.Greeter/SayHello N times over one channel and prints, one line per call,
// "ok <backend label>" or "error <numeric status code> <message>", then a tally line
// "tally calls=N ok=K errors=E backends=A:7,B:3". Exit status 0 when every call succeeded, 1 when
// some failed, 2 on bad usage. An xds:/// target reads GRPC_XDS_BOOTSTRAP from the environment
// (gRPC does that itself); any other target (dns:///127.0.0.1:P) talks to a backend directly, which
// is how the client is checked without a control plane. node_xds_client.js has the same interface.
#include <grpcpp/grpcpp.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "test/interop/proto/greeter.grpc.pb.h"

namespace sluice::interop {
namespace {

struct client_options {
  std::string target;
  long calls = 0;
  long interval_ms = 0;
  long deadline_ms = 10000;
  std::vector<std::pair<std::string, std::string>> headers;
};

void print_usage() {
  std::cerr << "usage: cpp_xds_client --target xds:///NAME --calls N [--header k=v]... "
               "[--interval-ms X] [--deadline-ms D]\n";
}

std::optional<long> parse_count(std::string_view text) {
  long value = -1;
  auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (err != std::errc{} || end != text.data() + text.size() || value < 0) {
    return std::nullopt;
  }
  return value;
}

std::optional<client_options> parse_args(int argc, char** argv) {
  client_options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (i + 1 >= argc) {
      std::cerr << "cpp_xds_client: " << arg << " needs a value\n";
      return std::nullopt;
    }
    std::string_view value = argv[++i];
    if (arg == "--target") {
      options.target = value;
    } else if (arg == "--calls" || arg == "--interval-ms" || arg == "--deadline-ms") {
      auto number = parse_count(value);
      if (!number) {
        std::cerr << "cpp_xds_client: " << arg << " expects a non-negative integer, got '" << value
                  << "'\n";
        return std::nullopt;
      }
      long* slot = arg == "--calls"         ? &options.calls
                   : arg == "--interval-ms" ? &options.interval_ms
                                            : &options.deadline_ms;
      *slot = *number;
    } else if (arg == "--header") {
      auto eq = value.find('=');
      if (eq == std::string_view::npos || eq == 0) {
        std::cerr << "cpp_xds_client: --header expects k=v, got '" << value << "'\n";
        return std::nullopt;
      }
      options.headers.emplace_back(std::string(value.substr(0, eq)),
                                   std::string(value.substr(eq + 1)));
    } else {
      std::cerr << "cpp_xds_client: unknown option " << arg << "\n";
      return std::nullopt;
    }
  }
  if (options.target.empty() || options.calls < 1 || options.deadline_ms < 1) {
    return std::nullopt;
  }
  return options;
}

// One line per call; newlines in a status message would break the harness's line parsing.
std::string single_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

}  // namespace
}  // namespace sluice::interop

int main(int argc, char** argv) {
  using namespace sluice::interop;
  auto options = parse_args(argc, argv);
  if (!options) {
    print_usage();
    return 2;
  }

  auto channel = grpc::CreateChannel(options->target, grpc::InsecureChannelCredentials());
  auto stub = Greeter::NewStub(channel);

  long ok = 0;
  long errors = 0;
  std::map<std::string, long> per_backend;
  for (long call = 0; call < options->calls; ++call) {
    if (call > 0 && options->interval_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(options->interval_ms));
    }
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(options->deadline_ms));
    // The first call waits for the xDS resolution and the first connection; later calls must
    // succeed on the channel's current state, so a lost route shows up as an error.
    context.set_wait_for_ready(call == 0);
    for (const auto& [key, value] : options->headers) {
      context.AddMetadata(key, value);
    }
    HelloRequest request;
    request.set_name("interop-" + std::to_string(call));
    HelloReply reply;
    grpc::Status status = stub->SayHello(&context, request, &reply);
    if (status.ok()) {
      ++ok;
      ++per_backend[reply.backend()];
      std::printf("ok %s\n", reply.backend().c_str());
    } else {
      ++errors;
      std::printf("error %d %s\n", static_cast<int>(status.error_code()),
                  single_line(status.error_message()).c_str());
    }
    std::fflush(stdout);
  }

  std::string backends;
  for (const auto& [label, count] : per_backend) {
    if (!backends.empty()) backends += ',';
    backends += label + ':' + std::to_string(count);
  }
  std::printf("tally calls=%ld ok=%ld errors=%ld backends=%s\n", options->calls, ok, errors,
              backends.c_str());
  std::fflush(stdout);
  return errors == 0 ? 0 : 1;
}
