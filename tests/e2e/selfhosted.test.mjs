// x402d as its own facilitator: the facilitator-selfhosted plugin verifies EIP-3009 payments
// locally and settles them on a real chain (anvil + Circle's FiatToken V2.2) from relayer keys,
// through its durable queue. Paid with the official clients; the proof is on chain.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { getAddress } from "viem";
import { balances, publicClient, receiptTransfers, transferLogs } from "./lib/chain.mjs";
import { selfhostedFacilitator } from "./lib/gateway.mjs";
import { payWithOfficialClient } from "./lib/payments.mjs";
import { resourceUrl, startStack } from "./lib/stack.mjs";

const PRICE = 10000n;  // "0.01" USDC in atomic units

let stack;
let gw;

before(async () => {
  stack = await startStack("selfhosted");
  const { devnet } = stack;
  gw = await stack.x402d({
    facilitators: [selfhostedFacilitator(devnet, [devnet.accounts.relayers[0].privateKey])],
    routes: [
      { path: "/weather", methods: ["GET"], price: "0.01", description: "confirmed settle" },
      { path: "/fast", methods: ["GET"], price: "0.01", description: "broadcast settle",
        settle_mode: "broadcast" },
    ],
  });
});

after(async () => {
  await stack?.stop();
});

async function assertPaidOnce(devnet, out, payer, network, before) {
  assert.equal(out.status, 200, `paid request answered ${out.status}: ${out.body} ${JSON.stringify(out.paymentRequired)}`);
  const settlement = out.paymentResponse;
  assert.ok(settlement, "a settlement header the client could decode");
  assert.equal(settlement.success, true);
  assert.equal(settlement.network, network);
  assert.match(settlement.transaction, /^0x[0-9a-f]{64}$/);
  const { status, transfers } = await receiptTransfers(devnet, settlement.transaction);
  assert.equal(status, "success");
  assert.equal(transfers.length, 1);
  assert.equal(getAddress(transfers[0].args.from), payer.address);
  assert.equal(getAddress(transfers[0].args.to), devnet.accounts.merchant.address);
  assert.equal(transfers[0].args.value, PRICE);
  if (before) {
    const [payerAfter] = await balances(devnet, [payer.address]);
    assert.equal(before - payerAfter, PRICE, "the payer pays exactly the price");
  }
  return settlement;
}

for (const { client, network, payerIndex } of [
  { client: "v2", network: "eip155:84532", payerIndex: 0 },
  { client: "v1", network: "base-sepolia", payerIndex: 1 },
]) {
  test(`${client} official client pays; x402d settles it on chain itself`, async () => {
    const { devnet } = stack;
    const payer = devnet.accounts.payers[payerIndex];
    const merchant = devnet.accounts.merchant.address;
    const [payerBefore, merchantBefore] = await balances(devnet, [payer.address, merchant]);
    const out = await payWithOfficialClient(client, resourceUrl(gw), payer.privateKey);
    const settlement = await assertPaidOnce(devnet, out, payer, network, payerBefore);
    const [merchantAfter] = await balances(devnet, [merchant]);
    assert.equal(merchantAfter - merchantBefore, PRICE, "the merchant receives exactly the price");
    const tx = await publicClient(devnet).getTransaction({ hash: settlement.transaction });
    assert.equal(getAddress(tx.from), devnet.accounts.relayers[0].address, "sent by our relayer");
    const all = await transferLogs(devnet, { from: payer.address });
    assert.deepEqual(all.map((l) => l.transactionHash), [settlement.transaction]);
  });
}

test("broadcast mode answers with the transaction, which then lands on chain", async () => {
  const { devnet } = stack;
  const payer = devnet.accounts.payers[3];
  const [payerBefore] = await balances(devnet, [payer.address]);
  const out = await payWithOfficialClient("v2", resourceUrl(gw, "/fast"), payer.privateKey);
  assert.equal(out.status, 200, `paid request answered ${out.status}: ${out.body}`);
  assert.equal(out.paymentResponse?.success, true);
  const hash = out.paymentResponse.transaction;
  const receipt = await publicClient(devnet).waitForTransactionReceipt({ hash, pollingInterval: 50 });
  assert.equal(receipt.status, "success");
  await assertPaidOnce(devnet, out, payer, "eip155:84532", payerBefore);
});

test("20 concurrent paid requests settle exactly once each, on consecutive relayer nonces", async () => {
  const { devnet } = stack;
  const payer = devnet.accounts.payers[2];
  const relayer = devnet.accounts.relayers[0].address;
  const client = publicClient(devnet);
  const nonceBefore = await client.getTransactionCount({ address: relayer });
  const [payerBefore] = await balances(devnet, [payer.address]);
  const outs = await Promise.all(Array.from({ length: 20 }, () =>
    payWithOfficialClient("v2", resourceUrl(gw), payer.privateKey)));
  for (const out of outs) assert.equal(out.status, 200, `${out.status}: ${out.body}`);
  const hashes = outs.map((o) => o.paymentResponse?.transaction);
  assert.ok(hashes.every((h) => /^0x[0-9a-f]{64}$/.test(h)), "every request got a transaction");
  assert.equal(new Set(hashes).size, 20, "20 distinct settlement transactions");
  const txs = await Promise.all(hashes.map((hash) => client.getTransaction({ hash })));
  const nonces = txs.map((t) => t.nonce).sort((a, b) => a - b);
  assert.deepEqual(nonces, Array.from({ length: 20 }, (_, i) => nonceBefore + i),
    "consecutive relayer nonces, no collisions, no gaps");
  assert.ok(txs.every((t) => getAddress(t.from) === relayer));
  for (const hash of hashes) {
    const { status, transfers } = await receiptTransfers(devnet, hash);
    assert.equal(status, "success");
    assert.equal(transfers.length, 1);
  }
  const [payerAfter] = await balances(devnet, [payer.address]);
  assert.equal(payerBefore - payerAfter, 20n * PRICE, "paid exactly 20 times the price");
  assert.equal((await transferLogs(devnet, { from: payer.address })).length, 20);
  assert.equal(await client.getTransactionCount({ address: relayer }), nonceBefore + 20);
});
