// The benchmarks' payment generator: fresh EIP-3009 authorizations for the devnet token, signed
// ahead of the measurement (signing is the client's work, not the server's), each meant to be
// used once. Signing itself is the e2e suite's signAuthorization (tests/e2e/lib/payments.mjs).
// Used by bench/settlement (POST /settle bodies) and bench/gateway (PAYMENT-SIGNATURE headers).
import fs from "node:fs";
import { encodeHeader, signAuthorization, v2Payload } from "../../tests/e2e/lib/payments.mjs";

// A v2 "exact" requirement on the devnet, as an x402 server would put it in its 402.
export function exactRequirement(devnet, { amount, payTo = devnet.accounts.merchant.address, maxTimeoutSeconds = 600 }) {
  return {
    scheme: "exact", network: devnet.network, amount: String(amount), asset: devnet.token.address,
    payTo, maxTimeoutSeconds, extra: { name: devnet.token.name, version: devnet.token.version },
  };
}

// `count` v2 PaymentPayloads answering `accepted` (echoed verbatim, as clients do), from the
// devnet's payers in turn. validForSeconds must cover the whole benchmark run.
export async function presignPayments({ devnet, accepted, resourceUrl, count, validForSeconds = 3600, payers = devnet.accounts.payers }) {
  const payloads = [];
  for (let i = 0; i < count; i++) {
    const { authorization, signature } = await signAuthorization({
      devnet, privateKey: payers[i % payers.length].privateKey, to: accepted.payTo,
      value: BigInt(accepted.amount), validForSeconds,
    });
    payloads.push(v2Payload({ resourceUrl, accepted, authorization, signature }));
  }
  return payloads;
}

// The facilitator API's POST /verify and /settle body for one payload.
export const facilitatorRequestBody = (payload) =>
  JSON.stringify({ x402Version: 2, paymentPayload: payload, paymentRequirements: payload.accepted });

// One PAYMENT-SIGNATURE header value per line, for bench/wrk/paid.lua.
export function writeHeaderFile(file, payloads) {
  fs.writeFileSync(file, payloads.map(encodeHeader).join("\n") + "\n");
}
