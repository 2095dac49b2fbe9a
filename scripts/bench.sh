#!/usr/bin/env bash
# One command for the gateway benchmarks of issue 6: x402d against nginx (unpaid 402, free
# pass-through), the cost of a rate-limit tier, against the reference x402 stack (paid path),
# failover cost and memory. Writes the generated section of docs/BENCHMARKS.md and the charts in
# docs/bench/. Method: docs/BENCHMARKS.md.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/bench.sh [--quick] [options passed to bench/gateway/run.mjs]

  --quick                 short runs and a 30 s soak: under 5 minutes (a smoke test of the method)
  --only LIST             some of: unpaid,passthrough,ratelimit,paid,failover,memory (default: all)
  --runs N                runs per figure (default 3); the figure is their median, with min and max
  --seconds S             wrk duration per run for the unpaid, pass-through and rate-limit
                          figures (20; quick 3)
  --connections C         wrk connections for unpaid, pass-through, rate-limit and the soak (64)
  --paid-seconds S        duration per paid run (20; quick 3)
  --paid-connections C    connections for the paid path (32)
  --paid-ceiling N        paid requests/s x402d is expected to stay under: payments signed per run
                          = N x seconds x 1.3 (1000; quick 600). A run that runs out is reported
                          as a lower bound.
  --failover-requests N   sequential paid requests per failover run (60; quick 15)
  --hold-connections N    keep-alive connections held for the memory figure (10000)
  --soak-seconds S        soak duration (600; quick 30)      --soak-runs N   (3; quick 1)
  --server-cpus LIST      cores for the servers under test and their upstream (0)
  --client-cpus LIST      cores for wrk, the connection holder and anvil (1)
  --no-report             run and keep the JSON only; do not touch docs/

Environment:
  X402D_BUILD_DIR   use the x402d (and plugins/) already built there; otherwise a Release build is
                    made in build-bench/ (x402d, facilitator-http, facilitator-selfhosted,
                    routing-priority, ratelimit-token-bucket).
  BENCH_SKIP_SETUP=1  do not run scripts/setup.sh (Debian packages) first.
  BENCH_RESULTS     where to write the raw JSON (default: <work dir>/results.json).
Full mode takes about 60 minutes on 2 cores (30 of them the three 10-minute soaks).
USAGE
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
report=1
args=()
client_cpus=1
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --no-report) report=0 ;;
    --quick) args+=("$1") ;;
    --client-cpus) client_cpus=$2; args+=("$1" "$2"); shift ;;
    *) args+=("$1") ;;
  esac
  shift
done

[ "${BENCH_SKIP_SETUP:-0}" = 1 ] || scripts/setup.sh
if [ "$(nproc)" -lt 2 ]; then
  echo "bench: needs at least 2 cores (one for the servers, one for the load generator); found $(nproc)" >&2
  exit 1
fi

# x402d: an existing build, or a Release build of just what the benchmarks run.
if [ -n "${X402D_BUILD_DIR:-}" ]; then
  build_dir=$(cd "$X402D_BUILD_DIR" && pwd)
  for f in x402d plugins/facilitator-http.so plugins/facilitator-selfhosted.so plugins/routing-priority.so \
           plugins/ratelimit-token-bucket.so; do
    [ -e "$build_dir/$f" ] || { echo "bench: X402D_BUILD_DIR=$build_dir has no $f; build it or unset X402D_BUILD_DIR" >&2; exit 1; }
  done
else
  build_dir="$ROOT/build-bench"
  echo "bench: building a Release x402d in $build_dir" >&2
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "$build_dir" -j "${X402_JOBS:-$(nproc)}" x402d facilitator-http facilitator-selfhosted routing-priority \
    ratelimit-token-bucket
fi
export X402_BUILD_DIR="$build_dir"

# The reference stack, anvil and viem come from tests/node_modules; install when missing or stale
# (npm records what it installed in node_modules/.package-lock.json).
if ! node -e '
  const fs = require("fs");
  const want = JSON.parse(fs.readFileSync("tests/package-lock.json", "utf8")).packages;
  const have = JSON.parse(fs.readFileSync("tests/node_modules/.package-lock.json", "utf8")).packages;
  for (const [p, m] of Object.entries(want)) {
    if (p === "") continue;
    if (!have[p] ? !(m.optional || m.dev) : have[p].version !== m.version) process.exit(1);
  }' 2>/dev/null; then
  echo "bench: npm ci in tests/" >&2
  (cd tests && npm ci --no-audit --no-fund --loglevel=error)
fi

# 10,000 held connections need that many descriptors in x402d and in the holder.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 12000 ]; then
  echo "bench: the open-file limit is $(ulimit -n) (hard $(ulimit -Hn)); the memory benchmark needs 12000." \
    "Raise it (ulimit -Hn, /etc/security/limits.conf) or pass --hold-connections N" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/x402-bench-XXXXXX")
results=${BENCH_RESULTS:-$work/results.json}
command="scripts/bench.sh${args[*]:+ ${args[*]}}"
# The driver runs on the client core: the server core is for the servers under test only.
taskset -c "$client_cpus" node bench/gateway/run.mjs --out "$results" --work-dir "$work" "${args[@]}"
if [ "$report" = 1 ]; then
  node bench/gateway/report.mjs --results "$results" --command "$command"
fi
echo "bench: results $results (logs and configs in $work)" >&2
