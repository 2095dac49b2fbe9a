// Prints what a settlement transaction did on the devnet: block, sender (the relayer), status, gas,
// the USDC Transfer it carried, and the balances of the accounts involved. Used by the quickstart.
//   node scripts/devnet/show-tx.mjs --devnet devnet.json --tx 0x…
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// The chain helpers live with the tests so that they resolve viem from tests/node_modules.
const chain = await import(path.join(repo, "tests/e2e/lib/chain.mjs"));

const { values: args } = parseArgs({
  options: { devnet: { type: "string" }, tx: { type: "string" } },
  strict: true,
});
if (!args.devnet || !/^0x[0-9a-fA-F]{64}$/.test(args.tx ?? "")) {
  process.stderr.write("usage: node scripts/devnet/show-tx.mjs --devnet FILE --tx 0x<64 hex>\n");
  process.exit(64);
}
const devnet = JSON.parse(fs.readFileSync(args.devnet, "utf8"));
const client = chain.publicClient(devnet);
const tx = await client.getTransaction({ hash: args.tx });
const { status, transfers } = await chain.receiptTransfers(devnet, args.tx);
const receipt = await client.getTransactionReceipt({ hash: args.tx });

const usdc = (atomic) => `${(Number(atomic) / 10 ** devnet.token.decimals).toFixed(devnet.token.decimals)} USDC`;
console.log(`  transaction  ${args.tx}`);
console.log(`  block        ${receipt.blockNumber} (status: ${status}, gas used: ${receipt.gasUsed})`);
console.log(`  sent by      ${tx.from} (x402d's relayer key; it pays the gas, never holds USDC)`);
console.log(`  to           ${tx.to} (the USDC contract: transferWithAuthorization)`);
for (const t of transfers) {
  console.log(`  Transfer     ${t.args.from} -> ${t.args.to}: ${usdc(t.args.value)} (${t.args.value} atomic units)`);
  const [from, to] = await chain.balances(devnet, [t.args.from, t.args.to]);
  console.log(`  balances now payer ${usdc(from)}, merchant ${usdc(to)}`);
}
if (transfers.length === 0) {
  console.log("  no USDC Transfer in this transaction");
  process.exit(1);
}
