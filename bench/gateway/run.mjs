// The gateway benchmarks of issue 6, run one after the other, results written as JSON for
// bench/gateway/report.mjs. Normally started by scripts/bench.sh (which builds x402d, installs the
// npm packages, raises the open-file limit and writes the report); see docs/BENCHMARKS.md.
//
//   node bench/gateway/run.mjs --out results.json [--quick] [--only unpaid,passthrough,ratelimit,paid,failover,memory]
//        [--runs N] [--seconds S] [--connections C] [--paid-connections C] [--paid-seconds S]
//        [--paid-ceiling PER_SECOND] [--failover-requests N] [--hold-connections N]
//        [--soak-seconds S] [--soak-runs N]
//        [--server-cpus 0] [--client-cpus 1] [--work-dir DIR]
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { CHAIN_ID, NETWORK, TOKEN, V1_NETWORK, devnetAccounts, startDevnet } from "../../tests/e2e/lib/devnet.mjs";
import { stopAll } from "../../tests/e2e/lib/processes.mjs";
import { stopAllPinned } from "../lib/procs.mjs";
import { collectVersions } from "./versions.mjs";
import { benchUnpaid } from "./unpaid.mjs";
import { benchPassthrough } from "./passthrough.mjs";
import { benchRateLimit } from "./ratelimit.mjs";
import { benchPaid } from "./paid.mjs";
import { benchFailover } from "./failover.mjs";
import { benchMemory } from "./memory.mjs";

// failover before paid: the paid benchmark leaves ~20,000 transactions on the chain, after which
// anvil answers each paid request's JSON-RPC calls tens of milliseconds slower (measured: 42 ms
// per sequential paid request instead of 7), which would swamp what failover measures.
const ALL = ["unpaid", "passthrough", "ratelimit", "failover", "paid", "memory"];
const { values: o } = parseArgs({
  options: {
    out: { type: "string" },
    quick: { type: "boolean", default: false },
    only: { type: "string", default: ALL.join(",") },
    runs: { type: "string" },
    seconds: { type: "string" },
    connections: { type: "string", default: "64" },
    "paid-connections": { type: "string", default: "32" },
    "paid-seconds": { type: "string" },
    "paid-ceiling": { type: "string" },
    "soak-seconds": { type: "string" },
    "soak-runs": { type: "string" },
    "failover-requests": { type: "string" },
    "hold-connections": { type: "string", default: "10000" },
    "server-cpus": { type: "string", default: "0" },
    "client-cpus": { type: "string", default: "1" },
    "work-dir": { type: "string" },
  },
  strict: true,
});
if (!o.out) {
  console.error("usage: node bench/gateway/run.mjs --out FILE [--quick] [--only LIST] ...");
  process.exit(64);
}
const only = o.only.split(",").map((s) => s.trim()).filter(Boolean);
for (const name of only) if (!ALL.includes(name)) throw new Error(`--only: unknown benchmark "${name}" (known: ${ALL.join(", ")})`);

const num = (v, fallback) => (v === undefined ? fallback : Number(v));
const quick = o.quick;
const dir = o["work-dir"] ?? fs.mkdtempSync(path.join(os.tmpdir(), "x402-bench-"));
fs.mkdirSync(dir, { recursive: true });
const started = Date.now();
const log = (...a) => console.error(`bench [${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s]`, ...a);

const ctx = {
  dir, log, quick,
  runs: num(o.runs, 3),
  seconds: num(o.seconds, quick ? 3 : 20),
  warmupSeconds: quick ? 1 : 3,
  connections: num(o.connections, 64),
  paidConnections: num(o["paid-connections"], 32),
  paidSeconds: num(o["paid-seconds"], quick ? 3 : 20),
  // Payments signed per run = ceiling x seconds x 1.3: above x402d's paid rate, or the run runs out
  // and is reported as a lower bound.
  paidCeiling: { x402d: num(o["paid-ceiling"], quick ? 600 : 1000), reference: 150, referenceSerial: 60 },
  soakSeconds: num(o["soak-seconds"], quick ? 30 : 600),
  soakRuns: num(o["soak-runs"], quick ? 1 : 3),
  failoverRequests: num(o["failover-requests"], quick ? 15 : 60),
  holdConnections: num(o["hold-connections"], 10000),
  serverCpus: o["server-cpus"],
  clientCpus: o["client-cpus"],
  // The chain description without a chain: what configs need (token, accounts) when no payment
  // reaches a facilitator. paid and failover start a real devnet.
  devnet: { chainId: CHAIN_ID, network: NETWORK, v1Network: V1_NETWORK, token: TOKEN, accounts: devnetAccounts() },
};

async function main() {
  log(`work dir ${dir}; benchmarks: ${only.join(", ")}${quick ? " (quick)" : ""}`);
  const results = {
    quick, startedAt: new Date(started).toISOString(), workDir: dir,
    settings: Object.fromEntries(Object.entries(ctx).filter(([k]) => !["log", "devnet", "dir"].includes(k))),
    versions: collectVersions(),
  };
  const needsChain = only.includes("paid") || only.includes("failover");
  let chain = null;
  try {
    if (needsChain) {
      // anvil shares the client core: the chain is common to both paid stacks, and the server
      // core stays for the servers under test.
      chain = await startDevnet({ logFile: path.join(dir, "anvil.log") });
      const { execFileSync } = await import("node:child_process");
      execFileSync("taskset", ["-a", "-cp", ctx.clientCpus, String(chain.child.pid)], { stdio: "ignore" });
      ctx.chain = chain.info;
      log(`devnet at ${chain.info.rpcUrl} (anvil on cpu ${ctx.clientCpus})`);
    }
    const benches = {
      unpaid: benchUnpaid, passthrough: benchPassthrough, ratelimit: benchRateLimit, paid: benchPaid, failover: benchFailover,
      memory: benchMemory,
    };
    for (const name of only) {
      log(`--- ${name}`);
      const t = Date.now();
      results[name] = await benches[name](ctx);
      results[name].wallSeconds = (Date.now() - t) / 1000;
      fs.writeFileSync(o.out, JSON.stringify(results, null, 2) + "\n");  // partial results survive a later failure
    }
  } finally {
    await stopAllPinned();
    await stopAll();
    await chain?.stop();
  }
  results.wallSeconds = (Date.now() - started) / 1000;
  fs.writeFileSync(o.out, JSON.stringify(results, null, 2) + "\n");
  log(`done in ${results.wallSeconds.toFixed(0)} s; results in ${o.out}`);
}

main().catch(async (e) => {
  console.error(e);
  await stopAllPinned();
  await stopAll();
  process.exit(1);
});
