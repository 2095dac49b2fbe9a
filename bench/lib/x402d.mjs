// x402d for the benchmarks: the e2e suite's config builder (tests/e2e/lib/gateway.mjs) with the
// benchmark's server section (one worker, a fixed free port, room for 10,000+ connections), started
// pinned with its log going straight to a file.
import fs from "node:fs";
import path from "node:path";
import { X402D, gatewayConfig } from "../../tests/e2e/lib/gateway.mjs";
import { freePort, startPinned, waitForHttp } from "./procs.mjs";

export { X402D };
export const MERCHANT = "shop";
export const PAID_PATH = "/paid";
export const FREE_PATH = "/public/hello";
export const PRICE = "0.001"; // 1000 atomic units of USDC

// The bench merchant: GET /paid costs 0.001 USDC (settled in broadcast mode), /public/** is free.
export function benchRoutes() {
  return [
    { path: PAID_PATH, methods: ["GET"], price: PRICE, description: "bench", settle_mode: "broadcast" },
    { path: "/public/**", free: true },
  ];
}

// devnet: the devnet description (tests/e2e/lib/devnet.mjs) or, without a chain, anything with the
// same token/accounts shape. facilitators as gatewayConfig takes them. extraRoutes go after the
// bench routes; extra adds top-level sections (rate_limits, cache, ...), not server or storage.
export async function startBenchX402d({
  name, dir, cpus, devnet, upstream, facilitators, failover, storagePath = ":memory:", workers = 1,
  extraRoutes = [], extra = {},
}) {
  const port = await freePort();
  const config = gatewayConfig({
    devnet, facilitators, upstream, routes: [...benchRoutes(), ...extraRoutes], merchantId: MERCHANT, failover, extra,
  });
  config.server = {
    listen: `127.0.0.1:${port}`,
    workers,
    limits: { max_connections: 30000 },
    timeouts: { idle_ms: 600000, header_ms: 600000 },
  };
  // Each x402d owns its spool folder (a second process is refused one in use).
  config.storage = { backend: "sqlite", path: storagePath, spool_dir: path.join(dir, `spool-${name}`) };
  if (!fs.existsSync(X402D)) throw new Error(`${X402D} not found: build x402d or set X402D_BUILD_DIR`);
  const configFile = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2) + "\n");
  const proc = await startPinned({
    name, command: X402D, args: ["--config", configFile, "--no-watch"], cpus,
    logFile: path.join(dir, `${name}.log`), ready: /"msg":"x402d listening"/,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/healthz`, { status: 200 });
  return { ...proc, url, port, configFile, paidUrl: `${url}/${MERCHANT}${PAID_PATH}`, freeUrl: `${url}/${MERCHANT}${FREE_PATH}` };
}
