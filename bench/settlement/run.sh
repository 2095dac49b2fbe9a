#!/usr/bin/env bash
# One command for the settlement throughput benchmark (bench/settlement/run.mjs): installs what is
# missing, builds x402d and the self-hosted facilitator, runs the benchmark and prints its JSON.
# Arguments go to run.mjs (--help there). Environment: X402_BUILD_DIR (default build).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  scripts/setup.sh
  scripts/build.sh
fi
(cd tests && npm ci --no-audit --no-fund >/dev/null)
export X402_BUILD_DIR=${X402_BUILD_DIR:-$ROOT/build}
exec node bench/settlement/run.mjs "$@"
