// Three x402d nodes sharing one PostgreSQL and one Redis (docs/operations.md), on loopback, in
// front of one upstream, settling on a real chain through the self-hosted facilitator with the
// same two relayer keys on every node (one settlement queue in PostgreSQL, relayers leased to one
// node at a time). Every guarantee must hold across nodes: a payment is served once however many
// nodes receive it, the queue settles each payment exactly once, a policy activated through
// one node prices requests on the others within a second, and a rate-limit tier's quota is one
// quota (each node's share of it while Redis is away, with the metric saying so).
import http from "node:http";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { httpFacilitator, selfhostedFacilitator } from "./lib/gateway.mjs";
import { authorizationUsedLogs, transferLogs } from "./lib/chain.mjs";
import { getOffer, sendEachToAll, sendV2Payment, signAuthorization, v2Payload } from "./lib/payments.mjs";
import { waitForLog } from "./lib/processes.mjs";
import { startPostgres, startRedis } from "./lib/services.mjs";
import { resourceUrl, startStack } from "./lib/stack.mjs";

const ADMIN_KEY = "multinode-admin-key-0123456789abcdef";
process.env.X402_E2E_ADMIN_KEY = ADMIN_KEY;
process.env.X402_E2E_CREDENTIAL_SECRET = "multinode-credential-secret-0123456789abcdef";

const NODES = 3;
let stack, pg, redis, nodes, nodeConfig;

before(async () => {
  stack = await startStack("multinode");
  [pg, redis] = await Promise.all([startPostgres({ dir: stack.dir }), startRedis({ dir: stack.dir })]);
  const relayerKeys = stack.devnet.accounts.relayers.slice(1).map((r) => r.privateKey);
  // Every node has the same config but its own spool folder (the only per-node state).
  nodeConfig = (name, facilitators = [selfhostedFacilitator(stack.devnet, relayerKeys)]) => ({
    name,
    facilitators,
    routes: [
      { path: "/weather", methods: ["GET"], price: "0.01", description: "e2e weather" },
      { path: "/quote", methods: ["GET"], price: "0.01", pricing: "policy", policy_fallback: "static" },
      { path: "/limited", methods: ["GET"], free: true, rate_limit: "per-client" },
    ],
    // A settle the store could not follow up is reconciled after 2 × settle_timeout + 10 s.
    failover: { settle_timeout_ms: 3000 },
    extra: {
      storage: { backend: "postgres", url: pg.url, pool_size: 4, spool_dir: `spool-${name}` },
      cache: { backend: "redis", url: redis.url },
      admin: { listen: "127.0.0.1:0", api_keys: [{ key: "env:X402_E2E_ADMIN_KEY", role: "admin" }] },
      credentials: { secret: "env:X402_E2E_CREDENTIAL_SECRET" },
      // One quota per client across all nodes; each node takes a third of it while Redis is away.
      rate_limits: [{
        name: "per-client",
        key: "header:X-Client",
        config: { requests: 6, window_ms: 3600000, fallback_nodes: NODES },
      }],
    },
  });
  // Started together: the schema migrations run under PostgreSQL's advisory lock, once.
  nodes = await Promise.all(Array.from({ length: NODES }, (_, i) => stack.x402d(nodeConfig(`node-${i}`))));
  for (const node of nodes) {
    const m = await waitForLog(node.logFile, /"msg":"admin API listening".*?"port":(\d+)/);
    node.adminUrl = `http://127.0.0.1:${m[1]}`;
  }
});

after(async () => {
  await stack?.stop();
  await Promise.all([pg?.stop(), redis?.stop()]);
});

