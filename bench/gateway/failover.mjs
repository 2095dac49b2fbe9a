// 4. Failover cost: the latency a paid request pays when the first facilitator in x402d's list is
// broken, against the same x402d with only the working facilitator (the self-hosted one, broadcast
// settle). Requests are sent one at a time by this driver with pre-signed payments; each run's
// figure is the median request latency, and "added" = that minus the baseline run's median.
//   refused:  the first facilitator's port refuses connections (it answered GET /supported before
//             it went down, so x402d really asks it first). Breaker kept closed (threshold 1000):
//             every request tries it. "breaker open": default threshold 3, measured after it opened.
//   hangs:    the first facilitator accepts the request and never answers; before the breaker opens
//             every request waits for its attempt timeout (set to HANG_TIMEOUT_MS here), after it
//             opened the facilitator is skipped.
import fs from "node:fs";
import path from "node:path";
import { getOffer, encodeHeader } from "../../tests/e2e/lib/payments.mjs";
import { httpFacilitator, selfhostedFacilitator } from "../../tests/e2e/lib/gateway.mjs";
import { startHangingServer } from "../../tests/e2e/lib/peers.mjs";
import { waitForLog } from "../../tests/e2e/lib/processes.mjs";
import { presignPayments } from "../lib/payments.mjs";
import { summarize } from "../lib/stats.mjs";
import { startBenchX402d } from "../lib/x402d.mjs";
import { startFixedUpstream } from "./passthrough.mjs";

export const HANG_TIMEOUT_MS = 100;
const OPEN_MS = 3600000;  // no half-open probe during the measurement
const WARMUP = 4;          // requests before measuring: connections, and the breaker opening

// What the broken facilitator says it supports, so x402d orders it first.
function supportedKinds(chain) {
  return { kinds: [
    { x402Version: 2, scheme: "exact", network: chain.network },
    { x402Version: 1, scheme: "exact", network: chain.v1Network },
  ], extensions: [], signers: {} };
}

const CASES = {
  baseline: { first: null, threshold: 3 },
  refused: { first: "refused", threshold: 1000 },
  refusedBreakerOpen: { first: "refused", threshold: 3 },
  hangs: { first: "hangs", threshold: 1000, requests: 5 },
  hangsBreakerOpen: { first: "hangs", threshold: 3 },
};

async function startCase(ctx, name, spec, upstream) {
  const { chain, dir } = ctx;
  const working = selfhostedFacilitator(chain, [chain.accounts.relayers[2].privateKey], { name: "working" });
  let broken = null;
  let facilitators = [working];
  if (spec.first) {
    broken = await startHangingServer({ dir, name: `facilitator-${name}`, supported: supportedKinds(chain) });
    facilitators = [httpFacilitator("broken", broken.url, spec.first === "hangs" ? { attemptTimeoutMs: HANG_TIMEOUT_MS } : {}), working];
  }
  const gw = await startBenchX402d({
    name: `x402d-failover-${name}`, dir, cpus: ctx.serverCpus, devnet: chain, upstream: upstream.url, facilitators,
    failover: { breaker: { failure_threshold: spec.threshold, open_ms: OPEN_MS } },
    storagePath: path.join(dir, `x402d-failover-${name}.db`),
  });
  if (broken) {
    await waitForLog(broken.logFile, /answered GET \/supported/);
    if (spec.first === "refused") await broken.stop();  // its port now refuses connections
  }
  return { gw, broken };
}

// The access log must show that the measured requests met the broken facilitator as intended:
// tried first (refused / timed out) while the breaker is closed, skipped once it is open.
function checkAttempts(gw, name, spec, measured) {
  const entries = fs.readFileSync(gw.logFile, "utf8").split("\n").filter((l) => l.includes('"msg":"request"'))
    .map((l) => JSON.parse(l)).filter((e) => e.facilitator_attempts?.length).slice(-measured);
  const expected = !spec.first || spec.threshold <= WARMUP - 1 ? "working"
    : `broken:${spec.first === "refused" ? "not_sent" : "timeout"}`;
  for (const e of entries) {
    const a = e.facilitator_attempts[0];
    const got = a.facilitator === "working" ? "working" : `broken:${a.outcome}`;
    if (got !== expected) throw new Error(`failover ${name}: a measured request's first attempt was ${got}, expected ${expected}`);
  }
  if (entries.length !== measured) throw new Error(`failover ${name}: ${entries.length} paid requests in the log, expected ${measured}`);
}

async function paidRequest(url, header) {
  const t = process.hrtime.bigint();
  const res = await fetch(url, { headers: { "PAYMENT-SIGNATURE": header }, signal: AbortSignal.timeout(30000) });
  const body = await res.text();
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (res.status !== 200) throw new Error(`failover: paid request answered ${res.status}: ${body.slice(0, 300)}`);
  return ms;
}

export async function benchFailover(ctx) {
  const { chain, log } = ctx;
  const upstream = await startFixedUpstream(ctx, "upstream-failover");
  // All five gateways run side by side (idle but one), and every run goes through the cases in
  // turn, so the machine's noise of the moment hits each case and its baseline alike.
  const live = {};
  for (const [name, spec] of Object.entries(CASES)) {
    const { gw, broken } = await startCase(ctx, name, spec, upstream);
    const perRun = spec.requests ?? ctx.failoverRequests;
    const offer = await getOffer(gw.paidUrl);
    const headers = (await presignPayments({
      devnet: chain, accepted: offer.v2.accepts[0], resourceUrl: offer.v2.resource.url, count: WARMUP + ctx.runs * perRun,
    })).map(encodeHeader);
    for (let i = 0; i < WARMUP; i++) await paidRequest(gw.paidUrl, headers.shift());
    live[name] = { gw, broken, spec, perRun, headers, runs: [] };
  }
  for (let r = 0; r < ctx.runs; r++) {
    for (const c of Object.values(live)) {
      const ms = [];
      for (let i = 0; i < c.perRun; i++) ms.push(await paidRequest(c.gw.paidUrl, c.headers.shift()));
      const s = summarize(ms);
      c.runs.push({ medianMs: s.median, minMs: s.min, maxMs: s.max, requests: ms.length });
    }
  }
  const cases = {};
  for (const [name, c] of Object.entries(live)) {
    await c.gw.stop();
    await c.broken?.stop();
    checkAttempts(c.gw, name, c.spec, ctx.runs * c.perRun);
    cases[name] = { runs: c.runs, requestsPerRun: c.perRun, breakerThreshold: c.spec.threshold };
    log(`failover ${name}: median ${c.runs.map((x) => x.medianMs.toFixed(2)).join(" / ")} ms`);
  }
  await upstream.stop();
  const summary = {};
  for (const [name, c] of Object.entries(cases)) {
    summary[name] = {
      latencyMs: summarize(c.runs.map((r) => r.medianMs)),
      addedMs: name === "baseline" ? null : summarize(c.runs.map((r, i) => r.medianMs - cases.baseline.runs[i].medianMs)),
    };
  }
  return { hangTimeoutMs: HANG_TIMEOUT_MS, warmupRequests: WARMUP, cases, summary };
}
