// A settlement transaction stuck under a base-fee spike is replaced at the same relayer nonce with
// higher fees, and the payment settles exactly once. anvil mines only when told (automine off):
// the first transaction waits in the pool, the next block gets a base fee above its maxFeePerGas
// (so it cannot be included), and after stuck_after_seconds the plugin must re-sign it at the
// same nonce with fees that clear the new base fee. Any of the job's hashes could have been mined;
// exactly one may be.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { getAddress, toHex } from "viem";
import {
  authorizationUsedLogs, minedTransactionsFrom, publicClient, receiptTransfers, rpc, transferLogs,
} from "./lib/chain.mjs";
import { selfhostedFacilitator } from "./lib/gateway.mjs";
import { payCrafted } from "./lib/payments.mjs";
import { jobId, queueJobs, waitForQueue } from "./lib/queue.mjs";
import { resourceUrl, startStack } from "./lib/stack.mjs";

let stack;

before(async () => {
  stack = await startStack("stuck_replacement");
});

after(async () => {
  await stack?.stop();
});

const hasReceipt = (devnet, hash) =>
  publicClient(devnet).getTransactionReceipt({ hash }).then(() => true, () => false);

test("a transaction priced out by a base-fee spike is replaced at the same nonce; paid once", async () => {
  const { devnet } = stack;
  const client = publicClient(devnet);
  const dbFile = path.join(stack.dir, "x402d.sqlite");
  for (const f of [dbFile, `${dbFile}-wal`, `${dbFile}-shm`]) fs.rmSync(f, { force: true });
  const relayer = devnet.accounts.relayers[0];
  const gw = await stack.x402d({
    facilitators: [selfhostedFacilitator(devnet, [relayer.privateKey], {
      config: { stuck_after_seconds: 2, receipt_poll_ms: 100, settle_wait_timeout_ms: 45000 },
    })],
    extra: { storage: { backend: "sqlite", path: dbFile }, failover: { settle_timeout_ms: 50000 } },
  });
  await rpc(devnet, "evm_setAutomine", [false]);
  const startBlock = await client.getBlockNumber();

  const payer = devnet.accounts.payers[0];
  // Confirmed mode: the request waits for the settlement that really lands.
  const paying = payCrafted(resourceUrl(gw), { devnet, privateKey: payer.privateKey });

  // The first transaction is in the node's pool.
  const [sent] = await waitForQueue(dbFile, (jobs) => jobs.length === 1 && jobs[0].state === "sent", { timeoutMs: 20000 });
  const first = sent.data.tx_hash;
  const firstTx = await client.getTransaction({ hash: first });
  assert.equal(firstTx.blockNumber, null, "still pending");
  assert.equal(getAddress(firstTx.from), relayer.address);

  // Base fee spike: the next block's base fee is above what the first transaction may pay.
  const spike = 2n * firstTx.maxFeePerGas;
  await rpc(devnet, "anvil_setNextBlockBaseFeePerGas", [toHex(spike)]);
  await rpc(devnet, "evm_mine", []);
  assert.equal(await hasReceipt(devnet, first), false, "priced out of the spiked block");

  // The plugin notices after stuck_after_seconds and signs a replacement at the same nonce.
  const [replacing] = await waitForQueue(dbFile, (jobs) => (jobs[0]?.data.hashes?.length ?? 0) >= 2, { timeoutMs: 20000 });
  const second = replacing.data.tx_hash;
  assert.notEqual(second, first);
  assert.deepEqual(replacing.data.hashes.slice(0, 2), [first, second], "both hashes recorded");
  const secondTx = await client.getTransaction({ hash: second });
  assert.equal(secondTx.nonce, firstTx.nonce, "same relayer nonce");
  assert.equal(getAddress(secondTx.from), relayer.address);
  assert.ok(secondTx.maxFeePerGas > spike * 7n / 8n, `replacement maxFee ${secondTx.maxFeePerGas} clears the base fee`);
  assert.ok(secondTx.maxFeePerGas * 8n >= firstTx.maxFeePerGas * 9n, "fees bumped by at least 12.5%");
  assert.ok(secondTx.maxPriorityFeePerGas * 8n >= firstTx.maxPriorityFeePerGas * 9n, "tip bumped by at least 12.5%");

  await rpc(devnet, "evm_mine", []);
  const { result, authorization } = await paying;
  assert.equal(result.status, 200, `${result.status}: ${result.body}`);
  assert.equal(result.paymentResponse?.success, true);
  assert.equal(result.paymentResponse.transaction, second, "the client is told the transaction that landed");

  const id = jobId(devnet, payer.address, authorization.nonce);
  const [job] = await queueJobs(dbFile);
  assert.equal(job.id, id);
  assert.equal(job.state, "completed");
  assert.equal(job.data.transaction, second);
  assert.equal(await hasReceipt(devnet, first), false, "the first transaction never landed");
  const { status, transfers } = await receiptTransfers(devnet, second);
  assert.equal(status, "success");
  assert.equal(transfers.length, 1);
  const used = await authorizationUsedLogs(devnet, { authorizer: payer.address, nonce: authorization.nonce });
  assert.deepEqual(used.map((l) => l.transactionHash), [second], "the authorization was used once");
  assert.deepEqual((await transferLogs(devnet, { from: payer.address })).map((l) => l.transactionHash), [second]);
  const mined = await minedTransactionsFrom(devnet, [relayer.address], { fromBlock: startBlock });
  assert.deepEqual(mined.map((t) => [t.hash, t.nonce, t.status]), [[second, firstTx.nonce, "success"]]);
});
