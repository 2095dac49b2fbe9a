#!/usr/bin/env bash
# Installs what is missing, builds, starts a local chain (anvil + Circle's USDC contract), the
# example upstream API and x402d with examples/quickstart/gateway.yaml (self-hosted facilitator),
# then pays for one request with the official x402 client and shows the 402, the payment, the
# response and the on-chain transaction. x402d keeps running in the foreground; Ctrl-C stops all.
#
#   scripts/quickstart.sh            run until Ctrl-C
#   scripts/quickstart.sh --check    the same, checked: exit 0 when every step worked, else 1
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
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "quickstart: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

BUILD_DIR=${X402_BUILD_DIR:-build}
CONFIG=examples/quickstart/gateway.yaml
# These must agree with $CONFIG (server.listen, merchants[0].upstream, facilitators[0].rpc_url).
GATEWAY_PORT=8402
UPSTREAM_PORT=9000
DEVNET_PORT=8545
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

# --- 2. start the devnet, the upstream and the gateway -------------------------------------------
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$DEVNET_PORT" "$UPSTREAM_PORT" "$GATEWAY_PORT"; do
  port_in_use "$port" &&
    die "127.0.0.1:$port is already in use (an earlier quickstart still running?); stop it first"
done

LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/x402-quickstart.XXXXXX")
UPSTREAM_PID=""
GATEWAY_PID=""
DEVNET_PID_FILE=$LOG_DIR/anvil.pid
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  # A second Ctrl-C must not cut this short and leave the upstream running.
  trap '' INT TERM
  # Stop what we started, gateway first so it drains before its upstream goes away.
  for pid in $GATEWAY_PID $UPSTREAM_PID; do
    if kill -TERM "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; fi
  done
  [ -f "$DEVNET_PID_FILE" ] && kill -TERM "$(cat "$DEVNET_PID_FILE")" 2>/dev/null
  rm -rf "$LOG_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

UPSTREAM_LOG=$LOG_DIR/upstream.log
GATEWAY_LOG=$LOG_DIR/x402d.log
show_logs() {
  [ "$CHECK" = 1 ] || return 0
  echo "--- anvil log"; cat "$DEVNET_PID_FILE.log" 2>/dev/null
  echo "--- upstream log"; cat "$UPSTREAM_LOG"
  echo "--- x402d log"; cat "$GATEWAY_LOG"
}

# The chain is new on every run, so the books of earlier runs (payments, settlement jobs that
# point at transactions of a chain that no longer exists) go too.
rm -f examples/quickstart/x402d.db examples/quickstart/x402d.db-wal examples/quickstart/x402d.db-shm
rm -rf examples/quickstart/x402d-spool

say "starting the devnet: anvil on 127.0.0.1:$DEVNET_PORT, USDC at Base Sepolia's address"
DEVNET_JSON=$LOG_DIR/devnet.json
scripts/devnet.sh --port "$DEVNET_PORT" --out "$DEVNET_JSON" --background \
  --pid-file "$DEVNET_PID_FILE" >"$LOG_DIR/devnet.out" 2>&1 ||
  { cat "$LOG_DIR/devnet.out"; die "the devnet did not start"; }
devnet_field() { node -e "const d=require(process.argv[1]); console.log($1)" "$DEVNET_JSON"; }
# Anvil's public test keys: fine for a local chain, worthless anywhere else.
export X402_RELAYER_KEY
X402_RELAYER_KEY=$(devnet_field 'd.accounts.relayers[0].privateKey')
PAYER_KEY=$(devnet_field 'd.accounts.payers[0].privateKey')
PAYER=$(devnet_field 'd.accounts.payers[0].address')

"$X402D" --check-config "$CONFIG" >/dev/null
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

# --- 3. the tour: a free request, a 402, a payment by the official client, the transaction ---------
failed=0
ok() { say "ok: $*"; }
fail() { say "FAIL: $*"; failed=1; }
section() { printf '\n== %s\n' "$*"; }

section "a free route is proxied as is:  GET $GATEWAY/demo/public/hello"
free_body=$LOG_DIR/free.body
free_status=$(curl -sS -o "$free_body" -w '%{http_code}' "$GATEWAY/demo/public/hello")
echo "HTTP $free_status"; cat "$free_body"; echo
if [ "$free_status" = 200 ] && grep -q '"message"' "$free_body"; then
  ok "the free route is proxied to the upstream"
else
  fail "the free route should answer 200 with the upstream's JSON"
fi

