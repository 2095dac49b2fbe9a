// Paying x402d: with the official clients (tests/e2e/pay.mjs's payV2/payV1), or with a payment
// crafted by hand (viem signTypedData) when a test needs one no official client would produce.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { privateKeyToAccount } from "viem/accounts";
import { toHex } from "viem";
import { payV1, payV2 } from "../pay.mjs";

export function payWithOfficialClient(client, url, privateKey) {
  const account = privateKeyToAccount(privateKey);
  return client === "v1" ? payV1(url, account) : payV2(url, account);
}

export const encodeHeader = (obj) => Buffer.from(JSON.stringify(obj), "utf8").toString("base64");
export const decodeHeader = (value) => JSON.parse(Buffer.from(value, "base64").toString("utf8"));

// GET without payment: the 402 as both protocol versions see it.
export async function getOffer(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(15000) });
  const text = await res.text();
  const header = res.headers.get("PAYMENT-REQUIRED");
  let v1 = null;
  try { v1 = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, v2: header ? decodeHeader(header) : null, v1 };
}

const AUTHORIZATION_TYPES = {
  TransferWithAuthorization: [
    { name: "from", type: "address" }, { name: "to", type: "address" },
    { name: "value", type: "uint256" }, { name: "validAfter", type: "uint256" },
    { name: "validBefore", type: "uint256" }, { name: "nonce", type: "bytes32" },
  ],
};

// Signs an EIP-3009 TransferWithAuthorization for the devnet token. Defaults follow what the
// official clients send (validAfter 10 min ago, validBefore in maxTimeoutSeconds, random nonce);
// override any field, or the EIP-712 domain name, to build a bad payment on purpose.
export async function signAuthorization({
  devnet, privateKey, to, value, validAfter, validBefore, nonce, domainName, validForSeconds = 60,
}) {
  const account = privateKeyToAccount(privateKey);
  const now = Math.floor(Date.now() / 1000);
  const authorization = {
    from: account.address,
    to,
    value: String(value),
    validAfter: String(validAfter ?? now - 600),
    validBefore: String(validBefore ?? now + validForSeconds),
    nonce: nonce ?? toHex(randomBytes(32)),
  };
  const signature = await account.signTypedData({
    domain: {
      name: domainName ?? devnet.token.name,
      version: devnet.token.version,
      chainId: devnet.chainId,
      verifyingContract: devnet.token.address,
    },
    types: AUTHORIZATION_TYPES,
    primaryType: "TransferWithAuthorization",
    message: {
      ...authorization,
      value: BigInt(authorization.value),
      validAfter: BigInt(authorization.validAfter),
      validBefore: BigInt(authorization.validBefore),
    },
  });
  return { authorization, signature };
}

// A v2 PaymentPayload answering `accepted` (one entry of the 402's accepts, echoed verbatim).
export function v2Payload({ resourceUrl, accepted, authorization, signature }) {
  return { x402Version: 2, resource: { url: resourceUrl }, accepted, payload: { signature, authorization } };
}

// Sends one request carrying a PAYMENT-SIGNATURE header and decodes what came back.
export async function sendV2Payment(url, payload) {
  const res = await fetch(url, {
    headers: { "PAYMENT-SIGNATURE": encodeHeader(payload) },
    signal: AbortSignal.timeout(60000),
  });
  const body = await res.text();
  const required = res.headers.get("PAYMENT-REQUIRED");
  const response = res.headers.get("PAYMENT-RESPONSE");
  return {
    status: res.status,
    body,
    headers: res.headers,
    paymentRequired: required ? decodeHeader(required) : null,
    paymentResponse: response ? decodeHeader(response) : null,
  };
}

// The usual way a hand-made v2 payment is built: ask for the offer, sign for its first
// requirement (with any overrides), send it. Returns {offer, accepted, authorization, result}.
export async function payCrafted(url, { devnet, privateKey, ...overrides }) {
  const offer = await getOffer(url);
  if (offer.status !== 402 || !offer.v2) throw new Error(`expected a v2 402 offer from ${url}, got ${offer.status}`);
  const accepted = offer.v2.accepts[0];
  const { authorization, signature } = await signAuthorization({
    devnet, privateKey, to: accepted.payTo, value: accepted.amount,
    validForSeconds: accepted.maxTimeoutSeconds, ...overrides,
  });
  const payload = v2Payload({ resourceUrl: offer.v2.resource.url, accepted, authorization, signature });
  const result = await sendV2Payment(url, payload);
  return { offer, accepted, authorization, signature, payload, result };
}

// Many nodes, one payment: sends each payment `makePayment()` returns ({payload, ...}) to every
// URL in `urls` at once, `concurrent` payments in flight and `rounds` in all, and checks that
// each was served (200) by exactly one node and refused by the others: 402 (already used) or 409
// (being processed elsewhere). Returns what makePayment returned, round by round.
export async function sendEachToAll(urls, { rounds, concurrent, makePayment }) {
  const sent = [];
  let next = 0;
  const round = async () => {
    while (next < rounds) {
      next += 1;
      const payment = await makePayment();
      const statuses = (await Promise.all(urls.map((url) => sendV2Payment(url, payment.payload)))).map((r) => r.status);
      assert.equal(statuses.filter((s) => s === 200).length, 1,
        `exactly one node serves a payment; the nodes answered ${statuses.join(", ")}`);
      for (const s of statuses.filter((s) => s !== 200)) assert.ok(s === 402 || s === 409, `answered ${s}`);
      sent.push(payment);
    }
  };
  await Promise.all(Array.from({ length: concurrent }, round));
  assert.equal(sent.length, rounds);
  return sent;
}
