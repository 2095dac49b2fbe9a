// Produces tests/unit/eth/golden/vectors.json with viem, an implementation independent of ours,
// so the C++ tests compare against it without needing node at run time.
// Run: cd tests && node unit/eth/golden/make_golden.mjs > unit/eth/golden/vectors.json
import {
  encodeErrorResult, encodeFunctionData, getAddress, hashDomain, hashTypedData, keccak256,
  parseAbi, serializeTransaction, toFunctionSelector, toHex,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";

// Anvil's well-known first dev key: a test key, never funded on a real chain.
const account = privateKeyToAccount("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");

// Inputs around the 136-byte rate boundary, built from a fixed pattern and stored as hex.
const pattern = (n) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);
const keccak = [0, 1, 31, 32, 55, 56, 64, 135, 136, 137, 271, 272, 273, 1000].map((n) => {
  const input = pattern(n);
  return { input_hex: toHex(input), hash: keccak256(input) };
});
keccak.push({ input_hex: toHex("abc"), hash: keccak256(toHex("abc")) });
// Too large to store: the test rebuilds it from repeat/count.
const keccak_repeat = [{ repeat: "a", count: 1000000, hash: keccak256(toHex("a".repeat(1000000))) }];

const selectorSignatures = [
  "balanceOf(address)", "transfer(address,uint256)", "authorizationState(address,bytes32)",
  "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)",
  "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)", "Error(string)",
];
const selectors = selectorSignatures.map((signature) => ({ signature, selector: toFunctionSelector(signature) }));

// Lower-case addresses and viem's EIP-55 form of each.
const checksums = [account.address.toLowerCase(), "0x036cbd53842c5426634e7929541ec2318f3dcf7e",
  "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913", "0x209693bc6afc0c5328ba36faf03c514ef312287c",
  "0x0000000000000000000000000000000000000000", "0xffffffffffffffffffffffffffffffffffffffff"]
  .map((lower) => ({ lower, checksummed: getAddress(lower) }));

const types = {
  TransferWithAuthorization: [
    { name: "from", type: "address" }, { name: "to", type: "address" }, { name: "value", type: "uint256" },
    { name: "validAfter", type: "uint256" }, { name: "validBefore", type: "uint256" }, { name: "nonce", type: "bytes32" },
  ],
};
const payloads = [
  { domain: { name: "USDC", version: "2", chainId: 84532, verifyingContract: "0x036CbD53842c5426634e7929541eC2318f3dCF7e" },
    message: { from: account.address, to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", value: 10000n,
      validAfter: 1700000000n, validBefore: 1700000600n,
      nonce: "0x5f1c3e0a9b7d2c4e6f8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e" } },
  { domain: { name: "USD Coin", version: "2", chainId: 8453, verifyingContract: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913" },
    message: { from: account.address, to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", value: 2n ** 256n - 1n,
      validAfter: 0n, validBefore: 2n ** 64n, nonce: keccak256(toHex("nonce-2")) } },
];
const eip712 = [];
for (const { domain, message } of payloads) {
  const typed = { domain, types, primaryType: "TransferWithAuthorization", message };
  eip712.push({
    domain, message: Object.fromEntries(Object.entries(message).map(([k, v]) => [k, v.toString()])),
    domain_separator: hashDomain({ domain, types: { EIP712Domain: [
      { name: "name", type: "string" }, { name: "version", type: "string" },
      { name: "chainId", type: "uint256" }, { name: "verifyingContract", type: "address" }] } }),
    digest: hashTypedData(typed),
    signature: await account.signTypedData(typed),
    signer: account.address,
  });
}

const abi = parseAbi([
  "function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, uint8 v, bytes32 r, bytes32 s)",
  "function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, bytes signature)",
  "function transfer(address to, uint256 value)",
]);
const m = payloads[0].message;
const sig = eip712[0].signature;
const r = `0x${sig.slice(2, 66)}`, s = `0x${sig.slice(66, 130)}`, v = parseInt(sig.slice(130, 132), 16);
const baseArgs = [m.from, m.to, m.value, m.validAfter, m.validBefore, m.nonce];
const calldata = {
  transfer_with_authorization_vrs: encodeFunctionData({ abi, functionName: "transferWithAuthorization", args: [...baseArgs, v, r, s] }),
  transfer_with_authorization_bytes: encodeFunctionData({ abi, functionName: "transferWithAuthorization", args: [...baseArgs, sig] }),
  // 3 bytes of `bytes` to exercise padding of a tail that is not a whole word.
  transfer_with_authorization_short_bytes: encodeFunctionData({ abi, functionName: "transferWithAuthorization", args: [...baseArgs, "0x010203"] }),
};
const revert = { reason: "FiatTokenV2: invalid signature",
  data: encodeErrorResult({ abi: parseAbi(["error Error(string)"]), errorName: "Error", args: ["FiatTokenV2: invalid signature"] }) };

const transferData = encodeFunctionData({ abi, functionName: "transfer", args: ["0x209693Bc6afc0C5328bA36FaF03C514EF312287C", 10000n] });
const txs = [
  { chainId: 84532, nonce: 7, maxPriorityFeePerGas: 1000000000n, maxFeePerGas: 3000000000n, gas: 150000n,
    to: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", value: 0n, data: transferData },
  { chainId: 84532, nonce: 0, maxPriorityFeePerGas: 0n, maxFeePerGas: 1n, gas: 21000n,
    to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", value: 10n ** 18n, data: "0x" },
  { chainId: 8453, nonce: 1234567, maxPriorityFeePerGas: 1500000n, maxFeePerGas: 10n ** 20n, gas: 300000n,
    to: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", value: 0n, data: calldata.transfer_with_authorization_vrs },
];
const transactions = [];
for (const tx of txs) {
  const raw = await account.signTransaction({ type: "eip1559", ...tx });
  transactions.push({
    chain_id: tx.chainId, nonce: tx.nonce, max_priority_fee_per_gas: tx.maxPriorityFeePerGas.toString(),
    max_fee_per_gas: tx.maxFeePerGas.toString(), gas_limit: Number(tx.gas), to: tx.to, value: tx.value.toString(),
    data: tx.data, signing_hash: keccak256(serializeTransaction({ type: "eip1559", ...tx })), raw, hash: keccak256(raw),
  });
}

const golden = { private_key: "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  address: account.address, keccak, keccak_repeat, selectors, checksums, eip712, calldata, revert, transactions };
console.log(JSON.stringify(golden, null, 2));
