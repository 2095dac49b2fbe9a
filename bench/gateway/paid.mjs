// 3. Paid path: requests carrying valid, pre-signed payments (each used once) per second.
//   x402d: the self-hosted facilitator (local signature check, on-chain checks in one JSON-RPC
//          batch), the route settled in broadcast mode, proxying to the fast nginx upstream.
//   reference: @x402/express with the reference facilitator (@x402/core + @x402/evm) over HTTP,
//          answering from its own handler; it has no broadcast mode, so its settle waits for the
//          receipt (with anvil's automine the block is mined as the transaction arrives).
// Both stacks run on the server core, against the same devnet (anvil, on the client core with wrk).
// A payment counts only when answered 200; the Transfer logs on chain are counted after each run.
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { getOffer } from "../../tests/e2e/lib/payments.mjs";
import { selfhostedFacilitator } from "../../tests/e2e/lib/gateway.mjs";
import { startExpressServer, startReferenceFacilitator } from "../../tests/e2e/lib/peers.mjs";
import { publicClient, transferLogs } from "../../tests/e2e/lib/chain.mjs";
import { presignPayments, writeHeaderFile } from "../lib/payments.mjs";
import { sleep } from "../lib/procs.mjs";
import { runWrk } from "../lib/wrk.mjs";
import { summarizeRuns } from "../lib/stats.mjs";
import { startBenchX402d } from "../lib/x402d.mjs";
import { startFixedUpstream } from "./passthrough.mjs";

const pin = (pid, cpus) => execFileSync("taskset", ["-a", "-cp", String(cpus), String(pid)], { stdio: "ignore" });

// The block the next transaction lands in: a run counts the Transfers from there on.
const nextBlock = async (chain) => (await publicClient(chain).getBlockNumber()) + 1n;

// Merchant Transfers since `fromBlock`, asked for in ranges of 1000 blocks: a paid run mines
// thousands, and one getLogs answer over all of them outgrows the client's 10 MiB limit.
async function merchantTransfersSince(chain, fromBlock) {
  const head = await publicClient(chain).getBlockNumber();
  let count = 0;
  for (let from = fromBlock; from <= head; from += 1000n) {
    const to = from + 999n < head ? from + 999n : head;
    count += (await transferLogs(chain, { to: chain.accounts.merchant.address, fromBlock: from, toBlock: to })).length;
  }
  return count;
}

// Waits until the chain holds `expected` merchant Transfers since `fromBlock` (settlements
// broadcast during the run still confirming), or stops changing for 3 s. Returns the count.
async function settledOnChain(chain, fromBlock, expected, timeoutMs = 60000) {
  const until = Date.now() + timeoutMs;
  let last = -1;
  let stableSince = Date.now();
  for (;;) {
    const n = await merchantTransfersSince(chain, fromBlock);
    if (n >= expected || Date.now() > until) return n;
    if (n !== last) { last = n; stableSince = Date.now(); }
    if (Date.now() - stableSince > 3000) return n;
    await sleep(250);
  }
}

// How many payments a run may need: the stack's expected ceiling times the run, with margin.
const budget = (ctx, perSecond) => Math.ceil(perSecond * ctx.paidSeconds * 1.3) + 50;

