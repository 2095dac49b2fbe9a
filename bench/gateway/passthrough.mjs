// 2. Free route pass-through: the same fast upstream (nginx returning a fixed JSON body) hit
// directly, through nginx as a reverse proxy, and through x402d on a free route. Upstream and proxy
// share the server core (the upstream's cost is in every figure alike); wrk is on the client core.
// Peak: closed-loop wrk. Added latency: paced wrk at half of x402d's peak rate, the same rate for
// all three; added p99 = p99 through a proxy - p99 of the upstream alone, run by run.
import { httpFacilitator } from "../../tests/e2e/lib/gateway.mjs";
import { freePort } from "../lib/procs.mjs";
import { fixedBodyServer, proxyServer, startNginx } from "../lib/nginx.mjs";
import { runWrk, runWrkPaced } from "../lib/wrk.mjs";
import { summarize, summarizeRuns } from "../lib/stats.mjs";
import { FREE_PATH, MERCHANT, startBenchX402d } from "../lib/x402d.mjs";
import { pick } from "./unpaid.mjs";

export const UPSTREAM_BODY = JSON.stringify({ message: "hello from the benchmark upstream", items: [1, 2, 3, 4, 5], ok: true });

export async function startFixedUpstream(ctx, name = "upstream") {
  const port = await freePort();
  return startNginx({ name, dir: ctx.dir, port, cpus: ctx.serverCpus, server: fixedBodyServer({ port, body: UPSTREAM_BODY }) });
}

function checkOk(name, r) {
  if (r.requests === 0 || r.errors.status > 0 || r.socketErrors > 0) {
    throw new Error(`pass-through ${name}: expected only 200 answers, got ${JSON.stringify(r)}`);
  }
}

export async function benchPassthrough(ctx) {
  const { dir, log } = ctx;
  const upstream = await startFixedUpstream(ctx);
  const proxyPort = await freePort();
  const nginx = await startNginx({
    name: "nginx-proxy", dir, port: proxyPort, cpus: ctx.serverCpus, probePath: `/${MERCHANT}${FREE_PATH}`,
    server: proxyServer({ port: proxyPort, prefix: `/${MERCHANT}`, upstreamPort: upstream.port }),
  });
  const gw = await startBenchX402d({
    name: "x402d-passthrough", dir, cpus: ctx.serverCpus, devnet: ctx.devnet, upstream: upstream.url,
    facilitators: [httpFacilitator("unused", `http://127.0.0.1:${await freePort()}`)],
  });
  const targets = {
    upstream: `${upstream.url}${FREE_PATH}`,
    nginx: `${nginx.url}/${MERCHANT}${FREE_PATH}`,
    x402d: gw.freeUrl,
  };
  for (const [name, url] of Object.entries(targets)) {
    const res = await fetch(url);
    const text = await res.text();
    if (res.status !== 200 || text !== UPSTREAM_BODY) throw new Error(`${name} at ${url} answered ${res.status}: ${text}`);
    await runWrk({ url, seconds: ctx.warmupSeconds, connections: ctx.connections, cpus: ctx.clientCpus });
  }

  const peakRuns = [];
  for (let i = 1; i <= ctx.runs; i++) {
    const run = {};
    for (const [name, url] of Object.entries(targets)) {
      const r = await runWrk({ url, seconds: ctx.seconds, connections: ctx.connections, cpus: ctx.clientCpus });
      checkOk(name, r);
      run[name] = r;
      log(`pass-through peak run ${i}/${ctx.runs} ${name}: ${r.rps.toFixed(0)} req/s, p50 ${(r.latency_us.p50 / 1000).toFixed(2)} ms, p99 ${(r.latency_us.p99 / 1000).toFixed(2)} ms`);
    }
    peakRuns.push(run);
  }
  const halfRate = summarize(peakRuns.map((r) => r.x402d.rps)).median / 2;

  const halfRuns = [];
  for (let i = 1; i <= ctx.runs; i++) {
    const run = {};
    for (const [name, url] of Object.entries(targets)) {
      const r = await runWrkPaced({ url, rate: halfRate, seconds: ctx.seconds, cpus: ctx.clientCpus });
      checkOk(name, r);
      run[name] = r;
      log(`pass-through at half load run ${i}/${ctx.runs} ${name}: ${r.rps.toFixed(0)} req/s, p50 ${(r.latency_us.p50 / 1000).toFixed(3)} ms, p99 ${(r.latency_us.p99 / 1000).toFixed(3)} ms`);
    }
    halfRuns.push(run);
  }
  await gw.stop();
  await nginx.stop();
  await upstream.stop();
  const names = Object.keys(targets);
  const per = (runs, fields) => Object.fromEntries(names.flatMap((n) =>
    Object.entries(fields).map(([f, get]) => [`${n}${f}`, (r) => get(r[n])])));
  return {
    connections: ctx.connections, seconds: ctx.seconds, halfRate, upstreamBodyBytes: UPSTREAM_BODY.length,
    pacedConnections: Math.max(1, Math.round(halfRate * 10 / 1000)), pacedDelayMs: 10,
    peak: {
      runs: peakRuns.map((r) => Object.fromEntries(names.map((n) => [n, pick(r[n])]))),
      summary: summarizeRuns(peakRuns, {
        ...per(peakRuns, { Rps: (x) => x.rps, P50: (x) => x.latency_us.p50, P99: (x) => x.latency_us.p99 }),
        x402dVsNginx: (r) => r.x402d.rps / r.nginx.rps,
      }),
    },
    half: {
      runs: halfRuns.map((r) => Object.fromEntries(names.map((n) => [n, pick(r[n])]))),
      summary: summarizeRuns(halfRuns, {
        ...per(halfRuns, { Rps: (x) => x.rps, P50: (x) => x.latency_us.p50, P99: (x) => x.latency_us.p99 }),
        x402dAddedP99: (r) => r.x402d.latency_us.p99 - r.upstream.latency_us.p99,
        nginxAddedP99: (r) => r.nginx.latency_us.p99 - r.upstream.latency_us.p99,
        x402dAddedP50: (r) => r.x402d.latency_us.p50 - r.upstream.latency_us.p50,
        nginxAddedP50: (r) => r.nginx.latency_us.p50 - r.upstream.latency_us.p50,
      }),
    },
  };
}
