// Recovers the EIP-712 signer of an `exact` EVM payment from a facilitator request body
// ({x402Version, paymentPayload, paymentRequirements}, PROTOCOL.md §2), independently of x402d:
//   node tests/e2e/recover.mjs <request.json>      prints {"signer":"0x..."}
// The domain comes from the requirement the facilitator was given (extra.name/version, asset,
// the network's chain id), so a signer equal to authorization.from proves that the signature
// x402d forwarded is intact AND that x402d handed the facilitator the terms the client signed.
import { readFileSync } from "node:fs";
import { recoverTypedDataAddress, getAddress } from "viem";
import { ChainIdToNetwork } from "x402/types";

const TYPES = {
  TransferWithAuthorization: [
    { name: "from", type: "address" },
    { name: "to", type: "address" },
    { name: "value", type: "uint256" },
    { name: "validAfter", type: "uint256" },
    { name: "validBefore", type: "uint256" },
    { name: "nonce", type: "bytes32" },
  ],
};

function chainIdOf(network) {
  if (network.startsWith("eip155:")) return Number(network.slice("eip155:".length));
  const entry = Object.entries(ChainIdToNetwork).find(([, name]) => name === network);
  if (!entry) throw new Error(`unknown v1 network name ${network}`);
  return Number(entry[0]);
}

try {
  const file = process.argv[2];
  if (!file) throw new Error("usage: node recover.mjs <facilitator request json>");
  const request = JSON.parse(readFileSync(file, "utf8"));
  const requirements = request.paymentRequirements;
  const { signature, authorization: a } = request.paymentPayload.payload;
  const signer = await recoverTypedDataAddress({
    domain: {
      name: requirements.extra.name,
      version: requirements.extra.version,
      chainId: chainIdOf(requirements.network),
      verifyingContract: getAddress(requirements.asset),
    },
    types: TYPES,
    primaryType: "TransferWithAuthorization",
    message: {
      from: getAddress(a.from),
      to: getAddress(a.to),
      value: BigInt(a.value),
      validAfter: BigInt(a.validAfter),
      validBefore: BigInt(a.validBefore),
      nonce: a.nonce,
    },
    signature,
  });
  process.stdout.write(JSON.stringify({ signer }) + "\n");
} catch (e) {
  process.stderr.write(`recover.mjs: ${e.stack ?? e}\n`);
  process.exit(2);
}
