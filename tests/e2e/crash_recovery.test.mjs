// kill -9 of x402d in the middle of a burst of self-hosted settlements, then a restart on the
// same SQLite file. anvil mines one block a second, so at the kill some settlement transactions
// are on the network without receipt (`sent`) and, because each relayer may only hold a few
// unfinished nonces, other payments are accepted but not yet signed (`pending`/`processing`).
// After the restart every job must finish, each authorization must be used on chain exactly once
// when its job says completed (and never otherwise), no relayer transaction may revert (a revert
// would mean an authorization was sent twice), and no payment the client was told succeeded may
// be lost.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { getAddress } from "viem";
import { authorizationUsedLogs, minedTransactionsFrom, transferLogs } from "./lib/chain.mjs";
import { restartX402d, selfhostedFacilitator } from "./lib/gateway.mjs";
import { getOffer, sendV2Payment, signAuthorization, v2Payload } from "./lib/payments.mjs";
import {
  OPEN_STATES, TERMINAL_STATES, countByState, jobId, paymentRows, queueJobs, waitForQueue,
} from "./lib/queue.mjs";
import { resourceUrl, startStack } from "./lib/stack.mjs";

const BURST = 30;
const SETTLE_TIMEOUT_MS = 8000;
const RECONCILER_STALE_MS = 2 * SETTLE_TIMEOUT_MS + 10000;

