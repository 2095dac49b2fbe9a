// Three x402d nodes sharing one PostgreSQL and one 3-master Redis Cluster (cache.cluster: true,
// docs/operations.md#redis-cluster), settling on a real chain through the self-hosted facilitator
// with the same relayer keys on every node. The cluster must keep every single-Redis guarantee:
// a payment sent to all nodes at once is served once, with its replay claim on the master that
// owns the key's slot (so the claims spread over all masters); and losing one master fails closed
// for exactly the payments whose replay key it owns, while the others are served, until it is
// back — with no x402d restart.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { toHex } from "viem";
import { selfhostedFacilitator } from "./lib/gateway.mjs";
import { authorizationUsedLogs, transferLogs } from "./lib/chain.mjs";
import { getOffer, sendEachToAll, sendV2Payment, signAuthorization, v2Payload } from "./lib/payments.mjs";
import { startPostgres, startRedisCluster } from "./lib/services.mjs";
import { resourceUrl, startStack } from "./lib/stack.mjs";

const NODES = 3;
const MASTERS = 3;
let stack, pg, cluster, nodes, offer;

before(async () => {
  stack = await startStack("redis_cluster");
  [pg, cluster] = await Promise.all([
    startPostgres({ dir: stack.dir }),
    startRedisCluster({ dir: stack.dir, masters: MASTERS }),
  ]);
  const relayerKeys = stack.devnet.accounts.relayers.slice(1).map((r) => r.privateKey);
  // Same config on every node; the cache url names master 0 only (a seed).
  nodes = await Promise.all(Array.from({ length: NODES }, (_, i) => stack.x402d({
    name: `node-${i}`,
    facilitators: [selfhostedFacilitator(stack.devnet, relayerKeys)],
    extra: {
      storage: { backend: "postgres", url: pg.url, pool_size: 4, spool_dir: `spool-node-${i}` },
      cache: { backend: "redis", url: cluster.url, cluster: true },
    },
  })));
  offer = await getOffer(resourceUrl(nodes[0]));
  assert.equal(offer.status, 402, "the paid route answers 402 without a payment");
});

