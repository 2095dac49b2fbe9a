// The machine and every version the report prints: CPU, cores, kernel, x402d's git revision and
// build type, nginx, wrk, node, anvil, gnuplot, and the npm packages of the reference stack.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { anvilBinary } from "../../tests/e2e/lib/devnet.mjs";
import { BUILD_DIR, REPO } from "../../tests/e2e/lib/processes.mjs";
import { X402D } from "../lib/x402d.mjs";
import { commandOutput } from "../lib/procs.mjs";

function npmVersion(name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(REPO, "tests/node_modules", name, "package.json"), "utf8")).version;
  } catch {
    return "not installed";
  }
}

function buildType() {
  try {
    const m = fs.readFileSync(path.join(BUILD_DIR, "CMakeCache.txt"), "utf8").match(/^CMAKE_BUILD_TYPE:\w+=(.*)$/m);
    return m ? m[1] || "(none)" : "unknown";
  } catch {
    return "unknown";
  }
}

export function collectVersions() {
  const rev = commandOutput("git", ["-C", REPO, "rev-parse", "--short=12", "HEAD"]);
  const dirty = commandOutput("git", ["-C", REPO, "status", "--porcelain", "--untracked-files=no"]) !== "";
  const cpus = os.cpus();
  return {
    machine: {
      cpuModel: cpus[0]?.model ?? "unknown", cores: cpus.length, memoryGiB: os.totalmem() / 2 ** 30,
      kernel: `${os.type()} ${os.release()}`,
      os: (fs.existsSync("/etc/debian_version") ? `Debian ${fs.readFileSync("/etc/debian_version", "utf8").trim()}` : os.version()),
      loadAverageAtStart: os.loadavg(),
    },
    x402d: { gitRev: rev + (dirty ? " (with uncommitted changes)" : ""), buildType: buildType(), binary: X402D,
      version: commandOutput(X402D, ["--version"]) },
    nginx: commandOutput("nginx", ["-v"]).replace(/^nginx version: /, ""),
    wrk: commandOutput("wrk", ["--version"]).split("\n")[0].replace(/ Copyright.*/, ""),
    node: process.version,
    anvil: commandOutput(anvilBinary(), ["--version"]).split("\n")[0],
    gnuplot: commandOutput("gnuplot", ["--version"]),
    npm: Object.fromEntries(["@x402/core", "@x402/evm", "@x402/express", "express", "viem"].map((n) => [n, npmVersion(n)])),
  };
}
