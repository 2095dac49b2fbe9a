// Opens --count keep-alive connections to --url, sends one GET on each and reads its full answer,
// then keeps them all open and idle: prints "holding N" and waits for SIGTERM. The memory benchmark
// reads the server's RSS meanwhile. Run as its own process (own open-file limit, own core).
import net from "node:net";
import { parseArgs } from "node:util";

const { values: o } = parseArgs({ options: { url: { type: "string" }, count: { type: "string", default: "10000" },
  parallel: { type: "string", default: "200" } } });
const url = new URL(o.url);
const count = Number(o.count);
const request = `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: keep-alive\r\n\r\n`;
const sockets = [];

function openOne() {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: url.hostname, port: Number(url.port) });
    let got = Buffer.alloc(0);
    s.setTimeout(30000, () => { s.destroy(); reject(new Error("connection timed out")); });
    s.on("error", reject);
    s.on("connect", () => s.write(request));
    s.on("data", (chunk) => {
      got = Buffer.concat([got, chunk]);
      const end = got.indexOf("\r\n\r\n");
      if (end < 0) return;
      const m = got.subarray(0, end).toString().match(/content-length:\s*(\d+)/i);
      if (m && got.length < end + 4 + Number(m[1])) return;
      s.removeAllListeners("data");
      s.removeAllListeners("timeout");
      s.setTimeout(0);
      s.on("data", () => {});
      s.on("close", () => { if (!stopping) { console.error("hold-connections: the server closed a held connection"); process.exit(2); } });
      sockets.push(s);
      resolve();
    });
  });
}

let stopping = false;
process.on("SIGTERM", () => { stopping = true; for (const s of sockets) s.destroy(); process.exit(0); });

let next = 0;
async function worker() {
  while (next < count) {
    next++;
    await openOne();
  }
}
try {
  await Promise.all(Array.from({ length: Math.min(Number(o.parallel), count) }, worker));
} catch (e) {
  console.error(`hold-connections: after ${sockets.length} connections: ${e.message}`);
  process.exit(1);
}
console.log(`holding ${sockets.length}`);
setInterval(() => {}, 1 << 30);
