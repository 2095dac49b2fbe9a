// Settlement throughput: payments settled on a local chain through x402d's settlement queue (many
// transactions in flight from pre-assigned consecutive relayer nonces, receipts confirmed in
// batches) against the old way: one settlement at a time, each waiting for its receipt.
//
//   bench/settlement/run.sh [--payments 1000] [--serial-payments 200] [--concurrency 100]
//                           [--relayers 1] [--block-time 0] [--runs 3] [--reference]
//                           [--json FILE]
//
// Each payment is a fresh EIP-3009 authorization, pre-signed before the clock starts (signing is
// the client's work, not the settler's), and used once. Settlements go to x402d's facilitator API
// (POST /settle, which answers once the transfer is confirmed on chain). "queue" sends them with
// `--concurrency` requests in flight; "one at a time" sends the next only after the previous
// answered, through the same x402d, so the only difference is the queue. With --reference the
// reference facilitator (@x402/core + @x402/evm) settles one at a time too, as a second baseline.
// After every phase the chain's Transfer logs are counted: a settlement that is not on chain does
// not count. --block-time 0 is anvil's automine (a block per transaction); 2 is Base-like.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { startDevnet } from "../../tests/e2e/lib/devnet.mjs";
import { startX402d } from "../../tests/e2e/lib/gateway.mjs";
import { startReferenceFacilitator } from "../../tests/e2e/lib/peers.mjs";
import { closedPort, stopAll, track } from "../../tests/e2e/lib/processes.mjs";
import { exactRequirement, facilitatorRequestBody, presignPayments } from "../lib/payments.mjs";
import { transferLogs } from "../../tests/e2e/lib/chain.mjs";

const { values: opts } = parseArgs({
  options: {
    payments: { type: "string", default: "1000" },
    "serial-payments": { type: "string", default: "200" },
    concurrency: { type: "string", default: "100" },
    relayers: { type: "string", default: "1" },
    "block-time": { type: "string", default: "0" },
    runs: { type: "string", default: "3" },
    reference: { type: "boolean", default: false },
    json: { type: "string" },
  },
});
const PAYMENTS = Number(opts.payments);
const SERIAL_PAYMENTS = Number(opts["serial-payments"]);
const CONCURRENCY = Number(opts.concurrency);
const RELAYERS = Number(opts.relayers);
const BLOCK_TIME = Number(opts["block-time"]);
const RUNS = Number(opts.runs);
const PRICE = 1000n; // 0.001 USDC: 1000 payers' worth fits in the devnet's funding many times over

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "x402-bench-settlement-"));
const log = (...a) => console.error("bench:", ...a);

// /settle bodies for `count` fresh authorizations (0.001 USDC each, from the payers in turn), as an
// x402 server would send them.
async function presign(devnet, count) {
  const accepted = exactRequirement(devnet, { amount: PRICE });
  const payloads = await presignPayments({ devnet, accepted, resourceUrl: "http://bench.local/r", count });
  return payloads.map(facilitatorRequestBody);
}

// Sends every body to url/settle with `concurrency` in flight; returns wall seconds, successes,
// failures (with the first few reasons).
async function settleAll(url, bodies, concurrency) {
  let next = 0;
  let ok = 0;
  const failures = [];
  const started = process.hrtime.bigint();
  async function worker() {
    while (next < bodies.length) {
      const body = bodies[next++];
      try {
        const res = await fetch(`${url}/settle`, {
          method: "POST", headers: { "Content-Type": "application/json" }, body,
          signal: AbortSignal.timeout(120000),
        });
        const answer = await res.json().catch(() => ({}));
        if (res.ok && answer.success === true) ok++;
        else failures.push(`${res.status} ${answer.errorReason ?? answer.error ?? ""}`);
      } catch (e) {
        failures.push(String(e.message ?? e));
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, bodies.length) }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { seconds, ok, failed: failures.length, reasons: [...new Set(failures)].slice(0, 5) };
}

async function onChainCount(devnet) {
  return (await transferLogs(devnet, { to: devnet.accounts.merchant.address })).length;
}

async function phase(name, devnet, url, count, concurrency) {
  const bodies = await presign(devnet, count);
  const before = await onChainCount(devnet);
  const r = await settleAll(url, bodies, concurrency);
  const onChain = (await onChainCount(devnet)) - before;
  const perSecond = onChain / r.seconds;
  log(`${name}: ${onChain}/${count} on chain in ${r.seconds.toFixed(2)} s = ${perSecond.toFixed(1)}/s` +
    (r.failed ? ` (${r.failed} failed: ${r.reasons.join("; ")})` : ""));
  return { name, count, concurrency, seconds: r.seconds, answeredOk: r.ok, onChain, perSecond, failed: r.failed, reasons: r.reasons };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  log(`devnet (block time ${BLOCK_TIME || "automine"}), logs in ${dir}`);
  const devnet = await startDevnet({
    logFile: path.join(dir, "anvil.log"),
    extraArgs: BLOCK_TIME > 0 ? ["--block-time", String(BLOCK_TIME)] : [],
  });
  track(devnet.child);
  const info = devnet.info;
  try {
    const apiPort = await closedPort();
    const gw = await startX402d({
      name: "x402d", dir,
      config: {
        server: { listen: "127.0.0.1:0" },
        storage: { backend: "sqlite", path: path.join(dir, "x402d.db") },
        facilitators: [{
          name: "selfhosted", plugin: "facilitator-selfhosted",
          config: {
            rpc_url: info.rpcUrl,
            relayer_keys: info.accounts.relayers.slice(0, RELAYERS).map((r) => r.privateKey),
          },
        }],
        facilitator_api: { listen: `127.0.0.1:${apiPort}`, facilitator: "selfhosted" },
        assets: [{ symbol: "USDC", network: info.v1Network, address: info.token.address, decimals: 6,
          eip712: { name: info.token.name, version: info.token.version } }],
        merchants: [],
      },
    });
    const x402dUrl = `http://127.0.0.1:${apiPort}`;
    const reference = opts.reference
      ? await startReferenceFacilitator({ devnet: info, dir, relayer: RELAYERS }) : null;

    const runs = [];
    for (let run = 1; run <= RUNS; run++) {
      log(`run ${run}/${RUNS}`);
      const queue = await phase("queue", info, x402dUrl, PAYMENTS, CONCURRENCY);
      const serial = await phase("one at a time", info, x402dUrl, SERIAL_PAYMENTS, 1);
      const ref = reference ? await phase("reference, one at a time", info, reference.url, SERIAL_PAYMENTS, 1) : null;
      runs.push({ queue, serial, reference: ref });
    }
    const summarize = (key) => {
      const xs = runs.map((r) => r[key]).filter(Boolean).map((p) => p.perSecond);
      return xs.length ? { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) } : null;
    };
    const result = {
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
      blockTime: BLOCK_TIME, payments: PAYMENTS, serialPayments: SERIAL_PAYMENTS,
      concurrency: CONCURRENCY, relayers: RELAYERS, runs,
      queue: summarize("queue"), serial: summarize("serial"), reference: summarize("reference"),
    };
    result.ratio = result.queue.median / result.serial.median;
    console.log(JSON.stringify(result, null, 2));
    if (opts.json) fs.writeFileSync(opts.json, JSON.stringify(result, null, 2) + "\n");
    await gw.stop?.();
  } finally {
    await stopAll();
    await devnet.stop();
  }
}

main().catch(async (e) => {
  console.error(e);
  await stopAll();
  process.exit(1);
});
