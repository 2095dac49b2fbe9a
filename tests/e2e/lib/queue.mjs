// Reading the self-hosted facilitator's settlement queue straight from x402d's SQLite file (table
// settlement_queue, see kernel/state/sqlite_schema.cpp and docs/selfhosted-facilitator.md) with
// the sqlite3 CLI. The store is in WAL mode, so reading while x402d writes (or after it was
// killed) is safe.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

export const TERMINAL_STATES = ["completed", "confirmation_failed", "failed"];
export const OPEN_STATES = ["pending", "processing", "sent"];

// The job id of one authorization: "<chainId>:<asset>:<from>:<nonce>", lower case.
export const jobId = (devnet, from, nonce) =>
  `${devnet.chainId}:${devnet.token.address}:${from}:${nonce}`.toLowerCase();

// All settlement jobs (of facilitator instance `instance`, when given): [{instance, id, state,
// data, ...}], data parsed. A store that does not exist yet (x402d not started) reads as no jobs.
// The plugin's relayer leases live in the same table (id "lease:<relayer>"); they are left out
// unless `leases` is true.
export async function queueJobs(dbFile, { instance, leases = false } = {}) {
  const conditions = [];
  if (instance) conditions.push(`instance = '${instance.replace(/'/g, "''")}'`);
  if (!leases) conditions.push("id not like 'lease:%'");
  const where = conditions.length ? ` where ${conditions.join(" and ")}` : "";
  const sql = `select instance, id, state, data, created_ms, updated_ms from settlement_queue${where} order by created_ms`;
  return (await sqliteJson(dbFile, sql)).map((row) => ({ ...row, data: JSON.parse(row.data) }));
}

// The self-hosted facilitator's relayer leases: [{relayer, node, expiresMs}] (see
// docs/selfhosted-facilitator.md, "Several nodes").
export async function relayerLeases(dbFile, { instance } = {}) {
  const where = instance ? ` and instance = '${instance.replace(/'/g, "''")}'` : "";
  const rows = await sqliteJson(dbFile,
    `select id, state from settlement_queue where id like 'lease:%'${where} order by id`);
  return rows.map((r) => {
    const [, node, expires] = r.state.split("|");
    return { relayer: r.id.slice("lease:".length), node, expiresMs: Number(expires) };
  });
}

// A job claimed by a sender but not signed yet: state "claimed|<relayer>".
export const isClaimedState = (state) => state.startsWith("claimed|");

// Rows of any query on x402d's SQLite store, as objects.
export async function sqliteJson(dbFile, sql) {
  const { stdout } = await run("sqlite3", ["-json", "-cmd", ".timeout 5000", dbFile, sql]);
  return stdout.trim() ? JSON.parse(stdout) : [];
}

// x402d's own payment records (table payments): [{payer, nonce, status, tx_hash, error_reason}],
// addresses and nonces lower case.
export const paymentRows = (dbFile) =>
  sqliteJson(dbFile, "select payer, nonce, status, tx_hash, error_reason, route from payments order by created_ms");

// {pending: n, processing: n, ...} of a job list.
export function countByState(jobs) {
  const counts = {};
  for (const j of jobs) counts[j.state] = (counts[j.state] ?? 0) + 1;
  return counts;
}

// Polls the queue until `predicate(jobs)` holds; resolves to those jobs. Rejects after timeoutMs
// with the last state counts.
export async function waitForQueue(dbFile, predicate, { timeoutMs = 30000, intervalMs = 50, instance } = {}) {
  const until = Date.now() + timeoutMs;
  let jobs = [];
  for (;;) {
    try {
      jobs = await queueJobs(dbFile, { instance });
      if (predicate(jobs)) return jobs;
    } catch (e) {
      // The table appears with x402d's first migration; until then there is nothing to read.
      if (!/no such table/.test(String(e.stderr ?? e.message))) throw e;
    }
    if (Date.now() > until) {
      throw new Error(`settlement queue not as expected within ${timeoutMs} ms: ${JSON.stringify(countByState(jobs))}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
