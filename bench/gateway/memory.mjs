// 5. Memory (RSS from /proc, the process and its children):
//   idle:   x402d started with the benchmark config, no traffic yet;
//   held:   with --hold-connections (10,000) keep-alive connections open, each having made one
//           request (the unpaid 402), held idle by bench/gateway/hold-connections.mjs on the
//           client core; nginx (static 402, one worker) measured the same way for scale;
//   soak:   x402d under closed-loop load (unpaid 402 and free pass-through alternating) for
//           --soak-seconds, RSS sampled every second; growth = last sample vs the sample taken once
//           the first 10% of the soak (at least 5 s) is over, i.e. after warm-up allocations.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { httpFacilitator } from "../../tests/e2e/lib/gateway.mjs";
import { freePort, rssKiB, sleep, startPinned } from "../lib/procs.mjs";
import { startNginx, static402Server } from "../lib/nginx.mjs";
import { runWrk } from "../lib/wrk.mjs";
import { summarize } from "../lib/stats.mjs";
import { FREE_PATH, MERCHANT, PAID_PATH, startBenchX402d } from "../lib/x402d.mjs";
import { startFixedUpstream } from "./passthrough.mjs";

const HOLDER = path.join(path.dirname(fileURLToPath(import.meta.url)), "hold-connections.mjs");

async function startGateway(ctx, name, upstream) {
  return startBenchX402d({
    name, dir: ctx.dir, cpus: ctx.serverCpus, devnet: ctx.devnet, upstream: upstream.url,
    facilitators: [httpFacilitator("unused", `http://127.0.0.1:${await freePort()}`)],
  });
}

async function holdConnections(ctx, url, name) {
  return startPinned({
    name, command: process.execPath, args: [HOLDER, "--url", url, "--count", String(ctx.holdConnections)],
    cpus: ctx.clientCpus, logFile: path.join(ctx.dir, `${name}.log`), ready: /holding (\d+)/, timeoutMs: 180000,
  });
}

async function heldRun(ctx, i, upstream) {
  const gw = await startGateway(ctx, `x402d-memory-${i}`, upstream);
  await sleep(2000);
  const idle = rssKiB(gw.pid);
  const holder = await holdConnections(ctx, gw.paidUrl, `hold-x402d-${i}`);
  await sleep(2000);
  const held = rssKiB(gw.pid);
  await holder.stop();
  await gw.stop();

  const port = await freePort();
  const nginx = await startNginx({ name: `nginx-memory-${i}`, dir: ctx.dir, port, cpus: ctx.serverCpus,
    server: static402Server({ port, location: `/${MERCHANT}${PAID_PATH}`, body: "{}", headers: {} }) });
  await sleep(1000);
  const nginxIdle = rssKiB(nginx.pid);
  const nh = await holdConnections(ctx, `${nginx.url}/${MERCHANT}${PAID_PATH}`, `hold-nginx-${i}`);
  await sleep(2000);
  const nginxHeld = rssKiB(nginx.pid);
  await nh.stop();
  await nginx.stop();
  ctx.log(`memory run ${i}/${ctx.runs}: x402d idle ${(idle / 1024).toFixed(1)} MiB, with ${ctx.holdConnections} connections ` +
    `${(held / 1024).toFixed(1)} MiB; nginx ${(nginxIdle / 1024).toFixed(1)} -> ${(nginxHeld / 1024).toFixed(1)} MiB`);
  return { idleKiB: idle, heldKiB: held, perConnectionBytes: ((held - idle) * 1024) / ctx.holdConnections,
    nginxIdleKiB: nginxIdle, nginxHeldKiB: nginxHeld };
}

async function soakRun(ctx, i, upstream) {
  const gw = await startGateway(ctx, `x402d-soak-${i}`, upstream);
  const samples = [];
  const t0 = Date.now();
  const sampler = setInterval(() => samples.push({ t: (Date.now() - t0) / 1000, rssKiB: rssKiB(gw.pid) }), 1000);
  const r = await runWrk({ url: gw.url, seconds: ctx.soakSeconds, connections: ctx.connections, cpus: ctx.clientCpus,
    script: "mixed.lua", env: { WRK_PAID_PATH: `/${MERCHANT}${PAID_PATH}`, WRK_FREE_PATH: `/${MERCHANT}${FREE_PATH}` } });
  clearInterval(sampler);
  await gw.stop();
  if (r.socketErrors > 0 || r.requests === 0) throw new Error(`soak: wrk saw errors ${JSON.stringify(r.errors)}`);
  const warmAt = Math.max(5, ctx.soakSeconds * 0.1);
  const warm = samples.find((s) => s.t >= warmAt) ?? samples[0];
  const last = samples.at(-1);
  const growthPct = ((last.rssKiB - warm.rssKiB) / warm.rssKiB) * 100;
  ctx.log(`soak run ${i}/${ctx.soakRuns}: ${r.requests} requests (${r.rps.toFixed(0)}/s), RSS ${(warm.rssKiB / 1024).toFixed(1)} MiB ` +
    `at ${warm.t.toFixed(0)} s -> ${(last.rssKiB / 1024).toFixed(1)} MiB at ${last.t.toFixed(0)} s (${growthPct.toFixed(2)}%)`);
  return { requests: r.requests, rps: r.rps, answered402: r.errors.status, warmKiB: warm.rssKiB, warmAtSeconds: warm.t,
    endKiB: last.rssKiB, peakKiB: Math.max(...samples.map((s) => s.rssKiB)), growthPct, samples };
}

export async function benchMemory(ctx) {
  const upstream = await startFixedUpstream(ctx, "upstream-memory");
  const held = [];
  for (let i = 1; i <= ctx.runs; i++) held.push(await heldRun(ctx, i, upstream));
  const soak = [];
  for (let i = 1; i <= ctx.soakRuns; i++) soak.push(await soakRun(ctx, i, upstream));
  await upstream.stop();
  const s = (xs, f) => summarize(xs.map(f));
  return {
    holdConnections: ctx.holdConnections, soakSeconds: ctx.soakSeconds, soakRuns: ctx.soakRuns,
    held, soak,
    summary: {
      idleMiB: s(held, (r) => r.idleKiB / 1024), heldMiB: s(held, (r) => r.heldKiB / 1024),
      perConnectionBytes: s(held, (r) => r.perConnectionBytes),
      nginxIdleMiB: s(held, (r) => r.nginxIdleKiB / 1024), nginxHeldMiB: s(held, (r) => r.nginxHeldKiB / 1024),
      soakGrowthPct: s(soak, (r) => r.growthPct), soakEndMiB: s(soak, (r) => r.endKiB / 1024), soakRps: s(soak, (r) => r.rps),
    },
  };
}
