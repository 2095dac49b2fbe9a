// 1. Unpaid path: 402 answers per second from x402d against nginx returning the very same 402
// (status, body and x402 headers, copied from x402d's answer) from a static config. Both servers
// run one worker on the server core; wrk runs on the client core with the same connections.
import path from "node:path";
import { httpFacilitator } from "../../tests/e2e/lib/gateway.mjs";
import { freePort } from "../lib/procs.mjs";
import { startNginx, static402Server } from "../lib/nginx.mjs";
import { runWrk } from "../lib/wrk.mjs";
import { summarizeRuns } from "../lib/stats.mjs";
import { MERCHANT, PAID_PATH, startBenchX402d } from "../lib/x402d.mjs";

const COPIED_HEADERS = ["payment-required", "cache-control", "access-control-expose-headers"];

// All answers must be the 402 (wrk counts every status >= 400 as a status error), none may fail.
function check402(name, r) {
  if (r.requests === 0 || r.errors.status !== r.requests || r.socketErrors > 0) {
    throw new Error(`unpaid ${name}: expected only 402 answers, got ${JSON.stringify(r)}`);
  }
}

export async function benchUnpaid(ctx) {
  const { dir, log } = ctx;
  const gw = await startBenchX402d({
    name: "x402d-unpaid", dir, cpus: ctx.serverCpus, devnet: ctx.devnet, upstream: "http://127.0.0.1:9",
    facilitators: [httpFacilitator("unused", `http://127.0.0.1:${await freePort()}`)],
  });
  const res = await fetch(gw.paidUrl);
  const body = await res.text();
  if (res.status !== 402) throw new Error(`x402d answered ${res.status} to an unpaid request: ${body}`);
  const headers = Object.fromEntries(COPIED_HEADERS.filter((h) => res.headers.get(h)).map((h) => [h, res.headers.get(h)]));
  const nginxPort = await freePort();
  const nginx = await startNginx({
    name: "nginx-402", dir, port: nginxPort, cpus: ctx.serverCpus, probePath: "/",
    server: static402Server({ port: nginxPort, location: `/${MERCHANT}${PAID_PATH}`, body, headers }),
  });
  const targets = { x402d: gw.paidUrl, nginx: `${nginx.url}/${MERCHANT}${PAID_PATH}` };
  const wrk = (url, seconds) => runWrk({ url, seconds, connections: ctx.connections, cpus: ctx.clientCpus });
  for (const url of Object.values(targets)) await wrk(url, ctx.warmupSeconds);

  const runs = [];
  for (let i = 1; i <= ctx.runs; i++) {
    const run = {};
    for (const [name, url] of Object.entries(targets)) {  // interleaved: both see the same noise
      const r = await wrk(url, ctx.seconds);
      check402(name, r);
      run[name] = r;
      log(`unpaid run ${i}/${ctx.runs} ${name}: ${r.rps.toFixed(0)} req/s, p99 ${(r.latency_us.p99 / 1000).toFixed(2)} ms`);
    }
    run.ratio = run.x402d.rps / run.nginx.rps;
    runs.push(run);
  }
  await gw.stop();
  await nginx.stop();
  return {
    connections: ctx.connections, seconds: ctx.seconds,
    bytesPerAnswer: { x402d: runs[0].x402d.bytes / runs[0].x402d.requests, nginx: runs[0].nginx.bytes / runs[0].nginx.requests },
    runs: runs.map((r) => ({ x402d: pick(r.x402d), nginx: pick(r.nginx), ratio: r.ratio })),
    summary: summarizeRuns(runs, {
      x402dRps: (r) => r.x402d.rps, nginxRps: (r) => r.nginx.rps, ratio: (r) => r.ratio,
      x402dP50: (r) => r.x402d.latency_us.p50, x402dP99: (r) => r.x402d.latency_us.p99,
      nginxP50: (r) => r.nginx.latency_us.p50, nginxP99: (r) => r.nginx.latency_us.p99,
    }),
    logs: { x402d: path.relative(dir, gw.logFile) },
  };
}

export const pick = (r) => ({ rps: r.rps, requests: r.requests, latency_us: r.latency_us, errors: r.errors, connections: r.connections });
