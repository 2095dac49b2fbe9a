// Runs wrk (pinned to the client's cores) with one of the scripts in bench/wrk/ and returns its
// numbers: requests/s computed from the requests wrk completed over the time it ran, latency
// percentiles in microseconds, error counts, and whatever the script adds (paid.lua: statuses).
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const WRK_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../wrk");

export function runWrk({ url, seconds, connections, threads = 1, cpus = null, script = "plain.lua", env = {}, timeoutSeconds = 2 }) {
  const args = ["-t", String(threads), "-c", String(connections), "-d", `${seconds}s`,
    "--timeout", `${timeoutSeconds}s`, "-s", path.join(WRK_DIR, script), url];
  const [cmd, argv] = cpus === null ? ["wrk", args] : ["taskset", ["-c", String(cpus), "wrk", ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, {
      env: { ...process.env, BENCH_WRK_DIR: WRK_DIR, WRK_THREADS: String(threads), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c) => { out += c; });
    child.stderr.on("data", (c) => { out += c; });
    child.on("error", (e) => reject(new Error(`cannot run wrk: ${e.message}`)));
    child.on("exit", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("WRKJSON "));
      if (code !== 0 || !line) return reject(new Error(`wrk ${argv.join(" ")} failed (exit ${code}):\n${out}`));
      const r = JSON.parse(line.slice(8));
      r.seconds = r.duration_us / 1e6;
      r.rps = r.requests / r.seconds;
      r.socketErrors = r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout;
      r.connections = connections;
      resolve(r);
    });
  });
}

// Paced load at about `rate` requests/s: connections = rate * delay / 1000 (each waits delayMs
// between its requests). The achieved rate is in the result (rps).
export function runWrkPaced({ rate, delayMs = 10, ...opts }) {
  const connections = Math.max(1, Math.round((rate * delayMs) / 1000));
  return runWrk({ ...opts, connections, script: "paced.lua", env: { WRK_DELAY_MS: String(delayMs) } });
}
