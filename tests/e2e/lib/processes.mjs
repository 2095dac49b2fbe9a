// Child processes for the e2e suite: start one, wait until it says it is ready, always kill it.
// Every child is remembered; stopAll() (and, as a last resort, process exit) kills them, so a
// failing or crashing test leaves no anvil, x402d or peer behind.
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const BUILD_DIR = path.resolve(process.env.X402_BUILD_DIR || path.join(REPO, "build"));

const children = new Set();
process.on("exit", () => {
  for (const child of children) {
    try { child.kill("SIGKILL"); } catch { /* already gone */ }
  }
});

// Adds a child started elsewhere (anvil, by devnet.mjs) to the kill-on-exit list.
export function track(child) {
  children.add(child);
  child.on("exit", () => children.delete(child));
  return child;
}

// Where this run's logs go: <build>/e2e-logs/<name>/, kept after the run for post-mortems.
export function logDir(name) {
  const dir = path.join(BUILD_DIR, "e2e-logs", name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

// Starts `command args`, writes its stdout+stderr to logFile, and resolves once a line of its
// output matches `ready` (the match is returned) — or rejects when it exits first or takes longer
// than timeoutMs.
export function startProcess({ name, command, args, env, cwd, logFile, ready, timeoutMs = 30000 }) {
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  track(child);
  const log = fs.openSync(logFile, "w");
  let seen = "";
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (fn, value) => { if (!done) { done = true; clearTimeout(timer); fn(value); } };
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      finish(reject, new Error(`${name} was not ready within ${timeoutMs} ms; log: ${logFile}`));
    }, timeoutMs);
    const onData = (chunk) => {
      try { fs.writeSync(log, chunk); } catch { /* log closed after exit */ }
      if (done) return;
      seen += chunk.toString();
      const m = seen.match(ready);
      if (m) finish(resolve, { child, match: m, logFile, stop: () => stopProcess(child) });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", (e) => finish(reject, new Error(`cannot start ${name} (${command}): ${e.message}`)));
    child.on("exit", (code, signal) => {
      finish(reject, new Error(`${name} exited (${signal ?? code}) before it was ready:\n` +
        seen.split("\n").slice(-15).join("\n")));
    });
  });
}

export function stopProcess(child, graceMs = 3000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => { clearTimeout(timer); resolve(); });
    child.kill("SIGTERM");
  });
}

export async function stopAll() {
  await Promise.all([...children].map((c) => stopProcess(c)));
}

// A loopback port nobody listens on right now: bound by the OS, then released. Connecting to it
// is refused (the "facilitator is down" case), and a server started on it gets a port chosen at
// run time. Another process could grab it in between; on a test machine that is rare enough, and
// it would make a test fail loudly, not pass.
export function closedPort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Polls url until it answers (any HTTP status) or timeoutMs passes.
export async function waitForHttp(url, { timeoutMs = 15000, expectStatus = null } = {}) {
  const until = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < until) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (expectStatus === null || res.status === expectStatus) return res.status;
      last = `status ${res.status}`;
    } catch (e) {
      last = e.message;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms (${last})`);
}

// Resolves once `file` contains a match for `pattern` (returns the match); rejects after timeoutMs.
export async function waitForLog(file, pattern, { timeoutMs = 15000 } = {}) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
    const m = text.match(pattern);
    if (m) return m;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${file} did not show ${pattern} within ${timeoutMs} ms`);
}
