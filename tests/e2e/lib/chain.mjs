// Reading (and, for set-ups, writing) the devnet chain: USDC balances, Transfer logs, receipts,
// and submitting an EIP-3009 authorization straight to the token.
import { createPublicClient, createWalletClient, http, parseAbiItem, parseEventLogs, getAddress } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { devnetChain, fiatTokenAbi } from "./devnet.mjs";

export const TRANSFER_EVENT = parseAbiItem("event Transfer(address indexed from, address indexed to, uint256 value)");

export function publicClient(devnet) {
  return createPublicClient({ chain: devnetChain(devnet.rpcUrl), transport: http(devnet.rpcUrl) });
}

export async function usdcBalance(devnet, address) {
  return publicClient(devnet).readContract({
    address: devnet.token.address, abi: fiatTokenAbi(), functionName: "balanceOf", args: [address],
  });
}

export async function balances(devnet, addresses) {
  return Promise.all(addresses.map((a) => usdcBalance(devnet, a)));
}

// Every USDC Transfer from `from` (and to `to`, when given) on this devnet, oldest first; with
// fromBlock/toBlock, only those in that block range.
export async function transferLogs(devnet, { from, to, fromBlock = 0n, toBlock = "latest" } = {}) {
  const args = {};
  if (from) args.from = from;
  if (to) args.to = to;
  return publicClient(devnet).getLogs({
    address: devnet.token.address, event: TRANSFER_EVENT, args, fromBlock, toBlock,
  });
}

// The USDC Transfer logs in one transaction's receipt (decoded), plus the receipt status.
export async function receiptTransfers(devnet, hash) {
  const receipt = await publicClient(devnet).getTransactionReceipt({ hash });
  const tokenLogs = receipt.logs.filter((l) => getAddress(l.address) === getAddress(devnet.token.address));
  return { status: receipt.status, transfers: parseEventLogs({ abi: [TRANSFER_EVENT], logs: tokenLogs }) };
}

export async function authorizationUsed(devnet, authorizer, nonce) {
  return publicClient(devnet).readContract({
    address: devnet.token.address, abi: fiatTokenAbi(), functionName: "authorizationState",
    args: [authorizer, nonce],
  });
}

// Sends transferWithAuthorization(…, bytes signature) from `senderKey`: anyone may submit a signed
// authorization. Resolves to the mined receipt.
export async function submitAuthorization(devnet, senderKey, authorization, signature) {
  const chain = devnetChain(devnet.rpcUrl);
  const wallet = createWalletClient({ account: privateKeyToAccount(senderKey), chain, transport: http(devnet.rpcUrl) });
  const a = authorization;
  const hash = await wallet.writeContract({
    address: devnet.token.address,
    abi: fiatTokenAbi(),
    functionName: "transferWithAuthorization",
    args: [a.from, a.to, BigInt(a.value), BigInt(a.validAfter), BigInt(a.validBefore), a.nonce, signature],
  });
  return publicClient(devnet).waitForTransactionReceipt({ hash, pollingInterval: 50 });
}

// A plain ERC-20 transfer signed by `fromKey` (e.g. a payer emptying its balance on purpose).
export async function transferUsdc(devnet, fromKey, to, value) {
  const chain = devnetChain(devnet.rpcUrl);
  const wallet = createWalletClient({ account: privateKeyToAccount(fromKey), chain, transport: http(devnet.rpcUrl) });
  const hash = await wallet.writeContract({
    address: devnet.token.address, abi: fiatTokenAbi(), functionName: "transfer", args: [to, value],
  });
  return publicClient(devnet).waitForTransactionReceipt({ hash, pollingInterval: 50 });
}

// FiatToken's EIP-3009 event: one per authorization ever used, whoever submitted it.
export const AUTHORIZATION_USED_EVENT = parseAbiItem(
  "event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce)");

// Every AuthorizationUsed log of the devnet token (filtered by authorizer and/or nonce), oldest first.
export async function authorizationUsedLogs(devnet, { authorizer, nonce } = {}) {
  const args = {};
  if (authorizer) args.authorizer = authorizer;
  if (nonce) args.nonce = nonce;
  return publicClient(devnet).getLogs({
    address: devnet.token.address, event: AUTHORIZATION_USED_EVENT, args, fromBlock: 0n, toBlock: "latest",
  });
}

// Every mined transaction sent by one of `senders` (addresses), with its receipt status, in
// block order: [{hash, from, nonce, blockNumber, status, maxFeePerGas}]. Scans the blocks.
export async function minedTransactionsFrom(devnet, senders, { fromBlock = 0n } = {}) {
  const client = publicClient(devnet);
  const wanted = new Set(senders.map((a) => getAddress(a)));
  const head = await client.getBlockNumber();
  const found = [];
  for (let n = fromBlock; n <= head; n += 1n) {
    const block = await client.getBlock({ blockNumber: n, includeTransactions: true });
    for (const tx of block.transactions) {
      if (wanted.has(getAddress(tx.from))) found.push(tx);
    }
  }
  const receipts = await Promise.all(found.map((tx) => client.getTransactionReceipt({ hash: tx.hash })));
  return found.map((tx, i) => ({
    hash: tx.hash, from: getAddress(tx.from), nonce: tx.nonce, blockNumber: tx.blockNumber,
    status: receipts[i].status, maxFeePerGas: tx.maxFeePerGas,
  }));
}

// A raw JSON-RPC call to the devnet node, for anvil's test methods (evm_mine, evm_setAutomine,
// anvil_setNextBlockBaseFeePerGas, ...).
export function rpc(devnet, method, params = []) {
  return publicClient(devnet).request({ method, params });
}
