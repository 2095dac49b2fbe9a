// Bad payments against the real stack (x402d → facilitator-http → reference facilitator →
// anvil). Each is a v2 payment signed by hand with viem, since no official client would produce
// it. Each must be refused with a 402 whose PAYMENT-REQUIRED `error` (and v1 body `error`) says
// why; nothing may move on chain and the upstream must not be called.
//
// A well-formed payment built by the same code is accepted first, so a refusal below is caused
// by the one thing each test breaks, not by the crafting.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { getAddress } from "viem";
import { attemptsOf, httpFacilitator, requestEntry } from "./lib/gateway.mjs";
import { authorizationUsed, balances, submitAuthorization, transferLogs, transferUsdc } from "./lib/chain.mjs";
import { getOffer, payCrafted, sendV2Payment, signAuthorization, v2Payload } from "./lib/payments.mjs";
import { resourceUrl, startStack } from "./lib/stack.mjs";

const PRICE = 10000n;

let stack;
let gw;
let url;

before(async () => {
  stack = await startStack("refusals_onchain");
  const ref = await stack.referenceFacilitator();
  gw = await stack.x402d({ facilitators: [httpFacilitator("reference", ref.url)] });
  url = resourceUrl(gw);
});

after(async () => {
  await stack?.stop();
});

// The refusal as both versions carry it: v2 header `error`, v1 body `error` (same text).
function refusalReason(result) {
  assert.equal(result.status, 402, `expected a 402, got ${result.status}: ${result.body}`);
  assert.ok(result.paymentRequired, "the 402 carries a PAYMENT-REQUIRED header");
  const reason = result.paymentRequired.error;
  assert.equal(typeof reason, "string");
  assert.ok(reason.length > 0, "the 402 says why");
  assert.equal(JSON.parse(result.body).error, reason, "the v1 body carries the same reason");
  assert.equal(result.paymentResponse, null, "no settlement header on a refusal");
  return reason;
}

async function assertNothingMoved({ from, to, hitsBefore, balancesBefore, addresses }) {
  assert.equal(stack.upstream.hits(), hitsBefore, "the upstream was not called");
  assert.deepEqual(await transferLogs(stack.devnet, { from, to }), [], "no Transfer on chain");
  assert.deepEqual(await balances(stack.devnet, addresses), balancesBefore, "no balance changed");
}

// Runs one crafted payment by `payer` with `overrides` and checks the refusal. Returns the reason
// and the response.
async function refused(payer, overrides, { to } = {}) {
  const merchant = stack.devnet.accounts.merchant.address;
  const recipient = to ?? merchant;
  const addresses = [payer.address, merchant, recipient];
  const hitsBefore = stack.upstream.hits();
  const balancesBefore = await balances(stack.devnet, addresses);
  const { result } = await payCrafted(url, { devnet: stack.devnet, privateKey: payer.privateKey, ...overrides });
  const reason = refusalReason(result);
  await assertNothingMoved({ from: payer.address, hitsBefore, balancesBefore, addresses });
  return { reason, result };
}

test("control: a correct hand-made payment is accepted and settles on chain", async () => {
  const payer = stack.devnet.accounts.payers[0];
  const hitsBefore = stack.upstream.hits();
  const { result } = await payCrafted(url, { devnet: stack.devnet, privateKey: payer.privateKey });
  assert.equal(result.status, 200, result.body);
  assert.equal(stack.upstream.hits(), hitsBefore + 1);
  assert.equal(result.paymentResponse?.success, true);
  const logs = await transferLogs(stack.devnet, { from: payer.address });
  assert.equal(logs.length, 1);
  assert.equal(logs[0].args.value, PRICE);
  assert.equal(getAddress(logs[0].args.to), stack.devnet.accounts.merchant.address);
});

test("insufficient balance (payer holds 0 USDC): 402, nothing moves", async () => {
  const payer = stack.devnet.accounts.poorPayer;
  const { reason, result } = await refused(payer, {});
  // The reference facilitator simulates transferWithAuthorization first, so its verdict is
  // invalid_exact_evm_transaction_simulation_failed with the token's revert reason.
  assert.match(reason, /insufficient|exceeds balance/i);
  // The verdict came from the reference facilitator, on chain data.
  assert.deepEqual(attemptsOf(await requestEntry(gw, result)), [["reference", "verify", "invalid"]]);
});

test("authorization to the wrong payTo: 402, nothing moves", async () => {
  const payer = stack.devnet.accounts.payers[1];
  const thief = stack.devnet.accounts.relayers[2].address;
  const { reason, result } = await refused(payer, { to: thief }, { to: thief });
  assert.match(reason, /pay_?to|recipient|\bto\b/i);
  // x402d's own local check refuses it before any facilitator is asked.
  assert.deepEqual(attemptsOf(await requestEntry(gw, result)), []);
});