async function measure(ctx, name, url, perSecondCeiling, connections = ctx.paidConnections) {
  const { chain, log, dir } = ctx;
  const offer = await getOffer(url);
  if (offer.status !== 402 || !offer.v2) throw new Error(`${name}: expected a v2 402 offer at ${url}, got ${offer.status}`);
  const accepted = offer.v2.accepts[0];
  const resourceUrl = offer.v2.resource.url;
  const sign = async (count, file) => {
    const t = Date.now();
    writeHeaderFile(file, await presignPayments({ devnet: chain, accepted, resourceUrl, count }));
    log(`${name}: ${count} payments signed in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  };
  // Warm-up with its own payments (connections, JIT, first chain reads).
  const warm = path.join(dir, `${name}-warmup.payments`);
  await sign(Math.max(20, ctx.paidConnections * 2), warm);
  const warmFrom = await nextBlock(chain);
  await runWrk({ url, seconds: 1, connections, cpus: ctx.clientCpus, script: "paid.lua",
    env: { WRK_PAYMENTS: warm }, timeoutSeconds: 10 });
  await settledOnChain(chain, warmFrom, Infinity, 10000);

  const runs = [];
  for (let i = 1; i <= ctx.runs; i++) {
    const file = path.join(dir, `${name}-run${i}.payments`);
    const count = budget(ctx, perSecondCeiling);
    await sign(count, file);
    const before = await nextBlock(chain);
    const r = await runWrk({ url, seconds: ctx.paidSeconds, connections, cpus: ctx.clientCpus,
      script: "paid.lua", env: { WRK_PAYMENTS: file }, timeoutSeconds: 10 });
    const ok = r.statuses?.["200"] ?? 0;
    const onChain = await settledOnChain(chain, before, ok);
    const run = {
      paidPerSecond: ok / r.seconds, answered200: ok, requests: r.requests, statuses: r.statuses,
      socketErrors: r.socketErrors, exhausted: r.exhausted_threads > 0, paymentsSigned: count,
      onChain, latency_us: r.latency_us, firstError: r.first_error, seconds: r.seconds,
    };
    log(`paid run ${i}/${ctx.runs} ${name} (${connections} connections): ${run.paidPerSecond.toFixed(1)} paid/s (${ok} answered 200, ` +
      `${onChain} on chain, statuses ${JSON.stringify(r.statuses)}), p50 ${(r.latency_us.p50 / 1000).toFixed(1)} ms` +
      (run.exhausted ? " — RAN OUT OF PAYMENTS: a lower bound" : "") +
      (r.first_error ? `; first non-200: ${r.first_error.slice(0, 160)}` : ""));
    runs.push(run);
  }
  return { runs, summary: summarizeRuns(runs, {
    paidPerSecond: (r) => r.paidPerSecond, p50: (r) => r.latency_us.p50, p99: (r) => r.latency_us.p99,
  }) };
}

// Why the reference facilitator's settles failed (its log: one JSON line per request), by the
// first line of its error message, e.g. relayer nonce collisions under concurrency.
function settleFailures(logFile) {
  const counts = {};
  for (const line of fs.readFileSync(logFile, "utf8").split("\n")) {
    if (!line.includes('"path":"/settle"')) continue;
    let e;
    try { e = JSON.parse(line); } catch { continue; }
    if (e.result?.success !== false) continue;
    const why = `${e.result.errorReason ?? "error"}: ${String(e.result.errorMessage ?? e.result.error ?? "").split("\n")[0]}`;
    counts[why] = (counts[why] ?? 0) + 1;
  }
  return counts;
}

export async function benchPaid(ctx) {
  const { chain, dir, log } = ctx;
  const upstream = await startFixedUpstream(ctx, "upstream-paid");
  const gw = await startBenchX402d({
    name: "x402d-paid", dir, cpus: ctx.serverCpus, devnet: chain, upstream: upstream.url,
    facilitators: [selfhostedFacilitator(chain, [chain.accounts.relayers[0].privateKey])],
    storagePath: path.join(dir, "x402d-paid.db"),
  });
  const x402d = await measure(ctx, "x402d", gw.paidUrl, ctx.paidCeiling?.x402d ?? 600);
  await gw.stop();
  await upstream.stop();

  const facilitator = await startReferenceFacilitator({ devnet: chain, dir, relayer: 1 });
  const express = await startExpressServer({
    dir, facilitatorUrl: facilitator.url, payTo: chain.accounts.merchant.address, price: "$0.001", routePath: "/paid",
  });
  pin(facilitator.child.pid, ctx.serverCpus);
  pin(express.child.pid, ctx.serverCpus);
  log(`reference stack: @x402/express ${express.url} + reference facilitator ${facilitator.url} (cpu ${ctx.serverCpus})`);
  // Same connections as x402d; and one at a time, since concurrent settles from one relayer key
  // collide on its nonce in the reference facilitator (its better figure is the baseline).
  const reference = await measure(ctx, "reference", `${express.url}/paid`, ctx.paidCeiling?.reference ?? 150);
  const referenceSerial = await measure(ctx, "reference-serial", `${express.url}/paid`, ctx.paidCeiling?.referenceSerial ?? 60, 1);
  await express.stop();
  await facilitator.stop();
  reference.settleFailures = settleFailures(facilitator.logFile);

  const best = Math.max(reference.summary.paidPerSecond?.median ?? 0, referenceSerial.summary.paidPerSecond?.median ?? 0);
  const ratio = best > 0 && x402d.summary.paidPerSecond ? x402d.summary.paidPerSecond.median / best : null;
  return { connections: ctx.paidConnections, seconds: ctx.paidSeconds, x402d, reference, referenceSerial, bestReference: best, ratio };
}
