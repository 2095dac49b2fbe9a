// The official paying clients pay through the real x402d, its facilitator-http plugin and the
// REFERENCE facilitator, which settles on a real chain (anvil + Circle's FiatToken V2.2). The
// proof is on chain: balances move by exactly the price, and the transaction in the settlement
// header carries Transfer(payer → merchant, price).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { getAddress } from "viem";
import { httpFacilitator } from "./lib/gateway.mjs";
import { balances, receiptTransfers, transferLogs } from "./lib/chain.mjs";
import { payWithOfficialClient } from "./lib/payments.mjs";
import { resourceUrl, startStack } from "./lib/stack.mjs";

const PRICE = 10000n;  // "0.01" USDC, the default route's price, in atomic units

let stack;
let gw;

before(async () => {
  stack = await startStack("official_clients_onchain");
  const ref = await stack.referenceFacilitator();
  gw = await stack.x402d({ facilitators: [httpFacilitator("reference", ref.url)] });
});

after(async () => {
  await stack?.stop();
});

for (const { client, network } of [
  { client: "v2", network: "eip155:84532" },
  { client: "v1", network: "base-sepolia" },
]) {
  test(`${client} official client pays on chain through x402d and the reference facilitator`, async () => {
    const { devnet, upstream } = stack;
    // One payer per client, so each test's balance deltas are its own.
    const payer = devnet.accounts.payers[client === "v2" ? 0 : 1];
    const merchant = devnet.accounts.merchant.address;
    const hitsBefore = upstream.hits();
    const [payerBefore, merchantBefore] = await balances(devnet, [payer.address, merchant]);

    const out = await payWithOfficialClient(client, resourceUrl(gw), payer.privateKey);

    assert.equal(out.status, 200, `paid request answered ${out.status}: ${out.body}`);
    const body = JSON.parse(out.body);
    assert.equal(body.upstream, "e2e");
    assert.equal(body.path, "/weather");
    assert.equal(upstream.hits(), hitsBefore + 1, "the upstream is called once for one paid request");

    const settlement = out.paymentResponse;
    assert.ok(settlement, "a settlement header the client could decode");
    assert.equal(settlement.success, true);
    assert.equal(settlement.network, network);
    assert.match(settlement.transaction, /^0x[0-9a-f]{64}$/);

    const [payerAfter, merchantAfter] = await balances(devnet, [payer.address, merchant]);
    assert.equal(payerBefore - payerAfter, PRICE, "the payer pays exactly the price");
    assert.equal(merchantAfter - merchantBefore, PRICE, "the merchant receives exactly the price");

    const { status, transfers } = await receiptTransfers(devnet, settlement.transaction);
    assert.equal(status, "success");
    assert.equal(transfers.length, 1, "one Transfer in the settlement transaction");
    assert.equal(getAddress(transfers[0].args.from), payer.address);
    assert.equal(getAddress(transfers[0].args.to), merchant);
    assert.equal(transfers[0].args.value, PRICE);

    // And nothing else moved this payer's money: the chain holds exactly this one transfer.
    const all = await transferLogs(devnet, { from: payer.address });
    assert.deepEqual(all.map((l) => l.transactionHash), [settlement.transaction]);
  });
}
