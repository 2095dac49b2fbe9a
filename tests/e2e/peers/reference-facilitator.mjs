// The REFERENCE facilitator (x402's own engine from @x402/core + @x402/evm) behind a tiny HTTP
// server speaking the standard facilitator API (PROTOCOL.md §2):
//   POST /verify, POST /settle   body {x402Version, paymentPayload, paymentRequirements}
//   GET  /supported
// It verifies with real eth_calls and settles with real transactions on the given chain.
//
//   node tests/e2e/peers/reference-facilitator.mjs --port P --rpc URL --key 0x<relayer key>
//
// --port 0 picks a free port. Once listening it prints one line `listening http://127.0.0.1:<port>`
// (tests wait for it). Every request is logged as one JSON line on stderr.
import http from "node:http";
import { parseArgs } from "node:util";
import { createWalletClient, http as viemHttp, publicActions, defineChain } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { x402Facilitator } from "@x402/core/facilitator";
import { toFacilitatorEvmSigner } from "@x402/evm";
import { ExactEvmScheme } from "@x402/evm/exact/facilitator";
import { ExactEvmSchemeV1 } from "@x402/evm/exact/v1/facilitator";

const { values: args } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    host: { type: "string", default: "127.0.0.1" },
    rpc: { type: "string" },
    key: { type: "string" },
    "chain-id": { type: "string", default: "84532" },
    network: { type: "string", default: "eip155:84532" },
    "v1-network": { type: "string", default: "base-sepolia" },
  },
  strict: true,
});
if (!args.rpc || !args.key) {
  process.stderr.write("usage: reference-facilitator.mjs --port P --rpc URL --key 0x<private key>\n");
  process.exit(64);
}

const chain = defineChain({
  id: Number(args["chain-id"]),
  name: "devnet",
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: [args.rpc] } },
});
const account = privateKeyToAccount(args.key);
const client = createWalletClient({ account, chain, transport: viemHttp(args.rpc) }).extend(publicActions);
// As the x402 facilitator example wires it: each capability delegated to the viem client.
const signer = toFacilitatorEvmSigner({
  address: account.address,
  readContract: (a) => client.readContract({ ...a, args: a.args || [] }),
  verifyTypedData: (a) => client.verifyTypedData(a),
  writeContract: (a) => client.writeContract({ ...a, args: a.args || [] }),
  sendTransaction: (a) => client.sendTransaction(a),
  waitForTransactionReceipt: (a) => client.waitForTransactionReceipt({ ...a, pollingInterval: 100 }),
  getCode: (a) => client.getCode(a),
});
const facilitator = new x402Facilitator()
  .register(args.network, new ExactEvmScheme(signer))
  .registerV1(args["v1-network"], new ExactEvmSchemeV1(signer));

function send(res, status, body) {
  const text = JSON.stringify(body, (_, v) => (typeof v === "bigint" ? v.toString() : v));
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

const server = http.createServer(async (req, res) => {
  const started = Date.now();
  const path = new URL(req.url, "http://x").pathname;
  let status = 200;
  let result;
  try {
    if (req.method === "GET" && path === "/supported") {
      result = facilitator.getSupported();
    } else if (req.method === "POST" && (path === "/verify" || path === "/settle")) {
      const body = await readJson(req);
      const { paymentPayload, paymentRequirements } = body;
      result = path === "/verify"
        ? await facilitator.verify(paymentPayload, paymentRequirements)
        : await facilitator.settle(paymentPayload, paymentRequirements);
    } else {
      status = 404;
      result = { error: "not found" };
    }
  } catch (e) {
    // As the reference facilitator example answers an exception: 500 with the message.
    status = 500;
    result = { error: e instanceof Error ? e.message : String(e) };
  }
  send(res, status, result);
  process.stderr.write(JSON.stringify({ peer: "reference-facilitator", method: req.method, path, status,
    ms: Date.now() - started, result }, (_, v) => (typeof v === "bigint" ? v.toString() : v)) + "\n");
});

server.listen(Number(args.port), args.host, () => {
  process.stdout.write(`listening http://${args.host}:${server.address().port}\n`);
});
for (const s of ["SIGINT", "SIGTERM"]) process.on(s, () => process.exit(0));
