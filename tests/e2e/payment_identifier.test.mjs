// The x402 payment-identifier extension against the real stack (x402d → facilitator-http →
// reference facilitator → anvil), with the id attached by @x402/extensions exactly as a client
// library does. A retry of the same signed payment with the same id gets the first answer again
// (Idempotent-Replayed: true): the upstream is called once and one Transfer lands on chain. The
// same id with another payment is 422, and a retry without the id is still refused as used.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { appendPaymentIdentifierToExtensions } from "@x402/extensions/payment-identifier";
import { httpFacilitator } from "./lib/gateway.mjs";
import { transferLogs } from "./lib/chain.mjs";
import { getOffer, sendV2Payment, signAuthorization, v2Payload } from "./lib/payments.mjs";
import { resourceUrl, startStack } from "./lib/stack.mjs";

let stack;
let url;

before(async () => {
  stack = await startStack("payment_identifier");
  const ref = await stack.referenceFacilitator();
  const gw = await stack.x402d({ facilitators: [httpFacilitator("reference", ref.url)] });
  url = resourceUrl(gw);
});

after(async () => {
  await stack?.stop();
});

// A signed payment for the offer's first requirement carrying the 402's extensions with `id`.
async function paymentWithId(payer, id) {
  const offer = await getOffer(url);
  assert.equal(offer.status, 402);
  const declared = offer.v2.extensions?.["payment-identifier"];
  assert.ok(declared, "the 402 declares payment-identifier");
  assert.equal(declared.info.required, false);
  const extensions = structuredClone(offer.v2.extensions);
  appendPaymentIdentifierToExtensions(extensions, id);
  const accepted = offer.v2.accepts[0];
  const { authorization, signature } = await signAuthorization({
    devnet: stack.devnet, privateKey: payer.privateKey, to: accepted.payTo, value: accepted.amount,
    validForSeconds: accepted.maxTimeoutSeconds,
  });
  return { ...v2Payload({ resourceUrl: offer.v2.resource.url, accepted, authorization, signature }), extensions };
}

test("a retry with the same id replays the first answer; one Transfer on chain", async () => {
  const payer = stack.devnet.accounts.payers[0];
  const payment = await paymentWithId(payer, "pay_e2e_replay_000000000001");
  const hitsBefore = stack.upstream.hits();

  const first = await sendV2Payment(url, payment);
  assert.equal(first.status, 200, first.body);
  assert.equal(first.paymentResponse?.success, true);
  assert.equal(first.headers.get("Idempotent-Replayed"), null);

  const again = await sendV2Payment(url, payment);
  assert.equal(again.status, 200, again.body);
  assert.equal(again.headers.get("Idempotent-Replayed"), "true");
  assert.equal(again.body, first.body);
  assert.deepEqual(again.paymentResponse, first.paymentResponse);

  assert.equal(stack.upstream.hits(), hitsBefore + 1, "the upstream was called once");
  const logs = await transferLogs(stack.devnet, { from: payer.address });
  assert.equal(logs.length, 1, "one Transfer on chain");
  assert.equal(logs[0].transactionHash, first.paymentResponse.transaction);
});

test("the same id with another payment is 422 and nothing moves", async () => {
  const payer = stack.devnet.accounts.payers[1];
  const id = "pay_e2e_mismatch_00000000001";
  const first = await sendV2Payment(url, await paymentWithId(payer, id));
  assert.equal(first.status, 200, first.body);
  const hitsBefore = stack.upstream.hits();

  const other = await sendV2Payment(url, await paymentWithId(payer, id));
  assert.equal(other.status, 422, other.body);
  const body = JSON.parse(other.body);
  assert.equal(body.code, "idempotency_key_reused");
  assert.equal(body.field, "extensions.payment-identifier.info.id");
  assert.equal(stack.upstream.hits(), hitsBefore);
  assert.equal((await transferLogs(stack.devnet, { from: payer.address })).length, 1);
});

test("without the id the same payment is still refused as already used", async () => {
  const payer = stack.devnet.accounts.payers[2];
  const payment = await paymentWithId(payer, "pay_e2e_without_id_000000001");
  assert.equal((await sendV2Payment(url, payment)).status, 200);
  const { extensions, ...withoutId } = payment;
  assert.ok(extensions);
  const again = await sendV2Payment(url, withoutId);
  assert.equal(again.status, 402, again.body);
  assert.match(again.paymentRequired.error, /payment_already_used/);
  assert.equal((await transferLogs(stack.devnet, { from: payer.address })).length, 1);
});
