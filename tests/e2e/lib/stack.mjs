// One test file's world: its own devnet (anvil on a free port + USDC), a counting upstream, a log
// folder, and helpers that start peers and x402d inside it. stop() tears everything down; call it
// from after(). Test files never share a chain, so ctest -j can run them side by side.
//
//   const stack = await startStack("failover");
//   const ref = await stack.referenceFacilitator();             // relayer 0
//   const gw = await stack.x402d({ facilitators: [httpFacilitator("ref", ref.url)] });
//   ... fetch(`${gw.url}/shop/weather`) ...
//   await stack.stop();
import path from "node:path";
import { startDevnet } from "./devnet.mjs";
import { gatewayConfig, startX402d } from "./gateway.mjs";
import { startExpressServer, startHangingServer, startReferenceFacilitator } from "./peers.mjs";
import { logDir, stopAll, track } from "./processes.mjs";
import { startUpstream } from "./upstream.mjs";

// anvilArgs go to anvil as they are, e.g. ["--block-time", "1"] so transactions wait for a block.
export async function startStack(name, { anvilArgs = [] } = {}) {
  const dir = logDir(name);
  const devnet = await startDevnet({ logFile: path.join(dir, "anvil.log"), extraArgs: anvilArgs });
  track(devnet.child);
  const stoppers = [devnet.stop];
  try {
    const upstream = await startUpstream();
    stoppers.push(upstream.stop);
    let gateways = 0;
    return {
      dir,
      devnet: devnet.info,
      upstream,
      referenceFacilitator: (opts = {}) => startReferenceFacilitator({ devnet: devnet.info, dir, ...opts }),
      hangingServer: (opts = {}) => startHangingServer({ dir, ...opts }),
      expressServer: (opts) => startExpressServer({ dir, ...opts }),
      // options as gatewayConfig() takes them (devnet and upstream filled in) plus `name`.
      x402d: ({ name: gwName, ...options }) => {
        gateways += 1;
        const config = gatewayConfig({ devnet: devnet.info, upstream: upstream.url, ...options });
        return startX402d({ name: gwName ?? `x402d-${gateways}`, dir, config });
      },
      stop: async () => {
        await stopAll();
        await Promise.all(stoppers.map((s) => s()));
      },
    };
  } catch (e) {
    await Promise.all(stoppers.map((s) => s()));
    throw e;
  }
}

// Where a resource of the default merchant lives on a started gateway.
export const resourceUrl = (gw, route = "/weather", merchant = "shop") => `${gw.url}/${merchant}${route}`;