section "a paid route without a payment:  GET $GATEWAY/demo/weather"
paid_headers=$LOG_DIR/paid.headers
paid_body=$LOG_DIR/paid.body
paid_status=$(curl -sS -D "$paid_headers" -o "$paid_body" -w '%{http_code}' "$GATEWAY/demo/weather")
echo "HTTP $paid_status"
echo "body (x402 v1): $(cat "$paid_body")"
offer_v2=$(grep -i '^payment-required:' "$paid_headers" | cut -d' ' -f2- | tr -d '\r' |
  base64 -d 2>/dev/null || true)
echo "PAYMENT-REQUIRED header (x402 v2, base64-decoded): $offer_v2"
if [ "$paid_status" = 402 ] && grep -q '"x402Version":1' "$paid_body" &&
  grep -q '"x402Version":2' <<<"$offer_v2" && grep -q '"accepts"' <<<"$offer_v2"; then
  ok "the paid route answers 402 with a v1 body and a v2 PAYMENT-REQUIRED header"
else
  fail "the paid route should answer 402 with a v1 body and a PAYMENT-REQUIRED header"
fi

section "the official client (@x402/fetch) pays from devnet account $PAYER"
pay_out=$LOG_DIR/pay.json
node tests/e2e/pay.mjs --client v2 --url "$GATEWAY/demo/weather" --key "$PAYER_KEY" \
  >"$pay_out" 2>"$LOG_DIR/pay.err" || true
show() { node -e "const r=require(process.argv[1]); const v=$1; console.log(typeof v==='string'?v:JSON.stringify(v,null,2))" "$pay_out" 2>/dev/null; }
if [ -s "$pay_out" ]; then
  echo "the payment it signed (PAYMENT-SIGNATURE, decoded):"; show 'r.sentPayment'
  echo "the response: HTTP $(show 'r.status')"; show 'r.body'
  echo "the settlement (PAYMENT-RESPONSE, decoded):"; show 'r.paymentResponse'
  tx=$(show 'r.paymentResponse && r.paymentResponse.transaction || ""')
else
  cat "$LOG_DIR/pay.err"
  tx=""
fi
if [ "$(show 'r.status')" = 200 ] && [ "$(show 'r.paymentResponse && r.paymentResponse.success')" = true ]; then
  ok "the official client paid and got the upstream's answer"
else
  fail "the paid request should answer 200 with a successful PAYMENT-RESPONSE"
fi

section "the transaction on chain"
if [[ "$tx" =~ ^0x[0-9a-fA-F]{64}$ ]] && node scripts/devnet/show-tx.mjs --devnet "$DEVNET_JSON" --tx "$tx"; then
  ok "the payment settled on chain"
else
  fail "the settlement transaction should be on chain with a USDC Transfer"
fi

if [ "$CHECK" = 1 ]; then
  [ "$failed" = 0 ] || show_logs
  exit "$failed"
fi

# --- 4. foreground: tell the user what to try, then run until Ctrl-C -----------------------------
cat <<EOF

-------------------------------------------------------------------------------------------------
 x402d: $GATEWAY   config: $CONFIG (edits apply live)
 devnet: http://127.0.0.1:$DEVNET_PORT (anvil, chain id 84532; accounts and keys: $DEVNET_JSON)
 example upstream: http://127.0.0.1:$UPSTREAM_PORT   (examples/upstream/server.mjs)

 Try in another terminal:
   curl -s $GATEWAY/demo/public/hello      # free route, proxied as is
   curl -i $GATEWAY/demo/weather           # paid route: 402 + x402 v1 JSON body
   # the x402 v2 offer, base64 JSON in the PAYMENT-REQUIRED header:
   curl -s -D - -o /dev/null $GATEWAY/demo/weather | grep -i '^payment-required:' | cut -d' ' -f2 | tr -d '\r' | base64 -d; echo
   # pay with the official clients (v2: @x402/fetch, v1: x402-fetch), from a funded devnet payer:
   node tests/e2e/pay.mjs --client v2 --url $GATEWAY/demo/weather --key $PAYER_KEY
   node tests/e2e/pay.mjs --client v1 --url $GATEWAY/demo/weather --key $PAYER_KEY
   node scripts/devnet/show-tx.mjs --devnet $DEVNET_JSON --tx <transaction from PAYMENT-RESPONSE>
   curl -s $GATEWAY/metrics                # also /healthz and /readyz
   sqlite3 examples/quickstart/x402d.db 'select state, count(*) from settlement_queue group by state'

 Ctrl-C stops the gateway, the upstream and the devnet.
-------------------------------------------------------------------------------------------------

EOF

status=0
wait "$GATEWAY_PID" || status=$?
GATEWAY_PID=""
exit "$status"
