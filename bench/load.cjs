// Load for the comparison bench: one autocannon run described by a JSON argument; prints one JSON line.
//   node bench/load.cjs '{"url":..., "method":"POST", "headers":{}, "body":"...", "connections":1,
//                         "duration":5 | "amount":N, "sign":{"secret","header","placeholder"}}'
// With `sign`, every request gets a fresh body (the placeholder replaced by a counter) signed with
// HMAC-SHA256, base64url without padding, in `header` (StackOne's webhook signature).
// autocannon is resolved from tests/interop/node_modules (NODE_PATH), where its exact version is locked.
"use strict";
const crypto = require("node:crypto");
const autocannon = require("autocannon");

const spec = JSON.parse(process.argv[2]);
const request = { method: spec.method || "GET", headers: spec.headers || {}, body: spec.body };
if (spec.sign) {
  let n = 0;
  const { secret, header, placeholder } = spec.sign;
  request.setupRequest = (req) => {
    n += 1;
    const body = spec.body.split(placeholder).join(`${process.pid}-${Date.now()}-${n}`);
    const signature = crypto.createHmac("sha256", secret).update(body).digest("base64url");
    return { ...req, body, headers: { ...spec.headers, [header]: signature } };
  };
}
const options = { url: spec.url, connections: spec.connections || 1, requests: [request] };
if (spec.amount) options.amount = spec.amount;
else options.duration = spec.duration || 5;

autocannon(options, (err, result) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
  const total = result.requests.total;
  const out = {
    requests: total, seconds: result.duration, rps: total / result.duration,
    msPerRequest: (1000 * result.duration * (spec.connections || 1)) / total,
    meanMs: result.latency.mean, p50Ms: result.latency.p50, p99Ms: result.latency.p99,
    ok: result["2xx"], non2xx: result.non2xx, errors: result.errors, timeouts: result.timeouts,
  };
  process.stdout.write(JSON.stringify(out) + "\n");
});
