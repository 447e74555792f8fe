// greeter_backend: the upstream the interop tests route to.
//
//   greeter_backend --port P --label NAME
//
// Serves sluice.interop.Greeter on 127.0.0.1:P (P = 0 picks a free port) and answers every call
// with its label, so the clients' tallies show which route was taken. Prints "listening port=<P>"
// on stdout once the port is bound (the harness waits for that line, never for a fixed time), and
// shuts down cleanly on SIGTERM or SIGINT.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "test/interop/proto/greeter.grpc.pb.h"

namespace sluice::interop {
namespace {

struct backend_options {
  int port = -1;
  std::string label;
};

void print_usage() { std::cerr << "usage: greeter_backend --port P --label NAME\n"; }

std::optional<int> parse_port(std::string_view text) {
  int value = -1;
  auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (err != std::errc{} || end != text.data() + text.size() || value < 0 || value > 65535) {
    return std::nullopt;
  }
  return value;
}

std::optional<backend_options> parse_args(int argc, char** argv) {
  backend_options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (i + 1 >= argc) {
      std::cerr << "greeter_backend: " << arg << " needs a value\n";
      return std::nullopt;
    }
    std::string_view value = argv[++i];
    if (arg == "--port") {
      auto port = parse_port(value);
      if (!port) {
        std::cerr << "greeter_backend: --port expects 0..65535, got '" << value << "'\n";
        return std::nullopt;
      }
      options.port = *port;
    } else if (arg == "--label") {
      options.label = value;
    } else {
      std::cerr << "greeter_backend: unknown option " << arg << "\n";
      return std::nullopt;
    }
  }
  if (options.port < 0 || options.label.empty()) {
    return std::nullopt;
  }
  return options;
}

// Answers with the backend's label; the name is echoed so a person reading logs can tell calls
// apart.
class labelled_greeter final : public Greeter::Service {
 public:
  explicit labelled_greeter(std::string label) : label_(std::move(label)) {}

  grpc::Status SayHello(grpc::ServerContext*, const HelloRequest* request,
                        HelloReply* reply) override {
    reply->set_message("hello " + request->name() + " from " + label_);
    reply->set_backend(label_);
    return grpc::Status::OK;
  }

 private:
  std::string label_;
};

}  // namespace
}  // namespace sluice::interop

int main(int argc, char** argv) {
  using namespace sluice::interop;
  auto options = parse_args(argc, argv);
  if (!options) {
    print_usage();
    return 2;
  }

  // Block the stop signals in every thread (gRPC's threads inherit this mask) so that one
  // dedicated thread can sigwait() for them and call Shutdown(), which is not signal-safe.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  labelled_greeter service(options->label);
  int bound_port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(options->port),
                           grpc::InsecureServerCredentials(), &bound_port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound_port == 0) {
    std::cerr << "greeter_backend: cannot listen on 127.0.0.1:" << options->port << "\n";
    return 1;
  }
  std::printf("listening port=%d label=%s\n", bound_port, options->label.c_str());
  std::fflush(stdout);

  std::thread stopper([&server, &stop_signals] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  });
  server->Wait();
  stopper.join();
  return 0;
}
