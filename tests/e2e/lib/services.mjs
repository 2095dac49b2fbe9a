// The shared state of a multi-node deployment for one e2e file: a throwaway PostgreSQL cluster
// (tests/support/postgres-server.sh) and a redis-server (or a Redis Cluster), all on free loopback
// ports and all killable and restartable on the same port, so a test can take any away mid-load.
import { execFile } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { REPO, closedPort as freePort, startProcess, stopProcess } from "./processes.mjs";

const run = promisify(execFile);
const PG_BIN = "/usr/lib/postgresql/15/bin";
const PG_SCRIPT = path.join(REPO, "tests/support/postgres-server.sh");

// As the postgres OS user when we are root (postgres refuses to run as root).
const asPostgres = (command, args) =>
  process.getuid?.() === 0 ? run("runuser", ["-u", "postgres", "--", command, ...args]) : run(command, args);

// Resolves to {url, port, query(sql), kill(), restart(), stop()}.
export async function startPostgres({ dir }) {
  const stateDir = path.join(dir, "postgres");
  let started;
  try {
    started = await run("bash", [PG_SCRIPT, "start", stateDir], { timeout: 120000 });
  } catch (e) {
    throw new Error(`PostgreSQL did not start (${PG_SCRIPT}): ${e.stderr || e.message}`);
  }
  const url = started.stdout.trim().split("\n").at(-1);
  const port = Number(new URL(url).port);
  const dataRoot = fs.readFileSync(path.join(stateDir, "datadir"), "utf8").trim();
  const data = path.join(dataRoot, "data");
  const pgCtl = (...args) => asPostgres(`${PG_BIN}/pg_ctl`, ["-D", data, ...args]);
  return {
    url,
    port,
    // One statement through psql; rows as arrays of strings.
    query: async (sql) => {
      const { stdout } = await run(`${PG_BIN}/psql`, ["-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", url, "-c", sql]);
      return stdout.split("\n").filter((l) => l.length).map((l) => l.split("\t"));
    },
    // The whole server dies at once, as on a crash (no checkpoint, no goodbye to clients).
    kill: () => pgCtl("-m", "immediate", "-w", "stop"),
    restart: () => pgCtl("-l", path.join(dataRoot, "server.log"), "-w", "-t", "60", "-o",
      // As postgres-server.sh starts it: acknowledged commits survive a kill of the processes.
      `-p ${port} -k ${dataRoot} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off ` +
        "-c max_connections=300",
      "start"),
    stop: () => run("bash", [PG_SCRIPT, "stop", stateDir]).catch(() => {}),
  };
}

// Resolves to {url, port, kill(), restart(), stop()}.
export async function startRedis({ dir }) {
  const port = await freePort();
  let current;
  const launch = async (generation) => {
    current = await startProcess({
      name: "redis-server",
      command: "redis-server",
      args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      logFile: path.join(dir, `redis-${generation}.log`),
      ready: /Ready to accept connections/,
    });
  };
  let generation = 1;
  await launch(generation);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill: async () => {
      const child = current.child;
      const gone = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await gone;
    },
    restart: () => launch(++generation),
    stop: () => stopProcess(current.child),
  };
}

// A loopback port p with p + 10000 free too (a cluster node's bus listens there, so p stays
// ≤ 55535), and neither in `taken`. Bound by the OS, then released, like closedPort().
async function clusterPortPair(taken) {
  const bindable = (port) => new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
  let candidate = 20000 + Math.floor(Math.random() * 25000);
  for (let tries = 0; tries < 2000; tries += 1, candidate = candidate >= 45000 ? 20000 : candidate + 1) {
    if ([candidate, candidate + 10000].some((p) => taken.has(p))) continue;
    if ((await bindable(candidate)) && (await bindable(candidate + 10000))) {
      taken.add(candidate).add(candidate + 10000);
      return candidate;
    }
  }
  throw new Error("Redis Cluster: no free loopback port pair (p, p + 10000) in 20000–55000");
}

