#!/usr/bin/env bash
# Sets up, builds, and serves the bundled example (examples/gateway) with the default data
# directory (.sluice/data). Extra arguments go to `sluice serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec build/sluice serve --config-dir examples/gateway "$@"
