// Failover with real peers: the first facilitator in x402d's list is down (connection refused)
// or hangs (accepts the request, never answers); the reference facilitator behind it must
// verify and settle, and the payment must settle exactly once on chain.
//
// x402d puts facilitators whose GET /supported listed the payment's kind before those it knows
// nothing about (docs/failover.md). So that the broken facilitator really is asked first, each
// test lets x402d learn its /supported before it breaks: a reference facilitator that is then
// stopped (refused), or a hanging double that answers /supported only.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { getAddress } from "viem";
import { attemptsOf, httpFacilitator, paidRequestEntry } from "./lib/gateway.mjs";
import { balances, receiptTransfers, transferLogs } from "./lib/chain.mjs";
import { payWithOfficialClient } from "./lib/payments.mjs";
import { waitForLog } from "./lib/processes.mjs";
import { resourceUrl, startStack } from "./lib/stack.mjs";

const PRICE = 10000n;
const SUPPORTED_SEEN = /"path":"\/supported","status":200/;

let stack;
let ref;

before(async () => {
  stack = await startStack("failover_onchain");
  ref = await stack.referenceFacilitator({ relayer: 0 });
});

after(async () => {
  await stack?.stop();
});

// Pays once with the v2 official client and checks the single on-chain settlement.
async function payAndCheckSettledOnce(gw, payer) {
  const { devnet, upstream } = stack;
  const merchant = devnet.accounts.merchant.address;
  const hitsBefore = upstream.hits();
  const [payerBefore, merchantBefore] = await balances(devnet, [payer.address, merchant]);

  const out = await payWithOfficialClient("v2", resourceUrl(gw), payer.privateKey);

  assert.equal(out.status, 200, `paid request answered ${out.status}: ${out.body}`);
  assert.equal(JSON.parse(out.body).upstream, "e2e");
  assert.equal(upstream.hits(), hitsBefore + 1);
  assert.equal(out.paymentResponse?.success, true);
  assert.equal(out.paymentResponse.network, "eip155:84532");

  const logs = await transferLogs(devnet, { from: payer.address, to: merchant });
  assert.equal(logs.length, 1, "settled exactly once on chain");
  assert.equal(logs[0].transactionHash, out.paymentResponse.transaction);
  const { transfers } = await receiptTransfers(devnet, out.paymentResponse.transaction);
  assert.equal(transfers.length, 1);
  assert.equal(getAddress(transfers[0].args.from), payer.address);
  assert.equal(transfers[0].args.value, PRICE);
  const [payerAfter, merchantAfter] = await balances(devnet, [payer.address, merchant]);
  assert.equal(payerBefore - payerAfter, PRICE);
  assert.equal(merchantAfter - merchantBefore, PRICE);
  return out;
}

test("first facilitator refuses connections: the reference facilitator behind it settles once", async () => {
  // A second reference facilitator (own relayer) that x402d gets to know, then loses.
  const doomed = await stack.referenceFacilitator({ relayer: 1, name: "doomed-facilitator" });
  const gw = await stack.x402d({
    name: "x402d-refused",
    facilitators: [httpFacilitator("down", doomed.url), httpFacilitator("reference", ref.url)],
  });
  await waitForLog(doomed.logFile, SUPPORTED_SEEN);
  await doomed.stop();

  const payer = stack.devnet.accounts.payers[0];
  await payAndCheckSettledOnce(gw, payer);
  assert.deepEqual(attemptsOf(await paidRequestEntry(gw, payer.address)), [
    ["down", "verify", "not_sent"],
    ["reference", "verify", "valid"],
    ["reference", "settle", "settled"],
  ]);
  await gw.stop();
});

test("first facilitator hangs: after its attempt timeout the reference facilitator settles once", async () => {
  const supported = await (await fetch(`${ref.url}/supported`)).json();
  const hanging = await stack.hangingServer({ supported });
  const gw = await stack.x402d({
    name: "x402d-hanging",
    // A short attempt timeout for the hanging one keeps the test quick; the global default
    // (5 s) stays for the reference facilitator.
    facilitators: [
      httpFacilitator("hanging", hanging.url, { attemptTimeoutMs: 1000 }),
      httpFacilitator("reference", ref.url),
    ],
  });
  await waitForLog(hanging.logFile, /answered GET \/supported/);

  const payer = stack.devnet.accounts.payers[1];
  await payAndCheckSettledOnce(gw, payer);
  assert.deepEqual(attemptsOf(await paidRequestEntry(gw, payer.address)), [
    ["hanging", "verify", "timeout"],
    ["reference", "verify", "valid"],
    ["reference", "settle", "settled"],
  ]);
  // The double really received the verify and never answered it.
  assert.match(fs.readFileSync(hanging.logFile, "utf8"), /hanging on POST \/verify/);
  assert.doesNotMatch(fs.readFileSync(hanging.logFile, "utf8"), /hanging on POST \/settle/);
  await gw.stop();
});
