#!/usr/bin/env bash
# Sets up, builds, and runs the default test suite (everything but the long `soak` runs).
#   scripts/test.sh                 the default run (what CI runs)
#   scripts/test.sh -L interop      extra ctest arguments are passed through
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ctest --test-dir build --output-on-failure --timeout 600 -j2 -LE soak "$@"
