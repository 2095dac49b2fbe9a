// The REFERENCE resource server: @x402/express protecting one route, for side-by-side
// comparisons with x402d and, later, with x402d acting as its facilitator.
//
//   node tests/e2e/peers/express-server.mjs --port P --facilitator URL --pay-to 0x..
//        [--path /weather] [--price '$0.001'] [--network eip155:84532]
//
// "$0.001" on eip155:84532 means Base Sepolia USDC (0x036C…CF7e) from @x402/evm's asset table,
// which is where the devnet token lives. --port 0 picks a free port. Once listening it prints
// `listening http://127.0.0.1:<port>`. The protected route answers {"paid":true,"hits":N}; GET
// /hits (free) answers how often the protected handler ran.
import { parseArgs } from "node:util";
import express from "express";
import { paymentMiddleware, x402ResourceServer } from "@x402/express";
import { HTTPFacilitatorClient } from "@x402/core/server";
import { ExactEvmScheme } from "@x402/evm/exact/server";

const { values: args } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    host: { type: "string", default: "127.0.0.1" },
    facilitator: { type: "string" },
    "pay-to": { type: "string" },
    path: { type: "string", default: "/weather" },
    price: { type: "string", default: "$0.001" },
    network: { type: "string", default: "eip155:84532" },
  },
  strict: true,
});
if (!args.facilitator || !args["pay-to"]) {
  process.stderr.write("usage: express-server.mjs --port P --facilitator URL --pay-to 0x.. [--path /x] [--price '$0.001']\n");
  process.exit(64);
}

const resourceServer = new x402ResourceServer(new HTTPFacilitatorClient({ url: args.facilitator }))
  .register(args.network, new ExactEvmScheme());

let hits = 0;
const app = express();
app.get("/hits", (_req, res) => res.json({ hits }));
app.use(paymentMiddleware({
  [`GET ${args.path}`]: {
    accepts: { scheme: "exact", price: args.price, network: args.network, payTo: args["pay-to"] },
    description: "e2e protected route",
    mimeType: "application/json",
  },
}, resourceServer));
app.get(args.path, (_req, res) => {
  hits += 1;
  res.json({ paid: true, hits });
});

const server = app.listen(Number(args.port), args.host, () => {
  process.stdout.write(`listening http://${args.host}:${server.address().port}\n`);
});
for (const s of ["SIGINT", "SIGTERM"]) process.on(s, () => process.exit(0));