function admin(node, method, path, body) {
  return fetch(`${node.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15000),
  }).then(async (res) => ({ status: res.status, body: await res.json() }));
}

// The amount of the first payment requirement a node offers for `route`.
async function offeredAmount(node, route) {
  const offer = await getOffer(resourceUrl(node, route));
  assert.equal(offer.status, 402);
  return offer.v2.accepts[0].amount;
}

test("one payment sent to all three nodes at once is served exactly once, 100 times over", async () => {
  const { devnet, upstream } = stack;
  const payer = devnet.accounts.payers[0];
  const offer = await getOffer(resourceUrl(nodes[0]));
  const accepted = offer.v2.accepts[0];
  const hitsBefore = upstream.hits();
  const transfersBefore = (await transferLogs(devnet, { from: payer.address })).length;

  const ROUNDS = 100;
  await sendEachToAll(nodes.map((node) => resourceUrl(node)), {
    rounds: ROUNDS, concurrent: 10,
    makePayment: async () => {
      const { authorization, signature } = await signAuthorization({
        devnet, privateKey: payer.privateKey, to: accepted.payTo, value: accepted.amount,
        validForSeconds: 600,
      });
      return { payload: v2Payload({ resourceUrl: offer.v2.resource.url, accepted, authorization, signature }) };
    },
  });
  assert.equal(upstream.hits() - hitsBefore, ROUNDS, "the upstream is called once per payment");
  const transfers = (await transferLogs(devnet, { from: payer.address })).length - transfersBefore;
  assert.equal(transfers, ROUNDS, "one Transfer on chain per payment");
  const [[settled]] = await pg.query(
    `SELECT count(*) FROM payments WHERE payer = '${payer.address.toLowerCase()}' AND status = 'SETTLED'`);
  assert.equal(Number(settled), ROUNDS, "one SETTLED payment row per payment in the shared database");
  const [[usage]] = await pg.query(
    `SELECT count(*) FROM usage_records WHERE payer = '${payer.address.toLowerCase()}'`);
  assert.equal(Number(usage), ROUNDS, "one usage record per payment");

  // The shared settlement queue: one job per payment, each completed, each relayer nonce used once.
  const jobs = await pg.query(
    "SELECT state, data FROM settlement_queue WHERE id NOT LIKE 'lease:%'");
  assert.equal(jobs.length, ROUNDS, "one queue job per payment");
  assert.deepEqual([...new Set(jobs.map(([state]) => state))], ["completed"]);
  const nonces = jobs.map(([, data]) => JSON.parse(data)).map((d) => `${d.relayer}:${d.relayer_nonce}`);
  assert.equal(new Set(nonces).size, ROUNDS, "no relayer nonce used twice");
});

// Polls `targets` until each offers `amount` for /quote. Returns the slowest arrival in ms after
// `since`; the loop may run past the spec's second on a slow machine, so a failure says how long
// it really took.
async function arrival(targets, amount, since) {
  let slowest = 0;
  for (const node of targets) {
    let seenAt = null;
    while (Date.now() - since < 10000) {
      if ((await offeredAmount(node, "/quote")) === amount) { seenAt = Date.now(); break; }
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(seenAt, `${node.url} never offered ${amount}`);
    slowest = Math.max(slowest, seenAt - since);
  }
  return slowest;
}

async function uploadAndActivate(node, amount) {
  const uploaded = await admin(node, "POST", "/v1/merchants/shop/policies",
    { source: `function price(req) return { amount = "${amount}" } end` });
  assert.equal(uploaded.status, 201, JSON.stringify(uploaded.body));
  const activated = await admin(node, "POST", `/v1/merchants/shop/policies/${uploaded.body.version}/activate`);
  assert.equal(activated.status, 200, JSON.stringify(activated.body));
  return Date.now();
}

test("a policy activated through one node prices requests on every node within a second", async () => {
  assert.equal(await offeredAmount(nodes[1], "/quote"), "10000", "no active policy yet: the static fallback");

  let since = await uploadAndActivate(nodes[0], "4242");
  let took = await arrival(nodes.slice(1), "4242", since);
  assert.ok(took < 1000, `the activation through node 0 took ${took} ms to reach the others`);

  since = await uploadAndActivate(nodes[2], "5151");
  took = await arrival(nodes.slice(0, 2), "5151", since);
  assert.ok(took < 1000, `the activation through node 2 took ${took} ms to reach the others`);

  // A rollback through the middle node returns every node to the previous version.
  const rolledBack = await admin(nodes[1], "POST", "/v1/merchants/shop/policies/rollback");
  assert.equal(rolledBack.status, 200, JSON.stringify(rolledBack.body));
  since = Date.now();
  took = await arrival([nodes[0], nodes[2]], "4242", since);
  assert.ok(took < 1000, `the rollback took ${took} ms to reach the others`);
});

// Paid load for the outage tests: `workers` loops, each signing a fresh payment and sending it to
// the next node in turn, until stop() is called. Every answer is kept with its nonce.
function paidLoad(payer, { workers = 4 } = {}) {
  const { devnet } = stack;
  const answers = [];
  let running = true;
  let turn = 0;
  const loop = async () => {
    const offer = await getOffer(resourceUrl(nodes[0]));
    const accepted = offer.v2.accepts[0];
    while (running) {
      const { authorization, signature } = await signAuthorization({
        devnet, privateKey: payer.privateKey, to: accepted.payTo, value: accepted.amount,
        validForSeconds: 600,
      });
      const node = nodes[turn++ % nodes.length];
      const sentAt = Date.now();
      const payload = v2Payload({ resourceUrl: offer.v2.resource.url, accepted, authorization, signature });
      let status = 0;
      let code = "";
      try {
        const res = await sendV2Payment(resourceUrl(node), payload);
        status = res.status;
        try { code = JSON.parse(res.body).code ?? ""; } catch { /* not JSON */ }
      } catch (e) {
        code = `client: ${e.message}`;
      }
      answers.push({ nonce: authorization.nonce.toLowerCase(), status, code, sentAt, at: Date.now() });
    }
  };
  const done = Promise.all(Array.from({ length: workers }, loop));
  return { answers, stop: async () => { running = false; await done; } };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One fresh payment to `node`: {status, code}.
async function payOnce(node, payer) {
  const offer = await getOffer(resourceUrl(node));
  const accepted = offer.v2.accepts[0];
  const { authorization, signature } = await signAuthorization({
    devnet: stack.devnet, privateKey: payer.privateKey, to: accepted.payTo, value: accepted.amount,
    validForSeconds: 600,
  });
  const res = await sendV2Payment(resourceUrl(node),
    v2Payload({ resourceUrl: offer.v2.resource.url, accepted, authorization, signature }));
  let code = "";
  try { code = JSON.parse(res.body).code ?? ""; } catch { /* not JSON */ }
  return { status: res.status, code, nonce: authorization.nonce.toLowerCase() };
}

async function waitFor(what, check, timeoutMs = 60000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const result = await check();
    if (result.ok) return result;
    if (Date.now() > until) assert.fail(`${what}: ${result.why}`);
    await sleep(250);
  }
}

// `count` GETs of the rate-limited route as client `client`, spread over the nodes, all at once.
async function limitedRequests(client, count, targets = nodes) {
  return Promise.all(Array.from({ length: count }, async (_, i) => {
    const res = await fetch(resourceUrl(targets[i % targets.length], "/limited"), {
      headers: { "x-client": client },
      signal: AbortSignal.timeout(15000),
    });
    return { status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.text() };
  }));
}

// The value of `series` in a node's /metrics, or null when it is not there.
async function metric(node, series) {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? null : Number(line.slice(series.length + 1));
}

const DEGRADED = 'x402_ratelimit_degraded{tier="per-client"}';

test("a rate-limit tier's quota is one quota across the three nodes", async () => {
  const answers = await limitedRequests("client-global", 18);
  const admitted = answers.filter((a) => a.status === 200).length;
  const refused = answers.filter((a) => a.status === 429);
  assert.equal(admitted, 6, `the burst of 6 is spent once, whichever node: ${JSON.stringify(answers)}`);
  assert.equal(refused.length, 12);
  for (const r of refused) {
    assert.equal(JSON.parse(r.body).code, "rate_limited");
    assert.ok(Number(r.retryAfter) >= 1, `Retry-After: ${r.retryAfter}`);
  }
  for (const node of nodes) assert.equal(await metric(node, DEGRADED), 0);
});

test("Redis killed mid-load: paid requests fail closed, nothing is served twice, service resumes", async () => {
  const { devnet } = stack;
  const payer = devnet.accounts.payers[1];
  const usedBefore = (await authorizationUsedLogs(devnet, { authorizer: payer.address })).length;
  const load = paidLoad(payer);
  await sleep(1500);
  await redis.kill();
  const killedAt = Date.now();
  // Rate limiting degrades instead: each node limits on its own to its share (6 / 3 nodes), and
  // says so in a metric.
  const perNode = await Promise.all(nodes.map((node) => limitedRequests("client-outage", 3, [node])));
  for (const answers of perNode) {
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 200, 429],
      `a node's share while Redis is down: ${JSON.stringify(answers)}`);
  }
  for (const node of nodes) assert.equal(await metric(node, DEGRADED), 1, "the metric says so");
  await sleep(Math.max(0, 2000 - (Date.now() - killedAt)));
  await redis.restart();
  const restartedAt = Date.now();
  // Give the nodes time to reconnect (backoff up to 2 s), then keep paying a little longer.
  await waitFor("paid requests served again after Redis came back", async () => {
    const served = load.answers.filter((a) => a.at > restartedAt && a.status === 200).length;
    return { ok: served >= 5, why: `${served} served since the restart` };
  }, 30000);
  await load.stop();

  // Requests sent while Redis was down (those claimed before the kill may still finish).
  const during = load.answers.filter((a) => a.sentAt > killedAt && a.at < restartedAt);
  assert.ok(during.length > 0, "requests were answered while Redis was down");
  assert.equal(during.filter((a) => a.status === 200).length, 0,
    "nothing is served while replay protection is unreachable");
  assert.ok(during.some((a) => a.status === 503 && a.code === "replay_guard_unavailable"),
    `refusals name the reason: ${JSON.stringify(during.slice(0, 3))}`);

  // Served exactly the payments that moved money, each once.
  const served = load.answers.filter((a) => a.status === 200);
  const used = (await authorizationUsedLogs(devnet, { authorizer: payer.address })).slice(usedBefore);
  const usedNonces = new Set(used.map((l) => l.args.nonce.toLowerCase()));
  assert.equal(new Set(served.map((a) => a.nonce)).size, served.length, "no payment served twice");
  for (const a of served) assert.ok(usedNonces.has(a.nonce), "every served payment was settled on chain");
  assert.equal(used.length, served.length, "every settled payment was served");

  // Rate limiting is global again without a restart.
  let probe = 0;
  await waitFor("every node's rate-limit tier back on Redis", async () => {
    const states = [];
    for (const node of nodes) {
      await limitedRequests(`probe-${probe++}`, 1, [node]);
      states.push(await metric(node, DEGRADED));
    }
    return { ok: states.every((v) => v === 0), why: `degraded: ${states}` };
  }, 30000);
  const afterwards = await limitedRequests("client-after", 9);
  assert.equal(afterwards.filter((a) => a.status === 200).length, 6, "one quota across the nodes again");
});

