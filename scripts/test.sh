#!/usr/bin/env bash
# Installs what is missing, builds everything and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/build.sh
BUILD_DIR=${X402_BUILD_DIR:-build}

# Node peers used by the tests (jose to check our JWTs; the official x402 clients), from the
# committed lockfile.
(cd tests && npm ci --no-audit --no-fund --loglevel=error)

export X402_REQUIRE_NODE=1
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)"
