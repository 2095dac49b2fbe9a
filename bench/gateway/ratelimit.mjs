// 6. Rate-limit stage: what a tier in front of a route costs. The fixed nginx upstream of the
// pass-through benchmark, reached through x402d on a free route without a tier (the baseline),
// on a free route behind a tier deciding in x402d's memory (cache: memory), and on the same route
// in a second x402d whose tier decides with one EVALSHA per request on Redis (cache: redis).
// Closed-loop wrk, interleaved runs; ratios run by run against the baseline.
import { execFileSync } from "node:child_process";
import path from "node:path";
import { httpFacilitator } from "../../tests/e2e/lib/gateway.mjs";
import { startRedis } from "../../tests/e2e/lib/services.mjs";
import { freePort } from "../lib/procs.mjs";
import { runWrk } from "../lib/wrk.mjs";
import { summarizeRuns } from "../lib/stats.mjs";
import { MERCHANT, startBenchX402d } from "../lib/x402d.mjs";
import { UPSTREAM_BODY, startFixedUpstream } from "./passthrough.mjs";
import { pick } from "./unpaid.mjs";

const TIER = "bench";
const LIMITED_PATH = "/limited/hello";
// Every wrk connection comes from 127.0.0.1, so all requests spend one client's bucket: it must
// never run dry. Refilled at one request per microsecond (the plugin's fastest rate, far above
// what one core serves) with a burst of 1e9: every check does the full work and admits.
const NEVER_REFUSE = { requests: 1000000000, window_ms: 1000000, burst: 1000000000 };

const limitedRoutes = () => [{ path: "/limited/**", free: true, rate_limit: TIER }];
const rateLimits = () => [{ name: TIER, config: NEVER_REFUSE }];

// wrk counts every status >= 400 as a status error: here that would be a 429 from the tier (or an
// upstream failure); either makes the figure meaningless.
function checkOk(name, r) {
  if (r.requests === 0 || r.errors.status > 0 || r.socketErrors > 0) {
    throw new Error(`rate limit ${name}: expected only 200 answers (a status error here is most likely a 429 ` +
      `from the tier: its quota is too small for the load), got ${JSON.stringify(r)}`);
  }
}

// The value of every series of `name` in x402d's /metrics whose labels include all of `labels`,
// summed (0 when there is none).
async function metricSum(gw, name, labels) {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!labels.every((l) => line.includes(l))) continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

// The tier's decisions so far: admitted, refused, and made without Redis (degraded).
async function decisions(gw) {
  const tier = `tier="${TIER}"`;
  return {
    allowed: await metricSum(gw, "x402_ratelimit_decisions_total", [tier, 'result="allowed"']),
    limited: await metricSum(gw, "x402_ratelimit_decisions_total", [tier, 'result="limited"']),
    degraded: await metricSum(gw, "x402_ratelimit_degraded_decisions_total", [tier]),
  };
}

function redisInfo(redis, section) {
  const text = execFileSync("redis-cli", ["-p", String(redis.port), "info", section], { encoding: "utf8" });
  return Object.fromEntries(text.split(/\r?\n/).filter((l) => l.includes(":")).map((l) => {
    const i = l.indexOf(":");
    return [l.slice(0, i), l.slice(i + 1)];
  }));
}

const evalshaCalls = (redis) => Number((redisInfo(redis, "commandstats").cmdstat_evalsha ?? "calls=0").match(/calls=(\d+)/)[1]);

