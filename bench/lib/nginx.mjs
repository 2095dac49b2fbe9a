// nginx baselines, each its own nginx (worker_processes 1, so it gets exactly the cores it is
// pinned to), with a config written to a scratch folder. The access log stays on, to a file,
// because x402d writes one log line per request too: both servers do the same per-request I/O.
import fs from "node:fs";
import path from "node:path";
import { startPinned, waitForHttp } from "./procs.mjs";

const NGINX = process.env.NGINX_BIN || "/usr/sbin/nginx";

// A string nginx reads literally inside double quotes.
export function nginxQuote(text) {
  if (text.includes("$")) throw new Error("nginx literal would interpolate '$' (not expected in a 402 body)");
  return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

function nginxConf({ dir, port, server }) {
  return `worker_processes 1;
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 30000; multi_accept on; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/tmp; proxy_temp_path ${dir}/tmp; fastcgi_temp_path ${dir}/tmp;
  uwsgi_temp_path ${dir}/tmp; scgi_temp_path ${dir}/tmp;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  server_tokens off;
${server.replace(/^/gm, "  ")}
}
`;
}

// Starts nginx on `port` with the given server{} (and upstream{}) text.
export async function startNginx({ name, dir, port, server, cpus, probePath = "/" }) {
  const own = path.join(dir, name);
  fs.mkdirSync(path.join(own, "tmp"), { recursive: true });
  const conf = path.join(own, "nginx.conf");
  fs.writeFileSync(conf, nginxConf({ dir: own, port, server }));
  const proc = await startPinned({
    name, command: NGINX, args: ["-c", conf, "-p", own, "-e", path.join(own, "error.log")], cpus,
    logFile: path.join(own, "stderr.log"),
  });
  await waitForHttp(`http://127.0.0.1:${port}${probePath}`);
  return { ...proc, url: `http://127.0.0.1:${port}`, port, conf };
}

// The same 402 x402d answers (status, body, the x402 headers), as a static nginx answer: the
// practical ceiling of an unpaid request.
export function static402Server({ port, location, body, headers }) {
  const adds = Object.entries(headers).map(([k, v]) => `    add_header ${k} ${nginxQuote(v)} always;`).join("\n");
  return `server {
  listen 127.0.0.1:${port} reuseport backlog=65535;
  location = ${location} {
    default_type application/json;
${adds}
    return 402 ${nginxQuote(body)};
  }
  location / { return 404; }
}`;
}

// A fast upstream: a fixed JSON body for any path.
export function fixedBodyServer({ port, body }) {
  return `server {
  listen 127.0.0.1:${port} reuseport backlog=65535;
  location / {
    default_type application/json;
    return 200 ${nginxQuote(body)};
  }
}`;
}

// nginx as a reverse proxy under a prefix (as x402d serves a merchant under /{id}/), with pooled
// keep-alive connections to the upstream (x402d pools its upstream connections too).
export function proxyServer({ port, prefix, upstreamPort }) {
  return `upstream backend {
  server 127.0.0.1:${upstreamPort};
  keepalive 256;
}
server {
  listen 127.0.0.1:${port} reuseport backlog=65535;
  location ${prefix}/ {
    proxy_pass http://backend/;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_buffering on;
  }
}`;
}
