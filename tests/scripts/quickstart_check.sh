#!/usr/bin/env bash
# Runs `scripts/quickstart.sh --check` against an existing build (no setup, no rebuild): the
# quickstart must start the devnet, the example upstream and x402d, get 200 from the free route, a
# dual-stack 402 from the paid route, a paid 200 from the official client and the settlement on
# chain, then stop everything. Uses the quickstart's fixed ports 8402, 9000 and 8545, so ctest
# runs it under a RESOURCE_LOCK.
#
# Usage: tests/scripts/quickstart_check.sh BUILD_DIR
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build="$(cd "$1" && pwd)"

for needed in "$build/x402d" "$build/plugins/facilitator-selfhosted.so"; do
  [ -e "$needed" ] || { echo "quickstart_check: $needed missing; build x402d and facilitator-selfhosted" >&2; exit 1; }
done

output=$(QUICKSTART_SKIP_BUILD=1 X402_BUILD_DIR="$build" "$repo/scripts/quickstart.sh" --check 2>&1) || {
  status=$?
  printf '%s\n' "$output"
  echo "quickstart_check: scripts/quickstart.sh --check exited $status" >&2
  exit 1
}
printf '%s\n' "$output"

# Exit 0 alone would also pass if --check stopped checking; all four checks must have run and passed.
ok_lines=$(grep -c '^quickstart: ok:' <<<"$output" || true)
if [ "$ok_lines" -ne 4 ] || grep -q '^quickstart: FAIL' <<<"$output"; then
  echo "quickstart_check: expected four 'quickstart: ok:' lines and no FAIL" >&2
  exit 1
fi
echo "quickstart_check: passed"
