// The shared state of a multi-node deployment for one e2e file: a throwaway PostgreSQL cluster
// (tests/support/postgres-server.sh) and a redis-server, both on free loopback ports and both
// killable and restartable on the same port, so a test can take either away mid-load.
import { execFile } from "node:child_process";
import fs from "node:fs";
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