test("expired authorization (validBefore in the past): 402, nothing moves", async () => {
  const payer = stack.devnet.accounts.payers[1];
  const now = Math.floor(Date.now() / 1000);
  const { reason, result } = await refused(payer, { validAfter: now - 3600, validBefore: now - 60 });
  assert.match(reason, /expir|valid_?before/i);
  assert.deepEqual(attemptsOf(await requestEntry(gw, result)), []);
});

test("wrong EIP-712 domain name (\"USD Coin\" instead of \"USDC\"): 402, nothing moves", async () => {
  const payer = stack.devnet.accounts.payers[1];
  const { reason, result } = await refused(payer, { domainName: "USD Coin" });
  assert.match(reason, /signature/i);
  assert.deepEqual(attemptsOf(await requestEntry(gw, result)), [["reference", "verify", "invalid"]]);
});

test("nonce already used on chain (submitted to the token directly first): 402, no second transfer", async () => {
  const { devnet } = stack;
  const payer = devnet.accounts.payers[2];
  const merchant = devnet.accounts.merchant.address;
  const offer = await getOffer(url);
  const accepted = offer.v2.accepts[0];
  const { authorization, signature } = await signAuthorization({
    devnet, privateKey: payer.privateKey, to: accepted.payTo, value: accepted.amount,
  });
  // Someone (here relayer 2) puts the authorization on chain before the payer uses it at x402d.
  const direct = await submitAuthorization(devnet, devnet.accounts.relayers[2].privateKey, authorization, signature);
  assert.equal(direct.status, "success");
  assert.equal(await authorizationUsed(devnet, payer.address, authorization.nonce), true);

  const hitsBefore = stack.upstream.hits();
  const balancesBefore = await balances(devnet, [payer.address, merchant]);
  const result = await sendV2Payment(url, v2Payload({
    resourceUrl: offer.v2.resource.url, accepted, authorization, signature,
  }));
  const reason = refusalReason(result);
  assert.match(reason, /nonce|authorization.*used|already/i);
  assert.deepEqual(attemptsOf(await requestEntry(gw, result)), [["reference", "verify", "invalid"]]);
  assert.equal(stack.upstream.hits(), hitsBefore, "the upstream was not called");
  assert.deepEqual(await balances(devnet, [payer.address, merchant]), balancesBefore);
  const logs = await transferLogs(devnet, { from: payer.address });
  assert.deepEqual(logs.map((l) => l.transactionHash), [direct.transactionHash],
    "only the direct submission moved money");
});

test("replaying a settled payment: refused, upstream not called again, one transfer on chain", async () => {
  const { devnet } = stack;
  const payer = devnet.accounts.payers[2];
  const first = await payCrafted(url, { devnet, privateKey: payer.privateKey });
  assert.equal(first.result.status, 200, first.result.body);
  const hitsBefore = stack.upstream.hits();
  const transfersBefore = (await transferLogs(devnet, { from: payer.address })).length;

  const replay = await sendV2Payment(url, first.payload);

  assert.notEqual(replay.status, 200, "a payment is served once");
  assert.ok(replay.status === 402 || replay.status === 409, `replay answered ${replay.status}: ${replay.body}`);
  assert.equal(stack.upstream.hits(), hitsBefore, "the upstream was not called for the replay");
  assert.equal((await transferLogs(devnet, { from: payer.address })).length, transfersBefore);
});

test("payer empties its balance while the upstream runs (settle after): not served, no transfer", async () => {
  const { devnet } = stack;
  const payer = devnet.accounts.payers[3];
  const merchant = devnet.accounts.merchant.address;
  const sink = devnet.accounts.owner.address;
  // Verify passes (the balance is there); inside the upstream call the payer moves everything
  // away, so the settlement x402d sends afterwards must fail on chain.
  stack.upstream.setHook(async () => {
    const all = await balances(devnet, [payer.address]);
    await transferUsdc(devnet, payer.privateKey, sink, all[0]);
  });
  let result;
  try {
    ({ result } = await payCrafted(url, { devnet, privateKey: payer.privateKey }));
  } finally {
    stack.upstream.setHook(null);
  }
  assert.notEqual(result.status, 200, `the upstream's answer must not be served unpaid: ${result.body}`);
  assert.doesNotMatch(result.body, /"upstream":"e2e"/, "the upstream body is withheld");
  assert.deepEqual(await transferLogs(devnet, { from: payer.address, to: merchant }), [],
    "nothing reached the merchant");
  const entry = await requestEntry(gw, result);
  assert.deepEqual(attemptsOf(entry).map((a) => a.slice(0, 2)), [["reference", "verify"], ["reference", "settle"]]);
  // What x402d answered, for the record (see the report): a definite failure is a 402.
  assert.equal(result.status, 402, `answered ${result.status}: ${result.body}`);
  assert.match(refusalReason(result), /settlement_failed/);
});
