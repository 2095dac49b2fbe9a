// Three x402d processes sharing ONE SQLite store file and the SAME relayer keys, all running the
// self-hosted facilitator (docs/selfhosted-facilitator.md, "Several nodes"). Relayer leases in the
// shared settlement queue decide which node signs for which key. Paid requests spread over the
// three nodes (confirmed and broadcast routes) must each be settled exactly once on chain, every
// queue job must end terminal, and no relayer nonce may be used twice. Then one node is killed
// with SIGKILL in the middle of a burst: once its leases expire, the survivors take its relayers
// over and finish its jobs. anvil mines a block a second so that transactions are in flight.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { getAddress } from "viem";
import { authorizationUsedLogs, minedTransactionsFrom, transferLogs } from "./lib/chain.mjs";
import { selfhostedFacilitator } from "./lib/gateway.mjs";
import { getOffer, sendV2Payment, signAuthorization, v2Payload } from "./lib/payments.mjs";
import {
  TERMINAL_STATES, countByState, isClaimedState, jobId, queueJobs, relayerLeases, waitForQueue,
} from "./lib/queue.mjs";
import { resourceUrl, startStack } from "./lib/stack.mjs";

const NODES = 3;
const REQUESTS = 60;
const BURST = 30;
const LEASE = { lease_ttl_ms: 6000, lease_renew_ms: 1000, lease_clock_margin_ms: 2000 };

let stack;
let dbFile;
let relayers;
const gateways = [];  // {gw, nodeId}
const allPayments = [];  // every authorization sent, {id, payer, authorization, node, route}

before(async () => {
  stack = await startStack("selfhosted_multinode", { anvilArgs: ["--block-time", "1"] });
  const { devnet } = stack;
  dbFile = path.join(stack.dir, "shared.sqlite");
  for (const f of [dbFile, `${dbFile}-wal`, `${dbFile}-shm`]) fs.rmSync(f, { force: true });
  relayers = devnet.accounts.relayers.slice(0, 2);
  // Started one after the other: the first one creates the store's tables.
  for (let i = 0; i < NODES; i += 1) {
    const gw = await stack.x402d({
      name: `x402d-node-${i}`,
      facilitators: [selfhostedFacilitator(devnet, relayers.map((r) => r.privateKey), {
        // Few unfinished nonces per relayer: with 1 s blocks the bursts queue up and every node's
        // requests wait on the queue shared with the others.
        config: { batch_size: 4, max_in_flight_per_relayer: 4, receipt_poll_ms: 100, ...LEASE },
      })],
      routes: [
        { path: "/weather", methods: ["GET"], price: "0.01", description: "confirmed settle",
          max_timeout_seconds: 300 },
        { path: "/fast", methods: ["GET"], price: "0.01", description: "broadcast settle",
          settle_mode: "broadcast", max_timeout_seconds: 300 },
      ],
      extra: { storage: { backend: "sqlite", path: dbFile } },
    });
    gateways.push({ gw, nodeId: await nodeIdOf(gw) });
  }
});

after(async () => {
  await stack?.stop();
});

