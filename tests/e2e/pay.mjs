// Pays for one resource through x402d with an OFFICIAL x402 client, the way a buyer would:
//   node tests/e2e/pay.mjs --client v2|v1 --url <full resource URL> [--key 0x...]
// v2 = @x402/fetch + @x402/evm's ExactEvmScheme; v1 = x402-fetch (the deprecated v1-only client).
// The wrapped fetch sees the 402, signs, retries; we only watch. Prints one JSON line:
//   {client, status, body, paymentResponse, paymentRequired, payer, sentPayment, requests}
// paymentResponse is the settlement header decoded by the client package's own decoder;
// sentPayment is the payment header the client put on the retry, decoded by its own decoder;
// paymentRequired is set when the paid retry was answered 402 again (the refusal, as read).
// Exits 0 only for a 200 carrying a settlement header; otherwise prints why and exits non-zero.
// Imported as a module it runs nothing and exports payV2(url, account) / payV1(url, account),
// which resolve to {status, body, paymentResponse, paymentRequired, sentPayment, requests}.
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { createWalletClient, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { baseSepolia } from "viem/chains";

// Anvil's well-known dev key #0: a test key, never funded on a real chain. Nothing here touches
// a chain; signing is local.
const ANVIL_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
// Clients get an explicit RPC URL (defaults point at public hosts); signing never calls it.
const UNUSED_RPC = "http://127.0.0.1:9";
const TIMEOUT_MS = 30000;

function fail(message, code = 2) {
  process.stderr.write(`pay.mjs: ${message}\n`);
  process.exit(code);
}

function parseCli() {
  try {
    const { values } = parseArgs({
      options: {
        client: { type: "string" },
        url: { type: "string" },
        key: { type: "string", default: ANVIL_KEY_0 },
      },
      strict: true,
    });
    if (values.client !== "v1" && values.client !== "v2") throw new Error("--client must be v1 or v2");
    if (!values.url) throw new Error("--url is required");
    new URL(values.url);  // throws on a relative or malformed URL
    return values;
  } catch (e) {
    fail(`${e.message}\nusage: node pay.mjs --client v2|v1 --url <full resource URL> [--key 0x...]`, 64);
  }
}

// The inner fetch handed to the official wrapper: passes everything through and remembers the
// payment header of the paid retry, so we can report exactly what the client signed.
function recordingFetch(headerName) {
  const seen = { header: null, requests: 0 };
  const inner = async (input, init) => {
    seen.requests += 1;
    const fromRequest = input instanceof Request ? input.headers.get(headerName) : null;
    const fromInit = init?.headers ? new Headers(init.headers).get(headerName) : null;
    if (fromRequest || fromInit) seen.header = fromInit ?? fromRequest;
    return fetch(input, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
  };
  return { inner, seen };
}

export async function payV2(url, account) {
  const { wrapFetchWithPayment, x402Client, x402HTTPClient, decodePaymentResponseHeader } =
    await import("@x402/fetch");
  const { ExactEvmScheme } = await import("@x402/evm/exact/client");
  const { decodePaymentSignatureHeader } = await import("@x402/core/http");
  // Default spend controls: our test asset is Base Sepolia's real USDC, which is in the client's
  // built-in asset table, so a stock client must accept the offer without being loosened.
  const client = new x402Client().register("eip155:*", new ExactEvmScheme(account));
  const { inner, seen } = recordingFetch("PAYMENT-SIGNATURE");
  const res = await wrapFetchWithPayment(inner, client)(url, { method: "GET" });
  const body = await res.text();
  const header = res.headers.get("PAYMENT-RESPONSE");
  // A refused payment comes back as a fresh 402; report it as the client reads it, since that is
  // where an application learns why (its `error`).
  let paymentRequired = null;
  if (res.status === 402) {
    let parsed;
    try { parsed = JSON.parse(body); } catch { parsed = undefined; }
    paymentRequired = new x402HTTPClient(client).getPaymentRequiredResponse((n) => res.headers.get(n), parsed);
  }
  return {
    status: res.status,
    body,
    paymentResponse: header ? decodePaymentResponseHeader(header) : null,
    paymentRequired,
    sentPayment: seen.header ? decodePaymentSignatureHeader(seen.header) : null,
    requests: seen.requests,
  };
}

export async function payV1(url, account) {
  const { wrapFetchWithPayment, decodeXPaymentResponse } = await import("x402-fetch");
  const { exact } = await import("x402/schemes");
  // As x402-fetch's README does it: a viem wallet client on Base Sepolia (v1 name base-sepolia).
  const wallet = createWalletClient({ account, transport: http(UNUSED_RPC), chain: baseSepolia });
  const { inner, seen } = recordingFetch("X-PAYMENT");
  const res = await wrapFetchWithPayment(inner, wallet)(url, { method: "GET" });
  const body = await res.text();
  const header = res.headers.get("X-PAYMENT-RESPONSE");
  let paymentRequired = null;  // v1 carries a refusal's reason in the 402 body's `error`
  if (res.status === 402) {
    try { paymentRequired = JSON.parse(body); } catch { paymentRequired = null; }
  }
  return {
    status: res.status,
    body,
    paymentResponse: header ? decodeXPaymentResponse(header) : null,
    paymentRequired,
    sentPayment: seen.header ? exact.evm.decodePayment(seen.header) : null,
    requests: seen.requests,
  };
}

async function main() {
  const args = parseCli();
  // Generous: loading the v1 client's dependency tree alone takes seconds on a busy machine.
  setTimeout(() => fail(`did not finish within ${3 * TIMEOUT_MS} ms`), 3 * TIMEOUT_MS).unref();
  let account;
  try {
    account = privateKeyToAccount(args.key);
  } catch (e) {
    fail(`--key is not a private key: ${e.message}`, 64);
  }

  let outcome;
  try {
    outcome = await (args.client === "v2" ? payV2 : payV1)(args.url, account);
  } catch (e) {
    // The official client refused the 402 (or the network failed): the interop failure we test for.
    fail(`the ${args.client} client failed: ${e.stack ?? e}`);
  }
  const { status, body, paymentResponse, paymentRequired, sentPayment, requests } = outcome;
  const report = { client: args.client, status, body, paymentResponse, paymentRequired,
    payer: account.address, sentPayment, requests };
  process.stdout.write(JSON.stringify(report) + "\n");

  if (!sentPayment) fail(`the client never sent a payment (status ${status}, ${requests} request(s))`, 1);
  if (status !== 200) fail(`paid request answered ${status}: ${body}`, 1);
  if (!paymentResponse) fail("200 without a settlement header", 1);
  if (paymentResponse.success !== true) fail("settlement header says success is not true", 1);
}

// Also imported by the e2e suite (tests/e2e/lib) for payV2/payV1; only the CLI runs main().
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => fail(e.stack ?? String(e)));
}