after(async () => {
  await stack?.stop();
  await Promise.all([pg?.stop(), cluster?.stop()]);
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A payment of `payer` for node 0's offer (any node accepts it), with `nonce` or a random one.
async function signPayment(payer, nonce = toHex(randomBytes(32))) {
  const accepted = offer.v2.accepts[0];
  const { authorization, signature } = await signAuthorization({
    devnet: stack.devnet, privateKey: payer.privateKey, to: accepted.payTo, value: accepted.amount,
    validForSeconds: 600, nonce,
  });
  return {
    nonce: authorization.nonce.toLowerCase(),
    payload: v2Payload({ resourceUrl: offer.v2.resource.url, accepted, authorization, signature }),
  };
}

// {status, code} of one paid request.
async function send(node, payload) {
  const res = await sendV2Payment(resourceUrl(node), payload);
  let code = "";
  try { code = JSON.parse(res.body).code ?? ""; } catch { /* not JSON */ }
  return { status: res.status, code };
}

// nonce → [master index, key] for every replay claim the cluster holds (each master asked for
// the keys it stores itself).
async function replayClaims() {
  const claims = new Map();
  for (let i = 0; i < MASTERS; i += 1) {
    for (const key of await cluster.keysOn(i, "x402:replay:*")) {
      const nonce = key.slice(key.lastIndexOf(":") + 1).toLowerCase();
      assert.ok(!claims.has(nonce), `the claim of ${nonce} is on master ${claims.get(nonce)?.[0]} and ${i}`);
      claims.set(nonce, [i, key]);
    }
  }
  return claims;
}

test("one payment sent to all nodes at once is served exactly once, 30 times over; claims spread over every master", async () => {
  const { devnet, upstream } = stack;
  const payer = devnet.accounts.payers[0];
  const hitsBefore = upstream.hits();
  const transfersBefore = (await transferLogs(devnet, { from: payer.address })).length;

  const ROUNDS = 30;
  const outcomes = await sendEachToAll(nodes.map((node) => resourceUrl(node)), {
    rounds: ROUNDS, concurrent: 5, makePayment: () => signPayment(payer),
  });
  assert.equal(upstream.hits() - hitsBefore, ROUNDS, "the upstream is called once per payment");
  const transfers = (await transferLogs(devnet, { from: payer.address })).length - transfersBefore;
  assert.equal(transfers, ROUNDS, "one Transfer on chain per payment");
  const [[settled]] = await pg.query(
    `SELECT count(*) FROM payments WHERE payer = '${payer.address.toLowerCase()}' AND status = 'SETTLED'`);
  assert.equal(Number(settled), ROUNDS, "one SETTLED payment row per payment in the shared database");

  // Each payment's replay claim is held by exactly one master: the one owning the key's slot.
  const claims = await replayClaims();
  const holders = new Set();
  for (const { nonce } of outcomes) {
    assert.ok(claims.has(nonce), `no master holds the replay claim of ${nonce}`);
    const [master, key] = claims.get(nonce);
    assert.equal(master, await cluster.slotOwner(key), `${key} is on a master that does not own its slot`);
    holders.add(master);
  }
  // 30 random nonces all missing one of 3 masters: odds about 3 × (2/3)^30 ≈ 2e-5.
  assert.deepEqual([...holders].sort(), [0, 1, 2], "the replay claims are spread over every master");
});

// Master KILLED goes down: payments whose replay key it owns are refused, the others are served;
// it comes back and serves again, while every x402d keeps running.
async function masterDown(KILLED, payer) {
  const { devnet, upstream } = stack;

  // Learn this payer's replay key (x402:replay:<chain>:<asset>:<payer>:<nonce>) from one
  // payment, so the test can choose nonces by the master owning their key.
  const first = await signPayment(payer);
  assert.equal((await send(nodes[0], first.payload)).status, 200, "the cluster is healthy before the kill");
  const firstKey = (await replayClaims()).get(first.nonce)?.[1];
  assert.ok(firstKey, `no master holds the replay claim of ${first.nonce}`);
  const prefix = firstKey.slice(0, firstKey.length - first.nonce.length);
  const owner = (nonce) => cluster.slotOwner(prefix + nonce);
  const nonceOn = async (wanted) => {
    for (;;) {
      const nonce = toHex(randomBytes(32));
      if (wanted(await owner(nonce))) return nonce;
    }
  };

  // Six payments whose key the doomed master owns, three on each of the others.
  const onKilled = [];
  const elsewhere = [];
  for (let i = 0; i < 6; i += 1) onKilled.push(await signPayment(payer, await nonceOn((m) => m === KILLED)));
  for (const m of [0, 1, 2].filter((m) => m !== KILLED)) {
    for (let i = 0; i < 3; i += 1) elsewhere.push(await signPayment(payer, await nonceOn((o) => o === m)));
  }
  const hitsBefore = upstream.hits();

  await cluster.nodes[KILLED].kill();
  const answers = await Promise.all([...onKilled, ...elsewhere].map((p, i) => send(nodes[i % NODES], p.payload)));
  const killedAnswers = answers.slice(0, onKilled.length);
  const otherAnswers = answers.slice(onKilled.length);
  for (const a of killedAnswers) {
    assert.deepEqual([a.status, a.code], [503, "replay_guard_unavailable"],
      "a payment whose replay key lives on the dead master fails closed");
  }
  for (const a of otherAnswers) {
    assert.equal(a.status, 200, `a payment whose key lives on a running master is served: ${JSON.stringify(a)}`);
  }
  assert.equal(upstream.hits() - hitsBefore, elsewhere.length, "only the payments on running masters reach the upstream");
  const refusedNonces = onKilled.map((p) => p.nonce);
  const rows = await pg.query(`SELECT count(*) FROM payments WHERE nonce IN (${refusedNonces.map((n) => `'${n}'`).join(",")})`);
  assert.equal(Number(rows[0][0]), 0, "a payment refused at the replay guard leaves no row behind");
  for (const nonce of refusedNonces) {
    assert.equal((await authorizationUsedLogs(devnet, { authorizer: payer.address, nonce })).length, 0,
      "a payment refused at the replay guard moves no money");
  }

  // Back on the same port with the same slots (and empty). x402d keeps running: it reconnects.
  await cluster.nodes[KILLED].restart();
  const until = Date.now() + 60000;
  let probe;
  for (;;) {
    probe = await send(nodes[1], (await signPayment(payer, await nonceOn((m) => m === KILLED))).payload);
    if (probe.status === 200) break;
    assert.deepEqual([probe.status, probe.code], [503, "replay_guard_unavailable"], "while x402d reconnects");
    assert.ok(Date.now() < until, "payments on the restarted master are still refused 60 s after its restart");
    await sleep(250);
  }

  // The payments refused during the outage were never consumed: sent again, each is served once.
  const retried = await Promise.all(onKilled.map((p, i) => send(nodes[i % NODES], p.payload)));
  assert.deepEqual(retried.map((a) => a.status), onKilled.map(() => 200), JSON.stringify(retried));
  const claims = await replayClaims();
  for (const nonce of refusedNonces) {
    assert.equal(claims.get(nonce)?.[0], KILLED, `the claim of ${nonce} is back on the restarted master`);
  }
  for (const p of [first, ...onKilled, ...elsewhere]) {
    assert.equal((await authorizationUsedLogs(devnet, { authorizer: payer.address, nonce: p.nonce })).length, 1,
      `payment ${p.nonce} was settled on chain exactly once`);
  }
}

// Master 0 is the seed in every node's url: once running, it must be no more special than the others.
test("the seed master down: payments whose replay key it owns are refused 503 and never served, the others are served; back without an x402d restart",
  () => masterDown(0, stack.devnet.accounts.payers[1]));

test("another master down: the same, for the slots of master 2",
  () => masterDown(2, stack.devnet.accounts.payers[2]));
