// The peers in tests/e2e/peers/ as child processes, each on a free port.
import path from "node:path";
import { REPO, startProcess } from "./processes.mjs";

const PEERS = path.join(REPO, "tests/e2e/peers");
const LISTENING = /listening (http:\/\/127\.0\.0\.1:\d+)/;

async function startPeer(name, script, args, dir) {
  const started = await startProcess({
    name,
    command: process.execPath,
    args: [path.join(PEERS, script), "--port", "0", ...args],
    cwd: path.join(REPO, "tests"),
    logFile: path.join(dir, `${name}.log`),
    ready: LISTENING,
  });
  return { ...started, url: started.match[1] };
}

// The reference facilitator settling with devnet relayer number `relayer` (one relayer key per
// facilitator: the reference engine does not serialise its own transaction nonces).
export function startReferenceFacilitator({ devnet, dir, relayer = 0, name = `reference-facilitator-${relayer}` }) {
  return startPeer(name, "reference-facilitator.mjs",
    ["--rpc", devnet.rpcUrl, "--key", devnet.accounts.relayers[relayer].privateKey], dir);
}

// TEST DOUBLE: accepts connections, never answers. With `supported` (an object), it answers
// GET /supported with it and hangs on everything else.
export function startHangingServer({ dir, name = "hanging-server", supported }) {
  return startPeer(name, "hanging-server.mjs", supported ? ["--supported", JSON.stringify(supported)] : [], dir);
}

// The reference resource server (@x402/express) with the given facilitator.
export function startExpressServer({ dir, facilitatorUrl, payTo, price = "$0.01", routePath = "/weather", name = "express-server" }) {
  return startPeer(name, "express-server.mjs",
    ["--facilitator", facilitatorUrl, "--pay-to", payTo, "--price", price, "--path", routePath], dir);
}
