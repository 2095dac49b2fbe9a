#!/usr/bin/env bash
# Starts a local x402 devnet: anvil (chain id 84532 = Base Sepolia's id, so v1 "base-sepolia"
# works) with Circle's FiatToken V2.2 at Base Sepolia's USDC address, funded test accounts, and a
# JSON description for configs and tests. Details: docs/devnet.md.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/devnet.sh [--port 8545] [--host 127.0.0.1] [--out FILE] [--log FILE]
                         [--background --pid-file FILE]

  --port N        anvil's RPC port (default 8545; 0 = any free port, reported in the summary
                  and in --out). A busy port is an error.
  --out FILE      write the devnet JSON (rpcUrl, chainId, network, v1Network, token, accounts
                  with anvil's public test keys) to FILE.
  --background    return once the token is deployed, leaving anvil running; needs
  --pid-file FILE where anvil's pid is written (stop it with: kill "$(cat FILE)").
  --log FILE      anvil's log (default in the background: <pid-file>.log; foreground: none).

Foreground (default): runs until Ctrl-C, then stops anvil.
Needs Node.js >= 20; installs tests/node_modules from tests/package-lock.json (npm ci) when they
are missing or do not match the lockfile.
USAGE
}

for arg in "$@"; do
  case "$arg" in -h|--help) usage; exit 0 ;; esac
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tests="$repo/tests"

# npm records what it installed in node_modules/.package-lock.json. The install is stale when
# that is missing or disagrees with the committed lockfile (a non-optional package missing, or
# any package at another version); file dates alone would misfire after a checkout.
deps_fresh() {
  node -e '
    const fs = require("fs");
    const [lockFile, installedFile] = process.argv.slice(1);
    if (!fs.existsSync(installedFile)) process.exit(1);
    const want = JSON.parse(fs.readFileSync(lockFile, "utf8")).packages;
    const have = JSON.parse(fs.readFileSync(installedFile, "utf8")).packages;
    for (const [p, meta] of Object.entries(want)) {
      if (p === "") continue;
      if (!have[p]) { if (meta.optional || meta.dev) continue; process.exit(1); }
      if (have[p].version !== meta.version) process.exit(1);
    }
  ' "$tests/package-lock.json" "$tests/node_modules/.package-lock.json"
}
if ! deps_fresh || [[ ! -x "$tests/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil" ]]; then
  echo "devnet: installing test dependencies (npm ci in tests/)" >&2
  (cd "$tests" && npm ci --no-audit --no-fund >&2)
fi

exec node "$repo/scripts/devnet/devnet.mjs" "$@"
