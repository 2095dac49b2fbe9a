// The example upstream API that examples/quickstart/gateway.yaml puts behind x402d.
// Plain Node.js (>= 18), no dependencies:   node examples/upstream/server.mjs
//
// x402d serves this API as merchant "demo" and strips the merchant prefix, so
//   GET http://127.0.0.1:8402/demo/weather       arrives here as GET /weather       (paid)
//   GET http://127.0.0.1:8402/demo/public/hello  arrives here as GET /public/hello  (free)
// The upstream never sees payments: by the time a paid request reaches it, x402d has verified the
// payment. It echoes the gateway's X-Request-Id so its log lines match the gateway's.
//
// Environment: PORT (default 9000), HOST (default 127.0.0.1).
import http from 'node:http';

const host = process.env.HOST || '127.0.0.1';
const port = Number.parseInt(process.env.PORT || '9000', 10);

const CITIES = ['Lisbon', 'Nairobi', 'Osaka', 'Quito', 'Tromsø'];
const SKIES = ['clear', 'partly cloudy', 'overcast', 'light rain', 'windy'];

function weatherReport(query) {
  const city = query.get('city') || CITIES[Math.floor(Math.random() * CITIES.length)];
  return {
    city,
    sky: SKIES[Math.floor(Math.random() * SKIES.length)],
    temperature_c: Math.round((Math.random() * 35 - 5) * 10) / 10,
    humidity_percent: Math.floor(Math.random() * 70) + 30,
    observed_at: new Date().toISOString(),
  };
}

// path → handler(url, req) returning the JSON body; anything else is a 404.
const routes = {
  'GET /weather': (url) => weatherReport(url.searchParams),
  'GET /public/hello': () => ({
    message: 'Hello from the example upstream. This route is free; /demo/weather costs 0.001 USDC.',
  }),
  'GET /public/time': () => ({ now: new Date().toISOString() }),
};

const server = http.createServer((req, res) => {
  const started = process.hrtime.bigint();
  const url = new URL(req.url, `http://${req.headers.host || 'localhost'}`);
  const requestId = req.headers['x-request-id'] || '';
  const handler = routes[`${req.method} ${url.pathname}`];

  const status = handler ? 200 : 404;
  const body = handler
    ? handler(url, req)
    : { error: 'not found', method: req.method, path: url.pathname };
  body.request_id = requestId;

  // Drain any request body so keep-alive connections from the gateway stay usable.
  req.resume();
  req.on('end', () => {
    const payload = JSON.stringify(body) + '\n';
    const headers = {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(payload),
    };
    if (requestId) headers['X-Request-Id'] = requestId;
    res.writeHead(status, headers);
    res.end(payload);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    console.log(
      `upstream ${new Date().toISOString()} ${req.method} ${req.url} ${status} ` +
        `${ms.toFixed(1)}ms request_id=${requestId || '-'}`,
    );
  });
});

server.on('error', (err) => {
  console.error(`upstream: cannot listen on ${host}:${port}: ${err.message}`);
  process.exit(1);
});

server.listen(port, host, () => {
  console.log(`upstream: example API listening on http://${host}:${port}`);
});

// Nothing to flush or finish: stop at once, even with the gateway's keep-alive connections open.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