export async function benchRateLimit(ctx) {
  const { dir, log } = ctx;
  const upstream = await startFixedUpstream(ctx);
  // Redis is part of the system under test (every check of the redis tier is a round trip to it),
  // so it shares the server core with x402d and the upstream, like every other server here.
  const redis = await startRedis({ dir });
  const redisServer = redisInfo(redis, "server");
  execFileSync("taskset", ["-a", "-cp", ctx.serverCpus, redisServer.process_id], { stdio: "ignore" });
  const common = {
    dir, cpus: ctx.serverCpus, devnet: ctx.devnet, upstream: upstream.url,
    facilitators: [httpFacilitator("unused", `http://127.0.0.1:${await freePort()}`)],
    extraRoutes: limitedRoutes(),
  };
  const gwMemory = await startBenchX402d({
    ...common, name: "x402d-ratelimit-memory", extra: { rate_limits: rateLimits(), cache: { backend: "memory" } },
  });
  const gwRedis = await startBenchX402d({
    ...common, name: "x402d-ratelimit-redis", extra: { rate_limits: rateLimits(), cache: { backend: "redis", url: redis.url } },
  });
  const targets = {
    baseline: { url: gwMemory.freeUrl, limited: false },
    memory: { url: `${gwMemory.url}/${MERCHANT}${LIMITED_PATH}`, limited: true },
    redis: { url: `${gwRedis.url}/${MERCHANT}${LIMITED_PATH}`, limited: true },
  };
  // The limited routes really pass a tier (the draft's RateLimit-Policy names it), the baseline none.
  for (const [name, t] of Object.entries(targets)) {
    const res = await fetch(t.url);
    const text = await res.text();
    if (res.status !== 200 || text !== UPSTREAM_BODY) throw new Error(`${name} at ${t.url} answered ${res.status}: ${text}`);
    const policy = res.headers.get("ratelimit-policy");
    if (t.limited && !policy?.includes(`"${TIER}"`)) {
      throw new Error(`${name} at ${t.url}: expected a RateLimit-Policy header naming tier "${TIER}", got ${policy}`);
    }
    if (!t.limited && policy !== null) throw new Error(`${name} at ${t.url}: the baseline carries RateLimit-Policy: ${policy}`);
  }
  const evalshaBefore = evalshaCalls(redis);
  if (evalshaBefore < 1) throw new Error("the redis tier's check did not reach Redis (no EVALSHA in INFO commandstats)");
  for (const t of Object.values(targets)) {
    checkOk("warm-up", await runWrk({ url: t.url, seconds: ctx.warmupSeconds, connections: ctx.connections, cpus: ctx.clientCpus }));
  }

  const before = { memory: await decisions(gwMemory), redis: await decisions(gwRedis) };
  const evalshaStart = evalshaCalls(redis);
  const runs = [];
  for (let i = 1; i <= ctx.runs; i++) {
    const run = {};
    for (const [name, t] of Object.entries(targets)) {  // interleaved: all three see the same noise
      const r = await runWrk({ url: t.url, seconds: ctx.seconds, connections: ctx.connections, cpus: ctx.clientCpus });
      checkOk(name, r);
      run[name] = r;
      log(`rate limit run ${i}/${ctx.runs} ${name}: ${r.rps.toFixed(0)} req/s, p50 ${(r.latency_us.p50 / 1000).toFixed(2)} ms, p99 ${(r.latency_us.p99 / 1000).toFixed(2)} ms`);
    }
    runs.push(run);
  }
  const evalshaMeasured = evalshaCalls(redis) - evalshaStart;
  const after = { memory: await decisions(gwMemory), redis: await decisions(gwRedis) };
  // Every measured request of a limited target was admitted by its tier, none refused, and the
  // redis tier decided on Redis (not in its fallback memory) every time.
  const requests = (name) => runs.reduce((a, r) => a + r[name].requests, 0);
  const tierDecisions = {};
  for (const name of ["memory", "redis"]) {
    const d = Object.fromEntries(Object.keys(after[name]).map((k) => [k, after[name][k] - before[name][k]]));
    tierDecisions[name] = { ...d, requests: requests(name) };
    if (d.limited !== 0 || d.degraded !== 0 || d.allowed < requests(name)) {
      throw new Error(`rate limit ${name}: expected every request admitted by the tier, none refused or degraded: ${JSON.stringify(tierDecisions[name])}`);
    }
  }
  if (evalshaMeasured < requests("redis")) {
    throw new Error(`rate limit redis: ${evalshaMeasured} EVALSHA calls on Redis for ${requests("redis")} requests`);
  }
  log(`rate limit: tier decisions ${JSON.stringify(tierDecisions)}; ${evalshaMeasured} EVALSHA on Redis`);

  await gwRedis.stop();
  await gwMemory.stop();
  await redis.stop();
  await upstream.stop();
  const names = Object.keys(targets);
  const per = Object.fromEntries(names.flatMap((n) => [
    [`${n}Rps`, (r) => r[n].rps], [`${n}P50`, (r) => r[n].latency_us.p50], [`${n}P99`, (r) => r[n].latency_us.p99],
  ]));
  return {
    connections: ctx.connections, seconds: ctx.seconds, tier: { name: TIER, config: NEVER_REFUSE },
    redisVersion: redisServer.redis_version,
    // Decisions and EVALSHA calls exceed wrk's count by the requests in flight when a run ended.
    tierDecisions, evalshaCalls: evalshaMeasured, evalshaPerRequest: evalshaMeasured / requests("redis"),
    runs: runs.map((r) => Object.fromEntries(names.map((n) => [n, pick(r[n])]))),
    summary: summarizeRuns(runs, {
      ...per,
      memoryVsBaseline: (r) => r.memory.rps / r.baseline.rps,
      redisVsBaseline: (r) => r.redis.rps / r.baseline.rps,
    }),
    logs: { memory: path.relative(dir, gwMemory.logFile), redis: path.relative(dir, gwRedis.logFile) },
  };
}
