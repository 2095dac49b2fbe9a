// Processes for the benchmarks: started pinned to CPU cores (taskset), with stdout+stderr going
// straight to a log file (no pipe through node, which would cost CPU on the measured path), and
// readiness seen in that file. Every child is killed when the driver exits.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import { stopProcess } from "../../tests/e2e/lib/processes.mjs";

const children = new Set();
process.on("exit", () => {
  for (const c of children) {
    try { c.kill("SIGKILL"); } catch { /* gone */ }
  }
});

// Starts `command args` on `cpus` ("0", "1", "0-1"; null = not pinned). Resolves to
// {child, pid, match, logFile, stop()} once the log matches `ready` (a RegExp), or rejects with the
// log's tail when the process exits first or takes longer than timeoutMs. Without `ready` it
// resolves at once.
export function startPinned({ name, command, args = [], cpus = null, logFile, ready, env, cwd, timeoutMs = 30000 }) {
  const fd = fs.openSync(logFile, "w");
  const [cmd, argv] = cpus === null ? [command, args] : ["taskset", ["-c", String(cpus), command, ...args]];
  const child = spawn(cmd, argv, { stdio: ["ignore", fd, fd], env: { ...process.env, ...env }, cwd });
  fs.closeSync(fd);
  children.add(child);
  child.on("exit", () => children.delete(child));
  // The last lines of the log, read from its last 64 KiB: a server's access log grows to
  // gigabytes under load.
  const tail = () => {
    const fd = fs.openSync(logFile, "r");
    try {
      const size = fs.fstatSync(fd).size;
      const length = Math.min(size, 64 * 1024);
      const buffer = Buffer.alloc(length);
      fs.readSync(fd, buffer, 0, length, size - length);
      return buffer.toString("utf8").split("\n").slice(-15).join("\n");
    } finally {
      fs.closeSync(fd);
    }
  };
  const handle = (match) => ({ child, pid: child.pid, match, logFile, stop: () => stopProcess(child, 5000) });
  if (!ready) return Promise.resolve(handle(null));
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (fn, v) => { if (!done) { done = true; clearInterval(poll); clearTimeout(timer); fn(v); } };
    const poll = setInterval(() => {
      const m = fs.readFileSync(logFile, "utf8").match(ready);
      if (m) finish(resolve, handle(m));
    }, 20);
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      finish(reject, new Error(`${name} not ready within ${timeoutMs} ms; log ${logFile}:\n${tail()}`));
    }, timeoutMs);
    child.on("error", (e) => finish(reject, new Error(`cannot start ${name} (${command}): ${e.message}`)));
    child.on("exit", (code, sig) => {
      if (done) return;  // an ordinary stop after it was ready
      finish(reject, new Error(`${name} exited (${sig ?? code}) before it was ready; log ${logFile}:\n${tail()}`));
    });
  });
}

export async function stopAllPinned() {
  await Promise.all([...children].map((c) => stopProcess(c, 5000)));
}

// Ports are chosen at run time so the benchmarks can run next to tests that use fixed ports.
export { closedPort as freePort } from "../../tests/e2e/lib/processes.mjs";

// Resident set size in KiB of pid and all its descendants (nginx: master + workers), from /proc.
export function rssKiB(pid) {
  const parentOf = new Map();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parentOf.set(Number(entry), ppid);
    } catch { /* exited meanwhile */ }
  }
  const inTree = (p) => { for (let q = p; q > 1; q = parentOf.get(q)) if (q === pid) return true; return false; };
  let total = 0;
  for (const p of parentOf.keys()) {
    if (!inTree(p)) continue;
    try {
      const m = fs.readFileSync(`/proc/${p}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
      if (m) total += Number(m[1]);
    } catch { /* exited meanwhile */ }
  }
  return total;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls url until it answers with `status` (any status when null).
export async function waitForHttp(url, { status = null, timeoutMs = 15000 } = {}) {
  const until = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < until) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (status === null || res.status === status) return res.status;
      last = `status ${res.status}`;
    } catch (e) { last = e.message; }
    await sleep(50);
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms (${last})`);
}

// What a command prints (stdout and stderr: nginx -v writes to stderr), for the versions table.
export function commandOutput(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.error) return `unavailable (${r.error.message})`;
  return `${r.stdout}${r.stderr}`.trim();
}
