// The reference stack on its own, without x402d: the official v2 client pays the reference
// resource server (@x402/express) whose facilitator is the reference facilitator, on the devnet.
// This is the baseline the x402d tests are compared with, and it proves the peers in
// tests/e2e/peers work before any test leans on them (e.g. x402d as express's facilitator).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { getAddress } from "viem";
import { balances, receiptTransfers } from "./lib/chain.mjs";
import { payWithOfficialClient } from "./lib/payments.mjs";
import { startStack } from "./lib/stack.mjs";

let stack;
let express;

before(async () => {
  stack = await startStack("reference_server_onchain");
  const ref = await stack.referenceFacilitator();
  express = await stack.expressServer({
    facilitatorUrl: ref.url, payTo: stack.devnet.accounts.merchant.address, price: "$0.01",
  });
});

after(async () => {
  await stack?.stop();
});

test("official v2 client pays @x402/express through the reference facilitator on chain", async () => {
  const { devnet } = stack;
  const payer = devnet.accounts.payers[3];
  const merchant = devnet.accounts.merchant.address;
  const before = await balances(devnet, [payer.address, merchant]);

  const out = await payWithOfficialClient("v2", `${express.url}/weather`, payer.privateKey);

  assert.equal(out.status, 200, out.body);
  assert.deepEqual(JSON.parse(out.body), { paid: true, hits: 1 });
  assert.equal(out.paymentResponse?.success, true);
  assert.equal(out.paymentResponse.network, "eip155:84532");
  // The reference server offered the devnet token by its real Base Sepolia address.
  assert.equal(getAddress(out.sentPayment.accepted.asset), devnet.token.address);
  const after = await balances(devnet, [payer.address, merchant]);
  assert.equal(before[0] - after[0], 10000n);
  assert.equal(after[1] - before[1], 10000n);
  const { transfers } = await receiptTransfers(devnet, out.paymentResponse.transaction);
  assert.equal(transfers.length, 1);
  assert.equal(getAddress(transfers[0].args.to), merchant);
});
