// Bad payments on a real chain, refused by x402d's own facilitator (facilitator-selfhosted), and
// relayer key rotation. Each bad payment is sent twice: to a paid route (402, documented reason,
// nothing served, nothing moved) and straight to x402d's facilitator API POST /verify, where the
// plugin's own reason code (docs/selfhosted-facilitator.md) must come back even for the cases
// x402d's local checks catch before asking any facilitator.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { getAddress, hexToBigInt, numberToHex } from "viem";
import { authorizationUsed, balances, publicClient, receiptTransfers, submitAuthorization, transferLogs } from "./lib/chain.mjs";
import {
  attemptsOf, facilitatorApiSection, facilitatorApiUrl, requestEntry, selfhostedFacilitator,
} from "./lib/gateway.mjs";
import { getOffer, payCrafted, sendV2Payment, signAuthorization, v2Payload } from "./lib/payments.mjs";
import { resourceUrl, startStack } from "./lib/stack.mjs";

const PRICE = 10000n;
// secp256k1's group order: s and n - s are the two valid s values of one signature (EIP-2).
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

let stack;
let gw;
let url;
let apiUrl;

before(async () => {
  stack = await startStack("selfhosted_refusals");
  const { devnet } = stack;
  gw = await stack.x402d({
    facilitators: [selfhostedFacilitator(devnet, devnet.accounts.relayers.map((r) => r.privateKey))],
    extra: { facilitator_api: facilitatorApiSection("selfhosted") },
  });
  url = resourceUrl(gw);
  apiUrl = await facilitatorApiUrl(gw);
});

after(async () => {
  await stack?.stop();
});

