// The devnet launcher behind scripts/devnet.sh (see that script and docs/devnet.md).
//   node scripts/devnet/devnet.mjs [--port 8545] [--host 127.0.0.1] [--out FILE]
//                                  [--background --pid-file FILE] [--log FILE]
// Foreground: runs until SIGINT/SIGTERM, then stops anvil. Background: leaves anvil running
// (detached), writes its pid to --pid-file and exits 0 once the token is deployed.
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// The library lives with the tests so that it resolves viem & co. from tests/node_modules.
const lib = await import(path.join(repo, "tests/e2e/lib/devnet.mjs"));

function die(message, code = 1) {
  process.stderr.write(`devnet: ${message}\n`);
  process.exit(code);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      port: { type: "string", default: "8545" },
      host: { type: "string", default: "127.0.0.1" },
      out: { type: "string" },
      background: { type: "boolean", default: false },
      "pid-file": { type: "string" },
      log: { type: "string" },
    },
    strict: true,
  }));
} catch (e) {
  die(`${e.message} (see scripts/devnet.sh --help)`, 64);
}
if (!/^\d+$/.test(args.port) || Number(args.port) > 65535) die(`--port must be 0..65535, got "${args.port}"`, 64);
if (args.background && !args["pid-file"]) die("--background needs --pid-file FILE", 64);

// In the background anvil must not write into a pipe we are about to close: it gets a log file.
const logFile = args.log ?? (args.background ? `${args["pid-file"]}.log` : null);
let anvil;
try {
  anvil = await lib.startAnvil({ port: Number(args.port), host: args.host, logFile, detached: args.background });
} catch (e) {
  die(e.message);
}

let info;
try {
  info = await lib.deployToken(anvil.rpcUrl);
} catch (e) {
  anvil.child.kill("SIGKILL");
  die(`token deployment failed: ${e.stack ?? e}`);
}

if (args.out) fs.writeFileSync(args.out, JSON.stringify(info, null, 2) + "\n");
const a = info.accounts;
const lines = [
  `devnet: anvil ${anvil.rpcUrl}  chain ${info.chainId} (${info.network}, v1 "${info.v1Network}")  pid ${anvil.child.pid}`,
  `  token     USDC (EIP-712 "${info.token.name}" v${info.token.version}, ${info.token.decimals} decimals) at ${info.token.address}`,
  `  owner     ${a.owner.address}`,
  ...a.payers.map((p, i) => `  payer[${i}]  ${p.address}  1000 USDC`),
  `  poorPayer ${a.poorPayer.address}  0 USDC`,
  ...a.relayers.map((r, i) => `  relayer[${i}] ${r.address}  ETH only`),
  `  merchant  ${a.merchant.address}  0 USDC`,
  args.out ? `  details (with the anvil test keys) in ${args.out}` : "  (pass --out FILE for the JSON with keys)",
];
process.stdout.write(lines.join("\n") + "\n");

if (args.background) {
  fs.writeFileSync(args["pid-file"], `${anvil.child.pid}\n`);
  if (logFile) process.stdout.write(`  anvil log ${logFile}; stop with: kill $(cat ${args["pid-file"]})\n`);
  anvil.child.unref();  // let go of anvil: it keeps running after we exit
  process.exit(0);
}

process.stdout.write("  Ctrl-C stops it.\n");
const stop = () => { anvil.child.kill("SIGTERM"); };
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
anvil.child.on("exit", (code, signal) => process.exit(signal === "SIGTERM" || signal === "SIGINT" ? 0 : code ?? 1));