// The plugin logs its random node id once it started.
async function nodeIdOf(gw, { timeoutMs = 20000 } = {}) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const m = fs.readFileSync(gw.logFile, "utf8").match(/settlement node ([0-9a-f]{16}) started/);
    if (m) return m[1];
    if (Date.now() > until) throw new Error(`${gw.logFile}: the self-hosted facilitator never started`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Signs one authorization per request (kept, to look each one up on chain afterwards) and sends
// request i to node nodes[i % nodes.length], alternating the confirmed and broadcast routes.
async function payAcross(nodes, count, payerOffset) {
  const { devnet } = stack;
  const offers = {};
  for (const route of ["/weather", "/fast"]) {
    const offer = await getOffer(resourceUrl(nodes[0].gw, route));
    assert.equal(offer.status, 402);
    offers[route] = offer.v2;
  }
  const payments = await Promise.all(Array.from({ length: count }, async (_, i) => {
    const payer = devnet.accounts.payers[(i + payerOffset) % devnet.accounts.payers.length];
    const route = i % 2 ? "/fast" : "/weather";
    const accepted = offers[route].accepts[0];
    const signed = await signAuthorization({
      devnet, privateKey: payer.privateKey, to: accepted.payTo, value: accepted.amount, validForSeconds: 300,
    });
    const node = nodes[i % nodes.length];
    const p = { id: jobId(devnet, payer.address, signed.authorization.nonce), payer: payer.address, node, route,
      ...signed, accepted, resource: offers[route].resource.url };
    allPayments.push(p);
    return p;
  }));
  const answers = new Map();
  const done = payments.map((p) => sendV2Payment(resourceUrl(p.node.gw, p.route),
    v2Payload({ resourceUrl: p.resource, accepted: p.accepted, authorization: p.authorization, signature: p.signature }))
    .then((r) => answers.set(p.id, r), (e) => answers.set(p.id, { error: e.message })));
  return { payments, answers, done: Promise.all(done) };
}

// The chain agrees with every job: completed ⇔ exactly one AuthorizationUsed log, from the job's
// recorded transaction; relayer transactions all succeeded, one per completed job, each nonce once.
async function assertSettledExactlyOnce(jobs) {
  const { devnet } = stack;
  const byId = new Map(jobs.map((j) => [j.id, j]));
  assert.equal(byId.size, jobs.length, "one job per authorization");
  for (const p of allPayments) {
    const used = await authorizationUsedLogs(devnet, { authorizer: p.payer, nonce: p.authorization.nonce });
    const job = byId.get(p.id);
    if (job?.state === "completed") {
      assert.equal(used.length, 1, `${p.id}: completed, so exactly one AuthorizationUsed log`);
      assert.equal(used[0].transactionHash, job.data.transaction, `${p.id}: the job records the mined transaction`);
    } else {
      assert.equal(used.length, 0, `${p.id} is ${job?.state ?? "without a job"} but was used on chain`);
    }
  }
  const completed = jobs.filter((j) => j.state === "completed");
  const toMerchant = await transferLogs(devnet, { to: devnet.accounts.merchant.address });
  assert.equal(toMerchant.length, completed.length, "one Transfer to the merchant per completed job");
  const relayerTxs = await minedTransactionsFrom(devnet, relayers.map((r) => r.address));
  assert.deepEqual(relayerTxs.filter((t) => t.status !== "success").map((t) => t.hash), [],
    "no relayer transaction reverted (a revert would be an authorization sent twice)");
  assert.equal(relayerTxs.length, completed.length, "one relayer transaction per completed job");
  for (const r of relayers) {
    const nonces = relayerTxs.filter((t) => t.from === getAddress(r.address)).map((t) => t.nonce).sort((a, b) => a - b);
    assert.deepEqual(nonces, nonces.map((_, i) => i), `relayer ${r.address}: each nonce once, no gap`);
  }
  return completed;
}

test(`${REQUESTS} paid requests over ${NODES} nodes with the same keys settle exactly once`, async () => {
  const leases = await relayerLeases(dbFile);
  assert.deepEqual(leases.map((l) => l.relayer).sort(), relayers.map((r) => r.address.toLowerCase()).sort());
  const ids = new Set(gateways.map((g) => g.nodeId));
  assert.equal(ids.size, NODES, "every node has its own id");
  for (const l of leases) assert.ok(ids.has(l.node), `lease of ${l.relayer} held by an unknown node ${l.node}`);

  const { payments, answers, done } = await payAcross(gateways, REQUESTS, 0);
  await done;
  for (const p of payments) {
    const a = answers.get(p.id);
    assert.equal(a.status, 200, `${p.route} via node ${p.node.nodeId}: ${a.status} ${a.error ?? a.body}`);
    assert.equal(a.paymentResponse?.success, true);
  }
  const jobs = await waitForQueue(dbFile, (js) => js.length === REQUESTS && js.every((j) => TERMINAL_STATES.includes(j.state)),
    { timeoutMs: 60000, intervalMs: 200 });
  assert.deepEqual(countByState(jobs), { completed: REQUESTS });
  const byId = new Map(jobs.map((j) => [j.id, j]));
  for (const p of payments) {
    assert.ok(byId.get(p.id).data.hashes.includes(answers.get(p.id).paymentResponse.transaction),
      `${p.id}: the answered transaction is one its job signed`);
  }
  await assertSettledExactlyOnce(jobs);
});

test("kill -9 of a lease holder mid-burst: the survivors take its relayers over and finish its jobs", async () => {
  const leasesBefore = await relayerLeases(dbFile);
  const held = (g) => leasesBefore.filter((l) => l.node === g.nodeId).length;
  const victim = [...gateways].sort((a, b) => held(b) - held(a))[0];
  assert.ok(held(victim) > 0, "some node holds a lease");
  const survivors = gateways.filter((g) => g !== victim);

  const { payments, answers, done } = await payAcross(gateways, BURST, 1);
  const atKill = await waitForQueue(dbFile, (js) => {
    const c = countByState(js.filter((j) => payments.some((p) => p.id === j.id)));
    return (c.sent ?? 0) >= 2 && (c.pending ?? 0) >= 2;
  }, { timeoutMs: 30000, intervalMs: 20 });
  victim.gw.child.kill("SIGKILL");
  await new Promise((r) => victim.gw.child.once("exit", r));
  const killedAt = Date.now();
  const killed = await queueJobs(dbFile);
  const openAtKill = killed.filter((j) => !TERMINAL_STATES.includes(j.state));
  console.log(`at kill: ${JSON.stringify(countByState(killed.filter((j) => payments.some((p) => p.id === j.id))))} ` +
    `(last poll ${JSON.stringify(countByState(atKill))}), ${held(victim)} lease(s) held by the killed node`);
  assert.ok(openAtKill.length > 0, "the kill found unfinished jobs");

  await done;
  const jobs = await waitForQueue(dbFile,
    (js) => js.every((j) => TERMINAL_STATES.includes(j.state)), { timeoutMs: 60000, intervalMs: 200 });
  console.log(`queue drained ${Date.now() - killedAt} ms after the kill`);
  assert.ok(!jobs.some((j) => isClaimedState(j.state)));
  assert.deepEqual(countByState(jobs), { completed: jobs.length }, "every payment of both rounds was valid");
  const byId = new Map(jobs.map((j) => [j.id, j]));
  for (const j of openAtKill) assert.equal(byId.get(j.id)?.state, "completed", `${j.id} was ${j.state} at the kill`);

  // Requests to the survivors were answered; those to the killed node may have died with it,
  // but whatever it accepted into the queue was settled.
  for (const p of payments) {
    const a = answers.get(p.id);
    if (p.node === victim) continue;
    assert.equal(a.status, 200, `${p.route} via surviving node ${p.node.nodeId}: ${a.status} ${a.error ?? a.body}`);
    assert.equal(byId.get(p.id)?.state, "completed");
    assert.ok(byId.get(p.id).data.hashes.includes(a.paymentResponse.transaction));
  }
  const completed = await assertSettledExactlyOnce(jobs);
  assert.ok(completed.length >= REQUESTS + BURST - payments.filter((p) => p.node === victim).length);

  const leasesAfter = await relayerLeases(dbFile);
  const survivorIds = new Set(survivors.map((g) => g.nodeId));
  for (const l of leasesAfter) {
    assert.ok(survivorIds.has(l.node), `lease of ${l.relayer} still names ${l.node}, not a survivor`);
  }
  const takeovers = survivors.flatMap((g) => fs.readFileSync(g.gw.logFile, "utf8").split("\n")
    .filter((line) => line.includes(`taken over from node ${victim.nodeId}`)));
  assert.equal(takeovers.length, held(victim), "each of the killed node's relayers taken over once");
});
