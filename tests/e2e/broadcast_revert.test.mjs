// A `broadcast` route answers as soon as the settlement transaction is sent; if that transaction
// then reverts on chain, the revert is recorded (job confirmation_failed, an event in the outbox)
// and x402d's books are corrected (the payment goes from SETTLED to FAILED). anvil mines only when
// told: between x402d's broadcast and the block, the payer moves its whole balance away with a
// higher tip, so the settlement lands second in the block and reverts.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { createWalletClient, http, parseGwei } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { publicClient, rpc, transferLogs, usdcBalance } from "./lib/chain.mjs";
import { devnetChain, fiatTokenAbi } from "./lib/devnet.mjs";
import { selfhostedFacilitator } from "./lib/gateway.mjs";
import { payCrafted } from "./lib/payments.mjs";
import { jobId, paymentRows, sqliteJson, waitForQueue } from "./lib/queue.mjs";
import { resourceUrl, startStack } from "./lib/stack.mjs";

let stack;

before(async () => {
  stack = await startStack("broadcast_revert");
});

after(async () => {
  await stack?.stop();
});

test("a broadcast settlement that reverts is recorded, emitted and corrects the payment", async () => {
  const { devnet, upstream } = stack;
  const client = publicClient(devnet);
  const dbFile = path.join(stack.dir, "x402d.sqlite");
  for (const f of [dbFile, `${dbFile}-wal`, `${dbFile}-shm`]) fs.rmSync(f, { force: true });
  const gw = await stack.x402d({
    facilitators: [selfhostedFacilitator(devnet, [devnet.accounts.relayers[0].privateKey])],
    routes: [{ path: "/weather", methods: ["GET"], price: "0.01", settle_mode: "broadcast" }],
    extra: { storage: { backend: "sqlite", path: dbFile } },
  });
  await rpc(devnet, "evm_setAutomine", [false]);

  // Broadcast mode: the client is answered while the transaction waits in the pool.
  const payer = devnet.accounts.payers[1];
  const hits = upstream.hits();
  const { result, authorization } = await payCrafted(resourceUrl(gw), { devnet, privateKey: payer.privateKey });
  assert.equal(result.status, 200, `${result.status}: ${result.body}`);
  assert.equal(upstream.hits(), hits + 1);
  const settlementTx = result.paymentResponse?.transaction;
  assert.match(settlementTx ?? "", /^0x[0-9a-f]{64}$/);
  assert.equal((await client.getTransaction({ hash: settlementTx })).blockNumber, null, "answered before mining");

  // The payer empties its balance with a higher tip, so its transfer is ordered first.
  const wallet = createWalletClient({
    account: privateKeyToAccount(payer.privateKey), chain: devnetChain(devnet.rpcUrl), transport: http(devnet.rpcUrl),
  });
  const balance = await usdcBalance(devnet, payer.address);
  const drain = await wallet.writeContract({
    address: devnet.token.address, abi: fiatTokenAbi(), functionName: "transfer",
    args: [devnet.accounts.owner.address, balance],
    maxPriorityFeePerGas: parseGwei("50"), maxFeePerGas: parseGwei("100"),
    gas: 100000n, // no estimate: against the pending state (settlement first) this transfer would fail
  });
  await rpc(devnet, "evm_mine", []);
  assert.equal((await client.getTransactionReceipt({ hash: drain })).status, "success");
  const receipt = await client.getTransactionReceipt({ hash: settlementTx });
  assert.equal(receipt.status, "reverted", "the settlement landed after the drain and reverted");
  await rpc(devnet, "evm_setAutomine", [true]);

  // Recorded: the job ends confirmation_failed ...
  const id = jobId(devnet, payer.address, authorization.nonce);
  const [job] = await waitForQueue(dbFile, (jobs) => jobs.find((j) => j.id === id)?.state === "confirmation_failed",
    { timeoutMs: 20000 }).then((jobs) => jobs.filter((j) => j.id === id));
  assert.equal(job.data.transaction ?? job.data.tx_hash, settlementTx);

  // ... emitted: one settlement.confirmation_failed event in the outbox, naming the payment ...
  const events = await sqliteJson(dbFile, "select type, json from events where type like 'settlement.%'");
  const failed = events.filter((e) => e.type === "settlement.confirmation_failed").map((e) => JSON.parse(e.json));
  assert.equal(failed.length, 1, JSON.stringify(events));
  assert.equal(failed[0].transaction, settlementTx);
  assert.equal(failed[0].payer.toLowerCase(), payer.address.toLowerCase());
  assert.ok(failed[0].payment_id, "the event names x402d's payment");

  // ... and the books say FAILED, not SETTLED (polling: the correction follows the event).
  const until = Date.now() + 10000;
  let row;
  for (;;) {
    row = (await paymentRows(dbFile)).find((p) => p.nonce === authorization.nonce.toLowerCase());
    if (row?.status === "FAILED" || Date.now() > until) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(row?.status, "FAILED", JSON.stringify(row));
  assert.match(row.error_reason, /^confirmation_failed/);
  assert.equal((await transferLogs(devnet, { from: payer.address, to: devnet.accounts.merchant.address })).length, 0,
    "no money moved to the merchant");
});
