// Checks a JWT made by facilitator-http with an independent library (jose).
// Usage: node verify_jwt.mjs <case.json>
//   case.json: {"kind":"cdp"|"payai", "token":"...", "publicKeyPem":"...", "alg":"ES256"|"EdDSA",
//               "kid":"...", "uri":"POST host/path" (cdp only)}
// Exits 0 when signature, header and claims are all as CDP / PayAI require; otherwise prints why
// and exits 1.
import { readFileSync } from 'node:fs';
import { importSPKI, jwtVerify, decodeProtectedHeader } from 'jose';

function fail(message) {
  console.error(`verify_jwt: ${message}`);
  process.exit(1);
}

function expect(condition, message) {
  if (!condition) fail(message);
}

const path = process.argv[2];
if (!path) fail('usage: node verify_jwt.mjs <case.json>');
const c = JSON.parse(readFileSync(path, 'utf8'));

const header = decodeProtectedHeader(c.token);
expect(header.alg === c.alg, `header.alg is ${header.alg}, expected ${c.alg}`);
expect(header.typ === 'JWT', `header.typ is ${header.typ}, expected JWT`);
expect(header.kid === c.kid, `header.kid is ${header.kid}, expected ${c.kid}`);

const key = await importSPKI(c.publicKeyPem, c.alg);
let payload;
try {
  ({ payload } = await jwtVerify(c.token, key, { algorithms: [c.alg], clockTolerance: 5 }));
} catch (e) {
  fail(`signature or time claims rejected: ${e.code ?? ''} ${e.message}`);
}

expect(payload.sub === c.kid, `sub is ${payload.sub}, expected ${c.kid}`);
expect(Number.isInteger(payload.iat), 'iat missing');
expect(payload.exp - payload.iat === 120, `exp - iat is ${payload.exp - payload.iat}, expected 120`);

if (c.kind === 'cdp') {
  expect(/^[0-9a-f]{32}$/.test(header.nonce ?? ''), `header.nonce ${header.nonce} is not 16 bytes hex`);
  expect(payload.iss === 'cdp', `iss is ${payload.iss}, expected cdp`);
  expect(JSON.stringify(payload.aud) === '["cdp_service"]', `aud is ${JSON.stringify(payload.aud)}`);
  expect(JSON.stringify(payload.uris) === JSON.stringify([c.uri]),
    `uris is ${JSON.stringify(payload.uris)}, expected ${JSON.stringify([c.uri])}`);
  expect(payload.nbf === payload.iat, `nbf ${payload.nbf} != iat ${payload.iat}`);
} else if (c.kind === 'payai') {
  expect(payload.iss === 'payai-merchant', `iss is ${payload.iss}, expected payai-merchant`);
  expect(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(payload.jti ?? ''),
    `jti ${payload.jti} is not a UUID v4`);
} else {
  fail(`unknown kind ${c.kind}`);
}
console.log(`verify_jwt: ok (${c.kind}, ${c.alg})`);
