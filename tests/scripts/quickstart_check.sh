#!/usr/bin/env bash
# Runs `scripts/quickstart.sh --check` against an existing build (no setup, no rebuild): the
# quickstart must start the example upstream and x402d, get 200 from the free route and a
# dual-stack 402 from the paid route, then stop both. Uses the quickstart's fixed ports
# 8402 and 9000, so ctest runs it under a RESOURCE_LOCK.
#
# Usage: tests/scripts/quickstart_check.sh BUILD_DIR
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build="$(cd "$1" && pwd)"

for needed in "$build/x402d" "$build/plugins/facilitator-http.so"; do
  [ -e "$needed" ] || { echo "quickstart_check: $needed missing; build x402d and facilitator-http" >&2; exit 1; }
done

output=$(QUICKSTART_SKIP_BUILD=1 X402_BUILD_DIR="$build" "$repo/scripts/quickstart.sh" --check 2>&1) || {
  status=$?
  printf '%s\n' "$output"
  echo "quickstart_check: scripts/quickstart.sh --check exited $status" >&2
  exit 1
}
printf '%s\n' "$output"

# Exit 0 alone would also pass if --check stopped checking; both checks must have run and passed.
ok_lines=$(grep -c '^quickstart: ok:' <<<"$output" || true)
if [ "$ok_lines" -ne 2 ] || grep -q '^quickstart: FAIL' <<<"$output"; then
  echo "quickstart_check: expected two 'quickstart: ok:' lines and no FAIL" >&2
  exit 1
fi
echo "quickstart_check: passed"
