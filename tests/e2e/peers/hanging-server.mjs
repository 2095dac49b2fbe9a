// TEST DOUBLE: a "facilitator" that hangs. It accepts connections, reads what is sent, and never
// answers (the request left x402d; no verdict ever comes back).
//
//   node tests/e2e/peers/hanging-server.mjs --port P [--supported JSON]
//
// Without --supported nothing is ever answered, not even GET /supported. With --supported, GET
// /supported is answered with that JSON (so x402d learns that this facilitator supports the
// payment and routes to it first) and every other request hangs.
// --port 0 picks a free port. Prints `listening http://127.0.0.1:<port>` once listening; on stderr
// one line per connection and per request seen, so tests can tell it was really called.
import http from "node:http";
import net from "node:net";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    host: { type: "string", default: "127.0.0.1" },
    supported: { type: "string" },
  },
  strict: true,
});
const supported = args.supported ? JSON.stringify(JSON.parse(args.supported)) : null;
const say = (line) => process.stderr.write(`hanging-server: ${line}\n`);

let connections = 0;
const onConnection = (socket) => {
  connections += 1;
  say(`connection ${connections} from ${socket.remotePort}`);
  socket.on("error", () => {});
};

let server;
if (supported) {
  server = http.createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    if (req.method === "GET" && path === "/supported") {
      say("answered GET /supported");
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(supported);
      return;
    }
    say(`hanging on ${req.method} ${path}`);
    req.resume();  // read the request, never respond
  });
  server.requestTimeout = 0;
  server.on("connection", onConnection);
} else {
  server = net.createServer((socket) => {
    onConnection(socket);
    socket.on("data", () => {});  // swallow the request, never write a byte back
  });
}
server.listen(Number(args.port), args.host, () => {
  process.stdout.write(`listening http://${args.host}:${server.address().port}\n`);
});
for (const s of ["SIGINT", "SIGTERM"]) process.on(s, () => process.exit(0));