test("PostgreSQL killed mid-load: no accepted payment or usage record is lost", async () => {
  const { devnet } = stack;
  const payer = devnet.accounts.payers[2];
  const address = payer.address.toLowerCase();
  const usedBefore = (await authorizationUsedLogs(devnet, { authorizer: payer.address })).length;
  const load = paidLoad(payer, { workers: 8 });
  await sleep(1500);
  await pg.kill();
  // New payments while it is down: refused before anything is verified or charged.
  await sleep(300);
  const refused = await Promise.all(nodes.map((node) => payOnce(node, payer)));
  await sleep(1000);
  await pg.restart();
  const restartedAt = Date.now();
  await waitFor("paid requests served again after PostgreSQL came back", async () => {
    const served = load.answers.filter((a) => a.at > restartedAt && a.status === 200).length;
    return { ok: served >= 5, why: `${served} served since the restart` };
  }, 30000);
  await load.stop();

  // Requests in flight at the kill wait for their settlement (bounded by settle_timeout) and may
  // end in 503 settlement_unknown, to be reconciled; new ones are refused outright.
  for (const r of refused) {
    assert.deepEqual([r.status, r.code], [503, "store_unavailable"], "a new payment while the database is down");
  }

  // The chain is the judge: every authorization used on chain has its payment row SETTLED (the
  // spool and the reconciler catch up), and every served request has its usage record.
  const served = load.answers.filter((a) => a.status === 200);
  await waitFor("the books match the chain", async () => {
    const used = (await authorizationUsedLogs(devnet, { authorizer: payer.address })).slice(usedBefore);
    const settled = new Set((await pg.query(
      `SELECT nonce FROM payments WHERE payer = '${address}' AND status = 'SETTLED'`)).map(([n]) => n));
    const missing = used.map((l) => l.args.nonce.toLowerCase()).filter((n) => !settled.has(n));
    const usage = new Set((await pg.query(
      `SELECT p.nonce FROM usage_records u JOIN payments p ON p.id = u.payment_id WHERE u.payer = '${address}'`))
      .map(([n]) => n));
    const unrecorded = served.filter((a) => !usage.has(a.nonce));
    return {
      ok: missing.length === 0 && unrecorded.length === 0,
      why: `${missing.length} of ${used.length} settled payments without a SETTLED row, ` +
        `${unrecorded.length} of ${served.length} served requests without a usage record`,
    };
  }, 90000);
  const used = (await authorizationUsedLogs(devnet, { authorizer: payer.address })).slice(usedBefore);
  const usedNonces = new Set(used.map((l) => l.args.nonce.toLowerCase()));
  for (const a of served) assert.ok(usedNonces.has(a.nonce), "every served payment was settled on chain");
  assert.equal(new Set(served.map((a) => a.nonce)).size, served.length, "no payment served twice");
});

