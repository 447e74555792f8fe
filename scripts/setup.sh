#!/usr/bin/env bash
# Installs everything sluice needs to build and test on Debian 12, then configures and builds.
# Idempotent: a second run installs nothing new and rebuilds only what changed.
#
#   scripts/setup.sh            install packages + npm peers, configure, build
#   SLUICE_SKIP_APT=1 ...       skip apt-get (packages already present)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build ccache pkg-config git ca-certificates curl
  libcaf-dev                         # CAF 0.17.6, the actor runtime
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librocksdb-dev libspdlog-dev libfmt-dev libyaml-cpp-dev libcli11-dev libre2-dev libssl-dev
  libcpp-httplib-dev nlohmann-json3-dev   # HTTP(S) for admin, webhook, Kubernetes/Consul/Vault
  libgtest-dev libgmock-dev libbenchmark-dev
)

need_apt=0
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_apt=1
done
# Node.js runs the grpc-js xDS interop peer and npm fetches the pinned Envoy protos. Debian's
# nodejs package ships npm separately; other node packagings bundle it.
if ! command -v node >/dev/null 2>&1; then
  need_apt=1
  packages+=(nodejs)
fi
if ! command -v npm >/dev/null 2>&1; then
  need_apt=1
  packages+=(npm)
fi

if [ "${SLUICE_SKIP_APT:-0}" != 1 ] && [ "$need_apt" = 1 ]; then
  echo "setup: installing Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${packages[@]}"
fi

# Envoy's API protos and the grpc-js xDS client come from the pinned npm lock file.
if [ ! -f node_modules/@grpc/grpc-js-xds/package.json ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing pinned npm packages"
  npm ci --no-audit --no-fund --ignore-scripts
fi

build_dir=${SLUICE_BUILD_DIR:-build}
build_type=${SLUICE_BUILD_TYPE:-RelWithDebInfo}
if [ ! -f "$build_dir/build.ninja" ]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type"
fi
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
cmake --build "$build_dir" -j "$(nproc)"
