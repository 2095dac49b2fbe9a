#!/usr/bin/env bash
# Installs what is missing, builds, then runs x402d in front of the example upstream API with
# examples/quickstart/gateway.yaml. x402d runs in the foreground; Ctrl-C stops both.
#
#   scripts/quickstart.sh            run until Ctrl-C
#   scripts/quickstart.sh --check    start everything, check a free and a paid route, stop, exit 0/1
#                                    (same as QUICKSTART_NO_FOREGROUND=1)
#
# Environment: X402_BUILD_DIR (default build), QUICKSTART_SKIP_BUILD=1 to skip setup and build
# when build/ is already up to date (e.g. right after scripts/test.sh).
# Idempotent and cwd-independent: every path is taken from this script's location.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

CHECK=0
[ "${QUICKSTART_NO_FOREGROUND:-0}" = 1 ] && CHECK=1
for arg in "$@"; do
  case "$arg" in
    --check) CHECK=1 ;;
    -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "quickstart: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

BUILD_DIR=${X402_BUILD_DIR:-build}
CONFIG=examples/quickstart/gateway.yaml
# These two must agree with $CONFIG (server.listen and merchants[0].upstream).
GATEWAY_PORT=8402
UPSTREAM_PORT=9000
GATEWAY=http://127.0.0.1:$GATEWAY_PORT
X402D=$BUILD_DIR/x402d

say() { printf 'quickstart: %s\n' "$*"; }
die() { printf 'quickstart: %s\n' "$*" >&2; exit 1; }

# --- 1. install and build ------------------------------------------------------------------------
if [ "${QUICKSTART_SKIP_BUILD:-0}" != 1 ]; then
  scripts/setup.sh
  say "building (the first build takes a few minutes; later runs only rebuild what changed)"
  scripts/build.sh
fi
[ -x "$X402D" ] || die "$X402D not found; run scripts/build.sh"
command -v node >/dev/null || die "node not found; run scripts/setup.sh"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 18 ] || die "the example upstream needs Node.js >= 18 (found $(node --version))"

"$X402D" --check-config "$CONFIG" >/dev/null

# --- 2. start the upstream and the gateway -------------------------------------------------------
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$UPSTREAM_PORT" "$GATEWAY_PORT"; do
  port_in_use "$port" &&
    die "127.0.0.1:$port is already in use (an earlier quickstart still running?); stop it first"
done

LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/x402-quickstart.XXXXXX")
UPSTREAM_PID=""
GATEWAY_PID=""
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  # A second Ctrl-C must not cut this short and leave the upstream running.
  trap '' INT TERM
  # Stop what we started, gateway first so it drains before its upstream goes away.
  for pid in $GATEWAY_PID $UPSTREAM_PID; do
    if kill -TERM "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$LOG_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

UPSTREAM_LOG=$LOG_DIR/upstream.log
GATEWAY_LOG=$LOG_DIR/x402d.log
show_logs() {
  [ "$CHECK" = 1 ] || return 0
  echo "--- upstream log"; cat "$UPSTREAM_LOG"
  echo "--- x402d log"; cat "$GATEWAY_LOG"
}
# --check keeps the logs quiet unless something fails; the foreground run shows them live, the
# upstream's one line per request interleaved with x402d's JSON request log.
if [ "$CHECK" = 1 ]; then
  PORT=$UPSTREAM_PORT node examples/upstream/server.mjs >"$UPSTREAM_LOG" 2>&1 &
  UPSTREAM_PID=$!
  "$X402D" --config "$CONFIG" >"$GATEWAY_LOG" 2>&1 &
  GATEWAY_PID=$!
else
  PORT=$UPSTREAM_PORT node examples/upstream/server.mjs &
  UPSTREAM_PID=$!
  "$X402D" --config "$CONFIG" &
  GATEWAY_PID=$!
fi

# Wait until both answer (the pre-check above means these ports are ours).
wait_for() {  # url pid name
  for _ in $(seq 100); do
    kill -0 "$2" 2>/dev/null || { show_logs; die "$3 exited during start-up"; }
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  show_logs
  die "$3 did not answer $1 within 10 s"
}
wait_for "http://127.0.0.1:$UPSTREAM_PORT/public/hello" "$UPSTREAM_PID" "the example upstream"
wait_for "$GATEWAY/readyz" "$GATEWAY_PID" "x402d"

# --- 3a. --check: one free and one paid request, then stop ---------------------------------------
if [ "$CHECK" = 1 ]; then
  failed=0
  free_body=$LOG_DIR/free.body
  free_status=$(curl -sS -o "$free_body" -w '%{http_code}' "$GATEWAY/demo/public/hello")
  echo "GET /demo/public/hello -> $free_status"
  cat "$free_body"
  if [ "$free_status" = 200 ] && grep -q '"message"' "$free_body"; then
    say "ok: the free route is proxied to the upstream"
  else
    say "FAIL: the free route should answer 200 with the upstream's JSON"; failed=1
  fi

  paid_headers=$LOG_DIR/paid.headers
  paid_body=$LOG_DIR/paid.body
  paid_status=$(curl -sS -D "$paid_headers" -o "$paid_body" -w '%{http_code}' \
    "$GATEWAY/demo/weather")
  echo "GET /demo/weather -> $paid_status"
  cat "$paid_body"; echo
  offer_v2=$(grep -i '^payment-required:' "$paid_headers" | cut -d' ' -f2- | tr -d '\r' |
    base64 -d 2>/dev/null || true)
  echo "PAYMENT-REQUIRED (decoded): $offer_v2"
  if [ "$paid_status" = 402 ] && grep -q '"x402Version":1' "$paid_body" &&
    grep -q '"x402Version":2' <<<"$offer_v2" && grep -q '"accepts"' <<<"$offer_v2"; then
    say "ok: the paid route answers 402 with a v1 body and a v2 PAYMENT-REQUIRED header"
  else
    say "FAIL: the paid route should answer 402 with a v1 body and a PAYMENT-REQUIRED header"
    failed=1
  fi
  [ "$failed" = 0 ] || show_logs
  exit "$failed"
fi

# --- 3b. foreground: tell the user what to try, then run until Ctrl-C ----------------------------
cat <<EOF

-------------------------------------------------------------------------------------------------
 x402d: $GATEWAY   config: $CONFIG (edits apply live)
 example upstream: http://127.0.0.1:$UPSTREAM_PORT   (examples/upstream/server.mjs)

 Try in another terminal:
   curl -s $GATEWAY/demo/public/hello      # free route, proxied as is
   curl -i $GATEWAY/demo/weather           # paid route: 402 + x402 v1 JSON body
   # the x402 v2 offer, base64 JSON in the PAYMENT-REQUIRED header:
   curl -s -D - -o /dev/null $GATEWAY/demo/weather | grep -i '^payment-required:' | cut -d' ' -f2 | tr -d '\r' | base64 -d; echo
   curl -s $GATEWAY/metrics                # also /healthz and /readyz

 Paying does not work yet: no facilitator listens on 127.0.0.1:4020 (a self-hosted facilitator
 and a local devnet come later), so a request carrying a payment gets 503 "All payment
 facilitators are currently unavailable". To take testnet payments, point facilitators[0] in
 $CONFIG at a running x402 facilitator.

 Ctrl-C stops the gateway and the upstream.
-------------------------------------------------------------------------------------------------

EOF

status=0
wait "$GATEWAY_PID" || status=$?
GATEWAY_PID=""
exit "$status"