// TEST DOUBLE (timing only): a pass-through proxy in front of the real reference facilitator that
// holds the first /settle until release(), so the test can take the database away while a
// settlement is on its way. Everything else is forwarded at once.
function startSettleGate(target) {
  let arrived;
  const settleArrived = new Promise((resolve) => { arrived = resolve; });
  let open;
  const gate = new Promise((resolve) => { open = resolve; });
  let held = false;
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    if (req.url === "/settle" && !held) {
      held = true;
      arrived();
      await gate;
    }
    const upstream = await fetch(`${target}${req.url}`, {
      method: req.method,
      headers: { "content-type": req.headers["content-type"] ?? "application/json" },
      body: req.method === "GET" ? undefined : Buffer.concat(chunks),
    });
    res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" });
    res.end(Buffer.from(await upstream.arrayBuffer()));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({
    url: `http://127.0.0.1:${server.address().port}`,
    settleArrived,
    release: () => open(),
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  })));
}

test("PostgreSQL gone after the payment settled: the payer is served, the completion spooled, then booked", async () => {
  const { devnet } = stack;
  const payer = devnet.accounts.payers[3];
  const ref = await stack.referenceFacilitator();  // relayer 0: not one of the self-hosted keys
  const gate = await startSettleGate(ref.url);
  try {
    const node = await stack.x402d(nodeConfig("node-gated", [httpFacilitator("reference", gate.url)]));
    const paying = payOnce(node, payer);
    await gate.settleArrived;  // claimed and verified in PostgreSQL; the settle is on its way
    await pg.kill();
    gate.release();
    const answer = await paying;
    assert.equal(answer.status, 200, `the payer has paid, so it is served: ${JSON.stringify(answer)}`);
    const used = await authorizationUsedLogs(devnet, { authorizer: payer.address, nonce: answer.nonce });
    assert.equal(used.length, 1, "the payment settled on chain");
    await waitForLog(node.logFile, /"msg":"settled payment spooled: the store failed"/);

    await pg.restart();
    await waitFor("the spooled completion reaches the database", async () => {
      const rows = await pg.query(`SELECT p.status, count(u.id) FROM payments p LEFT JOIN usage_records u ` +
        `ON u.payment_id = p.id WHERE p.nonce = '${answer.nonce}' GROUP BY p.status`).catch(() => []);
      return { ok: rows.length === 1 && rows[0][0] === "SETTLED" && rows[0][1] === "1", why: JSON.stringify(rows) };
    }, 30000);
    await waitForLog(node.logFile, /"msg":"spooled records applied to the store"/);
  } finally {
    gate.release();
    await gate.close();
  }
});
