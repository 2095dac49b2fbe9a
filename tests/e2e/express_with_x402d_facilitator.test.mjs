// x402d as the facilitator of another x402 server: the reference resource server (@x402/express)
// is pointed at x402d's facilitator API (config facilitator_api → facilitator-selfhosted), and the
// official @x402/fetch client pays it. x402d verifies and settles on a real chain; the proof is
// the Transfer log and the balances.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { getAddress } from "viem";
import { balances, publicClient, receiptTransfers, transferLogs } from "./lib/chain.mjs";
import { facilitatorApiSection, facilitatorApiUrl, selfhostedFacilitator } from "./lib/gateway.mjs";
import { payWithOfficialClient } from "./lib/payments.mjs";
import { startStack } from "./lib/stack.mjs";

const PRICE = 10000n;  // "$0.01" in USDC atomic units

let stack;
let apiUrl;
let express;

before(async () => {
  stack = await startStack("express_with_x402d_facilitator");
  const { devnet } = stack;
  const gw = await stack.x402d({
    facilitators: [selfhostedFacilitator(devnet, [devnet.accounts.relayers[0].privateKey])],
    extra: { facilitator_api: facilitatorApiSection("selfhosted") },
  });
  apiUrl = await facilitatorApiUrl(gw);
  express = await stack.expressServer({
    facilitatorUrl: apiUrl, payTo: devnet.accounts.merchant.address, price: "$0.01",
  });
});

after(async () => {
  await stack?.stop();
});

test("x402d's GET /supported lists exact on eip155:84532 with its relayer as signer", async () => {
  const res = await fetch(`${apiUrl}/supported`, { signal: AbortSignal.timeout(10000) });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.ok(Array.isArray(body.kinds), JSON.stringify(body));
  const v2 = body.kinds.filter((k) => k.x402Version === 2 && k.scheme === "exact" && k.network === "eip155:84532");
  assert.equal(v2.length, 1, `one v2 exact kind for eip155:84532 in ${JSON.stringify(body.kinds)}`);
  const signers = Object.values(body.signers ?? {}).flat().map((a) => a.toLowerCase());
  assert.ok(signers.includes(stack.devnet.accounts.relayers[0].address.toLowerCase()),
    `the relayer is a listed signer: ${JSON.stringify(body.signers)}`);
});

test("@x402/fetch pays @x402/express, x402d settles it on chain exactly once", async () => {
  const { devnet } = stack;
  const payer = devnet.accounts.payers[0];
  const merchant = devnet.accounts.merchant.address;
  const [payerBefore, merchantBefore] = await balances(devnet, [payer.address, merchant]);
  const hitsBefore = (await (await fetch(`${express.url}/hits`)).json()).hits;

  const out = await payWithOfficialClient("v2", `${express.url}/weather`, payer.privateKey);

  assert.equal(out.status, 200, `answered ${out.status}: ${out.body} ${JSON.stringify(out.paymentRequired)}`);
  assert.equal(JSON.parse(out.body).paid, true);
  assert.equal((await (await fetch(`${express.url}/hits`)).json()).hits, hitsBefore + 1, "served once");
  const settlement = out.paymentResponse;
  assert.equal(settlement?.success, true, JSON.stringify(settlement));
  assert.equal(settlement.network, "eip155:84532");
  assert.equal(getAddress(settlement.payer), payer.address);
  assert.match(settlement.transaction, /^0x[0-9a-f]{64}$/);

  const { status, transfers } = await receiptTransfers(devnet, settlement.transaction);
  assert.equal(status, "success");
  assert.equal(transfers.length, 1);
  assert.equal(getAddress(transfers[0].args.from), payer.address);
  assert.equal(getAddress(transfers[0].args.to), merchant);
  assert.equal(transfers[0].args.value, PRICE);
  const tx = await publicClient(devnet).getTransaction({ hash: settlement.transaction });
  assert.equal(getAddress(tx.from), devnet.accounts.relayers[0].address, "sent by x402d's relayer");

  const all = await transferLogs(devnet, { from: payer.address });
  assert.deepEqual(all.map((l) => l.transactionHash), [settlement.transaction], "one transfer, ever");
  const [payerAfter, merchantAfter] = await balances(devnet, [payer.address, merchant]);
  assert.equal(payerBefore - payerAfter, PRICE);
  assert.equal(merchantAfter - merchantBefore, PRICE);
});
