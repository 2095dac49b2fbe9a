// A tiny in-process upstream that counts what reaches it, so tests can prove x402d did (or did
// NOT) call the merchant's API. Every answer is JSON {upstream:"e2e", method, path, hit}.
// setHook(async (req) => {...}) runs a test's action while a request is inside the upstream
// (e.g. to change the chain between x402d's verify and its settle); setHook(null) removes it.
import http from "node:http";

export function startUpstream() {
  const requests = [];
  let hook = null;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", async () => {
      requests.push({ method: req.method, url: req.url, headers: req.headers });
      if (hook) await hook(req);
      const body = JSON.stringify({ upstream: "e2e", method: req.method, path: req.url, hit: requests.length });
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
      res.end(body);
    });
  });
  return new Promise((resolve, reject) => {
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        requests,
        hits: () => requests.length,
        setHook: (fn) => { hook = fn; },
        stop: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
      });
    });
  });
}