// A Redis Cluster of `masters` masters (no replicas) on loopback, joined with
// `redis-cli --cluster create`, as docs/operations.md#redis-cluster runs it: a lost master takes
// only its own slots away (cluster-require-full-coverage no), and a restarted one rejoins with its
// identity and slots from its nodes.conf. Its data is not persisted: a restarted master is empty.
// Resolves, once every node says cluster_state:ok, to
//   {url (a seed: master 0), nodes: [{port, kill(), restart()}],
//    cli(...args) (redis-cli against a running master), slotOwner(key) (the master index owning
//    the key's slot), keysOn(i, pattern), stop()}.
export async function startRedisCluster({ dir, masters = 3 }) {
  const root = path.join(dir, "redis-cluster");
  fs.rmSync(root, { recursive: true, force: true });
  const taken = new Set();
  const ports = [];
  for (let i = 0; i < masters; i += 1) ports.push(await clusterPortPair(taken));
  const current = [];
  const generations = ports.map(() => 0);
  const launch = async (i) => {
    const nodeDir = path.join(root, `node-${i}`);
    fs.mkdirSync(nodeDir, { recursive: true });
    generations[i] += 1;
    current[i] = await startProcess({
      name: `redis-cluster node ${i}`,
      command: "redis-server",
      args: ["--port", String(ports[i]), "--bind", "127.0.0.1", "--dir", nodeDir, "--save", "",
        "--appendonly", "no", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
        "--cluster-require-full-coverage", "no", "--cluster-node-timeout", "2000"],
      logFile: path.join(root, `node-${i}-${generations[i]}.log`),
      ready: /Ready to accept connections/,
    });
  };
  const alive = (i) => current[i] && current[i].child.exitCode === null && current[i].child.signalCode === null;
  const cliOn = async (port, ...args) => (await run("redis-cli", ["-p", String(port), ...args])).stdout.trim();
  const cli = (...args) => {
    const i = ports.findIndex((_, j) => alive(j));
    if (i < 0) throw new Error("Redis Cluster: no master is running");
    return cliOn(ports[i], ...args);
  };
  // Every running master says cluster_state:ok and sees every running master as healthy.
  const waitHealthy = async (timeoutMs = 60000) => {
    const until = Date.now() + timeoutMs;
    let why = "";
    while (Date.now() < until) {
      why = "";
      for (let i = 0; i < masters && !why; i += 1) {
        if (!alive(i)) continue;
        const info = await cliOn(ports[i], "cluster", "info").catch((e) => e.message);
        if (!info.includes("cluster_state:ok")) { why = `node ${i}: ${info.split("\n")[0]}`; break; }
        const nodes = await cliOn(ports[i], "cluster", "nodes").catch((e) => e.message);
        for (const line of nodes.split("\n")) {
          const [, address, flags] = line.split(" ");
          const j = ports.indexOf(Number(address?.split("@")[0].split(":")[1]));
          if (j >= 0 && alive(j) && /fail|handshake|noaddr/.test(flags)) why = `node ${i} sees ${line}`;
        }
      }
      if (!why) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`Redis Cluster not healthy within ${timeoutMs} ms: ${why} (logs in ${root})`);
  };

  try {
    await Promise.all(ports.map((_, i) => launch(i)));
    await run("redis-cli", ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`),
      "--cluster-replicas", "0", "--cluster-yes"], { timeout: 60000 });
    await waitHealthy();
  } catch (e) {
    await Promise.all(current.filter(Boolean).map((c) => stopProcess(c.child)));
    throw new Error(`Redis Cluster did not start (redis-server --cluster-enabled yes on ports ` +
      `${ports.join(", ")}; logs in ${root}): ${e.stderr || e.message}`);
  }

  return {
    url: `redis://127.0.0.1:${ports[0]}`,
    nodes: ports.map((port, i) => ({
      port,
      // SIGKILL: the master vanishes mid-command, as on a crash.
      kill: async () => {
        const child = current[i].child;
        const gone = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGKILL");
        await gone;
      },
      // Same port, same nodes.conf: resolves once the cluster is whole again.
      restart: async () => { await launch(i); await waitHealthy(); },
    })),
    cli,
    slotOwner: async (key) => {
      const slot = Number(await cli("cluster", "keyslot", key));
      for (const line of (await cli("cluster", "nodes")).split("\n")) {
        const fields = line.split(" ");
        const port = Number(fields[1]?.split("@")[0].split(":")[1]);
        for (const range of fields.slice(8)) {
          if (range.startsWith("[")) continue;  // a migration in progress, not ownership
          const [first, last = first] = range.split("-").map(Number);
          if (slot >= first && slot <= last) return ports.indexOf(port);
        }
      }
      throw new Error(`Redis Cluster: no master owns slot ${slot} (key ${key})`);
    },
    // The keys master i holds itself (KEYS is fine at test sizes).
    keysOn: async (i, pattern) => (await cliOn(ports[i], "keys", pattern)).split("\n").filter((k) => k.length),
    stop: () => Promise.all(current.map((c) => stopProcess(c.child))),
  };
}
