#!/usr/bin/env bash
# Configures and builds x402d, its plugins and the tests into build/ (or $X402_BUILD_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${X402_BUILD_DIR:-build}
BUILD_TYPE=${X402_BUILD_TYPE:-RelWithDebInfo}
JOBS=${X402_JOBS:-$(nproc)}

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "$@" >/dev/null
ninja -C "$BUILD_DIR" -j "$JOBS"
