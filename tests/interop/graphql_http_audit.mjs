// Run the graphql-http server audit suite against --url; print one JSON line with every result.
// --header name=value (repeatable) is added to every request: the service's CSRF prevention wants a
// preflight header on GETs (as Apollo Router's does), and the configured service wants a client key.
import { auditServer, serverAudits } from "graphql-http";
import { argValue } from "./common.mjs";

const headers = {};
process.argv.forEach((arg, i) => {
  if (arg !== "--header") return;
  const [name, value] = process.argv[i + 1].split(/=(.*)/s);
  headers[name] = value;
});

const fetchFn = (input, init = {}) => fetch(input, { ...init, headers: { ...headers, ...(init.headers || {}) } });
const results = await auditServer({ url: argValue("url"), fetchFn });
const report = await Promise.all(
  results.map(async (r) => ({
    id: r.id,
    name: r.name,
    status: r.status,
    reason: r.status === "ok" ? undefined : r.reason,
    response: r.status === "ok" ? undefined : { status: r.response.status, body: await r.response.text() },
  })),
);
const total = serverAudits({ url: argValue("url"), fetchFn }).length;
process.stdout.write(`${JSON.stringify({ total, results: report })}\n`);
