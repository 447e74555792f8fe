#pragma once
/// Runs the `sluice` binary for the log / replay / diff command tests and captures what it
/// printed. The binary is the one this build produced (SLUICE_BINARY_DIR).

#include <stdio.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "test/support/temp_dir.hpp"

namespace sluice::test {

struct cli_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Single-quotes an argument for /bin/sh.
inline std::string shell_quote(const std::string& arg) {
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

/// `sluice args...`, stdout captured, stderr into a file of `scratch`.
inline cli_result run_sluice(const std::vector<std::string>& args, const temp_dir& scratch) {
  const auto err_file = scratch.path() / "stderr.txt";
  std::string command = shell_quote(std::string(SLUICE_BINARY_DIR) + "/sluice");
  for (const auto& a : args) {
    command += " " + shell_quote(a);
  }
  command += " 2>" + shell_quote(err_file.string());
  cli_result result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    return result;
  }
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    result.out.append(buffer, n);
  }
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.err = read_file(err_file);
  return result;
}

}  // namespace sluice::test
