// x402d for the e2e suite: a generated config (see docs/configuration.md) and the real binary from
// the build tree (X402_BUILD_DIR, default <repo>/build; plugins in <build>/plugins).
import fs from "node:fs";
import path from "node:path";
import { BUILD_DIR, startProcess, waitForLog } from "./processes.mjs";

export const X402D = path.join(BUILD_DIR, "x402d");

// A facilitator entry for a standard HTTP facilitator (the reference one, a test double, ...).
export function httpFacilitator(name, url, { attemptTimeoutMs } = {}) {
  return {
    name,
    plugin: "facilitator-http",
    ...(attemptTimeoutMs ? { attempt_timeout_ms: attemptTimeoutMs } : {}),
    config: { preset: "generic", url },
  };
}

// The config as an object. facilitators: a list of config entries in priority order (use
// httpFacilitator() or write any plugin's entry by hand). Routes default to one paid GET route,
// /weather at "0.01" USDC, under merchant "shop" paying devnet's merchant account.
export function gatewayConfig({
  devnet, facilitators, upstream, routes, merchantId = "shop", payTo, failover, plugins, extra = {},
}) {
  if (!facilitators?.length) throw new Error("gatewayConfig needs at least one facilitator");
  return {
    server: { listen: "127.0.0.1:0", workers: 1 },
    storage: { backend: "sqlite", path: ":memory:" },
    ...(plugins ? { plugins } : {}),
    ...(failover ? { failover } : {}),
    facilitators,
    assets: [{
      symbol: "USDC",
      network: devnet.v1Network,
      address: devnet.token.address,
      decimals: devnet.token.decimals,
      eip712: { name: devnet.token.name, version: devnet.token.version },
    }],
    merchants: [{
      id: merchantId,
      upstream,
      pay_to: payTo ?? devnet.accounts.merchant.address,
      routes: routes ?? [{ path: "/weather", methods: ["GET"], price: "0.01", description: "e2e weather" }],
    }],
    ...extra,
  };
}

// Writes the config to <dir>/<name>.yaml (JSON is YAML) and starts x402d on a free port.
// Resolves to {url, port, configFile, logFile, child, stop()} once x402d says it listens.
export async function startX402d({ name = "x402d", dir, config }) {
  if (!fs.existsSync(X402D)) {
    throw new Error(`${X402D} not found: build it (ninja -C ${BUILD_DIR} x402d facilitator-http ` +
      "routing-priority) or set X402_BUILD_DIR");
  }
  const configFile = path.join(dir, `${name}.yaml`);
  // Each x402d owns its spool folder (it refuses one another process holds), and several
  // gateways of one test share `dir`: give each its own unless the config names one.
  if (!config.storage?.spool_dir) config = { ...config, storage: { ...config.storage, spool_dir: `spool-${name}` } };
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2) + "\n");
  const started = await startProcess({
    name,
    command: X402D,
    args: ["--config", configFile, "--no-watch"],
    logFile: path.join(dir, `${name}.log`),
    ready: /"msg":"x402d listening".*?"port":(\d+)/,
  });
  const port = Number(started.match[1]);
  return { ...started, port, url: `http://127.0.0.1:${port}`, configFile };
}

// x402d's access log (one JSON line per request, msg "request"), parsed; each entry carries
// facilitator_attempts [{facilitator, operation, outcome, ...}] when facilitators were asked.
export function requestLog(gw) {
  return fs.readFileSync(gw.logFile, "utf8").split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => { try { return JSON.parse(l); } catch { return null; } })
    .filter((e) => e && e.msg === "request");
}

// Waits (up to timeoutMs) for the first access-log entry that `matches`: x402d writes access
// lines in batches, up to 50 ms after the response went out.
async function waitForEntry(gw, matches, timeoutMs) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const entry = requestLog(gw).filter(matches).at(-1);
    if (entry || Date.now() > until) return entry;
    await new Promise((r) => setTimeout(r, 25));
  }
}

// The access-log entry of the request that got `response` (anything with fetch-style headers),
// found by its X-Request-Id.
export function requestEntry(gw, response, { timeoutMs = 5000 } = {}) {
  const id = response.headers.get("x-request-id");
  if (!id) throw new Error("the response carries no X-Request-Id");
  return waitForEntry(gw, (e) => e.request_id === id, timeoutMs);
}

// The access-log entry of the request paid by `payer`: only for a payer with a single paid request
// at this gateway (otherwise use requestEntry).
export function paidRequestEntry(gw, payer, { timeoutMs = 5000 } = {}) {
  return waitForEntry(gw, (e) => e.payer?.toLowerCase() === payer.toLowerCase(), timeoutMs);
}

// [[facilitator, operation, outcome], ...] of an access-log entry, for compact assertions.
export const attemptsOf = (entry) =>
  (entry?.facilitator_attempts ?? []).map((a) => [a.facilitator, a.operation, a.outcome]);

// A facilitator entry for x402d's own facilitator (facilitator-selfhosted, see
// docs/selfhosted-facilitator.md) settling on the devnet from `relayerKeys`. `config` adds to or
// overrides the plugin's config keys (batch_size, stuck_after_seconds, gas: {...}, ...).
export function selfhostedFacilitator(devnet, relayerKeys, { name = "selfhosted", config = {} } = {}) {
  return {
    name,
    plugin: "facilitator-selfhosted",
    config: {
      rpc_url: devnet.rpcUrl,
      chain_id: devnet.chainId,
      relayer_keys: relayerKeys,
      assets: [devnet.token.address],
      receipt_poll_ms: 50,
      settle_wait_timeout_ms: 30000,
      ...config,
    },
  };
}

// The config's facilitator_api section: x402d serves POST /verify, POST /settle, GET /supported
// for other x402 servers, answered by facilitator `facilitator`, on its own free port.
export const facilitatorApiSection = (facilitator, listen = "127.0.0.1:0") => ({ listen, facilitator });

// The base URL of a started gateway's facilitator API (its port is in the "facilitator API
// listening" log line).
export async function facilitatorApiUrl(gw, { timeoutMs = 10000 } = {}) {
  const m = await waitForLog(gw.logFile, /"msg":"facilitator API listening".*?"port":(\d+)/, { timeoutMs });
  return `http://127.0.0.1:${m[1]}`;
}

// Starts x402d again on the very config file `gw` ran with (same storage, same keys): the restart
// after a crash. `name` names the new log file (<dir>/<name>.log).
export async function restartX402d(gw, { name }) {
  const dir = path.dirname(gw.configFile);
  const started = await startProcess({
    name,
    command: X402D,
    args: ["--config", gw.configFile, "--no-watch"],
    logFile: path.join(dir, `${name}.log`),
    ready: /"msg":"x402d listening".*?"port":(\d+)/,
  });
  const port = Number(started.match[1]);
  return { ...started, port, url: `http://127.0.0.1:${port}`, configFile: gw.configFile };
}