async function verifyAtApi(payload) {
  const res = await fetch(`${apiUrl}/verify`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ x402Version: 2, paymentPayload: payload, paymentRequirements: payload.accepted }),
    signal: AbortSignal.timeout(15000),
  });
  const body = await res.json();
  assert.equal(res.status, 200, `facilitator API /verify answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

// A payment by `payer` for the /weather offer: signed by hand with `overrides`, then its signature
// passed through `tamper` (identity by default).
async function craft(payer, overrides = {}, tamper = (s) => s) {
  const offer = await getOffer(url);
  const accepted = offer.v2.accepts[0];
  const signed = await signAuthorization({
    devnet: stack.devnet, privateKey: payer.privateKey, to: accepted.payTo, value: accepted.amount,
    validForSeconds: accepted.maxTimeoutSeconds, ...overrides,
  });
  const signature = tamper(signed.signature);
  return v2Payload({ resourceUrl: offer.v2.resource.url, accepted, authorization: signed.authorization, signature });
}

// Sends `payload` to the paid route and to the facilitator API. The route must answer 402 whose
// reason starts with `gatewayReason`, having asked the facilitator as `attempts` says; /verify must
// answer isValid false with `pluginReason`. Nothing is served, nothing moves on chain.
async function refusedBoth(payload, { gatewayReason, pluginReason, attempts }) {
  const { devnet } = stack;
  const from = payload.payload.authorization.from;
  const merchant = devnet.accounts.merchant.address;
  const watched = [from, merchant, payload.payload.authorization.to];
  const hitsBefore = stack.upstream.hits();
  const balancesBefore = await balances(devnet, watched);
  const transfersBefore = await transferLogs(devnet, { from });

  const result = await sendV2Payment(url, payload);
  assert.equal(result.status, 402, `expected a 402, got ${result.status}: ${result.body}`);
  const reason = result.paymentRequired?.error;
  assert.equal(typeof reason, "string", "the 402 says why");
  assert.ok(reason.startsWith(gatewayReason), `402 reason "${reason}" should start with "${gatewayReason}"`);
  assert.equal(JSON.parse(result.body).error, reason, "the v1 body carries the same reason");
  assert.equal(result.paymentResponse, null, "no settlement header on a refusal");
  assert.deepEqual(attemptsOf(await requestEntry(gw, result)), attempts);

  const verdict = await verifyAtApi(payload);
  assert.equal(verdict.isValid, false, JSON.stringify(verdict));
  assert.equal(verdict.invalidReason, pluginReason, JSON.stringify(verdict));

  assert.equal(stack.upstream.hits(), hitsBefore, "the upstream was not called");
  assert.deepEqual(await transferLogs(devnet, { from }), transfersBefore, "no Transfer on chain");
  assert.deepEqual(await balances(devnet, watched), balancesBefore, "no balance changed");
}

const ASKED = [["selfhosted", "verify", "invalid"]];

// Signature bytes 0..31 r, 32..63 s, 64 v.
const sigParts = (sig) => ({ r: sig.slice(2, 66), s: sig.slice(66, 130), v: parseInt(sig.slice(130, 132), 16) });
const join = ({ r, s, v }) => `0x${r}${s}${v.toString(16).padStart(2, "0")}`;

test("control: a correct hand-made payment passes /verify and settles on chain", async () => {
  const payer = stack.devnet.accounts.payers[0];
  const payload = await craft(payer);
  const verdict = await verifyAtApi(payload);
  assert.equal(verdict.isValid, true, JSON.stringify(verdict));
  assert.equal(getAddress(verdict.payer), payer.address);
  const result = await sendV2Payment(url, payload);
  assert.equal(result.status, 200, result.body);
  assert.equal(result.paymentResponse?.success, true);
  const { status, transfers } = await receiptTransfers(stack.devnet, result.paymentResponse.transaction);
  assert.equal(status, "success");
  assert.equal(transfers.length, 1);
  assert.equal(transfers[0].args.value, PRICE);
});

test("insufficient balance (payer holds 0 USDC): invalid_exact_evm_insufficient_balance", async () => {
  await refusedBoth(await craft(stack.devnet.accounts.poorPayer), {
    gatewayReason: "invalid_payment: invalid_exact_evm_insufficient_balance",
    pluginReason: "invalid_exact_evm_insufficient_balance",
    attempts: ASKED,
  });
});

test("authorization to the wrong payTo: invalid_exact_evm_recipient_mismatch", async () => {
  const thief = stack.devnet.accounts.relayers[2].address;
  await refusedBoth(await craft(stack.devnet.accounts.payers[1], { to: thief }), {
    gatewayReason: "payto_mismatch",  // x402d's local check, before any facilitator
    pluginReason: "invalid_exact_evm_recipient_mismatch",
    attempts: [],
  });
});

test("expired authorization: invalid_exact_evm_payload_authorization_valid_before", async () => {
  const now = Math.floor(Date.now() / 1000);
  await refusedBoth(await craft(stack.devnet.accounts.payers[1], { validAfter: now - 3600, validBefore: now - 60 }), {
    gatewayReason: "expired",  // x402d's local check
    pluginReason: "invalid_exact_evm_payload_authorization_valid_before",
    attempts: [],
  });
});

test("wrong EIP-712 domain name (\"USD Coin\"): invalid_exact_evm_signature", async () => {
  await refusedBoth(await craft(stack.devnet.accounts.payers[1], { domainName: "USD Coin" }), {
    gatewayReason: "invalid_payment: invalid_exact_evm_signature",
    pluginReason: "invalid_exact_evm_signature",
    attempts: ASKED,
  });
});

test("tampered signature (one bit of s flipped): invalid_exact_evm_signature", async () => {
  const flipS = (sig) => {
    const p = sigParts(sig);
    const last = (parseInt(p.s.slice(62), 16) ^ 1).toString(16).padStart(2, "0");
    return join({ ...p, s: p.s.slice(0, 62) + last });
  };
  await refusedBoth(await craft(stack.devnet.accounts.payers[1], {}, flipS), {
    gatewayReason: "invalid_payment: invalid_exact_evm_signature",
    pluginReason: "invalid_exact_evm_signature",
    attempts: ASKED,
  });
});

test("high-s twin of a valid signature (same signer, EIP-2 malleability): invalid_exact_evm_signature", async () => {
  const twin = (sig) => {
    const p = sigParts(sig);
    const s = SECP256K1_N - hexToBigInt(`0x${p.s}`);
    return join({ r: p.r, s: numberToHex(s, { size: 32 }).slice(2), v: p.v === 27 ? 28 : 27 });
  };
  await refusedBoth(await craft(stack.devnet.accounts.payers[1], {}, twin), {
    gatewayReason: "invalid_payment: invalid_exact_evm_signature",
    pluginReason: "invalid_exact_evm_signature",
    attempts: ASKED,
  });
});

// Well-formed 65 bytes that are no valid signature: invalid_exact_evm_signature, as @x402/evm
// answers; failed_to_parse_signature stays for signatures that are not 65 bytes of hex.
test("65 bytes whose r is no curve point (does not recover at all): invalid_exact_evm_signature", async () => {
  // x = 5 is not the x-coordinate of any secp256k1 point (5³ + 7 is no square mod p). The doc
  // keeps failed_to_parse_signature for signatures that are not 65 bytes of hex.
  const badR = (sig) => join({ ...sigParts(sig), r: "5".padStart(64, "0") });
  await refusedBoth(await craft(stack.devnet.accounts.payers[1], {}, badR), {
    gatewayReason: "invalid_payment: invalid_exact_evm_signature",
    pluginReason: "invalid_exact_evm_signature",
    attempts: ASKED,
  });
});

test("nonce already used on chain (submitted to the token first): invalid_exact_evm_nonce_already_used", async () => {
  const { devnet } = stack;
  const payer = devnet.accounts.payers[2];
  const payload = await craft(payer);
  const { authorization, signature } = payload.payload;
  // Someone else (the token owner, not one of our relayers) puts the authorization on chain first.
  const direct = await submitAuthorization(devnet, devnet.accounts.owner.privateKey, authorization, signature);
  assert.equal(direct.status, "success");
  assert.equal(await authorizationUsed(devnet, payer.address, authorization.nonce), true);
  await refusedBoth(payload, {
    gatewayReason: "invalid_payment: invalid_exact_evm_nonce_already_used",
    pluginReason: "invalid_exact_evm_nonce_already_used",
    attempts: ASKED,
  });
  const logs = await transferLogs(devnet, { from: payer.address });
  assert.deepEqual(logs.map((l) => l.transactionHash), [direct.transactionHash], "only the direct submission moved money");
});

test("3 relayer keys, 12 concurrent paid requests: each settles once, several relayers, consecutive nonces", async () => {
  const { devnet } = stack;
  const client = publicClient(devnet);
  const relayers = devnet.accounts.relayers.map((r) => r.address);
  const noncesBefore = await Promise.all(relayers.map((address) => client.getTransactionCount({ address })));
  const merchant = devnet.accounts.merchant.address;
  const [merchantBefore] = await balances(devnet, [merchant]);
  const hitsBefore = stack.upstream.hits();

  const outs = await Promise.all(Array.from({ length: 12 }, (_, i) =>
    payCrafted(url, { devnet, privateKey: devnet.accounts.payers[i % 4].privateKey })));

  for (const { result } of outs) assert.equal(result.status, 200, `${result.status}: ${result.body}`);
  assert.equal(stack.upstream.hits(), hitsBefore + 12);
  const hashes = outs.map(({ result }) => result.paymentResponse?.transaction);
  assert.equal(new Set(hashes).size, 12, "12 distinct settlement transactions");
  const txs = await Promise.all(hashes.map((hash) => client.getTransaction({ hash })));
  for (const [i, { authorization }] of outs.entries()) {
    const { status, transfers } = await receiptTransfers(devnet, hashes[i]);
    assert.equal(status, "success");
    assert.equal(transfers.length, 1);
    assert.equal(getAddress(transfers[0].args.from), getAddress(authorization.from));
    assert.equal((await transferLogs(devnet, { from: authorization.from }))
      .filter((l) => l.transactionHash === hashes[i]).length, 1);
  }
  const senders = new Set(txs.map((t) => getAddress(t.from)));
  assert.ok([...senders].every((s) => relayers.includes(s)), "sent by configured relayers only");
  assert.ok(senders.size > 1, `rotation: all 12 came from ${[...senders]}`);
  for (const [i, relayer] of relayers.entries()) {
    const mine = txs.filter((t) => getAddress(t.from) === relayer).map((t) => t.nonce).sort((a, b) => a - b);
    assert.deepEqual(mine, mine.map((_, k) => noncesBefore[i] + k), `relayer ${relayer}: consecutive nonces from ${noncesBefore[i]}`);
    assert.equal(await client.getTransactionCount({ address: relayer }), noncesBefore[i] + mine.length,
      `relayer ${relayer} sent nothing else`);
  }
  const [merchantAfter] = await balances(devnet, [merchant]);
  assert.equal(merchantAfter - merchantBefore, 12n * PRICE);
});