async function waitForPayments(dbFile, predicate, { timeoutMs }) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const rows = await paymentRows(dbFile);
    if (predicate(rows)) return rows;
    if (Date.now() > until) {
      throw new Error(`payment records did not settle down: ${JSON.stringify(rows.map((r) => r.status))}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

let stack;

before(async () => {
  stack = await startStack("crash_recovery", { anvilArgs: ["--block-time", "1"] });
});

after(async () => {
  await stack?.stop();
});

test("kill -9 during a settlement burst, restart on the same store: every payment settles once", async () => {
  const { devnet } = stack;
  const dbFile = path.join(stack.dir, "x402d.sqlite");
  // The log folder outlives runs; a store left by an earlier run belongs to another chain.
  for (const f of [dbFile, `${dbFile}-wal`, `${dbFile}-shm`]) fs.rmSync(f, { force: true });
  const relayers = devnet.accounts.relayers.slice(0, 2);
  const merchant = devnet.accounts.merchant.address;
  const gw = await stack.x402d({
    name: "x402d-before-crash",
    facilitators: [selfhostedFacilitator(devnet, relayers.map((r) => r.privateKey), {
      // Few unfinished nonces per relayer and small batches: with 1 s blocks the burst queues up,
      // so the kill finds jobs in every open state.
      config: { batch_size: 2, max_in_flight_per_relayer: 3, receipt_poll_ms: 100 },
    })],
    routes: [{ path: "/fast", methods: ["GET"], price: "0.01", description: "broadcast settle",
      settle_mode: "broadcast", max_timeout_seconds: 300 }],
    // x402d's reconciler picks up the rows the crash left SETTLING once they are stale
    // (2 × settle_timeout + 10 s = 26 s after the kill): within the test, yet well after the
    // queue must have drained on its own (see RECONCILER_STALE_MS).
    extra: { storage: { backend: "sqlite", path: dbFile }, failover: { settle_timeout_ms: SETTLE_TIMEOUT_MS } },
  });
  const url = resourceUrl(gw, "/fast");

  // The burst: hand-signed authorizations (kept, to look each one up on chain afterwards) from
  // four payers, all sent at once.
  const offer = await getOffer(url);
  assert.equal(offer.status, 402);
  const accepted = offer.v2.accepts[0];
  const payments = await Promise.all(Array.from({ length: BURST }, async (_, i) => {
    const payer = devnet.accounts.payers[i % devnet.accounts.payers.length];
    const signed = await signAuthorization({
      devnet, privateKey: payer.privateKey, to: accepted.payTo, value: accepted.amount, validForSeconds: 300,
    });
    return { payer: payer.address, ...signed, id: jobId(devnet, payer.address, signed.authorization.nonce) };
  }));
  const answers = new Map();  // job id → what the client got before the kill
  const inFlight = payments.map((p) =>
    sendV2Payment(url, v2Payload({ resourceUrl: offer.v2.resource.url, accepted, ...p }))
      .then((r) => answers.set(p.id, r), (e) => answers.set(p.id, { error: e.message })));

  // Kill once transactions are out without receipt, payments wait unsigned behind them, and some
  // client already holds a success answer.
  const atKill = await waitForQueue(dbFile, (jobs) => {
    const c = countByState(jobs);
    const successes = [...answers.values()].filter((a) => a.status === 200).length;
    return (c.sent ?? 0) >= 2 && (c.pending ?? 0) + (c.processing ?? 0) >= 2 && successes >= 1;
  }, { timeoutMs: 30000, intervalMs: 20 });
  gw.child.kill("SIGKILL");
  await new Promise((r) => gw.child.once("exit", r));
  const answeredBeforeKill = new Map(answers);
  await Promise.all(inFlight);
  // What the store really held at the kill (the poll above may be a few ms older).
  const killed = await queueJobs(dbFile);
  const settlingAtKill = (await paymentRows(dbFile)).filter((r) => r.status === "SETTLING").map((r) => r.nonce);
  const killedStates = countByState(killed);
  const unsentAtKill = killed.filter((j) => j.state === "pending" ||
    (j.state === "processing" && !j.data.hashes?.length));
  const successesBeforeKill = [...answeredBeforeKill].filter(([, a]) => a.status === 200);
  console.log(`at kill: ${JSON.stringify(killedStates)} (last poll ${JSON.stringify(countByState(atKill))}), ` +
    `${successesBeforeKill.length} success answers, ${unsentAtKill.length} accepted but unsent`);
  assert.ok((killedStates.sent ?? 0) > 0, "the kill found transactions without receipt");
  assert.ok(unsentAtKill.length > 0, "the kill found accepted payments not yet sent");

  const killedAt = Date.now();
  const restarted = await restartX402d(gw, { name: "x402d-after-restart" });
  const restartedAt = Date.now();
  let jobs = await waitForQueue(dbFile, (js) => js.every((j) => !OPEN_STATES.includes(j.state)),
    { timeoutMs: 40000, intervalMs: 200 });
  // A stall check that does not race a fixed deadline: the queue must drain on the plugin's own
  // wake-ups, before x402d's reconciler has touched a single row the crash left SETTLING (it
  // marks such a row UNKNOWN once stale, then re-asks settle, which attaches to the job; a stall
  // once ended only then). Rows the requests themselves left UNKNOWN are re-asked at any time,
  // which is fine: they do not count.
  const drainedMs = Date.now() - restartedAt;
  const rowsAtDrain = await paymentRows(dbFile);
  console.log(`queue drained ${drainedMs} ms after the restart (${Date.now() - killedAt} ms after ` +
    `the kill; the reconciler takes up stale rows from ${RECONCILER_STALE_MS} ms); ` +
    `${settlingAtKill.length} rows SETTLING at the kill`);
  const touched = rowsAtDrain.filter((r) => settlingAtKill.includes(r.nonce) && r.status !== "SETTLING");
  assert.deepEqual(touched.map((r) => `${r.nonce}: ${r.status}`), [],
    `the queue took ${drainedMs} ms to drain: x402d's reconciler had already taken up stale rows`);
  // x402d's own records: a row left SETTLING by the crash turns UNKNOWN once stale (2 × settle
  // timeout + 10 s) and is settled again with the same facilitator, which attaches to the job.
  const rows = await waitForPayments(dbFile, (rs) => rs.every((r) => !["SETTLING", "UNKNOWN"].includes(r.status)),
    { timeoutMs: 45000 });
  jobs = await waitForQueue(dbFile, (js) => js.every((j) => !OPEN_STATES.includes(j.state)),
    { timeoutMs: 20000, intervalMs: 200 });
  await restarted.stop();

  const byId = new Map(jobs.map((j) => [j.id, j]));
  assert.ok(jobs.every((j) => TERMINAL_STATES.includes(j.state)), JSON.stringify(countByState(jobs)));
  const completed = jobs.filter((j) => j.state === "completed");

  // Per authorization of the burst: the chain agrees with the job.
  for (const p of payments) {
    const used = await authorizationUsedLogs(devnet, { authorizer: p.payer, nonce: p.authorization.nonce });
    const job = byId.get(p.id);
    if (!job) {
      assert.equal(used.length, 0, `${p.id} has no job but was used on chain`);
      assert.notEqual(answeredBeforeKill.get(p.id)?.status, 200, `${p.id} was answered 200 without a job`);
      continue;
    }
    if (job.state === "completed") {
      assert.equal(used.length, 1, `${p.id}: completed, so exactly one AuthorizationUsed log`);
      assert.equal(used[0].transactionHash, job.data.transaction, `${p.id}: the job records the mined transaction`);
    } else {
      assert.equal(used.length, 0, `${p.id} ended ${job.state} but the authorization was used on chain`);
    }
    if (job.state === "failed") {
      assert.ok(!job.data.hashes?.length, `${p.id} failed although a transaction was signed for it`);
    }
  }
  assert.equal(jobs.length, new Set(jobs.map((j) => j.id)).size);
  assert.ok(jobs.every((j) => payments.some((p) => p.id === j.id)), "no job beyond the burst");

  // Nothing the client was told succeeded is lost; nothing accepted-but-unsent is dropped.
  for (const [id, answer] of successesBeforeKill) {
    const job = byId.get(id);
    assert.equal(job?.state, "completed", `${id} was answered 200 before the kill but ended ${job?.state}`);
    const tx = answer.paymentResponse?.transaction;
    assert.ok(job.data.hashes.includes(tx), `${id}: the answered transaction ${tx} is one the job signed`);
  }
  for (const j of unsentAtKill) {
    assert.equal(byId.get(j.id).state, "completed", `${j.id} was ${j.state} at the kill, ended ${byId.get(j.id).state}`);
  }
  // Every payment of the burst was valid, so every job that exists must have settled.
  assert.deepEqual(countByState(jobs), { completed: jobs.length });

  // x402d's payment records agree with the queue: SETTLED with the mined transaction exactly
  // when the authorization's job completed.
  for (const row of rows) {
    const job = byId.get(jobId(devnet, row.payer, row.nonce));
    if (job?.state === "completed") {
      assert.equal(row.status, "SETTLED", `payment ${row.nonce}: job completed, record ${row.status} ${row.error_reason}`);
      assert.equal(row.tx_hash, job.data.transaction, `payment ${row.nonce}: recorded transaction`);
    } else {
      assert.notEqual(row.status, "SETTLED", `payment ${row.nonce}: SETTLED without a completed job`);
    }
  }
  for (const job of completed) {
    assert.ok(rows.some((r) => jobId(devnet, r.payer, r.nonce) === job.id), `${job.id} has a payment record`);
  }

  // Money: one Transfer to the merchant per completed job, from relayer transactions that all
  // succeeded (a reverted one would be an authorization sent twice).
  const toMerchant = await transferLogs(devnet, { to: merchant });
  assert.equal(toMerchant.length, completed.length, "one Transfer to the merchant per completed job");
  assert.equal(new Set(toMerchant.map((l) => l.transactionHash)).size, toMerchant.length);
  const relayerTxs = await minedTransactionsFrom(devnet, relayers.map((r) => r.address));
  const reverted = relayerTxs.filter((t) => t.status !== "success");
  assert.deepEqual(reverted.map((t) => t.hash), [], "no relayer transaction reverted");
  assert.equal(relayerTxs.length, completed.length, "one relayer transaction per completed job");
  for (const t of relayerTxs) {
    assert.ok(completed.some((j) => j.data.transaction === t.hash), `relayer tx ${t.hash} belongs to a completed job`);
  }
  for (const r of relayers) {
    const nonces = relayerTxs.filter((t) => t.from === getAddress(r.address)).map((t) => t.nonce);
    assert.deepEqual(nonces, nonces.map((_, i) => i), `relayer ${r.address} used nonces 0..n-1 in order`);
  }
});
