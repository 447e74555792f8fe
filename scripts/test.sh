#!/usr/bin/env bash
# Sets up, builds, and runs the default test suite (everything but the long soak runs, whose
# labels end in "-soak": property-soak, crash-soak).
#   scripts/test.sh                 the default run (what CI runs)
#   scripts/test.sh -L interop      extra ctest arguments are passed through
#   scripts/test.sh --soak          only the long runs (tens of minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [[ "${1:-}" == "--soak" ]]; then
  shift
  exec ctest --test-dir build --output-on-failure --timeout 7200 -L soak "$@"
fi
exec ctest --test-dir build --output-on-failure --timeout 600 -j2 -LE soak "$@"
