// Produces tests/unit/protocol/golden/*.json with the reference x402 packages.
// Run: cd /tmp/protocol-ref && node make_golden.js <golden dir>
const fs = require("fs");
const path = require("path");
const { privateKeyToAccount } = require("viem/accounts");
const http = require("@x402/core/http");
const schemas = require("@x402/core/schemas");
const { x402Client } = require("@x402/core/client");
const { registerExactEvmScheme } = require("@x402/evm/exact/client");
const x402v1types = require("x402/types");
const x402v1schemes = require("x402/schemes");

const out = process.argv[2];
const write = (name, obj) => fs.writeFileSync(path.join(out, name), JSON.stringify(obj, null, 2) + "\n");

// Anvil's well-known first dev key: a test key, never funded on a real chain.
const account = privateKeyToAccount("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");

const resource = { url: "https://gw.example/acme/api/signal", description: "Trading signal", mimeType: "application/json" };
const input = {
  error: "Payment required",
  resource,
  requirements: [
    { scheme: "exact", network_name: "base-sepolia", chain_id: 84532, amount: "10000",
      asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", payTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
      maxTimeoutSeconds: 60, extra: { name: "USDC", version: "2" } },
    { scheme: "exact", network_name: "base", chain_id: 8453, amount: "25000",
      asset: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", payTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
      maxTimeoutSeconds: 300, extra: { name: "USD Coin", version: "2" } },
    // A chain without a v1 name: v1 peers get the CAIP-2 id as network.
    { scheme: "exact", network_name: "", chain_id: 31337, amount: "1",
      asset: "0x5FbDB2315678afecb367f032d93F642f64180aa3", payTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
      maxTimeoutSeconds: 60, extra: { name: "USDC", version: "2" } },
  ],
};

const v2Req = (r) => ({ scheme: r.scheme, network: `eip155:${r.chain_id}`, amount: r.amount, asset: r.asset,
  payTo: r.payTo, maxTimeoutSeconds: r.maxTimeoutSeconds, extra: r.extra });
const v1Req = (r) => ({ scheme: r.scheme, network: r.network_name || `eip155:${r.chain_id}`,
  maxAmountRequired: r.amount, resource: resource.url, description: resource.description,
  mimeType: resource.mimeType, payTo: r.payTo, maxTimeoutSeconds: r.maxTimeoutSeconds, asset: r.asset,
  extra: r.extra });

async function main() {
  const v2 = { x402Version: 2, error: input.error, resource, accepts: input.requirements.map(v2Req) };
  const v1 = { x402Version: 1, error: input.error, accepts: input.requirements.map(v1Req) };
  schemas.PaymentRequiredV2Schema.parse(v2);
  schemas.PaymentRequiredV1Schema.parse(v1);
  // x402 1.x only knows named networks, so check the named ones against its stricter schema.
  v1.accepts.filter((r) => !r.network.startsWith("eip155:")).forEach((r) => x402v1types.PaymentRequirementsSchema.parse(r));
  const v2Header = http.encodePaymentRequiredHeader(v2);
  if (JSON.stringify(http.decodePaymentRequiredHeader(v2Header)) !== JSON.stringify(v2)) throw new Error("roundtrip");
  write("payment_required.json", { input, v2, v2_header: v2Header, v1_body: v1 });

  // Real signed payloads from the official clients.
  const client = new x402Client();
  if (client.setSpendControls) client.setSpendControls(false);
  registerExactEvmScheme(client, { signer: account });
  const pay2 = await client.createPaymentPayload(v2);
  schemas.PaymentPayloadV2Schema.parse(pay2);
  const v1Named = { ...v1, accepts: [v1.accepts[0]] };
  const pay1 = await client.createPaymentPayload(v1Named);
  schemas.PaymentPayloadV1Schema.parse(pay1);
  const pay1Legacy = await x402v1schemes.exact.evm.createPayment(account, 1, v1.accepts[0]);
  x402v1types.PaymentPayloadSchema.parse(pay1Legacy);
  write("payment_payloads.json", {
    payer: account.address,
    v2: { header: http.encodePaymentSignatureHeader(pay2), decoded: pay2, matches_offered_index: 0 },
    v1: { header: http.encodePaymentSignatureHeader(pay1), decoded: pay1 },
    v1_x402js: { header: x402v1schemes.exact.evm.encodePayment(pay1Legacy), decoded: pay1Legacy },
  });

  const ok = { success: true, transaction: "0x" + "ab".repeat(32), network: "eip155:84532", payer: account.address };
  const failed = { success: false, errorReason: "insufficient_funds", errorMessage: "balance too low",
    transaction: "", network: "eip155:84532", payer: account.address };
  const upto = { ...ok, amount: "7500" };
  const okV1 = { success: true, transaction: "0x" + "cd".repeat(32), network: "base-sepolia", payer: account.address };
  write("settlement.json", {
    v2_success: { header: http.encodePaymentResponseHeader(ok), decoded: ok },
    v2_failure: { header: http.encodePaymentResponseHeader(failed), decoded: failed },
    v2_amount: { header: http.encodePaymentResponseHeader(upto), decoded: upto },
    v1_success_x402js: { header: x402v1types.settleResponseHeader(okV1), decoded: okV1 },
  });
}
main().catch((e) => { console.error(e); process.exit(1); });
